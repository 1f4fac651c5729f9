"""Persons on in-memory fakes: contact data and the emergency contact, and the right to erasure."""

from __future__ import annotations

from typing import Any

import pytest
from recruitment_fast_kit import AUTHORITY, CONTRACT, STAFF, applied, person, published, recruitment_runtime, selected

from vies_recruitment import use_cases
from vies_recruitment.schemas import ContactIn
from vies_shared.errors import Forbidden, InvalidInput, NotAllowedInState, NotFound
from vies_shared.events.recruitment import ApplicationWithdrawn, ContactUpdated, EmergencyContact, PersonErased

pytestmark = pytest.mark.fast


def contact(**fields: Any) -> ContactIn:
    """A contact change."""
    return ContactIn.model_validate(fields)


async def test_the_person_or_staff_correct_the_contact_and_open_applications_show_it() -> None:
    runtime = await recruitment_runtime()
    application = await applied(runtime, await published(runtime), "alice")
    runtime.clear_events()
    with pytest.raises(Forbidden):
        await use_cases.update_contact(runtime, person("bob"), "alice", contact(phone="+33611111111"))
    with pytest.raises(Forbidden):
        await use_cases.update_contact(runtime, AUTHORITY, "alice", contact(phone="+33611111111"))
    with pytest.raises(InvalidInput):
        await use_cases.update_contact(runtime, person("alice"), "alice", contact())
    with pytest.raises(InvalidInput):  # name is never removed: null changes nothing, so nothing is left
        await use_cases.update_contact(runtime, person("alice"), "alice", contact(name=None))
    with pytest.raises(InvalidInput):  # a person's address is their account's
        own = person("alice", email="alice@example.org", email_verified=True)
        await use_cases.update_contact(runtime, own, "alice", contact(email="alice@elsewhere.example"))
    with pytest.raises(NotFound):
        await use_cases.update_contact(runtime, STAFF, "nobody", contact(phone="+33611111111"))

    changed = await use_cases.update_contact(runtime, person("alice"), "alice", contact(phone="+33622222222"))
    assert changed["phone"] == "+33622222222" and changed["email"] == "alice@example.org"
    [event] = runtime.events_of(ContactUpdated)
    assert (event.person_id, event.name, event.phone) == ("alice", "Alice", "+33622222222")
    seen = await use_cases.get_application(runtime, AUTHORITY, application["application_id"])
    assert seen["candidate"]["phone"] == "+33622222222"
    await use_cases.update_contact(runtime, STAFF, "alice", contact(email="alice@new.example"))
    stored = await runtime.collection("persons").find_one({"_id": "alice"})
    assert stored is not None and stored["email_key"] == "alice@new.example"


async def test_the_emergency_contact_travels_in_the_contact_event_but_not_to_the_authority() -> None:
    runtime = await recruitment_runtime()
    application = await applied(runtime, await published(runtime), "alice")
    runtime.clear_events()
    mother = {"name": "Marie", "relation": "mother", "phone": "+33633333333", "email": "marie@example.org"}
    await use_cases.update_contact(runtime, person("alice"), "alice", contact(emergency_contact=mother))
    [event] = runtime.events_of(ContactUpdated)
    assert event.emergency_contact == EmergencyContact(name="Marie", relation="mother", phone="+33633333333")
    assert (await use_cases.get_person(runtime, person("alice"), "alice"))["emergency_contact"]["email"] == (
        "marie@example.org"
    )
    seen = await use_cases.get_application(runtime, AUTHORITY, application["application_id"])
    assert "emergency_contact" not in seen["candidate"]
    # A later contact change keeps it in the event; null removes it.
    await use_cases.update_contact(runtime, person("alice"), "alice", contact(phone="+33644444444"))
    await use_cases.update_contact(runtime, person("alice"), "alice", contact(emergency_contact=None))
    assert [e.emergency_contact is not None for e in runtime.events_of(ContactUpdated)] == [True, True, False]


async def test_erasure_deletes_the_contacts_pending_copies_and_stops_later_changes() -> None:
    runtime = await recruitment_runtime()
    await applied(runtime, await published(runtime), "alice")
    outbox = runtime.collection("outbox")
    assert await outbox.count_documents({"type": ContactUpdated.TYPE, "key": "alice"}) == 1
    with pytest.raises(NotFound):
        await use_cases.erase_person(runtime, STAFF, "nobody")
    await use_cases.erase_person(runtime, STAFF, "alice")
    assert await outbox.count_documents({"type": ContactUpdated.TYPE, "key": "alice"}) == 0
    stored = await runtime.collection("persons").find_one({"_id": "alice"})
    assert stored is not None and set(stored) == {"_id", "erased_at"}
    with pytest.raises(NotAllowedInState):
        await use_cases.update_contact(runtime, STAFF, "alice", contact(phone="+33611111111"))


async def test_an_engaged_volunteer_asks_staff_for_erasure_and_the_contract_facts_stay() -> None:
    runtime = await recruitment_runtime()
    application_id = (await applied(runtime, await published(runtime), "alice"))["application_id"]
    await selected(runtime, application_id)
    await use_cases.engage(runtime, AUTHORITY, application_id, CONTRACT)
    runtime.clear_events()
    with pytest.raises(NotAllowedInState):
        await use_cases.erase_person(runtime, person("alice"), "alice", asked_by_the_person=True)
    result = await use_cases.erase_person(runtime, STAFF, "alice")
    assert result["applications"] == 1
    stored = await runtime.collection("applications").find_one({"_id": application_id})
    assert stored is not None and stored["candidate"] is None and stored["status"] == "engaged"
    assert runtime.events_of(ApplicationWithdrawn) == []  # an engagement is not withdrawn
    assert runtime.events_of(PersonErased) == [PersonErased(person_id="alice")]
    assert await runtime.collection("engagements").count_documents({"person_id": "alice"}) == 1
