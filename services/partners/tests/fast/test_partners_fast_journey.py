"""The Territoires Volontaires journey on in-memory fakes: its steps from other services' events, stalled
journeys and the programme's indicators."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from partners_fast_kit import (
    STAFF,
    Partners,
    approved_partner,
    mission_planned,
    partners_runtime,
    partnership,
    registered_authority,
)

from vies_partners import use_cases
from vies_shared.errors import Forbidden, InvalidInput, NotFound
from vies_shared.events.missions import FollowUpInterviewDone, MissionEnded, MissionStarted
from vies_shared.events.recruitment import CandidateSelected, PositionPublished, VolunteerEngaged
from vies_shared.tokens import Principal
from vies_shared.web import Page

pytestmark = pytest.mark.fast

BRANCH_OCC = Principal(sub="branch-occ", role="branch", region="FR-OCC")


def steps(journey: dict[str, Any]) -> dict[str, str]:
    """Each step's date (or ``pending``)."""
    return {s["step"]: s["date"] for s in journey["steps"]}


def position_published(position_id: str, authority_id: str, partner_id: str, **overrides: Any) -> PositionPublished:
    """``recruitment.PositionPublished`` of a VSI in Togo."""
    fields: dict[str, Any] = {
        "position_id": position_id,
        "partnership_id": "pship-x",
        "authority_id": authority_id,
        "partner_id": partner_id,
        "country": "TG",
        "scheme": "vsi",
        "title": "Animateur jeunesse",
        "starts_on": date(2026, 9, 1),
        "duration_months": 12,
        "places": 1,
    }
    return PositionPublished(**{**fields, **overrides})


async def test_the_journey_moves_one_step_with_each_fact_however_often_it_is_delivered() -> None:
    runtime = await partners_runtime()
    authority_id = await registered_authority(runtime)
    partner_id = await approved_partner(runtime, "Association Lomé Jeunesse", country="TG", city="Lomé")
    own = Principal(sub="agent", role="authority", authority_id=authority_id)

    async def journey(caller: Principal = own) -> dict[str, Any]:
        return await use_cases.get_journey(runtime, caller, authority_id)

    for outsider in (
        Principal(sub="a", role="authority", authority_id="aut-x"),
        Principal(sub="b", role="branch", region="FR-BRE"),
        Principal(sub="c", role="centre", country="TG"),
    ):
        with pytest.raises(Forbidden):
            await journey(outsider)
    with pytest.raises(NotFound):
        await use_cases.get_journey(runtime, STAFF, "nope")

    start = await journey()
    assert steps(start)["registered"] == "2026-05-04" and start["next"]["step"] == "partner_found"
    assert start["next"]["en"].startswith("Find a partner") and start["next"]["fr"].startswith("Trouvez")
    runtime.clock.advance(days=1)
    await partnership(runtime, authority_id, partner_id)
    assert (await journey(BRANCH_OCC))["next"]["step"] == "position_published"

    facts: list[tuple[Any, str]] = [
        (position_published("pos-1", authority_id, partner_id), "candidate_selected"),
        (CandidateSelected(application_id="app-1", position_id="pos-1", candidate_id="c-1"), "volunteer_engaged"),
        (
            VolunteerEngaged(
                engagement_id="eng-1",
                application_id="app-1",
                volunteer_id="vol-1",
                position_id="pos-1",
                authority_id=authority_id,
                partner_id=partner_id,
                country="TG",
                scheme="vsi",
                starts_on=date(2026, 9, 1),
                ends_on=date(2027, 8, 31),
            ),
            "mission_started",
        ),
    ]
    for event, next_step in facts:
        runtime.clock.advance(days=1)
        await runtime.deliver(event)
        await runtime.deliver(event)  # a redelivery, or the same fact under another id, changes nothing
        assert (await journey())["next"]["step"] == next_step
    body = await journey()
    assert (steps(body)["candidate_selected"], steps(body)["volunteer_engaged"]) == ("2026-05-07", "2026-05-08")
    assert await runtime.collection("selections").count_documents({}) == 1

    await runtime.deliver(mission_planned("m-1", authority_id, partner_id))
    # Interviews are due from the planned dates until the mission starts, then from the departure.
    assert [(i["stage"], i["due_on"]) for i in (await journey())["interviews"]] == [
        ("start", "2026-10-01"),
        ("mid", "2027-03-02"),
        ("end", "2027-08-31"),
    ]
    await runtime.deliver(MissionStarted(mission_id="m-1", departed_on=date(2026, 9, 5)))
    body = await journey()
    assert steps(body)["mission_started"] == "2026-09-05" and body["interviews"][0]["due_on"] == "2026-10-05"
    assert body["next"]["step"] == "mission_ended"
    await runtime.deliver(MissionEnded(mission_id="m-1", ended_on=date(2027, 8, 30)))
    body = await journey()
    assert body["next"]["step"] == "interview_start" and "m-1" in body["next"]["en"]
    assert body["complete"] is False

    for stage, day in (("start", date(2026, 10, 2)), ("mid", date(2027, 3, 1)), ("end", date(2027, 8, 30))):
        await runtime.deliver(FollowUpInterviewDone(mission_id="m-1", stage=stage, done_on=day))
    await runtime.deliver(FollowUpInterviewDone(mission_id="m-1", stage="end", done_on=date(2027, 9, 15)))
    body = await journey()
    assert [i["done_on"] for i in body["interviews"]] == ["2026-10-02", "2027-03-01", "2027-08-30"]
    assert body["complete"] is True and body["next"]["step"] == "done" and body["last_progress_on"] == "2027-08-30"
    stats = await runtime.collection("partner_stats").find_one({"_id": partner_id})
    assert stats is not None and (stats["hosted"], stats["on_mission"]) == (1, 0)


