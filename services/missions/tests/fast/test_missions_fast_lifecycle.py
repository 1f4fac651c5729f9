"""Mission lifecycle on in-memory fakes: planning, checklist, departure, extension, end, interruption."""

from __future__ import annotations

from datetime import date

import pytest
from missions_fast_kit import ALL_ITEMS, CENTRE_SN, engagement, missions_runtime, planned, started, volunteer_of

from vies_missions import use_cases
from vies_missions.domain.mission import mission_id_for
from vies_shared.errors import Forbidden, InvalidInput, NotAllowedInState
from vies_shared.events.missions import (
    FollowUpInterviewDone,
    MissionEnded,
    MissionExtended,
    MissionInterrupted,
    MissionPlanned,
    MissionStarted,
)
from vies_shared.tokens import Principal

pytestmark = pytest.mark.fast


async def test_an_engagement_plans_one_mission_however_often_it_is_delivered() -> None:
    runtime = await missions_runtime()
    event = engagement(country="SN", scheme="vsi")
    await runtime.deliver(event)
    await runtime.deliver(event)
    mission_id = mission_id_for(event.engagement_id)
    assert await runtime.collection("missions").count_documents({"engagement_id": event.engagement_id}) == 1
    [plan] = runtime.events_of(MissionPlanned)
    assert plan.mission_id == mission_id and plan.volunteer_id == event.volunteer_id
    assert plan.country == "SN" and plan.centre_id == "ev-sn"


async def test_departure_needs_the_whole_checklist_and_the_right_caller() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    volunteer = volunteer_of(event)
    with pytest.raises(NotAllowedInState) as refused:
        await use_cases.start_mission(runtime, CENTRE_SN, mission_id, date(2026, 1, 10))
    assert refused.value.details == {"missing": list(ALL_ITEMS)}
    await use_cases.tick_checklist(runtime, volunteer, mission_id, "training", date(2026, 1, 2))
    # Insurance is certified by the centre, not ticked by the volunteer.
    with pytest.raises(Forbidden):
        await use_cases.tick_checklist(runtime, volunteer, mission_id, "insurance", date(2026, 1, 2))
    for item in ALL_ITEMS[1:]:
        await use_cases.tick_checklist(runtime, CENTRE_SN, mission_id, item, date(2026, 1, 3))
    with pytest.raises(Forbidden):
        await use_cases.start_mission(runtime, volunteer, mission_id, date(2026, 1, 10))
    with pytest.raises(Forbidden):
        other = Principal(sub="centre-bf", role="centre", country="BF")
        await use_cases.start_mission(runtime, other, mission_id, date(2026, 1, 10))
    assert runtime.events_of(MissionStarted) == []

    view = await use_cases.start_mission(runtime, CENTRE_SN, mission_id, date(2026, 1, 10))
    assert view["status"] == "started" and view["departed_on"] == "2026-01-10"
    assert view["check_ins"]["next_due_at"].startswith("2026-01-24")  # 14 days after departure
    assert {f["stage"]: f["due_on"] for f in view["follow_ups"]}["start"] == "2026-02-09"
    assert runtime.events_of(MissionStarted) == [MissionStarted(mission_id=mission_id, departed_on=date(2026, 1, 10))]
    with pytest.raises(NotAllowedInState):
        await use_cases.start_mission(runtime, CENTRE_SN, mission_id, date(2026, 1, 10))


async def test_a_departure_in_the_future_is_refused() -> None:
    runtime = await missions_runtime()
    mission_id = await planned(runtime)
    for item in ALL_ITEMS:
        await use_cases.tick_checklist(runtime, CENTRE_SN, mission_id, item, date(2026, 1, 3))
    with pytest.raises(InvalidInput):
        await use_cases.start_mission(runtime, CENTRE_SN, mission_id, date(2026, 1, 20))
    runtime.clock.advance(days=10)
    view = await use_cases.start_mission(runtime, CENTRE_SN, mission_id, date(2026, 1, 20))
    assert view["status"] == "started"


