"""Events published by the recruitment service (ids only on ``*.events``, contract 1.5)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vies_shared.events.base import Event

Scheme = Literal["vsi", "service_civique", "vec", "jsi_vvvsi", "reciprocity", "service_civique_reciprocity"]
SCHEMES: tuple[str, ...] = ("vsi", "service_civique", "vec", "jsi_vvvsi", "reciprocity", "service_civique_reciprocity")
"""``reciprocity`` is VSI in reciprocity; ``service_civique_reciprocity`` (an addition) is Service Civique
in reciprocity."""


class Place(BaseModel):
    """Where a volunteer lives and works: a city and its ISO 3166-2 subdivision (e.g. SN-ZG)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    city: str
    subdivision: str


class PositionPublished(Event):
    """A volunteer position opened for applications."""

    TYPE = "recruitment.PositionPublished"
    KEY = "position_id"
    position_id: str
    partnership_id: str
    authority_id: str
    partner_id: str
    country: str
    scheme: Scheme
    title: str
    starts_on: date
    duration_months: int
    places: int
    sending_organisation_id: str | None = None
    duration_days: int | None = None
    place: Place | None = None
    """Where the volunteer will live and work, when the position says (an addition)."""


class PositionClosed(Event):
    """A position stopped taking applications (filled, cancelled, partnership ended)."""

    TYPE = "recruitment.PositionClosed"
    KEY = "position_id"
    position_id: str
    reason: str
    cause: Literal["filled", "cancelled", "partnership_ended"] | None = None


class ApplicationSubmitted(Event):
    """A candidate applied to a position."""

    TYPE = "recruitment.ApplicationSubmitted"
    KEY = "application_id"
    application_id: str
    position_id: str
    candidate_id: str
    authority_id: str
    # The position as it was published, so that a reader need not look it up (absent in older events).
    position_title: str | None = None
    country: str | None = None


class ApplicationScreened(Event):
    """The scheme's eligibility rules were checked; reasons list every failed rule."""

    TYPE = "recruitment.ApplicationScreened"
    KEY = "application_id"
    application_id: str
    eligible: bool
    reasons: list[str]
    reason_codes: list[str] | None = None
    score: float | None = None


class ApplicationShortlisted(Event):
    """An application was shortlisted (addition to the contract)."""

    TYPE = "recruitment.ApplicationShortlisted"
    KEY = "application_id"
    application_id: str


class InterviewScheduled(Event):
    """An interview was set for an application."""

    TYPE = "recruitment.InterviewScheduled"
    KEY = "application_id"
    application_id: str
    at: datetime


class CandidateSelected(Event):
    """A candidate was selected for a position."""

    TYPE = "recruitment.CandidateSelected"
    KEY = "application_id"
    application_id: str
    position_id: str
    candidate_id: str


class ApplicationRejected(Event):
    """An application was rejected, with the reason given to the candidate."""

    TYPE = "recruitment.ApplicationRejected"
    KEY = "application_id"
    application_id: str
    reason: str


class ApplicationWithdrawn(Event):
    """The candidate withdrew before engagement."""

    TYPE = "recruitment.ApplicationWithdrawn"
    KEY = "application_id"
    application_id: str


class VolunteerEngaged(Event):
    """A selected candidate signed a volunteering contract; missions plans the mission."""

    TYPE = "recruitment.VolunteerEngaged"
    KEY = "engagement_id"
    engagement_id: str
    application_id: str
    volunteer_id: str
    position_id: str
    authority_id: str
    partner_id: str
    country: str
    scheme: Scheme
    starts_on: date
    ends_on: date
    vsi_months_served_before: float | None = None
    """VSI months the person served before this contract (elsewhere, confirmed, and on the platform):
    what the missions service adds to a mission's length to hold the lifetime cap on extension."""
    place: Place | None = None
    """The position's place (an addition): the mission starts with it, so a targeted security alert
    reaches the volunteer before the centre records where they are."""


class PersonErased(Event):
    """Right to erasure: every service deletes this person's personal data."""

    TYPE = "recruitment.PersonErased"
    KEY = "person_id"
    person_id: str


class EmergencyContact(BaseModel):
    """Whom to call about a volunteer in an emergency (personal data: contacts topic only)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    name: str
    relation: str
    phone: str


class ContactUpdated(Event):
    """A person's contact data; only on the compacted ``vies.recruitment.contacts`` topic."""

    TYPE = "recruitment.ContactUpdated"
    KEY = "person_id"
    TOPIC = "contacts"  # personal data: compacted, never on the events topic regional branches read
    person_id: str
    name: str
    email: str
    phone: str | None = None
    language: str
    # A volunteer's emergency contact, shown to the centre on a safety check's status.
    emergency_contact: EmergencyContact | None = None
