"""Extending a mission keeps the scheme's contract limit and, for a VSI, the lifetime cap with the months
served before this mission counted; each refusal carries the rule's source (table-driven)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from vies_missions.domain.errors import ExtensionBeyondLifetimeCap, ExtensionBeyondSchemeLimit
from vies_missions.domain.mission import STARTED, Mission, add_months, months_between
from vies_shared.errors import NotAllowedInState

NOW = datetime(2026, 6, 1, tzinfo=UTC)
START = date(2026, 1, 1)
LIMITS = {"vsi": 24, "reciprocity": 24, "service_civique": 12, "service_civique_reciprocity": 12}


def mission(scheme: str = "vsi", before: float | None = None, months: int = 6) -> Mission:
    planned = Mission.plan(
        engagement_id="eng-1",
        volunteer_id="vol-1",
        authority_id="auth-1",
        partner_id="partner-1",
        country="SN",
        scheme=scheme,
        starts_on=START,
        ends_on=last_day_after(months),
        centre_id=None,
        region="FR-ARA",
        check_in_interval_seconds=86400,
        follow_up_offsets=(30, 30),
        now=NOW,
        vsi_months_served_before=before,
    )
    planned.status = STARTED
    return planned


def last_day_after(months: int) -> date:
    """The last day of a contract of ``months`` months from START."""
    return add_months(START, months) - timedelta(days=1)


CASES = [
    # (id, scheme, months served before, extend to (months of the whole mission), refusal or None)
    ("vsi 60 before, extended to 12 months: 72 exactly", "vsi", 60.0, 12, None),
    ("vsi 60 before, extended to 13 months: 73", "vsi", 60.0, 13, ExtensionBeyondLifetimeCap),
    ("vsi 65.5 before, extended to 7 months", "vsi", 65.5, 7, ExtensionBeyondLifetimeCap),
    ("vsi nothing before, extended to 24 months", "vsi", None, 24, None),
    ("vsi extended to 25 months: the contract limit", "vsi", None, 25, ExtensionBeyondSchemeLimit),
    ("vsi 60 before, extended to 25 months: contract limit first", "vsi", 60.0, 25, ExtensionBeyondSchemeLimit),
    ("service civique: no lifetime cap", "service_civique", 100.0, 12, None),
    ("service civique reciprocity past 12 months", "service_civique_reciprocity", None, 13, ExtensionBeyondSchemeLimit),
]


@pytest.mark.parametrize(("scheme", "before", "months", "refusal"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_extension_rules(scheme: str, before: float | None, months: int, refusal: type[Exception] | None) -> None:
    m = mission(scheme, before)
    if refusal is None:
        m.extend(last_day_after(months), LIMITS[scheme], NOW, lifetime_cap_months=72)
        assert m.ends_on == last_day_after(months)
        return
    with pytest.raises(refusal) as caught:
        m.extend(last_day_after(months), LIMITS[scheme], NOW, lifetime_cap_months=72)
    assert isinstance(caught.value, NotAllowedInState)  # 409
    details = caught.value.details
    assert isinstance(details, dict) and "art." in details["source"]


def test_the_lifetime_refusal_says_what_was_counted() -> None:
    with pytest.raises(ExtensionBeyondLifetimeCap) as caught:
        mission("vsi", 60.0).extend(last_day_after(13), 24, NOW, lifetime_cap_months=72)
    details = caught.value.details
    assert isinstance(details, dict)
    assert details["rule"] == "vsi.lifetime_cap"
    assert details["months_served_before"] == 60.0 and details["months_with_extension"] == 73.0
    assert details["source"].startswith("Loi n° 2005-159") and "art. 4" in details["source"]


def test_reciprocity_schemes_are_hosted_in_france_with_their_own_checklist() -> None:
    m = mission("service_civique_reciprocity")
    assert m.country == "FR" and m.origin_country == "SN"
    assert "training" not in m.required_checklist and "housing" in m.required_checklist


def test_months_are_counted_as_recruitment_counts_them() -> None:
    assert months_between(date(2027, 1, 1), date(2027, 6, 30)) == 6.0
    assert months_between(date(2027, 1, 1), date(2027, 7, 1)) == pytest.approx(6 + 1 / 30)
    assert months_between(date(2020, 1, 1), date(2025, 11, 30)) == 71.0