async def test_extension_stays_within_the_schemes_longest_contract() -> None:
    runtime = await missions_runtime()
    mission_id = await planned(runtime, engagement(scheme="vsi", starts_on=date(2026, 1, 5)))
    with pytest.raises(NotAllowedInState):
        await use_cases.extend_mission(runtime, CENTRE_SN, mission_id, date(2027, 1, 1))  # not under way yet
    await started(runtime, mission_id, date(2026, 1, 10))
    view = await use_cases.extend_mission(runtime, CENTRE_SN, mission_id, date(2027, 6, 30))
    assert view["status"] == "extended" and view["ends_on"] == "2027-06-30"
    with pytest.raises(NotAllowedInState) as refused:
        await use_cases.extend_mission(runtime, CENTRE_SN, mission_id, date(2028, 1, 5))
    assert isinstance(refused.value.details, dict) and refused.value.details["latest_ends_on"] == "2028-01-04"
    with pytest.raises(InvalidInput):
        await use_cases.extend_mission(runtime, CENTRE_SN, mission_id, date(2027, 1, 1))  # earlier than the end
    assert runtime.events_of(MissionExtended) == [MissionExtended(mission_id=mission_id, ends_on=date(2027, 6, 30))]


async def test_a_service_civique_mission_is_at_most_twelve_months() -> None:
    runtime = await missions_runtime()
    mission_id = await planned(runtime, engagement(scheme="service_civique", starts_on=date(2026, 1, 5), months=9))
    await started(runtime, mission_id, date(2026, 1, 10))
    with pytest.raises(NotAllowedInState) as refused:
        await use_cases.extend_mission(runtime, CENTRE_SN, mission_id, date(2027, 3, 1))
    assert isinstance(refused.value.details, dict) and refused.value.details["max_months"] == 12


async def test_the_end_closes_the_mission_and_stops_check_ins() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    with pytest.raises(NotAllowedInState):
        await use_cases.end_mission(runtime, CENTRE_SN, mission_id, ended_on=date(2026, 2, 1), debrief="x")
    await started(runtime, mission_id, date(2026, 1, 10))
    view = await use_cases.end_mission(runtime, CENTRE_SN, mission_id, ended_on=date(2026, 12, 20), debrief="Good.")
    assert view["status"] == "ended" and view["check_ins"]["next_due_at"] is None
    assert runtime.events_of(MissionEnded) == [MissionEnded(mission_id=mission_id, ended_on=date(2026, 12, 20))]
    with pytest.raises(NotAllowedInState):
        await use_cases.end_mission(runtime, CENTRE_SN, mission_id, ended_on=date(2026, 12, 20), debrief="again")
    with pytest.raises(NotAllowedInState):
        await use_cases.send_check_in(runtime, volunteer_of(event), mission_id, status="ok", note=None)


async def test_an_interruption_needs_a_known_reason_and_records_it() -> None:
    runtime = await missions_runtime()
    mission_id = await planned(runtime)
    await started(runtime, mission_id, date(2026, 1, 10))
    with pytest.raises(InvalidInput):
        await use_cases.interrupt_mission(
            runtime, CENTRE_SN, mission_id, reason="boredom", note=None, interrupted_on=None
        )
    view = await use_cases.interrupt_mission(
        runtime, CENTRE_SN, mission_id, reason="security", note="evacuated", interrupted_on=None
    )
    assert view["interruption"]["reason"] == "security"
    assert runtime.events_of(MissionInterrupted) == [
        MissionInterrupted(mission_id=mission_id, reason="security", interrupted_on=date(2026, 1, 12))
    ]
    with pytest.raises(NotAllowedInState):
        await use_cases.interrupt_mission(
            runtime, CENTRE_SN, mission_id, reason="health", note=None, interrupted_on=None
        )


async def test_a_follow_up_interview_is_held_once_by_the_centre() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))
    with pytest.raises(Forbidden):
        await use_cases.mark_follow_up_done(
            runtime, volunteer_of(event), mission_id, stage="start", done_on=date(2026, 2, 10), notes=None
        )
    view = await use_cases.mark_follow_up_done(
        runtime, CENTRE_SN, mission_id, stage="start", done_on=date(2026, 2, 10), notes="settled"
    )
    assert next(f for f in view["items"] if f["stage"] == "start")["done_on"] == "2026-02-10"
    with pytest.raises(NotAllowedInState):
        await use_cases.mark_follow_up_done(
            runtime, CENTRE_SN, mission_id, stage="start", done_on=date(2026, 2, 11), notes=None
        )
    assert runtime.events_of(FollowUpInterviewDone) == [
        FollowUpInterviewDone(mission_id=mission_id, stage="start", done_on=date(2026, 2, 10))
    ]
