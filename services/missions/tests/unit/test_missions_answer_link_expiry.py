"""How long a safety answer link works: while its check is open, then VIES_SAFETY_LINK_VALID_DAYS after the close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vies_missions.domain.answer_link import LinkExpired, check_link_usable, link_expires_at
from vies_missions.domain.safety_check import SecurityAlert

ISSUED = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def _alert() -> SecurityAlert:
    return SecurityAlert.issue(
        country="SN", level="crisis", message="Stay home", respond_within_hours=6, issued_by_role="centre", now=ISSUED
    )


def test_an_open_check_never_expires_its_links() -> None:
    alert = _alert()
    assert link_expires_at(alert, WEEK) is None
    check_link_usable(alert, ISSUED + timedelta(days=400), WEEK)  # a long-open check: still answers


def test_links_work_until_the_days_after_the_close_and_then_say_when_they_expired() -> None:
    alert = _alert()
    closed_at = ISSUED + timedelta(hours=6)
    alert.close("deadline", ["m-1"], closed_at)
    assert link_expires_at(alert, WEEK) == closed_at + WEEK
    check_link_usable(alert, closed_at + WEEK - timedelta(seconds=1), WEEK)
    with pytest.raises(LinkExpired) as refused:
        check_link_usable(alert, closed_at + WEEK, WEEK)
    assert (refused.value.status, refused.value.code) == (410, "link_expired")
    assert refused.value.details == {"expired_at": (closed_at + WEEK).isoformat()}


def test_a_naive_close_time_from_the_database_counts_as_utc_and_zero_days_expire_at_the_close() -> None:
    alert = _alert()
    alert.close("manual", [], datetime(2027, 3, 1, 13, 0))  # as PyMongo returns it without tz_aware
    assert link_expires_at(alert, timedelta(0)) == datetime(2027, 3, 1, 13, 0, tzinfo=UTC)
    with pytest.raises(LinkExpired):
        check_link_usable(alert, datetime(2027, 3, 1, 13, 0, tzinfo=UTC), timedelta(0))
