"""The safety-check ladder on in-memory fakes, driven by the fake clock: reminders, the deadline with each
region's list, the head office, manual closing, alerts aimed at part of a country and the live status."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from missions_fast_kit import CENTRE_SN, STAFF, engagement, missions_runtime, planned, started, volunteer_of

from vies_dev.testing.fakes import FakeRuntime
from vies_missions import scheduler, use_cases
from vies_missions.settings import MissionsSettings
from vies_shared.errors import Forbidden, InvalidInput, NotAllowedInState
from vies_shared.events.missions import (
    IncidentReported,
    SafetyCheckClosed,
    SafetyCheckClosedInRegion,
    SafetyCheckEscalated,
    SafetyCheckReminded,
)
from vies_shared.events.partners import AuthorityRegistered
from vies_shared.events.recruitment import ContactUpdated, EmergencyContact, VolunteerEngaged
from vies_shared.tokens import Principal
from vies_shared.web import Page

pytestmark = pytest.mark.fast

Missions = FakeRuntime[MissionsSettings]


async def under_way(runtime: Missions, **fields: Any) -> tuple[str, VolunteerEngaged]:
    """A mission under way since 2026-01-10, with its engagement."""
    event = engagement(**fields)
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))
    return mission_id, event


async def with_regions() -> Missions:
    """Missions on fakes knowing auth-1 (region BRE) and auth-2 (region NOR)."""
    runtime = await missions_runtime()
    for authority_id, region in (("auth-1", "BRE"), ("auth-2", "NOR")):
        await runtime.deliver(
            AuthorityRegistered(
                authority_id=authority_id,
                name=authority_id,
                kind="commune",
                region=region,
                contact_email=f"{authority_id}@example.org",
                territoires_volontaires=False,
            )
        )
    return runtime


async def alert(runtime: Missions, hours: float = 6, **fields: Any) -> str:
    """A crisis alert for Senegal issued by its centre."""
    issued = await use_cases.issue_security_alert(
        runtime, CENTRE_SN, country="SN", level="crisis", message="unrest", respond_within_hours=hours, **fields
    )
    return str(issued["alert_id"])


async def test_the_ladder_reminds_closes_by_region_and_goes_to_the_head_office_each_step_once() -> None:
    runtime = await with_regions()
    (a, a_event), (b, _) = await under_way(runtime), await under_way(runtime)
    c, c_event = await under_way(runtime, authority_id="auth-2")
    alert_id = await alert(runtime)
    runtime.clock.advance(hours=1)
    assert await scheduler.remind_unanswered_volunteers(runtime) == 0
    runtime.clock.advance(hours=2)  # half of the window
    assert await scheduler.remind_unanswered_volunteers(runtime) == 1
    assert await scheduler.remind_unanswered_volunteers(runtime) == 0
    await use_cases.respond_to_safety_check(runtime, volunteer_of(a_event), alert_id, a, "safe")
    runtime.clock.advance(hours=2)  # an hour before the deadline
    assert await scheduler.remind_unanswered_volunteers(runtime) == 1
    reminders = runtime.events_of(SafetyCheckReminded)
    assert [(r.stage, sorted(r.mission_ids)) for r in reminders] == [
        ("half_time", sorted([a, b, c])),
        ("before_deadline", sorted([b, c])),
    ]

    runtime.clock.advance(hours=1)
    assert await scheduler.close_due_safety_checks(runtime) == 1
    assert await scheduler.remind_unanswered_volunteers(runtime) == 0
    [closed] = runtime.events_of(SafetyCheckClosed)
    assert closed.unaccounted_mission_ids == sorted([b, c])
    by_region = {
        envelope.meta.region: envelope.event.unaccounted_mission_ids  # type: ignore[attr-defined]
        for envelope in runtime.envelopes
        if isinstance(envelope.event, SafetyCheckClosedInRegion)
    }
    assert by_region == {"BRE": [b], "NOR": [c]}

    # An answer after the close is recorded, flagged, and keeps its volunteer off the head office's list.
    late = await use_cases.respond_to_safety_check(runtime, volunteer_of(c_event), alert_id, c, "need_help")
    assert late["after_close"] is True and late["incident_id"]
    assert [e.mission_id for e in runtime.events_of(IncidentReported)] == [c]
    runtime.clock.advance(minutes=30)
    assert await scheduler.escalate_unaccounted_to_head_office(runtime) == 0
    runtime.clock.advance(minutes=30)
    assert await scheduler.escalate_unaccounted_to_head_office(runtime) == 1
    assert await scheduler.escalate_unaccounted_to_head_office(runtime) == 0
    [escalated] = runtime.events_of(SafetyCheckEscalated)
    assert (escalated.escalated_to, escalated.unaccounted_mission_ids) == ("head_office", [b])


async def test_a_late_scheduler_reminds_once_for_both_stages_and_nobody_once_all_answered() -> None:
    runtime = await missions_runtime()
    first, first_event = await under_way(runtime)
    second, second_event = await under_way(runtime)
    late_one = await alert(runtime)
    runtime.clock.advance(hours=5, minutes=30)
    assert await scheduler.remind_unanswered_volunteers(runtime) == 1
    [reminder] = runtime.events_of(SafetyCheckReminded)
    assert reminder.stage == "before_deadline" and reminder.alert_id == late_one

    runtime.clock.advance(hours=1)
    await scheduler.close_due_safety_checks(runtime)
    answered = await alert(runtime)
    await use_cases.respond_to_safety_check(runtime, volunteer_of(first_event), answered, first, "safe")
    await use_cases.respond_to_safety_check(runtime, volunteer_of(second_event), answered, second, "safe")
    runtime.clock.advance(hours=3)
    assert await scheduler.remind_unanswered_volunteers(runtime) == 0
    stored = await runtime.collection("security_alerts").find_one({"_id": answered})
    assert stored is not None and stored["reminders_sent"] == ["half_time"]
    assert len(runtime.events_of(SafetyCheckReminded)) == 1


async def test_a_check_closed_by_hand_goes_no_further() -> None:
    runtime = await missions_runtime()
    await under_way(runtime)
    alert_id = await alert(runtime)
    with pytest.raises(Forbidden):
        await use_cases.close_safety_check(runtime, Principal(sub="c", role="centre", country="BF"), alert_id)
    closed = await use_cases.close_safety_check(runtime, STAFF, alert_id)
    assert closed["status"] == "closed"
    with pytest.raises(NotAllowedInState):
        await use_cases.close_safety_check(runtime, CENTRE_SN, alert_id)
    runtime.clock.advance(hours=12)
    assert await scheduler.close_due_safety_checks(runtime) == 0
    assert await scheduler.escalate_unaccounted_to_head_office(runtime) == 0
    assert len(runtime.events_of(SafetyCheckClosed)) == 1


async def test_an_alert_for_part_of_a_country_asks_the_volunteers_there_and_those_whose_place_is_unknown() -> None:
    runtime = await missions_runtime()
    dakar, _ = await under_way(runtime, place={"city": "Dakar", "subdivision": "SN-DK"})
    saint_louis, mover = await under_way(runtime, place={"city": "Saint-Louis", "subdivision": "SN-SL"})
    unknown, _ = await under_way(runtime)
    for wrong in ({"subdivisions": ["ML-1"]}, {"level": "panic"}, {"respond_within_hours": 0}):
        asked: dict[str, Any] = {"country": "SN", "level": "crisis", "message": "x", "respond_within_hours": 6}
        with pytest.raises(InvalidInput):
            await use_cases.issue_security_alert(runtime, CENTRE_SN, **{**asked, **wrong})
    first = await use_cases.issue_security_alert(
        runtime,
        CENTRE_SN,
        country="SN",
        level="crisis",
        message="flooding",
        respond_within_hours=6,
        subdivisions=["sn-dk"],
    )
    assert first["subdivisions"] == ["SN-DK"]
    entries = runtime.collection("safety_entries")
    asked_first = {e["mission_id"] async for e in entries.find({"alert_id": first["alert_id"]})}
    assert asked_first == {dakar, unknown}

    with pytest.raises(InvalidInput):
        await use_cases.move_volunteer(runtime, volunteer_of(mover), saint_louis, city="Bamako", subdivision="ML-BKO")
    with pytest.raises(Forbidden):
        await use_cases.move_volunteer(
            runtime, Principal(sub="x", role="volunteer"), saint_louis, city="D", subdivision="SN-DK"
        )
    moved = await use_cases.move_volunteer(runtime, volunteer_of(mover), saint_louis, city="Dakar", subdivision="sn-dk")
    assert moved["place"] == {"city": "Dakar", "subdivision": "SN-DK"}
    second = await alert(runtime, subdivisions=["SN-DK"])
    assert {e["mission_id"] async for e in entries.find({"alert_id": second})} == {dakar, saint_louis, unknown}


async def test_the_live_status_counts_and_shows_each_role_its_own_volunteers() -> None:
    runtime = await with_regions()
    ours, ours_event = await under_way(runtime)
    theirs, _ = await under_way(runtime, authority_id="auth-2")
    for event in (ours_event,):
        await runtime.deliver(
            ContactUpdated(
                person_id=event.volunteer_id,
                name="Awa Diop",
                email="awa@example.org",
                phone="+221770000000",
                language="fr",
                emergency_contact=EmergencyContact(name="Marie", relation="mother", phone="+33600000000"),
            )
        )
    alert_id = await alert(runtime)
    with pytest.raises(InvalidInput):
        await use_cases.respond_to_safety_check(runtime, volunteer_of(ours_event), alert_id, ours, "fine")
    await use_cases.respond_to_safety_check(runtime, volunteer_of(ours_event), alert_id, ours, "safe")
    latecomer, latecomer_event = await under_way(runtime)
    with pytest.raises(NotAllowedInState):  # not in the snapshot taken when the alert was issued
        await use_cases.respond_to_safety_check(runtime, volunteer_of(latecomer_event), alert_id, latecomer, "safe")

    page = Page(limit=50, offset=0)
    status = await use_cases.safety_check_status(runtime, CENTRE_SN, alert_id, page)
    assert status["counts"] == {"total": 2, "accounted": 1, "unaccounted": 1, "safe": 1, "need_help": 0}
    [accounted] = status["accounted"]
    assert (accounted["mission_id"], accounted["name"], accounted["phone"]) == (ours, "Awa Diop", "+221770000000")
    assert accounted["emergency_contact"]["name"] == "Marie"
    assert [e["mission_id"] for e in status["unaccounted"]] == [theirs]
    authority = Principal(sub="a", role="authority", authority_id="auth-1")
    own = await use_cases.safety_check_status(runtime, authority, alert_id, page)
    assert own["counts"]["total"] == 1 and "emergency_contact" not in own["accounted"][0]
    nor = await use_cases.safety_check_status(runtime, Principal(sub="b", role="branch", region="NOR"), alert_id, page)
    assert [e["mission_id"] for e in nor["unaccounted"]] == [theirs]
    with pytest.raises(Forbidden):
        await use_cases.safety_check_status(runtime, volunteer_of(ours_event), alert_id, page)
    mine = await use_cases.mission_safety_checks(runtime, volunteer_of(ours_event), ours)
    assert [(c["alert_id"], c["answer"]["status"]) for c in mine["items"]] == [(alert_id, "safe")]
