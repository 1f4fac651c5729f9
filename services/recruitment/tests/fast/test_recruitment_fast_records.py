"""The person and engagement records on in-memory fakes: one typed model each, its document and its rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from recruitment_fast_kit import AUTHORITY, CONTRACT, STAFF, applied, person, published, recruitment_runtime, selected

from vies_recruitment import use_cases
from vies_recruitment.domain.application import Profile
from vies_recruitment.domain.engagement import Engagement
from vies_recruitment.domain.person import Person, contact_changes
from vies_recruitment.schemas import ContactIn
from vies_shared.errors import InvalidInput, NotAllowedInState
from vies_shared.events.missions import MissionEnded, MissionPlanned
from vies_shared.events.recruitment import ContactUpdated, PersonErased

pytestmark = pytest.mark.fast

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)
PROFILE = Profile(
    name="Alice",
    email="Alice@example.org",
    phone=None,
    birth_date=date(1995, 5, 17),
    nationality="FR",
    residence_country="FR",
    language="fr",
    disability=False,
    languages=["fr"],
    skills=[],
    other_nationalities=[],
    residence_permit=None,
    in_france_since=None,
    employment=None,
    seniority_months=None,
)


def planned(engagement_id: str, **fields: object) -> MissionPlanned:
    """A mission planned for a VSI engagement of alice (2027-03-01 to 2028-02-29 unless told)."""
    values: dict[str, object] = {
        "mission_id": "m-1",
        "engagement_id": engagement_id,
        "volunteer_id": "alice",
        "authority_id": "auth-1",
        "partner_id": "partner-1",
        "country": "SN",
        "scheme": "vsi",
        "starts_on": date(2027, 3, 1),
        "ends_on": date(2028, 2, 29),
    }
    return MissionPlanned.model_validate({**values, **fields})


def test_a_contact_change_never_removes_a_required_field_and_needs_something_to_change() -> None:
    assert contact_changes({"name": None, "phone": None}) == {"phone": None}
    assert contact_changes({"emergency_contact": None}) == {"emergency_contact": None}
    for nothing in ({}, {"name": None, "email": None, "language": None}):
        with pytest.raises(InvalidInput):
            contact_changes(nothing)


def test_an_application_records_the_contact_event_only_when_the_contact_changed() -> None:
    new = Person.applied("alice", None, PROFILE)
    [recorded] = new.pull_events()
    assert recorded.event == ContactUpdated(person_id="alice", name="Alice", email="Alice@example.org", language="fr")
    stored = {**new.to_doc(), "email_key": "alice@example.org", "origin": "self"}
    assert Person.applied("alice", stored, PROFILE).pull_events() == []
    erased = {"_id": "alice", "erased_at": AT}
    again = Person.applied("alice", erased, PROFILE)
    assert again.erased_at is None and len(again.pull_events()) == 1


def test_an_erased_record_keeps_only_its_date_and_takes_no_contact_change() -> None:
    erased = Person.erased("alice", AT)
    assert erased.to_doc() == {"_id": "alice", "erased_at": AT}
    assert [r.event for r in erased.pull_events()] == [PersonErased(person_id="alice")]
    with pytest.raises(NotAllowedInState):
        Person.from_doc(erased.to_doc()).change_contact({"phone": "+33611111111"}, AT)


def test_the_person_view_keeps_the_stored_order_and_adds_new_fields_last() -> None:
    doc = {"_id": "alice", "name": "Alice", "email": "a@example.org", "email_key": "a@example.org", "language": "fr"}
    person = Person.from_doc(doc)
    person.change_contact({"emergency_contact": {"name": "Marie", "relation": "mother", "phone": "+3361"}}, AT)
    view = person.view(1.5)
    assert list(view) == [
        "person_id",
        "name",
        "email",
        "language",
        "updated_at",
        "emergency_contact",
        "vsi_months_served",
    ]
    assert view["emergency_contact"] == {"name": "Marie", "relation": "mother", "phone": "+3361"}  # no email: not given
    assert person.changes() == {"updated_at": AT, "emergency_contact": view["emergency_contact"]}


def test_an_engagement_counts_until_the_day_served_and_only_for_the_vsi() -> None:
    engagement = Engagement.made_elsewhere(planned("eng-1", starts_on=date(2021, 1, 1), ends_on=date(2021, 12, 31)))
    assert engagement.months_served() == 12.0
    engagement.end(date(2021, 6, 30), interrupted=True)
    assert (engagement.months_served(), engagement.mission_status) == (6.0, "interrupted")
    civic = Engagement.made_elsewhere(planned("eng-2", scheme="service_civique"))
    person = Person(person_id="alice", vsi_months_served_elsewhere=3.0)
    assert person.vsi_months_served([engagement, civic]) == 9.0


async def test_a_mission_links_the_engagement_signed_here_and_one_made_elsewhere_joins_the_history() -> None:
    runtime = await recruitment_runtime()
    application_id = (await applied(runtime, await published(runtime), "alice"))["application_id"]
    await selected(runtime, application_id)
    await use_cases.engage(runtime, AUTHORITY, application_id, CONTRACT)
    engagements = runtime.collection("engagements")
    signed = await engagements.find_one({"person_id": "alice"})
    assert signed is not None and signed["mission_id"] is None and signed["position_id"]

    await runtime.deliver(planned(signed["_id"]))
    linked = await engagements.find_one({"_id": signed["_id"]})
    assert linked == {**signed, "mission_id": "m-1"}
    await runtime.deliver(
        planned("eng-old", mission_id="m-old", starts_on=date(2020, 1, 1), ends_on=date(2020, 12, 31))
    )
    await runtime.deliver(MissionEnded(mission_id="m-old", ended_on=date(2020, 6, 30)))
    old = await engagements.find_one({"_id": "eng-old"})
    assert old == {
        "_id": "eng-old",
        "application_id": None,
        "person_id": "alice",
        "authority_id": "auth-1",
        "partner_id": "partner-1",
        "country": "SN",
        "scheme": "vsi",
        "starts_on": "2020-01-01",
        "ends_on": "2020-12-31",
        "served_until": "2020-06-30",
        "mission_id": "m-old",
        "mission_status": "ended",
    }
    # The contract signed here (12 months) and the 6 months served elsewhere.
    assert (await use_cases.get_person(runtime, STAFF, "alice"))["vsi_months_served"] == 18.0


async def test_a_contact_change_writes_only_what_changed_and_the_key_of_a_new_email() -> None:
    runtime = await recruitment_runtime()
    await applied(runtime, await published(runtime), "alice")
    persons = runtime.collection("persons")
    before = await persons.find_one({"_id": "alice"})
    assert before is not None
    runtime.clock.advance(minutes=5)
    await use_cases.update_contact(runtime, STAFF, "alice", ContactIn(email="Alice@New.example"))
    after = await persons.find_one({"_id": "alice"})
    assert after == {
        **before,
        "email": "Alice@New.example",
        "email_key": "alice@new.example",
        "updated_at": runtime.now(),
    }
    assert list(after) == list(before)
    with pytest.raises(InvalidInput):
        await use_cases.update_contact(runtime, person("alice"), "alice", ContactIn(language=None))
