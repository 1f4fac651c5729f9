"""Matching on in-memory fakes: who is never suggested, and how the missions' events move the ranking."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from partners_fast_kit import (
    AUTHORITY,
    BRANCH_ARA,
    STAFF,
    Partners,
    approved_partner,
    authority_body,
    mission_planned,
    partners_runtime,
)

from vies_partners import use_cases
from vies_partners.schemas import MatchRequestIn
from vies_shared.errors import Forbidden, NotFound
from vies_shared.events.missions import IncidentReported, MissionEnded, SafetyCheckClosed, SecurityAlertIssued
from vies_shared.tokens import Principal

pytestmark = pytest.mark.fast


async def matched(runtime: Partners, **asked: Any) -> list[dict[str, Any]]:
    """The suggestions for auth-1 (water and sanitation unless told)."""
    body = MatchRequestIn.model_validate({"authority_id": "auth-1", "themes": ["water_sanitation"], **asked})
    suggestions: list[dict[str, Any]] = (await use_cases.request_match(runtime, AUTHORITY, body))["suggestions"]
    return suggestions


async def with_authority() -> Partners:
    runtime = await partners_runtime()
    await use_cases.register_authority(runtime, AUTHORITY, authority_body())
    return runtime


async def test_a_country_in_crisis_is_left_out_until_its_safety_check_closes() -> None:
    runtime = await with_authority()
    senegal = await approved_partner(runtime)
    togo = await approved_partner(runtime, "Eau de Lomé", country="TG", city="Lomé")
    alert = {"country": "SN", "respond_by": datetime(2026, 5, 5, tzinfo=UTC)}
    await runtime.deliver(SecurityAlertIssued(alert_id="alert-v", level="vigilance", **alert))
    assert {s["partner_id"] for s in await matched(runtime)} == {senegal, togo}
    await runtime.deliver(SecurityAlertIssued(alert_id="alert-c", level="crisis", **alert))
    assert [s["partner_id"] for s in await matched(runtime)] == [togo]
    await runtime.deliver(SafetyCheckClosed(alert_id="alert-c", unaccounted_mission_ids=[], country="SN"))
    assert {s["partner_id"] for s in await matched(runtime)} == {senegal, togo}


async def test_a_vsi_leaves_out_the_eea_and_a_suspended_partner_is_never_suggested() -> None:
    runtime = await with_authority()
    senegal = await approved_partner(runtime)
    portugal = await approved_partner(runtime, "Câmara do Porto", country="PT", city="Porto", languages=["pt"])
    assert [s["partner_id"] for s in await matched(runtime, scheme="vsi")] == [senegal]
    assert {s["partner_id"] for s in await matched(runtime, scheme="service_civique")} == {senegal, portugal}
    await use_cases.vet_partner(runtime, STAFF, senegal, "suspend", "audit")
    assert [s["partner_id"] for s in await matched(runtime)] == [portugal]


async def test_volunteers_on_mission_take_the_places_and_serious_incidents_weigh_on_the_record() -> None:
    runtime = await with_authority()
    small = await approved_partner(runtime, "Petite Eau", hosting_capacity=1)
    other = await approved_partner(runtime, "Grande Eau", hosting_capacity=1)
    first = await matched(runtime)
    assert first[0]["score"] == first[1]["score"]  # equal: ties by partner id

    await runtime.deliver(mission_planned("m-1", "auth-1", small, country="SN"))
    ranked = await matched(runtime)
    assert [s["partner_id"] for s in ranked] == [other, small]
    assert ranked[1]["components"]["capacity"] == 0.0
    assert "has no free place (capacity 1, 1 on mission)" in ranked[1]["reasons"]

    await runtime.deliver(MissionEnded(mission_id="m-1", ended_on=date(2027, 8, 31)))
    ranked = await matched(runtime)
    assert [s["partner_id"] for s in ranked] == [small, other]  # the place is free and one more volunteer hosted
    assert "has hosted 1 volunteer, 0 serious incidents" in ranked[0]["reasons"]

    await runtime.deliver(
        IncidentReported(incident_id="inc-1", mission_id="m-1", category="security", severity="critical")
    )
    await runtime.deliver(
        IncidentReported(incident_id="inc-2", mission_id="m-1", category="health", severity="low", partner_id=small)
    )
    ranked = await matched(runtime)
    assert [s["partner_id"] for s in ranked] == [other, small]
    assert ranked[1]["components"]["track_record"] == 0.35  # 0.5 + 0.1 per volunteer - 0.25 per serious incident


async def test_a_reciprocity_request_prefers_partners_that_can_send_volunteers() -> None:
    runtime = await with_authority()
    sender = await approved_partner(runtime, "Envoi Dakar", city="Dakar", reciprocity=True)
    host_only = await approved_partner(runtime, "Accueil Thiès", city="Thiès")
    assert [s["partner_id"] for s in await matched(runtime, reciprocity=True)] == [sender, host_only]
    ranked = await matched(runtime, scheme="reciprocity")
    assert ranked[1]["reasons"][-1] == "cannot send volunteers to France"


async def test_a_match_request_is_the_authoritys_and_is_recorded_for_its_region() -> None:
    runtime = await with_authority()
    partner_id = await approved_partner(runtime)
    with pytest.raises(NotFound):
        body = MatchRequestIn(authority_id="auth-9", themes=["water_sanitation"])
        await use_cases.request_match(runtime, STAFF, body)
    with pytest.raises(Forbidden):
        other = Principal(sub="a2", role="authority", authority_id="auth-2")
        await use_cases.request_match(runtime, other, MatchRequestIn(authority_id="auth-1"))
    answer = await use_cases.request_match(runtime, AUTHORITY, MatchRequestIn(authority_id="auth-1"))
    assert [s["partner_id"] for s in answer["suggestions"]] == [partner_id]
    assert (await use_cases.get_match_request(runtime, BRANCH_ARA, answer["request_id"]))["request_id"] == (
        answer["request_id"]
    )
    with pytest.raises(Forbidden):
        idf = Principal(sub="b", role="branch", region="FR-IDF")
        await use_cases.get_match_request(runtime, idf, answer["request_id"])
    [requested] = [e for e in runtime.envelopes if e.meta.type == "partners.MatchRequested"]
    assert requested.meta.region == "FR-ARA"
