"""The aggregates record the events their changes cause, each with the region it is published under."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from vies_missions.domain.incident import Incident
from vies_missions.domain.mission import Mission
from vies_missions.domain.safety_check import SecurityAlert
from vies_shared.events.missions import (
    CheckInMissed,
    IncidentEscalated,
    IncidentReported,
    MissionPlanned,
    MissionStarted,
    SafetyCheckClosed,
    SafetyCheckClosedInRegion,
    SafetyCheckOpened,
    SecurityAlertIssued,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _mission(*, erased: bool = False) -> Mission:
    return Mission.plan(
        engagement_id="eng-1",
        volunteer_id="vol-1",
        authority_id="auth-1",
        partner_id="p-1",
        country="SN",
        scheme="vsi",
        starts_on=date(2026, 1, 5),
        ends_on=date(2026, 12, 31),
        centre_id="ev-sn",
        region="FR-ARA",
        check_in_interval_seconds=7 * 86400,
        follow_up_offsets=(30, 30),
        now=NOW,
        volunteer_erased=erased,
    )


def test_a_mission_records_its_planning_and_departure_under_its_region() -> None:
    mission = _mission()
    for item in mission.required_checklist:
        mission.tick(item, date(2026, 1, 1))
    mission.start(date(2026, 1, 10), NOW)
    recorded = mission.pull_events()
    assert [type(r.event) for r in recorded] == [MissionPlanned, MissionStarted]
    assert {r.region for r in recorded} == {"FR-ARA"}
    planned = recorded[0].event
    assert isinstance(planned, MissionPlanned) and planned.volunteer_id == "vol-1"
    assert mission.pull_events() == []  # each event is emitted once
    missed = mission.missed_check_ins(NOW + timedelta(days=365), limit=3)
    events = [r.event for r in mission.pull_events()]
    assert [e.due_at for e in events if isinstance(e, CheckInMissed)] == missed
    assert [e.missed_in_a_row for e in events if isinstance(e, CheckInMissed)] == [1, 2, 3]


def test_an_erased_volunteers_mission_does_not_publish_the_persons_id() -> None:
    [recorded] = _mission(erased=True).pull_events()
    assert isinstance(recorded.event, MissionPlanned) and recorded.event.volunteer_id == ""


def test_a_serious_incident_records_its_report_then_its_escalation() -> None:
    mission = {"_id": "m1", "country": "SN", "authority_id": "a1", "partner_id": "p1", "region": "FR-IDF"}
    incident = Incident.report(
        mission=mission, category="health", severity="high", description="d", reported_by_role="volunteer", now=NOW
    )
    recorded = incident.pull_events()
    assert [type(r.event) for r in recorded] == [IncidentReported, IncidentEscalated]
    assert [r.region for r in recorded] == ["FR-IDF", "FR-IDF"]
    assert Incident.from_doc(incident.to_doc()) == incident


def test_a_safety_check_opens_per_region_and_closes_per_region() -> None:
    alert = SecurityAlert.issue(
        country="SN", level="crisis", message="m", respond_within_hours=2, issued_by_role="centre", now=NOW
    )
    missions = [
        {"_id": "m2", "authority_id": "a1", "region": "FR-ARA"},
        {"_id": "m1", "authority_id": "a2", "region": "FR-IDF"},
        {"_id": "m3", "authority_id": "a3", "region": None},
    ]
    entries = alert.open_check(missions, NOW)
    opened = alert.pull_events()
    assert isinstance(opened[0].event, SecurityAlertIssued) and opened[0].region is None
    assert opened[0].event.mission_ids == ["m2", "m1", "m3"] and alert.mission_count == 3
    assert [(r.region, r.event.mission_ids) for r in opened[1:] if isinstance(r.event, SafetyCheckOpened)] == [
        ("FR-ARA", ["m2"]),
        ("FR-IDF", ["m1"]),
    ]
    entries[0].status = "safe"
    alert.close_over(entries, "deadline", NOW + timedelta(hours=2))
    closed = alert.pull_events()
    assert isinstance(closed[0].event, SafetyCheckClosed) and closed[0].event.unaccounted_mission_ids == ["m1", "m3"]
    in_regions = [(r.region, r.event.unaccounted_mission_ids) for r in closed[1:]]
    assert all(isinstance(r.event, SafetyCheckClosedInRegion) for r in closed[1:])
    assert in_regions == [("FR-ARA", []), ("FR-IDF", ["m1"])]


def test_a_check_with_nobody_to_ask_closes_as_it_opens() -> None:
    alert = SecurityAlert.issue(
        country="SN", level="info", message="m", respond_within_hours=2, issued_by_role="centre", now=NOW
    )
    assert alert.open_check([], NOW) == []
    assert [type(r.event) for r in alert.pull_events()] == [SecurityAlertIssued, SafetyCheckClosed]
    assert alert.status == "closed" and alert.closed_reason == "no_volunteers"
