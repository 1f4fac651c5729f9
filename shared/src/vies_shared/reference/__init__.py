"""Reference data shipped with the platform (editable JSON files beside this module)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Centre:
    """A Volunteering Centre abroad (or the head office for countries without one)."""

    centre_id: str
    country: str
    city: str
    email: str
    phone: str


@dataclass(frozen=True)
class Branch:
    """A regional branch of the agency in France."""

    region: str
    name: str
    email: str
    phone: str


@cache
def _load(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def regions() -> dict[str, str]:
    """ISO 3166-2 code → name of every French region and overseas territory."""
    return {r["code"]: r["name"] for r in _load("regions.json")["regions"]}


def is_region(code: str) -> bool:
    """Whether ``code`` is a known French region code."""
    return code in regions()


def centres() -> list[Centre]:
    """Every Volunteering Centre abroad."""
    return [Centre(**c) for c in _load("centres.json")["centres"]]


def head_office() -> Centre:
    """The agency's head office, which covers countries without a centre."""
    return Centre(**_load("centres.json")["head_office"])


def centre_for_country(country: str) -> Centre:
    """The centre of a country, or the head office when there is none."""
    for centre in centres():
        if centre.country == country.upper():
            return centre
    return head_office()


def branches() -> list[Branch]:
    """Every regional branch."""
    return [Branch(**b) for b in _load("branches.json")["branches"]]


def branch_for_region(region: str) -> Branch | None:
    """The branch of a region, if any."""
    return next((b for b in branches() if b.region == region), None)


def eea_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes of the European Economic Area (EU 27 + IS, LI, NO)."""
    return frozenset(_load("eea.json")["eea"])


def is_eea(country: str) -> bool:
    """Whether a country is in the European Economic Area."""
    return country.upper() in eea_countries()


def is_eea_or_switzerland(country: str) -> bool:
    """EEA or Switzerland (Service Civique reciprocity excludes both)."""
    return is_eea(country) or country.upper() == "CH"


def french_overseas_codes() -> frozenset[str]:
    """ISO 3166-1 codes of the French territories outside metropolitan France (RE, GP, NC, ...)."""
    return frozenset(_load("french_territories.json")["overseas"])


def is_france(country: str) -> bool:
    """Whether a country code is France, its overseas territories included (they are never "abroad")."""
    code = country.upper()
    return code == _load("french_territories.json")["france"] or code in french_overseas_codes()


@dataclass(frozen=True)
class OdaList:
    """The OECD DAC list of countries and territories eligible for official development assistance."""

    title: str
    source: str
    as_of: date
    recipients: frozenset[str]


def oda_list() -> OdaList:
    """The shipped DAC list of ODA recipients, with its source and the date it stands at."""
    data = _load("oda_recipients.json")
    codes = frozenset(code for group in data["recipients"].values() for code in group)
    return OdaList(data["title"], data["source"], date.fromisoformat(data["as_of"]), codes)


def is_oda_recipient(country: str) -> bool:
    """Whether a country is on the DAC list of ODA recipients."""
    return country.upper() in oda_list().recipients
