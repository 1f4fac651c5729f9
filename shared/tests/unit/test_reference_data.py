"""Reference data the rules rely on: the DAC list of ODA recipients stays current, French territories are France."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from vies_shared.reference import eea_countries, is_eea, is_france, is_oda_recipient, oda_list, regions

MAX_AGE = timedelta(days=2 * 365)


def test_the_oda_list_names_its_source_and_is_less_than_two_years_old() -> None:
    shipped = oda_list()
    assert shipped.source.startswith("https://www.oecd.org/")
    assert "DAC List of ODA Recipients" in shipped.title
    age = date.today() - shipped.as_of
    assert age <= MAX_AGE, (
        f"the DAC list shipped in vies_shared/reference/oda_recipients.json stands at {shipped.as_of}, "
        f"more than two years ago: replace it with the OECD's current list"
    )


@pytest.mark.parametrize(
    ("country", "recipient"),
    [
        *[(code, True) for code in ("SN", "MA", "VN", "BR", "UA", "WF")],
        *[(code, False) for code in ("US", "CA", "CL", "FR", "DE", "JP")],
    ],
)
def test_oda_recipients(country: str, recipient: bool) -> None:
    assert is_oda_recipient(country) is recipient


def test_no_eu_member_is_an_oda_recipient() -> None:
    assert not (oda_list().recipients & eea_countries())


@pytest.mark.parametrize("code", ["FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF", "TF", "re"])
def test_french_territories_are_france(code: str) -> None:
    assert is_france(code)


@pytest.mark.parametrize("code", ["SN", "BE", "MA", "CH", "HT"])
def test_other_countries_are_not_france(code: str) -> None:
    assert not is_france(code)


def test_overseas_regions_are_places_of_authorities_and_branches() -> None:
    assert {"FR-974", "FR-971", "FR-972", "FR-973", "FR-976"} <= set(regions())
    assert is_eea("FR")