async def test_a_selection_seen_before_its_position_counts_once_the_position_is_known() -> None:
    runtime = await partners_runtime()
    authority_id = await registered_authority(runtime, "Millau")
    await runtime.deliver(CandidateSelected(application_id="app-9", position_id="pos-9", candidate_id="c-9"))
    assert steps(await use_cases.get_journey(runtime, STAFF, authority_id))["candidate_selected"] == "pending"
    await runtime.deliver(position_published("pos-9", authority_id, "par-x", scheme="service_civique"))
    body = await use_cases.get_journey(runtime, STAFF, authority_id)
    assert steps(body)["candidate_selected"] == steps(body)["position_published"] == "2026-05-04"
    assert body["next"]["step"] == "partner_found"  # no partnership of its own yet


async def stalled(runtime: Partners, caller: Principal, region: str | None = None) -> list[tuple[str, Any]]:
    found = await use_cases.stalled_journeys(runtime, caller, region, Page(limit=50, offset=0))
    return [(a["authority_id"], a["days_without_progress"]) for a in found["items"]]


async def test_enrolled_authorities_without_progress_for_thirty_days_are_stalled() -> None:
    runtime = await partners_runtime()
    stalled_one = await registered_authority(runtime, "Rodez")
    await registered_authority(runtime, "Albi", territoires_volontaires=False)
    elsewhere = await registered_authority(runtime, "Évry", "FR-IDF")
    runtime.clock.advance(days=40)
    moving = await registered_authority(runtime, "Cahors")
    await partnership(
        runtime, moving, await approved_partner(runtime, "Mairie de Kpalimé", country="TG", city="Kpalimé")
    )

    assert await stalled(runtime, BRANCH_OCC) == [(stalled_one, 40)]
    assert await stalled(runtime, STAFF, "FR-IDF") == [(elsewhere, 40)]
    with pytest.raises(Forbidden):
        await stalled(runtime, BRANCH_OCC, "FR-IDF")
    with pytest.raises(Forbidden):
        await stalled(runtime, Principal(sub="a", role="authority", authority_id=moving))
    with pytest.raises(InvalidInput):
        await stalled(runtime, STAFF, "FR-XX")
    runtime.clock.advance(days=30)
    assert {a for a, _ in await stalled(runtime, BRANCH_OCC)} == {stalled_one, moving}


async def test_the_programme_indicators_count_missions_by_scheme_direction_and_enrolment() -> None:
    runtime = await partners_runtime()
    moving = await registered_authority(runtime, "Cahors", new_to_cooperation=True)
    await registered_authority(runtime, "Rodez")
    not_enrolled = await registered_authority(runtime, "Albi", territoires_volontaires=False)
    elsewhere = await registered_authority(runtime, "Évry", "FR-IDF")
    partner_id = await approved_partner(runtime, "Mairie de Kpalimé", country="TG", city="Kpalimé")
    await partnership(runtime, moving, partner_id)
    for event in (
        mission_planned("m-1", moving, partner_id, "vsi"),
        mission_planned("m-2", moving, partner_id, "reciprocity"),
        mission_planned("m-2", moving, partner_id, "reciprocity"),
        mission_planned("m-3", not_enrolled, partner_id, "service_civique"),
        mission_planned("m-4", elsewhere, partner_id, "vsi"),
    ):
        await runtime.deliver(event)

    with pytest.raises(Forbidden):
        await use_cases.programme_indicators(runtime, Principal(sub="a", role="authority", authority_id=moving), None)
    with pytest.raises(Forbidden):
        await use_cases.programme_indicators(runtime, BRANCH_OCC, "FR-IDF")
    body = await use_cases.programme_indicators(runtime, BRANCH_OCC, None)
    assert body["region"] == "FR-OCC"
    assert (body["authorities"]["enrolled"], body["authorities"]["new_to_cooperation"]) == (2, 1)
    assert body["authorities"]["new_to_cooperation_share"] == 0.5 and body["authorities"]["target_met"] is False
    assert body["missions"]["by_scheme"] == {"reciprocity": 1, "service_civique": 1, "vsi": 1}
    assert body["missions"]["by_direction"] == {"sent_abroad": 2, "hosted_in_france": 1}
    assert body["missions"]["programme"] == 2 and body["partnerships_by_country"] == {"TG": 1}
    everywhere = await use_cases.programme_indicators(runtime, STAFF, None)
    assert everywhere["missions"]["total"] == 4 and everywhere["authorities"]["enrolled"] == 3
