"""Data-scope rules: an authority its own records, a branch its region, a centre its country, staff all."""

from __future__ import annotations

import pytest

from vies_partners.use_cases import (
    branch_region,
    can_read_authority,
    check_acts_for_authority,
    check_centre_country,
)
from vies_shared.errors import Forbidden
from vies_shared.web import Principal

AUTHORITY = {"_id": "aut-1", "region": "FR-BRE"}


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal("s", "staff"), True),
        (Principal("a", "authority", authority_id="aut-1"), True),
        (Principal("a", "authority", authority_id="aut-2"), False),
        (Principal("a", "authority"), False),
        (Principal("b", "branch", region="FR-BRE"), True),
        (Principal("b", "branch", region="FR-974"), False),
        (Principal("b", "branch"), False),
        (Principal("c", "centre", country="SN"), False),
        (Principal("v", "volunteer"), False),
    ],
)
def test_who_reads_an_authority(principal: Principal, allowed: bool) -> None:
    assert can_read_authority(principal, AUTHORITY) is allowed


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal("s", "staff"), True),
        (Principal("a", "authority", authority_id="aut-1"), True),
        (Principal("a", "authority", authority_id="aut-2"), False),
        (Principal("b", "branch", region="FR-BRE"), False),
        (Principal("c", "centre", country="SN"), False),
    ],
)
def test_who_acts_for_an_authority(principal: Principal, allowed: bool) -> None:
    if allowed:
        check_acts_for_authority(principal, "aut-1")
    else:
        with pytest.raises(Forbidden):
            check_acts_for_authority(principal, "aut-1")


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal("c", "centre", country="SN"), True),
        (Principal("c", "centre", country="sn"), True),
        (Principal("c", "centre", country="BF"), False),
        (Principal("c", "centre"), False),
        (Principal("s", "staff"), True),
    ],
)
def test_centres_act_on_partners_of_their_country(principal: Principal, allowed: bool) -> None:
    if allowed:
        check_centre_country(principal, "SN")
    else:
        with pytest.raises(Forbidden):
            check_centre_country(principal, "SN")


@pytest.mark.parametrize(
    ("principal", "asked", "result"),
    [
        (Principal("b", "branch", region="FR-BRE"), None, "FR-BRE"),
        (Principal("b", "branch", region="FR-BRE"), "FR-BRE", "FR-BRE"),
        (Principal("b", "branch", region="FR-BRE"), "FR-IDF", Forbidden),
        (Principal("b", "branch"), None, Forbidden),  # a branch token without a region sees nothing
        (Principal("s", "staff"), None, None),
        (Principal("s", "staff"), "FR-IDF", "FR-IDF"),
    ],
)
def test_branches_are_limited_to_their_region(principal: Principal, asked: str | None, result: object) -> None:
    if isinstance(result, type):
        with pytest.raises(result):  # type: ignore[call-overload]
            branch_region(principal, asked)
    else:
        assert branch_region(principal, asked) == result
