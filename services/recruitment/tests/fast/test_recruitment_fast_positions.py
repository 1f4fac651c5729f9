"""Positions on in-memory fakes: what publishing needs, corrections, closing, search and visibility."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from recruitment_fast_kit import (
    AUTHORITY,
    OTHER_AUTHORITY,
    STAFF,
    Recruitment,
    applied,
    drafted,
    person,
    published,
    reason_codes,
    recruitment_runtime,
    seed_directory,
)

from vies_dev.testing.recruitment import position
from vies_recruitment import use_cases
from vies_recruitment.schemas import PositionIn, PositionPatch
from vies_shared.errors import Forbidden, InvalidInput, NotAllowedInState, NotFound
from vies_shared.events.partners import (
    AuthorityRegistered,
    PartnerRegistered,
    PartnerReinstated,
    PartnershipEstablished,
    PartnerSuspended,
    SendingOrganisationApprovalChanged,
)
from vies_shared.events.recruitment import ApplicationRejected, PositionClosed, PositionPublished
from vies_shared.tokens import Principal
from vies_shared.web import Page

pytestmark = pytest.mark.fast


async def refused(runtime: Recruitment, position_id: str) -> set[str]:
    """The rule codes of a refused publication."""
    with pytest.raises(NotAllowedInState) as refusal:
        await use_cases.publish_position(runtime, AUTHORITY, position_id)
    return set(reason_codes(refusal.value.details))


async def test_a_vsi_needs_a_sending_organisation_approved_on_its_start_date() -> None:
    runtime = await recruitment_runtime(directory=False)
    await seed_directory(runtime, approved_until=date(2026, 12, 31))  # ends before the mission starts
    vsi = await drafted(runtime)
    assert await refused(runtime, vsi) == {"position.sending_organisation_not_approved"}
    await runtime.deliver(
        SendingOrganisationApprovalChanged(
            organisation_id="org-1", approval_number="VSI-2027-02", approved_from=date(2025, 1, 1)
        )
    )
    assert (await use_cases.publish_position(runtime, AUTHORITY, vsi))["status"] == "published"
    assert await refused(runtime, await drafted(runtime, sending_organisation_id=None)) == {
        "position.sending_organisation_missing"
    }
    assert await refused(runtime, await drafted(runtime, sending_organisation_id="org-unknown")) == {
        "position.sending_organisation_not_approved"
    }
    assert [e.position_id for e in runtime.events_of(PositionPublished)] == [vsi]


async def test_publishing_checks_the_schemes_durations() -> None:
    runtime = await recruitment_runtime()
    assert await refused(runtime, await drafted(runtime, duration_months=25)) == {"vsi.contract_max"}
    service_civique = await drafted(runtime, scheme="service_civique", duration_months=13, sending_organisation_id=None)
    assert await refused(runtime, service_civique) == {"service_civique.duration"}
    with pytest.raises(InvalidInput):  # a JSI / VVV-SI project is counted in days
        await drafted(runtime, scheme="jsi_vvvsi", sending_organisation_id=None)
    assert runtime.events == []


async def test_publishing_follows_the_partners_standing_in_the_directory() -> None:
    runtime = await recruitment_runtime()
    await runtime.deliver(PartnerSuspended(partner_id="partner-1", reason="audit"))
    second = await drafted(runtime, title="Second")
    assert await refused(runtime, second) == {"position.partner_suspended"}
    await runtime.deliver(PartnerReinstated(partner_id="partner-1"))
    assert (await use_cases.publish_position(runtime, AUTHORITY, second))["status"] == "published"

    # A partner never approved, in the European Economic Area, where a VSI cannot take place.
    await runtime.deliver(
        PartnerRegistered(
            partner_id="partner-pt",
            name="Câmara",
            kind="local_authority",
            country="PT",
            city="Porto",
            themes=[],
            languages=["pt"],
            hosting_capacity=2,
            reciprocity=False,
        )
    )
    await runtime.deliver(
        PartnershipEstablished(
            partnership_id="ps-pt",
            authority_id="auth-1",
            partner_id="partner-pt",
            country="PT",
            themes=[],
            starts_on=date(2026, 1, 1),
            region="FR-ARA",
        )
    )
    portugal = await drafted(runtime, partnership_id="ps-pt")
    assert await refused(runtime, portugal) == {"vsi.outside_eea", "position.partner_not_approved"}


async def test_a_jsi_group_needs_its_sponsor_and_a_group_of_the_right_size() -> None:
    runtime = await recruitment_runtime()
    group: dict[str, Any] = {
        "scheme": "jsi_vvvsi",
        "duration_days": 15,
        "action_days": 10,
        "sending_organisation_id": None,
    }
    assert await refused(runtime, await drafted(runtime, places=6, **group)) == {"position.sponsor_missing"}
    small = await drafted(runtime, places=3, sponsor="Parrain", **group)
    assert await refused(runtime, small) == {"jsi_vvvsi.group_size"}
    position_id = await published(runtime, places=6, sponsor="Association marraine", **group)
    # The group's young people each apply to the one project.
    for n in range(3):
        answer = await applied(runtime, position_id, f"jeune{n}", birth_date="2008-01-01")
        assert answer["eligible"] is True, answer["reasons"]


async def test_a_draft_is_corrected_by_its_authority_or_staff_until_it_is_published() -> None:
    runtime = await recruitment_runtime()
    position_id = await drafted(runtime)

    def patch(**fields: Any) -> PositionPatch:
        return PositionPatch.model_validate(fields)

    corrected = await use_cases.update_position(
        runtime,
        AUTHORITY,
        position_id,
        patch(title="Water network engineer", starts_on="2027-04-01", places=2, languages=["wo", "fr", "wo"]),
    )
    assert (corrected["title"], corrected["starts_on"], corrected["places"]) == (
        "Water network engineer",
        "2027-04-01",
        2,
    )
    assert corrected["languages"] == ["fr", "wo"] and corrected["skills"] == ["water"]
    assert corrected["status"] == "draft" and corrected["updated_at"] == runtime.now()

    with pytest.raises(InvalidInput) as wrong_place:
        await use_cases.update_position(
            runtime, AUTHORITY, position_id, patch(place={"city": "Rabat", "subdivision": "MA-04"})
        )
    assert wrong_place.value.details == [{"field": "place.subdivision"}]
    with pytest.raises(Forbidden):
        await use_cases.update_position(runtime, OTHER_AUTHORITY, position_id, patch(places=3))
    assert (await use_cases.update_position(runtime, STAFF, position_id, patch(places=3)))["places"] == 3
    with pytest.raises(NotFound):
        await use_cases.update_position(runtime, AUTHORITY, "pos-none", patch(places=3))
    stored = await runtime.collection("positions").find_one({"_id": position_id})
    assert stored is not None and stored["title"] == "Water network engineer" and stored["places"] == 3

    await use_cases.publish_position(runtime, AUTHORITY, position_id)
    with pytest.raises(NotAllowedInState):  # applicants saw what was published
        await use_cases.update_position(runtime, AUTHORITY, position_id, patch(places=5))
    assert runtime.events_of(PositionPublished)[0].places == 3


async def test_closing_is_the_authoritys_once_and_rejects_the_open_applications() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime)
    alice = (await applied(runtime, position_id, "alice"))["application_id"]
    with pytest.raises(Forbidden):
        await use_cases.close_position(runtime, OTHER_AUTHORITY, position_id, "budget")
    closed = await use_cases.close_position(runtime, AUTHORITY, position_id, "budget")
    assert closed["status"] == "closed" and closed["close_cause"] == "cancelled"
    assert runtime.events_of(PositionClosed) == [
        PositionClosed(position_id=position_id, reason="budget", cause="cancelled")
    ]
    assert runtime.events_of(ApplicationRejected) == [
        ApplicationRejected(application_id=alice, reason="position closed: budget")
    ]
    with pytest.raises(NotAllowedInState):
        await use_cases.close_position(runtime, AUTHORITY, position_id, "again")
    with pytest.raises(NotAllowedInState):  # closed: no more applications
        await applied(runtime, position_id, "late")
    with pytest.raises(NotAllowedInState):  # a draft takes none either
        await applied(runtime, await drafted(runtime), "early")


async def test_anonymous_visitors_read_published_positions_only_and_without_internal_fields() -> None:
    runtime = await recruitment_runtime()
    draft = await drafted(runtime)
    open_one = await published(runtime, title="Open one")
    with pytest.raises(NotFound):
        await use_cases.get_position(runtime, None, draft)
    public = await use_cases.get_position(runtime, None, open_one)
    assert public["title"] == "Open one" and public["status"] == "published"
    assert not {"partnership_id", "authority_id", "partner_id", "sending_organisation_id"} & set(public)
    assert "partnership_id" in await use_cases.get_position(runtime, person("c-1"), open_one)
    with pytest.raises(Forbidden):
        await use_cases.get_position(runtime, OTHER_AUTHORITY, draft)
    assert (await use_cases.get_position(runtime, STAFF, draft))["status"] == "draft"


async def test_search_filters_and_shows_drafts_to_their_authority_only() -> None:
    runtime = await recruitment_runtime()
    await seed_directory(
        runtime,
        authority_id="auth-2",
        region="FR-IDF",
        partner_id="partner-2",
        partnership_id="ps-2",
        country="MA",
        organisation_id=None,
    )
    made = {
        "vsi_sn": await published(runtime),
        "sc_sn": await published(
            runtime,
            scheme="service_civique",
            title="Youth health",
            languages=["fr"],
            skills=[],
            starts_on="2027-06-01",
        ),
        "draft_sn": await drafted(runtime, title="Draft water"),
        "rec_ma": await published(
            runtime,
            OTHER_AUTHORITY,
            partnership_id="ps-2",
            scheme="reciprocity",
            title="Hosting in Paris",
            languages=["ar"],
            sending_organisation_id=None,
        ),
    }
    public = {made["vsi_sn"], made["sc_sn"], made["rec_ma"]}
    anyone = person("c-1")

    async def ids(caller: Any, **filters: Any) -> set[str]:
        found = await use_cases.search_positions(runtime, caller, filters, Page(limit=50, offset=0))
        return {p["position_id"] for p in found["items"]}

    assert await ids(None) == await ids(anyone) == await ids(OTHER_AUTHORITY) == public
    assert await ids(AUTHORITY) == set(made.values())
    assert await ids(STAFF, status="draft") == {made["draft_sn"]}
    assert await ids(anyone, status="draft") == set()
    assert await ids(anyone, country="SN") == {made["vsi_sn"], made["sc_sn"]}
    assert await ids(anyone, country="FR") == {made["rec_ma"]}  # reciprocity is hosted in France
    assert await ids(anyone, scheme="service_civique") == {made["sc_sn"]}
    assert await ids(anyone, region="FR-IDF") == {made["rec_ma"]}
    assert await ids(anyone, language="WO") == {made["vsi_sn"]}
    assert await ids(anyone, q="HEALTH") == {made["sc_sn"]}
    assert await ids(AUTHORITY, q="draft") == {made["draft_sn"]}
    assert await ids(OTHER_AUTHORITY, q="draft") == set()
    assert await ids(None, starts_from=date(2027, 3, 2)) == {made["sc_sn"]}
    assert await ids(anyone, starts_until=date(2027, 3, 1)) == {made["vsi_sn"], made["rec_ma"]}
    with pytest.raises(InvalidInput):
        await ids(anyone, starts_from=date(2027, 6, 2), starts_until=date(2027, 6, 1))
    second_page = await use_cases.search_positions(runtime, anyone, {}, Page(limit=2, offset=2))
    assert second_page["total"] == 3 and len(second_page["items"]) == 1


async def test_a_reciprocity_position_takes_candidates_from_the_partners_country() -> None:
    runtime = await recruitment_runtime()
    await seed_directory(
        runtime, authority_id="auth-2", region="FR-IDF", partner_id="p-2", partnership_id="ps-2", country="MA"
    )
    position_id = await published(
        runtime, OTHER_AUTHORITY, partnership_id="ps-2", scheme="reciprocity", sending_organisation_id=None
    )
    moroccan = await applied(runtime, position_id, "youssef", nationality="MA", residence_country="MA")
    assert moroccan["eligible"] is True and moroccan["country"] == "FR"
    senegalese = await applied(runtime, position_id, "amadou", nationality="SN", residence_country="SN")
    assert [r["code"] for r in senegalese["reasons"]] == ["reciprocity.from_partner_country"]


async def test_an_authority_heard_of_late_gives_its_region_to_its_drafts() -> None:
    runtime = await recruitment_runtime(directory=False)
    # The partnership arrives before the authority's registration (another topic, another order).
    await runtime.deliver(
        PartnershipEstablished(
            partnership_id="ps-9",
            authority_id="auth-9",
            partner_id="partner-9",
            country="SN",
            themes=[],
            starts_on=date(2026, 1, 1),
        )
    )
    caller = Principal(sub="agent-9", role="authority", authority_id="auth-9")
    draft = await use_cases.create_position(
        runtime, caller, PositionIn.model_validate(position("ps-9", sending_organisation_id=None))
    )
    assert draft["region"] is None
    await runtime.deliver(
        AuthorityRegistered(
            authority_id="auth-9",
            name="Commune",
            kind="commune",
            region="FR-BRE",
            contact_email="mairie@commune.example",
            territoires_volontaires=False,
        )
    )
    stored = await runtime.collection("positions").find_one({"_id": draft["position_id"]})
    assert stored is not None and stored["region"] == "FR-BRE"
