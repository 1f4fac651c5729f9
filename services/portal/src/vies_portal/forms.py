"""Form helpers: countries in the reader's language, field errors, values kept across errors."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from babel import Locale

SCHEMES = ("vsi", "service_civique", "vec", "jsi_vvvsi", "reciprocity", "service_civique_reciprocity")
Document = dict[str, Any]


@cache
def countries(lang: str) -> list[tuple[str, str]]:
    """(ISO code, name) of every country, sorted by name in ``lang``."""
    names = Locale.parse(lang).territories
    # Two-letter codes only: the numeric ones are regions of the world, not countries.
    pairs = [(code, name) for code, name in names.items() if len(code) == 2 and code.isalpha() and code != "ZZ"]
    return sorted(pairs, key=lambda pair: pair[1])


def country_name(code: str | None, lang: str) -> str:
    """A country's name in ``lang`` (the code itself when unknown)."""
    if not code:
        return ""
    return str(Locale.parse(lang).territories.get(code.upper(), code))


def parse_date(value: str | None) -> date | None:
    """A date typed as YYYY-MM-DD (the format of ``<input type=date>``), or None."""
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def words(value: str | None) -> list[str]:
    """A comma-separated list typed by a person ("en, es" → ["en", "es"])."""
    return [w.strip() for w in (value or "").split(",") if w.strip()]
