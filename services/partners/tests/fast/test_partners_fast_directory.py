"""Partners on in-memory fakes: registration, vetting, matching and partnerships, with their events."""

from __future__ import annotations

from datetime import date

import pytest
from partners_fast_kit import (
    AUTHORITY,
    BRANCH_ARA,
    CENTRE_SN,
    STAFF,
    Partners,
    authority_body,
    partner_body,
    partners_runtime,
)

from vies_partners import use_cases
from vies_partners.schemas import MatchRequestIn, PartnershipIn
from vies_shared.errors import AlreadyExists, Forbidden, InvalidInput, NotAllowedInState
from vies_shared.events.partners import (
    AuthorityRegistered,
    MatchesProposed,
    MatchRequested,
    PartnerApproved,
    PartnerRegistered,
    PartnerReinstated,
    PartnershipEnded,
    PartnershipEstablished,
    PartnerSuspended,
)
from vies_shared.tokens import Principal

pytestmark = pytest.mark.fast


async def test_an_authority_registers_in_its_own_region_once() -> None:
    runtime = await partners_runtime()
    with pytest.raises(Forbidden):
        other_branch = Principal(sub="branch-idf", role="branch", region="FR-IDF")
        await use_cases.register_authority(runtime, other_branch, authority_body())
    with pytest.raises(InvalidInput):
        await use_cases.register_authority(runtime, STAFF, authority_body(region="FR-XX"))
    view = await use_cases.register_authority(runtime, AUTHORITY, authority_body())
    assert view["authority_id"] == "auth-1"
    [registered] = runtime.events_of(AuthorityRegistered)
    assert (registered.authority_id, registered.region, registered.kind) == ("auth-1", "FR-ARA", "region")
    assert runtime.envelopes[0].meta.region == "FR-ARA"
    with pytest.raises(AlreadyExists):
        await use_cases.register_authority(runtime, BRANCH_ARA, authority_body(name="Région  auvergne-rhône-alpes"))
    assert len(runtime.events) == 1


async def test_a_partner_starts_pending_and_is_vetted_by_its_countrys_centre() -> None:
    runtime = await partners_runtime()
    with pytest.raises(Forbidden):
        await use_cases.register_partner(runtime, Principal(sub="c", role="centre", country="BF"), partner_body())
    with pytest.raises(InvalidInput):
        await use_cases.register_partner(runtime, STAFF, partner_body(country="FR"))  # partners are abroad
    partner = await use_cases.register_partner(runtime, CENTRE_SN, partner_body())
    partner_id = partner["partner_id"]
    assert partner["status"] == "pending"
    assert [e.partner_id for e in runtime.events_of(PartnerRegistered)] == [partner_id]
    with pytest.raises(AlreadyExists):
        await use_cases.register_partner(runtime, CENTRE_SN, partner_body())

    with pytest.raises(NotAllowedInState):
        await use_cases.vet_partner(runtime, CENTRE_SN, partner_id, "suspend", "fraud")  # not approved yet
    approved = await use_cases.vet_partner(runtime, CENTRE_SN, partner_id, "approve", None)
    assert approved["status"] == "approved"
    with pytest.raises(InvalidInput):
        await use_cases.vet_partner(runtime, CENTRE_SN, partner_id, "suspend", None)  # a reason is required
    suspended = await use_cases.vet_partner(runtime, CENTRE_SN, partner_id, "suspend", "audit pending")
    assert suspended["status"] == "suspended"
    with pytest.raises(Forbidden):
        await use_cases.vet_partner(runtime, CENTRE_SN, partner_id, "reinstate", None)  # staff only
    reinstated = await use_cases.vet_partner(runtime, STAFF, partner_id, "reinstate", None)
    assert reinstated["status"] == "approved"
    assert [a["action"] for a in reinstated["history"]] == ["register", "approve", "suspend", "reinstate"]
    assert runtime.events_of(PartnerApproved) == [PartnerApproved(partner_id=partner_id, country="SN")]
    assert runtime.events_of(PartnerSuspended) == [PartnerSuspended(partner_id=partner_id, reason="audit pending")]
    assert runtime.events_of(PartnerReinstated) == [PartnerReinstated(partner_id=partner_id)]


async def test_matching_ranks_approved_partners_only_and_records_the_request() -> None:
    runtime = await partners_runtime()
    await use_cases.register_authority(runtime, AUTHORITY, authority_body())
    approved = await approved_partner(runtime)
    pending = await use_cases.register_partner(runtime, CENTRE_SN, partner_body("Eau Claire Dakar", city="Dakar"))
    body = MatchRequestIn(authority_id="auth-1", countries=["SN"], themes=["water_sanitation"], languages=["fr"])
    with pytest.raises(Forbidden):
        await use_cases.request_match(runtime, Principal(sub="a2", role="authority", authority_id="auth-2"), body)
    result = await use_cases.request_match(runtime, AUTHORITY, body)
    assert [s["partner_id"] for s in result["suggestions"]] == [approved]
    assert pending["partner_id"] not in {s["partner_id"] for s in result["suggestions"]}
    [requested] = runtime.events_of(MatchRequested)
    [proposed] = runtime.events_of(MatchesProposed)
    assert requested.request_id == proposed.request_id == result["request_id"]
    assert [s.partner_id for s in proposed.suggestions] == [approved]
    assert await runtime.collection("match_requests").count_documents({"_id": result["request_id"]}) == 1


async def test_a_partnership_needs_an_approved_partner_and_ends_once_with_a_reason() -> None:
    runtime = await partners_runtime()
    await use_cases.register_authority(runtime, AUTHORITY, authority_body())
    pending = await use_cases.register_partner(runtime, CENTRE_SN, partner_body("Eau Claire Dakar", city="Dakar"))
    body = {"authority_id": "auth-1", "themes": ["water_sanitation"], "starts_on": date(2026, 3, 1)}
    with pytest.raises(NotAllowedInState):
        await use_cases.establish_partnership(
            runtime, AUTHORITY, PartnershipIn.model_validate({**body, "partner_id": pending["partner_id"]})
        )
    partner_id = await approved_partner(runtime)
    created = await use_cases.establish_partnership(
        runtime, AUTHORITY, PartnershipIn.model_validate({**body, "partner_id": partner_id})
    )
    assert created["status"] == "active" and created["country"] == "SN"
    [established] = runtime.events_of(PartnershipEstablished)
    assert (established.partner_id, established.region) == (partner_id, "FR-ARA")
    with pytest.raises(Forbidden):
        await use_cases.end_partnership(runtime, CENTRE_SN, created["partnership_id"], "over")
    ended = await use_cases.end_partnership(runtime, AUTHORITY, created["partnership_id"], "  mandate over ")
    assert ended["status"] == "ended"
    assert runtime.events_of(PartnershipEnded) == [
        PartnershipEnded(partnership_id=created["partnership_id"], reason="mandate over")
    ]
    with pytest.raises(NotAllowedInState):
        await use_cases.end_partnership(runtime, AUTHORITY, created["partnership_id"], "again")


async def approved_partner(runtime: Partners, name: str = "Eau Vive Saint-Louis") -> str:
    """A registered partner the centre approved."""
    partner = await use_cases.register_partner(runtime, CENTRE_SN, partner_body(name))
    await use_cases.vet_partner(runtime, CENTRE_SN, partner["partner_id"], "approve", None)
    return str(partner["partner_id"])
