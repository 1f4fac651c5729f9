"""Partners' records on in-memory fakes: corrections, who sees what of the directory, erasure of contact
persons, sending organisations and the scope of partnerships."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from partners_fast_kit import (
    AUTHORITY,
    BRANCH_ARA,
    CENTRE_SN,
    STAFF,
    approved_partner,
    authority_body,
    partner_body,
    partners_runtime,
    partnership,
)

from vies_partners import use_cases
from vies_partners.schemas import AuthorityPatch, PartnerPatch, PartnershipIn, SendingOrganisationIn
from vies_shared.errors import AlreadyExists, Forbidden, InvalidInput, NotAllowedInState, NotFound
from vies_shared.events.partners import (
    AuthorityUpdated,
    PartnerRejected,
    PartnerUpdated,
    SendingOrganisationApprovalChanged,
    SendingOrganisationRegistered,
)
from vies_shared.events.recruitment import PersonErased
from vies_shared.tokens import Principal
from vies_shared.web import Page

pytestmark = pytest.mark.fast

PAGE = Page(limit=50, offset=0)
BRANCH_IDF = Principal(sub="branch-idf", role="branch", region="FR-IDF")


async def test_an_authority_corrects_its_contact_and_the_branch_records_its_enrolment() -> None:
    runtime = await partners_runtime()
    await use_cases.register_authority(runtime, AUTHORITY, authority_body(territoires_volontaires=False))
    runtime.clear_events()

    def patch(**fields: Any) -> AuthorityPatch:
        return AuthorityPatch.model_validate(fields)

    with pytest.raises(InvalidInput):
        await use_cases.update_authority(runtime, AUTHORITY, "auth-1", patch())
    with pytest.raises(InvalidInput):
        await use_cases.update_authority(runtime, AUTHORITY, "auth-1", patch(new_to_cooperation=None))
    with pytest.raises(Forbidden):  # enrolment is the branch's or staff's to record
        await use_cases.update_authority(runtime, AUTHORITY, "auth-1", patch(territoires_volontaires=True))
    with pytest.raises(Forbidden):
        await use_cases.update_authority(runtime, BRANCH_IDF, "auth-1", patch(new_to_cooperation=True))

    new_contact = {"name": "Paul Martin", "email": "paul@region.example"}
    corrected = await use_cases.update_authority(runtime, AUTHORITY, "auth-1", patch(contact=new_contact))
    assert corrected["contact_email"] == "paul@region.example"
    enrolled = await use_cases.update_authority(runtime, BRANCH_ARA, "auth-1", patch(territoires_volontaires=True))
    assert enrolled["territoires_volontaires_since"] == "2026-05-04"  # the day it was recorded
    same = await use_cases.update_authority(runtime, BRANCH_ARA, "auth-1", patch(territoires_volontaires=True))
    assert same["territoires_volontaires"] is True
    updates = runtime.events_of(AuthorityUpdated)
    assert [(u.changed, u.contact_email) for u in updates] == [
        (["contact"], "paul@region.example"),
        (["territoires_volontaires", "territoires_volontaires_since"], None),
    ]
    assert all(envelope.meta.region == "FR-ARA" for envelope in runtime.envelopes)


async def test_a_partner_keeps_its_own_entry_up_to_date_and_publishes_what_changed() -> None:
    runtime = await partners_runtime()
    partner_id = await approved_partner(runtime)
    runtime.clear_events()
    own = Principal(sub="p-user", role="partner", partner_id=partner_id)
    with pytest.raises(Forbidden):
        await use_cases.update_partner(
            runtime,
            Principal(sub="x", role="partner", partner_id="par-x"),
            partner_id,
            PartnerPatch(hosting_capacity=5),
        )
    with pytest.raises(Forbidden):
        await use_cases.update_partner(runtime, AUTHORITY, partner_id, PartnerPatch(hosting_capacity=5))
    with pytest.raises(Forbidden):
        centre_bf = Principal(sub="c", role="centre", country="BF")
        await use_cases.update_partner(runtime, centre_bf, partner_id, PartnerPatch(hosting_capacity=5))
    with pytest.raises(InvalidInput):
        await use_cases.update_partner(
            runtime, own, partner_id, PartnerPatch.model_validate({"hosting_capacity": None})
        )

    changed = await use_cases.update_partner(
        runtime, own, partner_id, PartnerPatch(themes=["health", "education", "health"], hosting_capacity=5)
    )
    assert changed["themes"] == ["education", "health"] and changed["hosting_capacity"] == 5
    await use_cases.update_partner(runtime, CENTRE_SN, partner_id, PartnerPatch(hosting_capacity=5))  # no change
    [updated] = runtime.events_of(PartnerUpdated)
    assert updated.changed == ["hosting_capacity", "themes"] and updated.themes == ["education", "health"]


async def test_pending_partners_their_contacts_and_history_are_for_staff_and_their_countrys_centre() -> None:
    runtime = await partners_runtime()
    pending = (await use_cases.register_partner(runtime, CENTRE_SN, partner_body("Câmara Dakar", city="Dakar")))[
        "partner_id"
    ]
    listed = await approved_partner(runtime, "Eau Vive Saint-Louis")
    with pytest.raises(NotFound):
        await use_cases.get_partner(runtime, AUTHORITY, pending)
    seen = await use_cases.get_partner(runtime, CENTRE_SN, pending)
    assert seen["status"] == "pending" and [h["action"] for h in seen["history"]] == ["register"]
    public = await use_cases.get_partner(runtime, AUTHORITY, listed)
    assert "history" not in public and "contacts" not in public
    with pytest.raises(Forbidden):
        await use_cases.get_partner(runtime, Principal(sub="p", role="partner", partner_id=pending), listed)

    async def names(caller: Principal, **filters: Any) -> list[str]:
        wanted: dict[str, Any] = {"country": None, "theme": None, "status": None, "language": None, "q": None}
        found = await use_cases.list_partners(runtime, caller, page=PAGE, **{**wanted, **filters})
        return [p["name"] for p in found["items"]]

    assert await names(AUTHORITY) == ["Eau Vive Saint-Louis"]
    assert await names(CENTRE_SN) == ["Câmara Dakar", "Eau Vive Saint-Louis"]
    assert await names(Principal(sub="c", role="centre", country="BF")) == ["Eau Vive Saint-Louis"]
    assert await names(CENTRE_SN, q="camara") == ["Câmara Dakar"]  # accents and case ignored
    assert await names(AUTHORITY, language="WO", theme="water_sanitation") == ["Eau Vive Saint-Louis"]
    assert await names(Principal(sub="p", role="partner", partner_id=pending)) == ["Câmara Dakar"]

    # A duplicate says that it exists; whose, only to those who may read it.
    with pytest.raises(AlreadyExists) as hidden:
        await use_cases.register_partner(runtime, AUTHORITY, partner_body("CAMARA  dakar", city="Dakar"))
    assert hidden.value.details is None
    with pytest.raises(AlreadyExists) as shown:
        await use_cases.register_partner(runtime, CENTRE_SN, partner_body("Camara Dakar", city="Dakar"))
    assert shown.value.details == {"existing_id": pending}


async def test_a_rejection_needs_a_reason_and_is_final() -> None:
    runtime = await partners_runtime()
    partner_id = (await use_cases.register_partner(runtime, CENTRE_SN, partner_body()))["partner_id"]
    with pytest.raises(InvalidInput):
        await use_cases.vet_partner(runtime, CENTRE_SN, partner_id, "reject", "  ")
    with pytest.raises(Forbidden):
        await use_cases.vet_partner(runtime, AUTHORITY, partner_id, "reject", "no premises")
    rejected = await use_cases.vet_partner(runtime, CENTRE_SN, partner_id, "reject", " no premises ")
    assert rejected["status"] == "rejected" and rejected["history"][-1]["note"] == "no premises"
    with pytest.raises(NotAllowedInState):
        await use_cases.vet_partner(runtime, STAFF, partner_id, "approve", None)
    assert runtime.events_of(PartnerRejected) == [PartnerRejected(partner_id=partner_id, reason="no premises")]


async def test_an_erased_person_leaves_the_contacts_and_cannot_be_linked_again() -> None:
    runtime = await partners_runtime()
    linked = {"name": "Awa Diop", "email": "awa@example.org", "person_id": "per-awa"}
    partner = await use_cases.register_partner(
        runtime, CENTRE_SN, partner_body(contacts=[linked, {"name": "Other", "email": "o@example.org"}])
    )
    await use_cases.register_authority(runtime, AUTHORITY, authority_body(contact=linked))
    # The person also vetted the partner (a token's subject may be a person's id).
    await use_cases.vet_partner(runtime, Principal(sub="per-awa", role="staff"), partner["partner_id"], "approve", None)
    runtime.clear_events()

    await runtime.deliver(PersonErased(person_id="per-awa"))
    stored = await runtime.collection("partners").find_one({"_id": partner["partner_id"]})
    assert stored is not None and stored["contacts"][0]["erased"] is True and stored["contacts"][0]["email"] is None
    assert stored["contacts"][1]["email"] == "o@example.org"
    assert [step["by"] for step in stored["history"]] == ["centre-sn", "erased"]
    authority = await runtime.collection("authorities").find_one({"_id": "auth-1"})
    assert authority is not None and authority["contact_email"] is None and authority["contact"]["name"] is None
    assert runtime.events_of(PartnerUpdated) == [PartnerUpdated(partner_id=partner["partner_id"], changed=["contacts"])]
    [authority_updated] = runtime.events_of(AuthorityUpdated)
    assert authority_updated.changed == ["contact", "contact_email"] and authority_updated.contact_email is None
    with pytest.raises(NotAllowedInState):
        await use_cases.register_partner(runtime, CENTRE_SN, partner_body("Another", contacts=[linked]))


async def test_sending_organisations_are_staffs_with_an_approval_of_four_years_at_most() -> None:
    runtime = await partners_runtime()

    def organisation(name: str = "Association d'envoi", **approval: Any) -> SendingOrganisationIn:
        return SendingOrganisationIn.model_validate({"name": name, **approval})

    valid = {"approval_number": "VSI-1", "approved_from": date(2025, 1, 1), "approved_until": date(2028, 12, 31)}
    with pytest.raises(Forbidden):
        await use_cases.register_sending_organisation(runtime, CENTRE_SN, organisation(**valid))
    with pytest.raises(InvalidInput):
        await use_cases.register_sending_organisation(runtime, STAFF, organisation(approved_from=date(2025, 1, 1)))
    with pytest.raises(InvalidInput):
        too_long = {**valid, "approved_until": date(2029, 1, 2)}
        await use_cases.register_sending_organisation(runtime, STAFF, organisation(**too_long))
    registered = await use_cases.register_sending_organisation(runtime, STAFF, organisation(**valid))
    assert registered["approval_valid"] is True
    with pytest.raises(AlreadyExists):
        await use_cases.register_sending_organisation(runtime, STAFF, organisation("ASSOCIATION D’ENVOI"))
    expired = await use_cases.register_sending_organisation(
        runtime, STAFF, organisation("Ancienne", approved_from=date(2020, 1, 1), approved_until=date(2023, 12, 31))
    )
    withdrawn = await use_cases.change_sending_approval(
        runtime, STAFF, registered["organisation_id"], approval_number=None, approved_from=None, approved_until=None
    )
    assert withdrawn["approval_valid"] is False
    assert [e.organisation_id for e in runtime.events_of(SendingOrganisationRegistered)] == [
        registered["organisation_id"],
        expired["organisation_id"],
    ]
    assert runtime.events_of(SendingOrganisationApprovalChanged) == [
        SendingOrganisationApprovalChanged(organisation_id=registered["organisation_id"])
    ]
    renewed = await use_cases.change_sending_approval(
        runtime,
        STAFF,
        expired["organisation_id"],
        approval_number="VSI-2",
        approved_from=date(2026, 1, 1),
        approved_until=date(2029, 12, 31),
    )
    assert renewed["approval_valid"] is True
    valid_now = await use_cases.list_sending_organisations(runtime, CENTRE_SN, PAGE, approval_valid=True)
    assert [o["name"] for o in valid_now["items"]] == ["Ancienne"]
    invalid_now = await use_cases.list_sending_organisations(runtime, CENTRE_SN, PAGE, approval_valid=False)
    assert [o["name"] for o in invalid_now["items"]] == ["Association d'envoi"]


async def test_a_partnership_is_read_by_its_authority_region_and_partner_country_and_flagged_on_suspension() -> None:
    runtime = await partners_runtime()
    await use_cases.register_authority(runtime, AUTHORITY, authority_body())
    partner_id = await approved_partner(runtime)
    with pytest.raises(InvalidInput):
        await partnership(runtime, "auth-1", partner_id, ends_on="2026-06-01")
    with pytest.raises(Forbidden):
        other = Principal(sub="a2", role="authority", authority_id="auth-2", region="FR-ARA")
        body = {"authority_id": "auth-1", "partner_id": partner_id, "themes": ["health"], "starts_on": "2026-06-01"}
        await use_cases.establish_partnership(runtime, other, PartnershipIn.model_validate(body))
    partnership_id = await partnership(runtime, "auth-1", partner_id)
    for reader in (AUTHORITY, BRANCH_ARA, CENTRE_SN, STAFF):
        assert (await use_cases.get_partnership(runtime, reader, partnership_id))["needs_review"] is False
    for outsider in (BRANCH_IDF, Principal(sub="c", role="centre", country="BF")):
        with pytest.raises(Forbidden):
            await use_cases.get_partnership(runtime, outsider, partnership_id)
    assert (await use_cases.list_partnerships(runtime, BRANCH_IDF, authority_id=None, partner_id=None, page=PAGE))[
        "total"
    ] == 0

    await use_cases.vet_partner(runtime, CENTRE_SN, partner_id, "suspend", "audit")
    flagged = await use_cases.list_partnerships(runtime, CENTRE_SN, authority_id=None, partner_id=None, page=PAGE)
    assert [(p["partner_status"], p["needs_review"]) for p in flagged["items"]] == [("suspended", True)]
    ended = await use_cases.end_partnership(runtime, AUTHORITY, partnership_id, "audit failed")
    assert ended["needs_review"] is False  # an ended partnership has nothing left to review
