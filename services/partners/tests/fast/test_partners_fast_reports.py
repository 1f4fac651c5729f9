"""The journey, stalled journeys and indicators are typed reports: what a use case answers is what the
route's response model answers, field for field and in order."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from partners_fast_kit import STAFF, approved_partner, mission_planned, partners_runtime, registered_authority
from pydantic import BaseModel

from vies_partners import use_cases
from vies_partners.domain import journey
from vies_partners.domain.indicators import Indicators
from vies_partners.schemas import AuthorityPatch
from vies_shared.tokens import Principal
from vies_shared.web import Page

pytestmark = pytest.mark.fast

BRANCH_OCC = Principal(sub="branch-occ", role="branch", region="FR-OCC")


def answered(model: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as the route answers it through its response model."""
    return model.model_validate(body).model_dump(mode="json")


async def test_the_journey_answers_the_authority_with_its_steps_and_its_enrolment_date() -> None:
    runtime = await partners_runtime()
    authority_id = await registered_authority(runtime, "Figeac")
    patch = AuthorityPatch(territoires_volontaires_since=date(2026, 3, 1))
    await use_cases.update_authority(runtime, STAFF, authority_id, patch)
    body = await use_cases.get_journey(runtime, STAFF, authority_id)
    assert answered(journey.Journey, body) == body
    assert list(body) == [
        "authority_id",
        "territoires_volontaires",
        "steps",
        "interviews",
        "next",
        "last_progress_on",
        "complete",
        "name",
        "region",
        "territoires_volontaires_since",
        "new_to_cooperation",
    ]
    assert (body["name"], body["region"], body["territoires_volontaires_since"]) == ("Figeac", "FR-OCC", "2026-03-01")
    assert body["last_progress_on"] == "2026-05-04" and body["next"]["step"] == "partner_found"
    assert body["steps"][0] == {
        "step": "registered",
        "label_fr": "Inscription",
        "label_en": "Registered",
        "date": "2026-05-04",
    }


async def test_a_stalled_journey_says_since_when_and_what_is_next() -> None:
    runtime = await partners_runtime()
    stalled_one = await registered_authority(runtime, "Rodez")
    runtime.clock.advance(days=31)
    await registered_authority(runtime, "Cahors")
    found = await use_cases.stalled_journeys(runtime, BRANCH_OCC, None, Page(limit=10, offset=0))
    assert answered(journey.StalledJourneys, found) == found
    assert found == {
        "region": "FR-OCC",
        "stalled_after_days": 30,
        "items": [
            {
                "authority_id": stalled_one,
                "name": "Rodez",
                "region": "FR-OCC",
                "last_progress_on": "2026-05-04",
                "days_without_progress": 31,
                "next": {
                    "step": "partner_found",
                    "fr": journey.STEPS["partner_found"][2],
                    "en": journey.STEPS["partner_found"][3],
                },
            }
        ],
        "total": 1,
        "enrolled": 2,
        "limit": 10,
        "offset": 0,
    }


def test_an_authority_with_nothing_left_to_do_or_not_enrolled_is_never_stalled() -> None:
    reached: dict[str, date | None] = dict.fromkeys(journey.STEP_ORDER, date(2026, 1, 1))
    done = journey.JourneyFacts("aut-1", True, reached, name="Figeac", region="FR-OCC")
    today = date(2026, 11, 26)
    assert journey.stalled(done, today=today, after_days=30, start_within_days=30) is None
    waiting = journey.JourneyFacts("aut-1", True, {**reached, "mission_ended": None}, name="Figeac", region="FR-OCC")
    line = journey.stalled(waiting, today=today, after_days=30, start_within_days=30)
    assert line is not None and (line.days_without_progress, line.next.step) == (329, "mission_ended")
    outside = journey.JourneyFacts("aut-1", False, {**reached, "mission_ended": None})
    assert journey.stalled(outside, today=today, after_days=30, start_within_days=30) is None


async def test_the_indicators_answer_their_region_last() -> None:
    runtime = await partners_runtime()
    authority_id = await registered_authority(runtime, "Cahors", new_to_cooperation=True)
    partner_id = await approved_partner(runtime, "Mairie de Kpalimé", country="TG", city="Kpalimé")
    await runtime.deliver(mission_planned("m-1", authority_id, partner_id, "reciprocity"))
    body = await use_cases.programme_indicators(runtime, BRANCH_OCC, None)
    assert answered(Indicators, body) == body
    assert list(body) == ["authorities", "missions", "partnerships_by_country", "region"]
    assert body["missions"] == {
        "total": 1,
        "programme": 1,
        "by_scheme": {"reciprocity": 1},
        "by_direction": {"sent_abroad": 0, "hosted_in_france": 1},
        "target": 250,
        "target_met": False,
    }
    assert body["authorities"]["new_to_cooperation_share"] == 1.0 and body["region"] == "FR-OCC"
