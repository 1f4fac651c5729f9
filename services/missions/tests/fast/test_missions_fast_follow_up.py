"""Following a mission on in-memory fakes: interviews overdue and on the agenda, dates moved by an extension,
the VSI lifetime cap, check-in intervals, incidents in scope, the host partner's view, the end-of-mission
report, evaluation and certificate."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from missions_fast_kit import CENTRE_SN, engagement, missions_runtime, planned, started, volunteer_of

from vies_missions import scheduler, use_cases
from vies_shared.errors import Forbidden, InvalidInput, NotAllowedInState
from vies_shared.events.missions import CheckInMissed, FollowUpInterviewOverdue, IncidentEscalated
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.tokens import Principal
from vies_shared.web import Page

pytestmark = pytest.mark.fast

PAGE = Page(limit=50, offset=0)
AUTHORITY = Principal(sub="agent-1", role="authority", authority_id="auth-1")
SCORES = {"objectives_met": 4, "host_partner": 5, "volunteer_support": 3}


def due_on(view: dict[str, object], stage: str) -> object:
    """The due date of one interview in a mission's or a list's items."""
    items = view["items"] if "items" in view else view["follow_ups"]
    assert isinstance(items, list)
    return next(f["due_on"] for f in items if f["stage"] == stage)


async def test_an_interview_not_held_after_its_grace_days_is_reported_once_and_stays_on_the_agenda() -> None:
    runtime = await missions_runtime()
    late, held, not_started = [await planned(runtime) for _ in range(3)]
    for mission_id in (late, held):
        await started(runtime, mission_id, date(2026, 1, 10))  # start interviews due 2026-02-09
    await use_cases.mark_follow_up_done(runtime, CENTRE_SN, held, stage="start", done_on=date(2026, 2, 9), notes=None)
    runtime.clock.set(runtime.now() + timedelta(days=35))  # 2026-02-16: within the 7 days' grace
    assert await scheduler.report_overdue_follow_ups(runtime) == 0
    runtime.clock.advance(days=1)
    assert await scheduler.report_overdue_follow_ups(runtime) == 1
    assert await scheduler.report_overdue_follow_ups(runtime) == 0
    assert runtime.events_of(FollowUpInterviewOverdue) == [
        FollowUpInterviewOverdue(mission_id=late, stage="start", due_on=date(2026, 2, 9), centre_id="ev-sn")
    ]
    agenda = await use_cases.due_follow_ups(runtime, CENTRE_SN, date(2026, 3, 1), None, PAGE)
    assert [(i["mission_id"], i["stage"]) for i in agenda["items"]] == [(late, "start")]
    other_centre = Principal(sub="c", role="centre", country="BF")
    assert (await use_cases.due_follow_ups(runtime, other_centre, date(2026, 3, 1), None, PAGE))["total"] == 0
    assert not_started not in {i["mission_id"] for i in agenda["items"]}


async def test_an_extension_moves_the_interviews_not_held_and_keeps_within_the_lifetime_cap() -> None:
    runtime = await missions_runtime()
    mission_id = await planned(runtime, engagement(vsi_months_served_before=55))
    await started(runtime, mission_id, date(2026, 1, 10))
    await use_cases.mark_follow_up_done(
        runtime, CENTRE_SN, mission_id, stage="start", done_on=date(2026, 2, 10), notes=None
    )
    before = await use_cases.list_follow_ups(runtime, CENTRE_SN, mission_id)
    extended = await use_cases.extend_mission(runtime, CENTRE_SN, mission_id, date(2027, 5, 31))
    assert due_on(extended, "start") == due_on(before, "start") == "2026-02-09"
    assert due_on(extended, "end") == "2027-05-01" and due_on(extended, "mid") != due_on(before, "mid")
    with pytest.raises(NotAllowedInState) as capped:  # 55 months before + 18 with this one > 72
        await use_cases.extend_mission(runtime, CENTRE_SN, mission_id, date(2027, 7, 31))
    assert isinstance(capped.value.details, dict)
    assert capped.value.details["rule"] == "vsi.lifetime_cap" and capped.value.details["months_served_before"] == 55


async def test_a_missions_own_check_in_interval_moves_its_next_due_date() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))  # next due 2026-01-24 00:00
    with pytest.raises(InvalidInput):
        await use_cases.change_check_in_interval(runtime, CENTRE_SN, mission_id, 0)
    with pytest.raises(Forbidden):
        await use_cases.change_check_in_interval(runtime, volunteer_of(event), mission_id, 2)
    shorter = await use_cases.change_check_in_interval(runtime, CENTRE_SN, mission_id, 2)
    assert shorter["check_ins"]["next_due_at"].startswith("2026-01-14T09:00")  # two days from now
    longer = await use_cases.change_check_in_interval(runtime, CENTRE_SN, mission_id, 7)
    assert longer["check_ins"]["next_due_at"].startswith("2026-01-19T09:00")  # moved by the difference
    runtime.clock.advance(days=8)
    assert await scheduler.emit_missed_check_ins(runtime) == 1
    await use_cases.send_check_in(runtime, volunteer_of(event), mission_id, status="ok", note=None)
    runtime.clock.advance(days=8)
    assert await scheduler.emit_missed_check_ins(runtime) == 1
    # A check-in in between starts the count of misses in a row again.
    assert [e.missed_in_a_row for e in runtime.events_of(CheckInMissed)] == [1, 1]
    await use_cases.end_mission(runtime, CENTRE_SN, mission_id, ended_on=date(2026, 1, 30), debrief="ok")
    with pytest.raises(NotAllowedInState):
        await use_cases.change_check_in_interval(runtime, CENTRE_SN, mission_id, 3)


async def test_an_urgent_check_in_opens_an_incident_of_the_configured_severity_and_incidents_stay_in_scope() -> None:
    runtime = await missions_runtime(urgent_check_in_severity="medium")
    event = engagement()
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))
    urgent = await use_cases.send_check_in(runtime, volunteer_of(event), mission_id, status="urgent", note=None)
    incident = await use_cases.get_incident(runtime, CENTRE_SN, urgent["incident_id"])
    assert (incident["severity"], incident["source"], incident["escalated_to"]) == ("medium", "urgent_check_in", None)
    assert runtime.events_of(IncidentEscalated) == []
    with pytest.raises(InvalidInput):
        await use_cases.report_incident(
            runtime, volunteer_of(event), mission_id, category="weather", severity="low", description="rain"
        )
    other = await planned(runtime)
    mine = await use_cases.list_incidents(runtime, volunteer_of(event), PAGE)
    assert [i["incident_id"] for i in mine["items"]] == [urgent["incident_id"]]
    with pytest.raises(Forbidden):
        await use_cases.list_incidents(runtime, volunteer_of(event), PAGE, mission_id=other)
    await use_cases.resolve_incident(runtime, CENTRE_SN, urgent["incident_id"], "called back")
    assert (await use_cases.list_incidents(runtime, CENTRE_SN, PAGE, open_only=True))["total"] == 0
    with pytest.raises(Forbidden):
        await use_cases.list_incidents(runtime, Principal(sub="p", role="partner", partner_id="partner-1"), PAGE)


async def test_the_host_partner_reads_its_missions_through_the_partner_view_only() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    await runtime.deliver(
        ContactUpdated(person_id=event.volunteer_id, name="Awa Diop", email="awa@example.org", language="fr")
    )
    host = Principal(sub="p", role="partner", partner_id="partner-1")
    view = await use_cases.get_mission(runtime, host, mission_id)
    assert view["volunteer"] == {"first_name": "Awa"} and view["centre"]["centre_id"] == "ev-sn"
    assert not {"volunteer_id", "checklist", "check_ins", "review"} & set(view)
    with pytest.raises(Forbidden):
        await use_cases.get_mission(runtime, Principal(sub="p2", role="partner", partner_id="partner-2"), mission_id)
    with pytest.raises(Forbidden):
        await use_cases.list_missions(runtime, host, PAGE, flagged=True)
    assert [m["mission_id"] for m in (await use_cases.list_missions(runtime, host, PAGE))["items"]] == [mission_id]
    with pytest.raises(Forbidden):
        await use_cases.list_follow_ups(runtime, host, mission_id)


async def test_the_report_the_evaluation_and_the_certificate_come_with_the_end_of_the_mission() -> None:
    runtime = await missions_runtime()
    event = engagement()
    volunteer = volunteer_of(event)
    mission_id = await planned(runtime, event)
    with pytest.raises(NotAllowedInState):
        await use_cases.file_volunteer_report(runtime, volunteer, mission_id, "not yet")
    await started(runtime, mission_id, date(2026, 1, 10))
    await use_cases.file_volunteer_report(runtime, volunteer, mission_id, "A year of water networks.")
    with pytest.raises(NotAllowedInState):
        await use_cases.evaluate_mission(
            runtime, AUTHORITY, mission_id, scores=SCORES, would_host_again=True, comment=None
        )
    with pytest.raises(NotAllowedInState):
        await use_cases.get_certificate(runtime, volunteer, mission_id)
    with pytest.raises(InvalidInput):  # ended before the departure
        await use_cases.end_mission(runtime, CENTRE_SN, mission_id, ended_on=date(2026, 1, 9), debrief="x")
    await use_cases.end_mission(runtime, CENTRE_SN, mission_id, ended_on=date(2026, 12, 20), debrief="Good.")

    with pytest.raises(InvalidInput):
        await use_cases.evaluate_mission(
            runtime, AUTHORITY, mission_id, scores={**SCORES, "host_partner": 6}, would_host_again=True, comment=None
        )
    with pytest.raises(Forbidden):
        other = Principal(sub="a2", role="authority", authority_id="auth-2")
        await use_cases.evaluate_mission(runtime, other, mission_id, scores=SCORES, would_host_again=True, comment=None)
    await use_cases.evaluate_mission(
        runtime, AUTHORITY, mission_id, scores=SCORES, would_host_again=True, comment="Again."
    )
    seen_by_volunteer = await use_cases.get_end_of_mission(runtime, volunteer, mission_id)
    seen_by_authority = await use_cases.get_end_of_mission(runtime, AUTHORITY, mission_id)
    seen_by_centre = await use_cases.get_end_of_mission(runtime, CENTRE_SN, mission_id)
    assert seen_by_volunteer["volunteer_report"]["text"] == "A year of water networks."
    assert seen_by_volunteer["evaluation"] is None and seen_by_authority["volunteer_report"] is None
    assert seen_by_authority["evaluation"]["would_host_again"] is True
    assert seen_by_centre["volunteer_report"] and seen_by_centre["evaluation"]

    with pytest.raises(Forbidden):  # the volunteer's document: not the centre's to download
        await use_cases.get_certificate(runtime, CENTRE_SN, mission_id)
    pdf = await use_cases.get_certificate(runtime, volunteer, mission_id)
    assert pdf.startswith(b"%PDF")
    assert (await use_cases.get_certificate(runtime, AUTHORITY, mission_id)).startswith(b"%PDF")
