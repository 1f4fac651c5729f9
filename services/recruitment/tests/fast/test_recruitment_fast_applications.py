"""Applications on in-memory fakes: who applies with which email, scopes, the pipeline's 409s, places,
declared facts and the VSI time on record fed by the missions' events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from recruitment_fast_kit import (
    AUTHORITY,
    CONTRACT,
    OTHER_AUTHORITY,
    STAFF,
    applied,
    person,
    published,
    reason_codes,
    recruitment_runtime,
    selected,
)

from vies_dev.testing.recruitment import candidate
from vies_recruitment import use_cases
from vies_recruitment.schemas import ApplicationIn, DeclarationsConfirmedIn, EligibilityCheckIn, EngagementIn
from vies_shared.errors import AlreadyExists, Forbidden, InvalidInput, NotAllowedInState
from vies_shared.events.missions import MissionEnded, MissionExtended, MissionInterrupted, MissionPlanned
from vies_shared.events.recruitment import (
    ApplicationRejected,
    ApplicationScreened,
    ContactUpdated,
    InterviewScheduled,
    PositionClosed,
    VolunteerEngaged,
)
from vies_shared.tokens import Principal
from vies_shared.web import Page

pytestmark = pytest.mark.fast

PAGE = Page(limit=50, offset=0)


def body(name: str, email: str | None, **profile: Any) -> ApplicationIn:
    """An application body (``email`` None: none given)."""
    given = candidate(name, email or "unused@example.org", **profile)
    if email is None:
        del given["candidate"]["email"]
    return ApplicationIn.model_validate(given)


async def test_a_candidate_applies_with_their_verified_account_email_whatever_the_body_says() -> None:
    runtime = await recruitment_runtime(env="production")
    position_id = await published(runtime)
    lea = person("lea", email="lea@account.example", email_verified=True)
    answer = await use_cases.apply(runtime, lea, position_id, body("Léa", "someone-else@example.org"))
    assert answer["candidate"]["email"] == "lea@account.example" and answer["candidate_id"] == "lea"
    unverified = person("max", email="max@account.example", email_verified=False)
    with pytest.raises(Forbidden):
        await use_cases.apply(runtime, unverified, position_id, body("Max", "max@example.org"))
    with pytest.raises(Forbidden):  # outside development a token always carries the email
        await use_cases.apply(runtime, person("nomail"), position_id, body("No Mail", "nomail@example.org"))
    with pytest.raises(Forbidden):
        await use_cases.apply(runtime, AUTHORITY, position_id, body("Agent", "agent@example.org"))
    assert await runtime.collection("applications").count_documents({}) == 1


async def test_staff_apply_on_someones_behalf_into_a_record_of_their_own_never_a_candidates() -> None:
    runtime = await recruitment_runtime()
    first, second = await published(runtime), await published(runtime, title="Second")
    await applied(runtime, first, "lea")
    with pytest.raises(InvalidInput):  # on someone's behalf the email is required
        await use_cases.apply(runtime, STAFF, first, body("Léa", None))
    with pytest.raises(AlreadyExists):  # the same email on the same position
        await use_cases.apply(runtime, STAFF, first, body("Léa", "LEA@example.org"))
    on_behalf = await use_cases.apply(runtime, STAFF, second, body("Léa", "lea@example.org"))
    assert on_behalf["candidate_id"] != "lea" and on_behalf["candidate_id"].startswith("per-")
    again = await use_cases.apply(
        runtime, STAFF, await published(runtime, title="Third"), body("Léa", "lea@example.org")
    )
    assert again["candidate_id"] == on_behalf["candidate_id"]
    record = await runtime.collection("persons").find_one({"_id": on_behalf["candidate_id"]})
    assert record is not None and record["origin"] == "on_behalf"
    own = await runtime.collection("persons").find_one({"_id": "lea"})
    assert own is not None and own["origin"] == "self"


async def test_one_application_per_candidate_and_position_and_the_contact_published_when_it_changes() -> None:
    runtime = await recruitment_runtime()
    first, second, third = [await published(runtime, title=t) for t in ("One", "Two", "Three")]
    await applied(runtime, first, "alice")
    with pytest.raises(AlreadyExists):  # the same candidate under another email
        await use_cases.apply(runtime, person("alice"), first, body("Alice", "alice.other@example.org"))
    await applied(runtime, second, "alice")  # same contact: nothing new to publish
    await applied(runtime, third, "alice", phone="+221770000000")
    contacts = runtime.events_of(ContactUpdated)
    assert [(c.person_id, c.phone) for c in contacts] == [("alice", "+33600000000"), ("alice", "+221770000000")]
    assert await runtime.collection("applications").count_documents({"candidate_id": "alice"}) == 3


async def test_applications_are_read_within_each_roles_scope() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime)
    alice = (await applied(runtime, position_id, "alice"))["application_id"]
    bob = (await applied(runtime, position_id, "bob", languages=["fr"], skills=[]))["application_id"]
    minor = (await applied(runtime, position_id, "kid", birth_date="2012-01-01"))["application_id"]
    branch = Principal(sub="branch-ara", role="branch", region="FR-ARA")

    assert (await use_cases.get_application(runtime, person("alice"), alice))["candidate"]["name"] == "Alice"
    with pytest.raises(Forbidden):
        await use_cases.get_application(runtime, person("bob"), alice)
    with pytest.raises(Forbidden):
        await use_cases.get_application(runtime, OTHER_AUTHORITY, alice)
    seen_by_branch = await use_cases.get_application(runtime, branch, alice)
    assert "candidate" not in seen_by_branch and "motivation" not in seen_by_branch
    with pytest.raises(Forbidden):
        await use_cases.get_application(runtime, Principal(sub="b", role="branch", region="FR-IDF"), alice)

    mine = await use_cases.list_applications(runtime, person("bob"), {}, PAGE)
    assert [a["application_id"] for a in mine["items"]] == [bob]
    assert (await use_cases.list_applications(runtime, branch, {}, PAGE))["total"] == 3
    with pytest.raises(Forbidden):
        await use_cases.list_applications(runtime, Principal(sub="v", role="volunteer"), {}, PAGE)

    ranked = await use_cases.ranked_applications(runtime, AUTHORITY, position_id, None, PAGE)
    # Eligible first, then by match score (Bob speaks no Wolof and has no skill asked).
    assert [(a["rank"], a["application_id"]) for a in ranked["items"]] == [(1, alice), (2, bob), (3, minor)]
    with pytest.raises(Forbidden):
        await use_cases.ranked_applications(runtime, OTHER_AUTHORITY, position_id, None, PAGE)


async def test_each_pipeline_step_is_allowed_from_its_states_only() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime)
    alice = (await applied(runtime, position_id, "alice"))["application_id"]
    minor = (await applied(runtime, position_id, "kid", birth_date="2012-01-01"))["application_id"]
    at = datetime(2026, 12, 10, 10, tzinfo=UTC)
    with pytest.raises(NotAllowedInState) as early:
        await use_cases.schedule_interview(runtime, AUTHORITY, alice, at)
    assert early.value.details == {"status": "screened", "allowed_from": ["interview_scheduled", "shortlisted"]}
    with pytest.raises(NotAllowedInState):  # an ineligible application stops at screening
        await use_cases.shortlist(runtime, AUTHORITY, minor)
    with pytest.raises(NotAllowedInState):
        await use_cases.engage(runtime, AUTHORITY, alice, CONTRACT)
    await use_cases.shortlist(runtime, AUTHORITY, alice)
    await use_cases.schedule_interview(runtime, AUTHORITY, alice, at)
    moved = await use_cases.schedule_interview(runtime, AUTHORITY, alice, datetime(2026, 12, 11, 14))
    assert moved["interview_at"] == datetime(2026, 12, 11, 14, tzinfo=UTC)  # a naive time is UTC
    assert [e.at.day for e in runtime.events_of(InterviewScheduled)] == [10, 11]
    rejected = await use_cases.reject(runtime, AUTHORITY, alice, "another profile")
    assert rejected["status"] == "rejected" and rejected["rejection_reason"] == "another profile"
    for step in (use_cases.shortlist, use_cases.select, use_cases.withdraw):
        with pytest.raises(NotAllowedInState):
            await step(runtime, STAFF, alice)
    assert runtime.events_of(ApplicationRejected) == [
        ApplicationRejected(application_id=alice, reason="another profile")
    ]


async def test_engagements_take_the_places_one_by_one_and_the_last_closes_the_position() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime, places=2)
    ids = [(await applied(runtime, position_id, name))["application_id"] for name in ("ana", "ben", "cleo")]
    for application_id in ids[:2]:
        await selected(runtime, application_id)
    await use_cases.engage(runtime, AUTHORITY, ids[0], CONTRACT)
    after_first = await runtime.collection("positions").find_one({"_id": position_id})
    assert after_first is not None and (after_first["filled"], after_first["status"]) == (1, "published")
    assert runtime.events_of(PositionClosed) == []
    with pytest.raises(NotAllowedInState) as too_late:  # the contract must start by the scheme's rules
        await use_cases.engage(
            runtime, AUTHORITY, ids[1], EngagementIn(starts_on=date(2027, 3, 1), ends_on=date(2029, 4, 1))
        )
    assert reason_codes(too_late.value.details) == ["vsi.contract_max"]
    await use_cases.engage(runtime, AUTHORITY, ids[1], CONTRACT)
    [closed] = runtime.events_of(PositionClosed)
    assert (closed.position_id, closed.cause) == (position_id, "filled")
    assert runtime.events_of(ApplicationRejected) == [
        ApplicationRejected(application_id=ids[2], reason="position filled")
    ]
    engaged = {e.volunteer_id for e in runtime.events_of(VolunteerEngaged)}
    assert engaged == {"ana", "ben"}
    assert await runtime.collection("engagements").count_documents({"position_id": position_id}) == 2


async def test_months_served_elsewhere_are_confirmed_before_the_contract_and_rescreen_when_corrected() -> None:
    runtime = await recruitment_runtime()
    position_id = await published(runtime, places=2)
    lea = await applied(runtime, position_id, "lea", birth_date="1980-01-01", vsi_months_served_elsewhere=55)
    assert lea["eligible"] is True
    assert lea["declarations"]["vsi_months_served_elsewhere"] == {"declared": 55.0, "confirmed": False}
    await selected(runtime, lea["application_id"])
    with pytest.raises(NotAllowedInState) as waiting:
        await use_cases.engage(runtime, AUTHORITY, lea["application_id"], CONTRACT)
    assert waiting.value.details == {"unconfirmed": ["vsi_months_served_elsewhere"]}

    confirm = DeclarationsConfirmedIn(facts=["vsi_months_served_elsewhere"])
    for outsider in (person("lea"), OTHER_AUTHORITY):
        with pytest.raises(Forbidden):
            await use_cases.confirm_declarations(runtime, outsider, lea["application_id"], confirm)
    with pytest.raises(NotAllowedInState):  # she declared no residence permit
        await use_cases.confirm_declarations(
            runtime, AUTHORITY, lea["application_id"], DeclarationsConfirmedIn(facts=["residence_permit"])
        )
    confirmed = await use_cases.confirm_declarations(runtime, AUTHORITY, lea["application_id"], confirm)
    fact = confirmed["declarations"]["vsi_months_served_elsewhere"]
    assert (fact["confirmed"], fact["confirmed_value"], fact["confirmed_by"]) == (True, 55.0, "agent-1")
    assert (await use_cases.get_person(runtime, person("lea"), "lea"))["vsi_months_served"] == 55.0
    await use_cases.engage(runtime, AUTHORITY, lea["application_id"], CONTRACT)
    assert runtime.events_of(VolunteerEngaged)[0].vsi_months_served_before == 55.0

    # Staff correct another declaration from 50 to 61 months: 61 + 12 is over the six years.
    max_ = await applied(runtime, position_id, "max", birth_date="1975-01-01", vsi_months_served_elsewhere=50)
    runtime.clear_events()
    corrected = DeclarationsConfirmedIn(facts=["vsi_months_served_elsewhere"], vsi_months_served_elsewhere=61)
    answer = await use_cases.confirm_declarations(runtime, STAFF, max_["application_id"], corrected)
    assert (answer["eligible"], answer["status"]) == (False, "ineligible")
    [rescreened] = runtime.events_of(ApplicationScreened)
    assert rescreened.eligible is False and rescreened.reason_codes == ["vsi.lifetime_cap"]


def check(**overrides: Any) -> EligibilityCheckIn:
    """An eligibility question: a 6-month mission in Senegal from 2027-03-01."""
    asked: dict[str, Any] = {
        "birth_date": "2001-03-02",
        "nationality": "FR",
        "residence_country": "FR",
        "destination_country": "SN",
        "starts_on": "2027-03-01",
        "duration_months": 6,
    }
    return EligibilityCheckIn.model_validate({**asked, **overrides})


async def test_the_eligibility_check_answers_every_scheme_with_every_failing_rule() -> None:
    runtime = await recruitment_runtime(service_civique_min_age=18)
    answer = await use_cases.eligibility_check(runtime, None, check(scheme="service_civique"))
    assert answer["results"] == [{"scheme": "service_civique", "eligible": True, "reasons": []}]
    day_after = await use_cases.eligibility_check(
        runtime, None, check(scheme="service_civique", birth_date="2001-02-28")
    )
    assert [r["code"] for r in day_after["results"][0]["reasons"]] == ["service_civique.max_age"]
    every = await use_cases.eligibility_check(runtime, None, check(destination_country="DE"))
    codes = {r["scheme"]: {x["code"] for x in r["reasons"]} for r in every["results"]}
    assert codes["vsi"] == {"vsi.outside_eea"} and codes["service_civique"] == set()
    assert codes["vec"] == {"vec.employee_or_retiree"}
    assert codes["reciprocity"] == {"reciprocity.hosted_in_france", "reciprocity.from_partner_country"}


async def test_the_vsi_lifetime_cap_counts_the_time_the_missions_events_say_was_served() -> None:
    runtime = await recruitment_runtime()
    veteran = person("veteran")

    async def vsi_check(months: int) -> set[str]:
        asked = check(birth_date="1980-01-01", scheme="vsi", duration_months=months)
        answer = await use_cases.eligibility_check(runtime, veteran, asked)
        return {x["code"] for x in answer["results"][0]["reasons"]}

    # A VSI engagement made elsewhere, planned for 5 years, extended to 6, then ended after 5 years 11 months.
    await runtime.deliver(
        MissionPlanned(
            mission_id="m-old",
            engagement_id="eng-old",
            volunteer_id="veteran",
            authority_id="auth-x",
            partner_id="partner-x",
            country="BF",
            scheme="vsi",
            starts_on=date(2020, 1, 1),
            ends_on=date(2024, 12, 31),
        )
    )
    assert await vsi_check(12) == set()  # 60 + 12 = 72 months
    assert await vsi_check(13) == {"vsi.lifetime_cap"}
    await runtime.deliver(MissionExtended(mission_id="m-old", ends_on=date(2025, 12, 31)))
    assert await vsi_check(1) == {"vsi.lifetime_cap"}
    await runtime.deliver(MissionEnded(mission_id="m-old", ended_on=date(2025, 11, 30)))
    assert (await vsi_check(1), await vsi_check(2)) == (set(), {"vsi.lifetime_cap"})
    anonymous = await use_cases.eligibility_check(runtime, None, check(birth_date="1980-01-01", scheme="vsi"))
    assert anonymous["vsi_months_served"] == 0 and anonymous["results"][0]["eligible"] is True

    # Screening applies the same cap.
    position_id = await published(runtime, duration_months=2)
    screened = await applied(runtime, position_id, "veteran", birth_date="1980-01-01")
    assert [r["code"] for r in screened["reasons"]] == ["vsi.lifetime_cap"]
    assert (await use_cases.get_person(runtime, veteran, "veteran"))["vsi_months_served"] == 71.0
    with pytest.raises(Forbidden):
        await use_cases.get_person(runtime, person("someone"), "veteran")


async def test_an_interrupted_mission_stops_the_time_served_on_its_day_or_the_events() -> None:
    runtime = await recruitment_runtime()
    for mission_id, interrupted_on in (("m-1", date(2021, 6, 30)), ("m-2", None)):
        await runtime.deliver(
            MissionPlanned(
                mission_id=mission_id,
                engagement_id=f"eng-{mission_id}",
                volunteer_id="vol-1",
                authority_id="auth-x",
                partner_id="partner-x",
                country="BF",
                scheme="vsi",
                starts_on=date(2021, 1, 1),
                ends_on=date(2022, 12, 31),
            )
        )
        await runtime.deliver(MissionInterrupted(mission_id=mission_id, reason="health", interrupted_on=interrupted_on))
    first = await runtime.collection("engagements").find_one({"_id": "eng-m-1"})
    second = await runtime.collection("engagements").find_one({"_id": "eng-m-2"})
    assert first is not None and (first["served_until"], first["mission_status"]) == ("2021-06-30", "interrupted")
    assert second is not None and second["served_until"] == runtime.now().date().isoformat()
