"""Recruitment on in-memory fakes: publish, apply and screening, the pipeline to engagement, withdrawal, erasure."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from recruitment_fast_kit import AUTHORITY, STAFF, applied, person, published, recruitment_runtime

from vies_dev.testing.recruitment import candidate, position
from vies_recruitment import use_cases
from vies_recruitment.schemas import ApplicationIn, EngagementIn, PositionIn
from vies_shared.errors import AlreadyExists, Forbidden, NotAllowedInState
from vies_shared.events.partners import PartnershipEnded
from vies_shared.events.recruitment import (
    ApplicationRejected,
    ApplicationScreened,
    ApplicationWithdrawn,
    PersonErased,
    PositionClosed,
    PositionPublished,
    VolunteerEngaged,
)
from vies_shared.tokens import Principal

pytestmark = pytest.mark.fast


async def test_a_draft_is_published_once_within_an_active_partnership() -> None:
    runtime = await recruitment_runtime()
    with pytest.raises(Forbidden):
        other = Principal(sub="agent-2", role="authority", authority_id="auth-2")
        await use_cases.create_position(runtime, other, PositionIn.model_validate(position()))
    draft = await use_cases.create_position(runtime, AUTHORITY, PositionIn.model_validate(position()))
    assert draft["status"] == "draft" and draft["region"] == "FR-ARA" and draft["country"] == "SN"
    assert runtime.events == []
    view = await use_cases.publish_position(runtime, AUTHORITY, draft["position_id"])
    assert view["status"] == "published"
    [event] = runtime.events_of(PositionPublished)
    assert event.position_id == draft["position_id"] and event.scheme == "vsi" and event.places == 1
    assert runtime.envelopes[0].meta.region == "FR-ARA"
    with pytest.raises(NotAllowedInState):
        await use_cases.publish_position(runtime, AUTHORITY, draft["position_id"])


async def test_applications_are_screened_at_once_and_a_duplicate_email_is_refused() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime)
    alice = await applied(runtime, position_id, "alice")
    assert alice["eligible"] is True and alice["status"] == "screened" and alice["score"] == 1.0
    with pytest.raises(AlreadyExists):
        body = ApplicationIn.model_validate(candidate("Alice M.", "ALICE@example.org"))
        await use_cases.apply(runtime, person("alice-again"), position_id, body)
    moussa = await applied(runtime, position_id, "moussa", nationality="SN", birth_date="2010-01-01")
    assert moussa["eligible"] is False and moussa["status"] == "ineligible"
    screened = {e.application_id: e for e in runtime.events_of(ApplicationScreened)}
    assert screened[alice["application_id"]].eligible is True
    assert set(screened[moussa["application_id"]].reason_codes or []) == {"vsi.adult", "vsi.not_nationality_country"}
    assert runtime.types().count("recruitment.ApplicationSubmitted") == 2


async def test_the_pipeline_to_engagement_fills_the_place_and_rejects_the_others() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime)
    alice = (await applied(runtime, position_id, "alice"))["application_id"]
    bob = (await applied(runtime, position_id, "bob", languages=["fr"], skills=[]))["application_id"]
    with pytest.raises(NotAllowedInState):
        await use_cases.select(runtime, AUTHORITY, alice)  # not shortlisted yet
    with pytest.raises(Forbidden):
        await use_cases.shortlist(runtime, person("alice"), alice)
    assert (await use_cases.shortlist(runtime, AUTHORITY, alice))["status"] == "shortlisted"
    interview = datetime(2026, 12, 10, 10, tzinfo=UTC)
    assert (await use_cases.schedule_interview(runtime, AUTHORITY, alice, interview))["status"] == "interview_scheduled"
    assert (await use_cases.select(runtime, AUTHORITY, alice))["status"] == "selected"
    too_long = EngagementIn(starts_on=date(2027, 3, 1), ends_on=date(2029, 3, 31))
    with pytest.raises(NotAllowedInState) as refused:
        await use_cases.engage(runtime, AUTHORITY, alice, too_long)
    assert isinstance(refused.value.details, dict)
    assert [r["code"] for r in refused.value.details["reasons"]] == ["vsi.contract_max"]

    engaged = await use_cases.engage(
        runtime, AUTHORITY, alice, EngagementIn(starts_on=date(2027, 3, 1), ends_on=date(2028, 2, 29))
    )
    assert engaged["status"] == "engaged"
    [volunteer] = runtime.events_of(VolunteerEngaged)
    assert volunteer.engagement_id == engaged["engagement_id"] and volunteer.volunteer_id == "alice"
    assert (volunteer.country, volunteer.scheme, volunteer.ends_on) == ("SN", "vsi", date(2028, 2, 29))
    [closed] = runtime.events_of(PositionClosed)
    assert (closed.position_id, closed.cause, closed.reason) == (position_id, "filled", "position filled")
    assert runtime.events_of(ApplicationRejected) == [ApplicationRejected(application_id=bob, reason="position filled")]
    with pytest.raises(NotAllowedInState):
        await use_cases.withdraw(runtime, person("bob"), bob)


async def test_only_the_candidate_withdraws_and_only_once() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime)
    chloe = (await applied(runtime, position_id, "chloe"))["application_id"]
    with pytest.raises(Forbidden):
        await use_cases.withdraw(runtime, person("bob"), chloe)
    with pytest.raises(Forbidden):
        await use_cases.withdraw(runtime, AUTHORITY, chloe)
    assert (await use_cases.withdraw(runtime, person("chloe"), chloe))["status"] == "withdrawn"
    with pytest.raises(NotAllowedInState):
        await use_cases.withdraw(runtime, person("chloe"), chloe)
    assert runtime.events_of(ApplicationWithdrawn) == [ApplicationWithdrawn(application_id=chloe)]


async def test_a_partnership_end_closes_its_positions_and_refuses_new_ones() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime)
    draft = await use_cases.create_position(runtime, AUTHORITY, PositionIn.model_validate(position(title="Draft")))
    alice = (await applied(runtime, position_id, "alice"))["application_id"]
    runtime.clear_events()
    meta = await runtime.deliver(PartnershipEnded(partnership_id="ps-1", reason="mandate over"), region="FR-ARA")
    closed = runtime.events_of(PositionClosed)
    assert {e.position_id: e.reason for e in closed} == {
        position_id: "mandate over",
        draft["position_id"]: "mandate over",
    }
    assert all(envelope.meta.causation_id == meta.id for envelope in runtime.envelopes)
    app = await runtime.collection("applications").find_one({"_id": alice})
    assert (
        app is not None and app["status"] == "rejected" and app["rejection_reason"] == "position closed: mandate over"
    )
    with pytest.raises(NotAllowedInState):
        await use_cases.create_position(runtime, AUTHORITY, PositionIn.model_validate(position()))


async def test_erasure_removes_personal_data_withdraws_open_applications_and_tombstones_the_contact() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime)
    alice = (await applied(runtime, position_id, "alice"))["application_id"]
    with pytest.raises(Forbidden):
        await use_cases.erase_person(runtime, person("bob"), "alice", asked_by_the_person=True)
    with pytest.raises(Forbidden):
        await use_cases.erase_person(runtime, AUTHORITY, "alice")
    result = await use_cases.erase_person(runtime, person("alice"), "alice", asked_by_the_person=True)
    assert result["applications"] == 1
    app = await runtime.collection("applications").find_one({"_id": alice})
    assert app is not None and app["candidate"] is None and app["motivation"] is None and app["status"] == "withdrawn"
    assert runtime.events_of(ApplicationWithdrawn) == [ApplicationWithdrawn(application_id=alice)]
    assert runtime.events_of(PersonErased) == [PersonErased(person_id="alice")]
    assert [key for _, key in runtime.tombstones] == ["alice"]
    # Asked again: answered from what is already erased, nothing emitted twice.
    await use_cases.erase_person(runtime, STAFF, "alice")
    assert len(runtime.events_of(PersonErased)) == 1
