"""A person: a candidate and, once engaged, a volunteer; personal data, erasable on request.

The record holds the profile last given when applying, the contact the person keeps up to date,
their emergency contact and the VSI months served elsewhere once confirmed. Its contact travels
on the contacts topic only (``ContactUpdated``); an erased record keeps only ``erased_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import Field, PrivateAttr

from vies_recruitment.domain.application import Profile
from vies_recruitment.domain.engagement import Engagement, vsi_months_on_record
from vies_shared.aggregate import Aggregate, Document, IsoDate, Value
from vies_shared.errors import InvalidInput, NotAllowedInState
from vies_shared.events.recruitment import ContactUpdated, PersonErased
from vies_shared.events.recruitment import EmergencyContact as PublishedEmergencyContact

SELF = "self"
ON_BEHALF = "on_behalf"
"""How a person record came to be: ``self`` (a candidate's own account, id = the token's subject)
or ``on_behalf`` (staff applied for someone who has no account). A person is never found by email
across the two, so an application made on someone's behalf cannot land in a candidate's record
(and its profile become readable by that candidate) because the email matches."""

CONTACT_FIELDS = ("name", "email", "phone", "language", "emergency_contact")
REQUIRED_CONTACT = ("name", "email", "language")
"""A contact always has them: a change to null changes nothing."""
NOT_SHOWN = frozenset({"_id", "email_key"})


class EmergencyContact(Value):
    """Whom to call about the person in an emergency (``email`` stays here: the event has no field for it)."""

    name: str
    relation: str
    phone: str
    email: str | None = None


class Person(Aggregate):
    """A person's record; every field but the id is absent until given (an erased record: ``erased_at`` only)."""

    person_id: str = Field(alias="_id")
    erased_at: datetime | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    birth_date: IsoDate | None = None
    nationality: str | None = None
    residence_country: str | None = None
    language: str | None = None
    disability: bool | None = None
    languages: list[str] | None = None
    skills: list[str] | None = None
    other_nationalities: list[str] | None = None
    residence_permit: str | None = None
    in_france_since: IsoDate | None = None
    employment: str | None = None
    seniority_months: int | None = None
    email_key: str | None = None
    updated_at: datetime | None = None
    origin: str | None = None
    emergency_contact: EmergencyContact | None = None
    vsi_months_served_elsewhere: float | None = None  # confirmed by an authority or staff

    # The stored fields' order, which the person's view has always followed.
    _order: list[str] = PrivateAttr(default_factory=list)

    @classmethod
    def from_doc(cls, doc: Document) -> Self:
        """The person a stored record holds, remembering the record's field order."""
        person = super().from_doc(doc)
        person._order = list(doc)
        return person

    @staticmethod
    def application_update(profile: Profile, origin: str, at: datetime) -> Document:
        """The upsert an application makes to the person's record: the profile as given, the record
        no longer erased; ``origin`` only for a new record."""
        return {
            "$set": {**profile.model_dump(), "email_key": profile.email.lower(), "updated_at": at},
            "$setOnInsert": {"origin": origin},
            "$unset": {"erased_at": ""},
        }

    @classmethod
    def applied(cls, person_id: str, before: Document | None, profile: Profile) -> Person:
        """The record with the profile an application just gave (``before``: as it was, None: new);
        ``ContactUpdated`` is recorded when the contact changed, with the emergency contact set earlier."""
        record = {"_id": person_id, **(before or {}), **profile.model_dump()}
        record.pop("erased_at", None)  # the upsert unsets it
        person = cls.from_doc(record)
        if before is None or cls.from_doc(before).contact() != person.contact():
            person.record(person.contact_updated())
        return person

    @classmethod
    def erased(cls, person_id: str, at: datetime) -> Person:
        """The record once the person's data is erased: ``erased_at`` only; records ``PersonErased``."""
        person = cls(person_id=person_id, erased_at=at)
        person.record(PersonErased(person_id=person_id))
        return person

    def contact(self) -> tuple[Any, ...]:
        """What ``ContactUpdated`` is about, but the emergency contact: name, email, phone, language."""
        return self.name, self.email, self.phone, self.language

    def contact_updated(self) -> ContactUpdated:
        """The person's whole contact as published (whom to call in an emergency without their email)."""
        assert self.name is not None and self.email is not None  # a record given by an application
        emergency = self.emergency_contact
        return ContactUpdated(
            person_id=self.person_id,
            name=self.name,
            email=self.email,
            phone=self.phone,
            language=self.language or "fr",
            emergency_contact=PublishedEmergencyContact(
                name=emergency.name, relation=emergency.relation, phone=emergency.phone
            )
            if emergency
            else None,
        )

    def change_contact(self, changes: Document, at: datetime) -> None:
        """The person (or staff) changes their contact (``contact_changes``); records ``ContactUpdated``."""
        if self.erased_at:
            raise NotAllowedInState("this person's data was erased")
        for name, value in changes.items():
            setattr(self, name, value)
        if "email" in changes:
            self.email_key = changes["email"].lower()
        self.updated_at = at
        self.record(self.contact_updated())

    def confirm_elsewhere(self, months: float) -> None:
        """An authority or staff confirmed the VSI months the person served with other organisations."""
        self.vsi_months_served_elsewhere = months

    def vsi_months_served(self, engagements: list[Engagement], *, except_application: str | None = None) -> float:
        """The person's VSI time on record: their engagements (``except_application``'s left out) and
        the months served elsewhere once confirmed."""
        elsewhere = self.vsi_months_served_elsewhere or 0.0
        return vsi_months_on_record(engagements, elsewhere, except_application=except_application)

    def view(self, vsi_months_served: float) -> Document:
        """The record as the API shows it, in its stored order, with the VSI time on record."""
        doc = self.to_doc()
        stored = {name: doc[name] for name in self._order if name in doc}
        shown = {name: value for name, value in {**stored, **doc}.items() if name not in NOT_SHOWN}
        return {"person_id": self.person_id, **shown, "vsi_months_served": vsi_months_served}

    def contact_view(self) -> Document:
        """The contact after a change."""
        doc = self.to_doc()
        return {"person_id": self.person_id, **{name: doc.get(name) for name in CONTACT_FIELDS}}

    def erasure_view(self, applications: int) -> Document:
        """What an erasure did: when, and how many applications lost their personal data."""
        return {"person_id": self.person_id, "erased_at": self.erased_at, "applications": applications}


def contact_changes(given: Document) -> Document:
    """The fields a contact change sets (``null`` name, email or language changes nothing); none: ``InvalidInput``."""
    changes = {name: value for name, value in given.items() if not (name in REQUIRED_CONTACT and value is None)}
    if not changes:
        raise InvalidInput("nothing to change")
    return changes
