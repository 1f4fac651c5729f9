"""Table-driven tests of the missions domain rules (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vies_missions.domain import access
from vies_missions.domain.errors import ExtensionBeyondSchemeLimit, MissionNotReady
from vies_missions.domain.incident import Incident
from vies_missions.domain.mission import (
    CHECKLIST_ITEMS,
    Mission,
    add_months,
    follow_up_dates,
    latest_end,
    mission_id_for,
)
from vies_missions.domain.safety_check import (
    SafetyEntry,
    SecurityAlert,
    check_response,
    missions_by_region,
    unaccounted_by_region,
)
from vies_missions.settings import MissionsSettings
from vies_shared.errors import Forbidden, InvalidInput, NotAllowedInState
from vies_shared.web import Principal

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LIMITS = MissionsSettings().scheme_max_months


def planned(scheme: str = "vsi", country: str = "SN", starts_on: date = date(2026, 1, 5), months: int = 12) -> Mission:
    return Mission.plan(
        engagement_id="eng-1",
        volunteer_id="vol-1",
        authority_id="auth-1",
        partner_id="p-1",
        country=country,
        scheme=scheme,
        starts_on=starts_on,
        ends_on=add_months(starts_on, months) - timedelta(days=1),
        centre_id="ev-sn",
        region="FR-ARA",
        check_in_interval_seconds=14 * 86400,
        follow_up_offsets=(30, 30),
        now=NOW,
    )


def started(scheme: str = "vsi", departed: date = date(2026, 1, 10), **kw: Any) -> Mission:
    mission = planned(scheme, **kw)
    for item in mission.required_checklist:
        mission.tick(item, date(2026, 1, 1))
    mission.start(departed, NOW)
    mission.schedule_follow_ups(30, 30)  # as the start use case does
    return mission


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 5), 24, date(2028, 1, 5)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2027, 12, 15), 2, date(2028, 2, 15)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 1), 12, date(2027, 3, 1)),
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("scheme", "starts_on", "allowed", "refused"),
    [
        # VSI: one contract at most 2 years (law 2005-159, art. 4).
        ("vsi", date(2026, 1, 5), date(2028, 1, 4), date(2028, 1, 5)),
        ("reciprocity", date(2026, 1, 5), date(2028, 1, 4), date(2028, 1, 5)),
        ("service_civique", date(2026, 3, 1), date(2027, 2, 28), date(2027, 3, 1)),
        ("vec", date(2026, 1, 1), date(2026, 6, 30), date(2026, 7, 1)),
        ("jsi_vvvsi", date(2026, 7, 1), date(2026, 7, 31), date(2026, 8, 1)),
    ],
)
def test_extension_limits_per_scheme(scheme: str, starts_on: date, allowed: date, refused: date) -> None:
    assert latest_end(starts_on, LIMITS[scheme]) == allowed
    mission = started(scheme, departed=starts_on, starts_on=starts_on, months=1 if scheme == "jsi_vvvsi" else 3)
    with pytest.raises(ExtensionBeyondSchemeLimit) as refusal:
        mission.extend(refused, LIMITS[scheme], NOW)
    assert refusal.value.status == 409 and refusal.value.details["latest_ends_on"] == allowed.isoformat()  # type: ignore[index]
    if allowed > mission.ends_on:
        mission.extend(allowed, LIMITS[scheme], NOW)
        assert mission.ends_on == allowed and mission.status == "extended"


@pytest.mark.parametrize(
    ("ticked", "missing"),
    [
        ((), list(CHECKLIST_ITEMS)),
        (("training", "visa"), ["insurance", "travel_registration", "emergency_contact"]),
        (CHECKLIST_ITEMS[:-1], ["emergency_contact"]),
    ],
)
def test_start_refused_listing_missing_items(ticked: tuple[str, ...], missing: list[str]) -> None:
    mission = planned()
    for item in ticked:
        mission.tick(item, date(2026, 1, 1))
    with pytest.raises(MissionNotReady) as refusal:
        mission.start(date(2026, 1, 10), NOW)
    assert refusal.value.missing == missing and refusal.value.status == 409
    assert mission.status == "planned"


def test_reciprocity_is_hosted_in_france_without_training_or_ariane() -> None:
    mission = planned("reciprocity", country="TN")
    assert (mission.country, mission.origin_country) == ("FR", "TN")
    assert mission.missing_checklist == [
        "insurance",
        "visa",
        "emergency_contact",
        "housing",
        "tutor",
        "french_classes",
        "return_commitment",
    ]


@pytest.mark.parametrize(
    ("action", "status", "error"),
    [
        ("start", "started", NotAllowedInState),
        ("extend", "planned", NotAllowedInState),
        ("end", "planned", NotAllowedInState),
        ("interrupt", "planned", NotAllowedInState),
        ("end", "ended", NotAllowedInState),
        ("interrupt", "interrupted", NotAllowedInState),
        ("check_in", "planned", NotAllowedInState),
        ("tick", "started", NotAllowedInState),
    ],
)
def test_state_machine_refusals(action: str, status: str, error: type[Exception]) -> None:
    mission = started() if status != "planned" else planned()
    if status == "ended":
        mission.end(date(2026, 6, 1), "done")
    if status == "interrupted":
        mission.interrupt("health", date(2026, 6, 1), None)
    calls = {
        "start": lambda: mission.start(date(2026, 1, 10), NOW),
        "extend": lambda: mission.extend(date(2026, 12, 31), 24, NOW),
        "end": lambda: mission.end(date(2026, 6, 2), "x"),
        "interrupt": lambda: mission.interrupt("health", date(2026, 6, 2), None),
        "check_in": lambda: mission.check_in(NOW),
        "tick": lambda: mission.tick("visa", date(2026, 1, 1)),
    }
    with pytest.raises(error):
        calls[action]()


@pytest.mark.parametrize(
    ("departed_first", "change"),
    [
        (False, lambda m: m.start(NOW.date() + timedelta(days=3), NOW)),  # departure not happened yet
        (False, lambda m: m.start(date(2027, 2, 1), datetime(2027, 3, 1, tzinfo=UTC))),  # after the end date
        (False, lambda m: m.tick("passport", date(2026, 1, 1))),
        (True, lambda m: m.interrupt("boredom", date(2026, 6, 1), None)),
        (True, lambda m: m.end(date(2026, 1, 9), "back before leaving?")),
        (True, lambda m: m.extend(date(2026, 6, 1), 24, NOW)),  # earlier than the current end
    ],
)
def test_invalid_inputs(departed_first: bool, change: Any) -> None:
    mission = planned()
    for item in mission.required_checklist:
        mission.tick(item, date(2026, 1, 1))
    if departed_first:
        mission.start(date(2026, 1, 10), NOW)
    with pytest.raises(InvalidInput):
        change(mission)


@pytest.mark.parametrize(
    ("begins", "ends", "expected"),
    [
        (date(2026, 1, 10), date(2026, 12, 31), (date(2026, 2, 9), date(2026, 7, 6), date(2026, 12, 1))),
        # A 15-day youth project: interviews stay in order, start ≤ mid ≤ end.
        (date(2026, 7, 1), date(2026, 7, 15), (date(2026, 7, 8), date(2026, 7, 8), date(2026, 7, 8))),
    ],
)
def test_follow_up_dates(begins: date, ends: date, expected: tuple[date, date, date]) -> None:
    dates = follow_up_dates(begins, ends, 30, 30)
    assert (dates["start"], dates["mid"], dates["end"]) == expected


def test_overdue_follow_ups_reported_once_after_grace() -> None:
    mission = started()  # departed 2026-01-10: start interview due 2026-02-09
    assert mission.overdue_follow_ups(date(2026, 2, 16), 7) == []
    [late] = mission.overdue_follow_ups(date(2026, 2, 17), 7)
    assert late.stage == "start"
    assert mission.overdue_follow_ups(date(2026, 3, 1), 7) == []  # reported already
    mission.extend(date(2027, 6, 30), 24, NOW)
    mission.schedule_follow_ups(30, 30)  # the start interview keeps its date: still reported
    assert [f.stage for f in mission.overdue_follow_ups(date(2026, 3, 1), 7)] == []


def test_follow_ups_rescheduled_except_those_held() -> None:
    mission = started()
    mission.follow_up_done("start", date(2026, 2, 10), "centre-sn", "fine")
    mission.extend(date(2027, 6, 30), 24, NOW)
    mission.schedule_follow_ups(30, 30)
    by_stage = {f.stage: f for f in mission.follow_ups}
    assert by_stage["start"].done_on == date(2026, 2, 10)
    assert by_stage["end"].due_on == date(2027, 5, 31)
    with pytest.raises(NotAllowedInState):
        mission.follow_up_done("start", date(2026, 2, 11), "centre-sn", None)


@pytest.mark.parametrize(
    ("departed", "now", "expected_dues"),
    [
        (date(2026, 11, 1), datetime(2026, 11, 14, 23, 59, tzinfo=UTC), 0),
        (date(2026, 11, 1), datetime(2026, 11, 15, 0, 0, tzinfo=UTC), 1),
        (date(2026, 10, 1), datetime(2026, 11, 26, 12, 0, tzinfo=UTC), 4),
    ],
)
def test_missed_check_ins_once_per_due_date(departed: date, now: datetime, expected_dues: int) -> None:
    mission = started(departed=departed)
    missed = mission.missed_check_ins(now, limit=100)
    assert len(missed) == expected_dues
    assert missed == sorted(set(missed))
    assert mission.missed_check_ins(now, limit=100) == []  # asked again: nothing new
    assert mission.next_check_in_due_at is not None and mission.next_check_in_due_at > now
    mission.check_in(now)
    assert mission.missed_in_a_row == 0
    assert mission.next_check_in_due_at == now + timedelta(days=14)


@pytest.mark.parametrize(
    ("days", "expected_due"),
    [
        (2, NOW + timedelta(days=2)),  # shorter: due within two days from now
        (21, NOW + timedelta(days=21)),  # longer: the pending due date moves by the difference
        (14, NOW + timedelta(days=14)),
    ],
)
def test_change_check_in_interval(days: float, expected_due: datetime) -> None:
    mission = started()
    mission.check_in(NOW)
    mission.change_check_in_interval(days * 86400, NOW)
    assert mission.next_check_in_due_at == expected_due
    assert mission.check_in_interval_seconds == days * 86400


def test_departure_recorded_today_counts_from_now() -> None:
    mission = started(departed=NOW.date())
    assert mission.next_check_in_due_at == NOW + timedelta(days=14)


def test_erasure_keeps_anonymous_facts() -> None:
    mission = started()
    mission.interrupt("personal", date(2026, 5, 1), "family reasons")
    mission.erase_volunteer()
    doc = mission.to_doc()
    assert doc["volunteer_id"] is None and doc["interruption"]["note"] is None and doc["erased"]
    assert doc["interruption"]["reason"] == "personal" and doc["country"] == "SN"


def test_mission_id_is_deterministic_per_engagement() -> None:
    assert mission_id_for("eng-1") == mission_id_for("eng-1") != mission_id_for("eng-2")


def test_roundtrip_through_storage() -> None:
    mission = started()
    mission.extend(date(2027, 1, 31), 24, NOW)
    assert Mission.from_doc(mission.to_doc()).to_doc() == mission.to_doc()


MISSION_DOC = {
    "_id": "m1",
    "country": "SN",
    "authority_id": "a1",
    "partner_id": "p1",
    "region": "FR-ARA",
    "centre_id": "ev-sn",
}


@pytest.mark.parametrize(
    ("severity", "centre_id", "escalated_to"),
    [
        ("low", "ev-sn", None),
        ("medium", "ev-sn", None),
        ("high", "ev-sn", "centre"),
        ("critical", "ev-sn", "centre"),
        ("critical", "head-office", "head_office"),
    ],
)
def test_incident_escalation_on_report(severity: str, centre_id: str, escalated_to: str | None) -> None:
    incident = Incident.report(
        mission={**MISSION_DOC, "centre_id": centre_id},
        category="security",
        severity=severity,
        description="x",
        reported_by_role="volunteer",
        now=NOW,
    )
    assert incident.escalated_to == escalated_to


def test_incident_goes_to_head_office_only_when_unacknowledged_after_delay() -> None:
    delay = timedelta(hours=1)

    def report() -> Incident:
        return Incident.report(
            mission=MISSION_DOC, category="health", severity="high", description="x", reported_by_role="centre", now=NOW
        )

    waiting = report()
    assert not waiting.escalate_if_unacknowledged(NOW + delay - timedelta(seconds=1), delay)
    assert waiting.escalate_if_unacknowledged(NOW + delay, delay)
    assert waiting.escalated_to == "head_office" and len(waiting.escalations) == 2
    assert not waiting.escalate_if_unacknowledged(NOW + 2 * delay, delay)
    taken = report()
    taken.acknowledge("centre", NOW)
    assert not taken.escalate_if_unacknowledged(NOW + delay, delay)
    taken.resolve("treated", NOW)
    with pytest.raises(NotAllowedInState):
        taken.resolve("again", NOW)
    with pytest.raises(NotAllowedInState):
        taken.acknowledge("centre", NOW)


def test_safety_check_rules() -> None:
    alert = SecurityAlert.issue(
        country="sn", level="crisis", message="m", respond_within_hours=2, issued_by_role="centre", now=NOW
    )
    assert alert.country == "SN" and alert.respond_by == NOW + timedelta(hours=2)
    entries = alert.entries_for([{"_id": "m1", "authority_id": "a"}, {"_id": "m2", "authority_id": "b"}])
    assert [e.status for e in entries] == ["pending", "pending"]
    assert not entries[0].accounted_for and entries[0].model_copy(update={"status": "need_help"}).accounted_for
    assert not alert.is_due(NOW + timedelta(hours=1)) and alert.is_due(NOW + timedelta(hours=2))
    with pytest.raises(NotAllowedInState):
        check_response("safe", None, "m9")
    with pytest.raises(InvalidInput):
        check_response("fine", entries[0], "m1")
    alert.close("deadline", ["m2"], NOW)
    with pytest.raises(NotAllowedInState):
        alert.close("manual", [], NOW)
    with pytest.raises(InvalidInput):
        SecurityAlert.issue(
            country="SN", level="panic", message="m", respond_within_hours=1, issued_by_role="x", now=NOW
        )


def _entry(mission_id: str, region: str | None, status: str = "pending") -> SafetyEntry:
    entry = SafetyEntry.pending("alert-1", {"_id": mission_id, "authority_id": "a", "region": region})
    entry.status = status
    return entry


@pytest.mark.parametrize(
    ("entries", "opened", "closed"),
    [
        ([], {}, {}),
        ([_entry("m1", None)], {}, {}),
        (
            [_entry("m2", "FR-ARA"), _entry("m1", "FR-ARA", "safe"), _entry("m3", "FR-IDF"), _entry("m4", None)],
            {"FR-ARA": ["m1", "m2"], "FR-IDF": ["m3"]},
            {"FR-ARA": ["m2"], "FR-IDF": ["m3"]},
        ),
        (
            [_entry("m1", "FR-ARA", "safe"), _entry("m2", "FR-IDF", "need_help"), _entry("m3", "FR-IDF")],
            {"FR-ARA": ["m1"], "FR-IDF": ["m2", "m3"]},
            {"FR-ARA": [], "FR-IDF": ["m3"]},
        ),
    ],
    ids=["no missions", "unknown region only", "two regions and one unknown", "a region where all answered"],
)
def test_safety_check_per_region(
    entries: list[SafetyEntry], opened: dict[str, list[str]], closed: dict[str, list[str]]
) -> None:
    assert missions_by_region(entries) == opened
    assert unaccounted_by_region(entries) == closed


DOC = {"_id": "m1", "country": "SN", "authority_id": "a1", "region": "FR-ARA", "volunteer_id": "v1"}


@pytest.mark.parametrize(
    ("principal", "read", "volunteer_act", "manage"),
    [
        (Principal("s", "staff"), True, True, True),
        (Principal("c", "centre", country="SN"), True, True, True),
        (Principal("c", "centre", country="sn"), True, True, True),
        (Principal("c", "centre", country="BF"), False, False, False),
        (Principal("v1", "volunteer"), True, True, False),
        (Principal("v2", "volunteer"), False, False, False),
        (Principal("a", "authority", authority_id="a1"), True, False, False),
        (Principal("a", "authority", authority_id="a2"), False, False, False),
        (Principal("b", "branch", region="FR-ARA"), True, False, False),
        (Principal("b", "branch", region="FR-IDF"), False, False, False),
        (Principal("p", "partner"), False, False, False),
        (Principal("c", "candidate"), False, False, False),
    ],
)
def test_access_rules(principal: Principal, read: bool, volunteer_act: bool, manage: bool) -> None:
    assert access.can(principal, access.READ, DOC) is read
    assert access.can(principal, access.VOLUNTEER_ACT, DOC) is volunteer_act
    assert access.can(principal, access.MANAGE, DOC) is manage


def test_erased_mission_belongs_to_no_volunteer() -> None:
    assert not access.can(Principal("v1", "volunteer"), access.READ, {**DOC, "volunteer_id": None})
    with pytest.raises(Forbidden):
        access.mission_scope(Principal("p", "partner"))


def _alert(hours: float = 8) -> SecurityAlert:
    return SecurityAlert.issue(
        country="SN", level="crisis", message="m", respond_within_hours=hours, issued_by_role="centre", now=ISSUED
    )


ISSUED = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("hours", "elapsed", "sent", "due"),
    [
        (8, 3.9, [], []),  # before half-time
        (8, 4.0, [], ["half_time"]),
        (8, 5.0, ["half_time"], []),
        (8, 7.0, ["half_time"], ["before_deadline"]),  # one hour before the deadline
        (8, 7.5, [], ["half_time", "before_deadline"]),  # a lagging scheduler: one reminder for both
        (8, 8.0, [], []),  # the deadline: the close takes over
        (1, 0.5, [], ["half_time"]),  # a one-hour window: half-time only (before-deadline would come first)
        (1, 0.9, ["half_time"], []),
    ],
)
def test_safety_check_reminder_stages(hours: float, elapsed: float, sent: list[str], due: list[str]) -> None:
    alert = _alert(hours)
    alert.reminders_sent = sent
    assert alert.reminders_due(ISSUED + elapsed * HOUR, HOUR) == due


def test_head_office_step_only_after_a_deadline_close_with_unaccounted_and_the_delay() -> None:
    alert = _alert(2)
    assert not alert.escalation_due(ISSUED + 10 * HOUR, HOUR)
    alert.close("deadline", ["m-1"], ISSUED + 2 * HOUR)
    assert alert.escalation == "pending"
    assert alert.reminders_due(ISSUED + 1.5 * HOUR, HOUR) == []  # closed: no more reminders
    assert not alert.escalation_due(ISSUED + 2.9 * HOUR, HOUR)
    assert alert.escalation_due(ISSUED + 3 * HOUR, HOUR)
    everyone = _alert(2)
    everyone.close("deadline", [], ISSUED + 2 * HOUR)
    by_hand = _alert(2)
    by_hand.close("manual", ["m-1"], ISSUED + HOUR)  # the crisis cell took over
    assert not everyone.escalation_due(ISSUED + 9 * HOUR, HOUR) and not by_hand.escalation_due(ISSUED + 9 * HOUR, HOUR)
    assert SecurityAlert.from_doc(alert.to_doc()) == alert


def test_a_targeted_alert_asks_the_missions_there_and_those_whose_place_is_unknown() -> None:
    alert = SecurityAlert.issue(
        country="sn",
        level="crisis",
        message="m",
        respond_within_hours=2,
        issued_by_role="centre",
        now=ISSUED,
        subdivisions=["sn-dk", "SN-TH", "SN-DK"],
    )
    assert alert.subdivisions == ["SN-DK", "SN-TH"]
    query = alert.snapshot_query(("started",))
    assert query["$or"] == [{"place.subdivision": {"$in": ["SN-DK", "SN-TH"]}}, {"place": None}]
    assert "$or" not in _alert().snapshot_query(("started",))  # the whole country
    with pytest.raises(InvalidInput, match="not subdivisions of SN: ML-BKO"):
        SecurityAlert.issue(
            country="SN", level="crisis", message="m", respond_within_hours=2, issued_by_role="centre", now=ISSUED,
            subdivisions=["ML-BKO"],
        )  # fmt: skip
