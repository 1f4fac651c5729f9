"""Check-ins, incidents and safety checks on in-memory fakes, with the schedulers driven by the fake clock."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from missions_fast_kit import CENTRE_SN, STAFF, engagement, missions_runtime, planned, started, volunteer_of

from vies_missions import scheduler, use_cases
from vies_shared.errors import Forbidden, NotAllowedInState
from vies_shared.events.missions import (
    CheckInMissed,
    CheckInReceived,
    IncidentAcknowledged,
    IncidentEscalated,
    IncidentReported,
    IncidentResolved,
    SafetyCheckClosed,
    SafetyCheckOpened,
    SafetyStatusReported,
    SecurityAlertIssued,
)
from vies_shared.events.partners import AuthorityRegistered
from vies_shared.tokens import Principal

pytestmark = pytest.mark.fast


async def test_a_check_in_moves_the_next_due_date_and_an_urgent_one_opens_an_incident() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))
    volunteer = volunteer_of(event)
    view = await use_cases.send_check_in(runtime, volunteer, mission_id, status="ok", note=None)
    assert view["status"] == "ok" and "incident_id" not in view
    mission = await runtime.collection("missions").find_one({"_id": mission_id})
    assert mission is not None and mission["next_check_in_due_at"] == runtime.now() + timedelta(days=14)

    urgent = await use_cases.send_check_in(runtime, volunteer, mission_id, status="urgent", note="robbed")
    assert [e.status for e in runtime.events_of(CheckInReceived)] == ["ok", "urgent"]
    [reported] = runtime.events_of(IncidentReported)
    assert reported.incident_id == urgent["incident_id"] and reported.severity == "critical"
    assert [e.incident_id for e in runtime.events_of(IncidentEscalated)] == [urgent["incident_id"]]
    stranger = Principal(sub="someone-else", role="volunteer")
    with pytest.raises(Forbidden):
        await use_cases.send_check_in(runtime, stranger, mission_id, status="ok", note=None)


async def test_missed_check_ins_are_emitted_once_per_due_date() -> None:
    runtime = await missions_runtime()
    mission_id = await planned(runtime)
    await started(runtime, mission_id, date(2026, 1, 10))
    assert await scheduler.emit_missed_check_ins(runtime) == 0
    runtime.clock.advance(days=30)  # due 2026-01-24 and 2026-02-07 have both passed
    assert await scheduler.emit_missed_check_ins(runtime) == 2
    missed = runtime.events_of(CheckInMissed)
    assert [(e.due_on, e.missed_in_a_row) for e in missed] == [(date(2026, 1, 24), 1), (date(2026, 2, 7), 2)]
    assert await scheduler.emit_missed_check_ins(runtime) == 0
    assert len(runtime.events_of(CheckInMissed)) == 2


async def test_a_serious_incident_is_escalated_then_handled() -> None:
    runtime = await missions_runtime(incident_escalation_delay_seconds=3600)
    event = engagement()
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))
    volunteer = volunteer_of(event)
    minor = await use_cases.report_incident(
        runtime, volunteer, mission_id, category="health", severity="low", description="a cold"
    )
    serious = await use_cases.report_incident(
        runtime, volunteer, mission_id, category="security", severity="high", description="threats"
    )
    assert [e.incident_id for e in runtime.events_of(IncidentReported)] == [
        minor["incident_id"],
        serious["incident_id"],
    ]
    [to_centre] = runtime.events_of(IncidentEscalated)
    assert to_centre.incident_id == serious["incident_id"] and to_centre.escalated_to == "centre"

    # Unacknowledged past the delay: up to the head office, once.
    assert await scheduler.escalate_unacknowledged_incidents(runtime) == 0
    runtime.clock.advance(hours=2)
    assert await scheduler.escalate_unacknowledged_incidents(runtime) == 1
    assert await scheduler.escalate_unacknowledged_incidents(runtime) == 0
    assert [e.escalated_to for e in runtime.events_of(IncidentEscalated)] == ["centre", "head_office"]

    with pytest.raises(Forbidden):
        await use_cases.acknowledge_incident(runtime, volunteer, serious["incident_id"])
    acknowledged = await use_cases.acknowledge_incident(runtime, CENTRE_SN, serious["incident_id"])
    assert acknowledged["status"] == "acknowledged"
    resolved = await use_cases.resolve_incident(runtime, CENTRE_SN, serious["incident_id"], "moved to the capital")
    assert resolved["status"] == "resolved"
    assert [e.incident_id for e in runtime.events_of(IncidentAcknowledged)] == [serious["incident_id"]]
    assert [e.incident_id for e in runtime.events_of(IncidentResolved)] == [serious["incident_id"]]
    with pytest.raises(NotAllowedInState):
        await use_cases.resolve_incident(runtime, CENTRE_SN, serious["incident_id"], "again")


async def test_a_safety_check_asks_every_volunteer_and_reports_the_unaccounted_at_its_deadline() -> None:
    runtime = await missions_runtime()
    # The authority's region is known first: each region's branch gets its own view of the check.
    await runtime.deliver(
        AuthorityRegistered(
            authority_id="auth-1",
            name="Rennes",
            kind="commune",
            region="BRE",
            contact_email="c@rennes.example",
            territoires_volontaires=False,
        )
    )
    first, second, elsewhere = engagement(), engagement(), engagement(country="BF")
    ids = [await planned(runtime, e) for e in (first, second, elsewhere)]
    for mission_id in ids[:2]:
        await started(runtime, mission_id, date(2026, 1, 10))
    other_centre = Principal(sub="centre-bf", role="centre", country="BF")
    with pytest.raises(Forbidden):
        await use_cases.issue_security_alert(
            runtime, other_centre, country="SN", level="crisis", message="unrest", respond_within_hours=6
        )
    alert = await use_cases.issue_security_alert(
        runtime, CENTRE_SN, country="SN", level="crisis", message="unrest", respond_within_hours=6
    )
    [issued] = runtime.events_of(SecurityAlertIssued)
    assert issued.alert_id == alert["alert_id"] and sorted(issued.mission_ids) == sorted(ids[:2])
    [opened] = [envelope for envelope in runtime.envelopes if isinstance(envelope.event, SafetyCheckOpened)]
    assert opened.meta.region == "BRE" and sorted(opened.event.mission_ids) == sorted(ids[:2])  # type: ignore[attr-defined]

    await use_cases.respond_to_safety_check(runtime, volunteer_of(first), alert["alert_id"], ids[0], "safe")
    await use_cases.respond_to_safety_check(runtime, volunteer_of(first), alert["alert_id"], ids[0], "need_help")
    assert [e.status for e in runtime.events_of(SafetyStatusReported)] == ["safe", "need_help"]
    [help_incident] = runtime.events_of(IncidentReported)
    assert help_incident.mission_id == ids[0] and help_incident.severity == "critical"
    with pytest.raises(Forbidden):
        await use_cases.respond_to_safety_check(runtime, volunteer_of(first), alert["alert_id"], ids[1], "safe")

    assert await scheduler.close_due_safety_checks(runtime) == 0
    runtime.clock.advance(hours=7)
    assert await scheduler.close_due_safety_checks(runtime) == 1
    [closed] = runtime.events_of(SafetyCheckClosed)
    assert closed.unaccounted_mission_ids == [ids[1]]
    with pytest.raises(NotAllowedInState):
        await use_cases.close_safety_check(runtime, STAFF, alert["alert_id"])


async def test_a_safety_check_with_nobody_to_account_for_closes_as_it_opens() -> None:
    runtime = await missions_runtime()
    alert = await use_cases.issue_security_alert(
        runtime, STAFF, country="ML", level="vigilance", message="floods", respond_within_hours=12
    )
    assert alert["status"] == "closed"
    assert runtime.types() == ["missions.SecurityAlertIssued", "missions.SafetyCheckClosed"]
    assert runtime.events_of(SafetyCheckClosed)[0].unaccounted_mission_ids == []
