"""Events published by the partners service on ``vies.partners.events``."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vies_shared.events.base import Event

AuthorityKind = Literal["region", "department", "commune", "intercommunality", "other"]
PartnerKind = Literal["local_authority", "ngo", "association", "public_body", "other"]


class AuthorityRegistered(Event):
    """A French local or regional authority joined the platform."""

    TYPE = "partners.AuthorityRegistered"
    KEY = "authority_id"
    authority_id: str
    name: str
    kind: AuthorityKind
    region: str
    contact_email: str
    territoires_volontaires: bool
    new_to_cooperation: bool | None = None


class PartnerRegistered(Event):
    """An organisation abroad registered as a potential host partner (starts pending)."""

    TYPE = "partners.PartnerRegistered"
    KEY = "partner_id"
    partner_id: str
    name: str
    kind: PartnerKind
    country: str
    city: str
    themes: list[str]
    languages: list[str]
    hosting_capacity: int
    reciprocity: bool
    # The organisation's own address for the platform's notices about the volunteers it hosts
    # (an organisational contact, like an authority's contact_email; contract 1.5).
    contact_email: str | None = None


class PartnerApproved(Event):
    """A partner was vetted and approved; it may be matched and enter partnerships."""

    TYPE = "partners.PartnerApproved"
    KEY = "partner_id"
    partner_id: str
    country: str | None = None


class PartnerRejected(Event):
    """A partner was refused at vetting."""

    TYPE = "partners.PartnerRejected"
    KEY = "partner_id"
    partner_id: str
    reason: str


class PartnerSuspended(Event):
    """An approved partner was suspended; its partnerships and missions need review."""

    TYPE = "partners.PartnerSuspended"
    KEY = "partner_id"
    partner_id: str
    reason: str


class PartnerReinstated(Event):
    """A suspended partner was reinstated by staff (addition to the contract)."""

    TYPE = "partners.PartnerReinstated"
    KEY = "partner_id"
    partner_id: str


class MatchRequested(Event):
    """An authority asked the platform to identify partners."""

    TYPE = "partners.MatchRequested"
    KEY = "request_id"
    request_id: str
    authority_id: str
    countries: list[str]
    themes: list[str]
    languages: list[str]
    scheme: str | None = None
    volunteers: int | None = None
    reciprocity: bool | None = None


class MatchSuggestion(BaseModel):
    """One ranked partner in a match proposal."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    partner_id: str
    score: float = Field(ge=0, le=1)
    reasons: list[str]


class MatchesProposed(Event):
    """The ranked partners proposed for a match request."""

    TYPE = "partners.MatchesProposed"
    KEY = "request_id"
    request_id: str
    authority_id: str
    suggestions: list[MatchSuggestion]


class PartnershipEstablished(Event):
    """An authority and an approved partner started a decentralised cooperation partnership."""

    TYPE = "partners.PartnershipEstablished"
    KEY = "partnership_id"
    partnership_id: str
    authority_id: str
    partner_id: str
    country: str
    themes: list[str]
    starts_on: date
    ends_on: date | None = None
    region: str | None = None


class PartnershipEnded(Event):
    """A partnership ended; recruitment closes its open positions."""

    TYPE = "partners.PartnershipEnded"
    KEY = "partnership_id"
    partnership_id: str
    reason: str


class SendingOrganisationRegistered(Event):
    """A French association approved to send VSI volunteers joined the directory."""

    TYPE = "partners.SendingOrganisationRegistered"
    KEY = "organisation_id"
    organisation_id: str
    name: str
    approval_number: str | None = None
    approved_from: date | None = None
    approved_until: date | None = None


class SendingOrganisationApprovalChanged(Event):
    """The ministry approval of a sending organisation changed."""

    TYPE = "partners.SendingOrganisationApprovalChanged"
    KEY = "organisation_id"
    organisation_id: str
    approval_number: str | None = None
    approved_from: date | None = None
    approved_until: date | None = None


class PartnerUpdated(Event):
    """A partner's directory entry was corrected (addition to the contract).

    ``changed`` names every field that changed; the others are null. The contact persons are
    personal data and stay out of the event: a change to them only shows as ``contacts`` in
    ``changed``. ``contact_email`` is the organisation's own address.
    """

    TYPE = "partners.PartnerUpdated"
    KEY = "partner_id"
    partner_id: str
    changed: list[str]
    themes: list[str] | None = None
    languages: list[str] | None = None
    hosting_capacity: int | None = None
    reciprocity: bool | None = None
    contact_email: str | None = None


class AuthorityUpdated(Event):
    """An authority's record was corrected (addition to the contract).

    ``changed`` names every field that changed; the others are null. ``region`` is always set
    (it routes the event to the region's branch). ``contact_email`` is the authority's
    organisational address (contract 1.5).
    """

    TYPE = "partners.AuthorityUpdated"
    KEY = "authority_id"
    authority_id: str
    region: str
    changed: list[str]
    contact_email: str | None = None
    territoires_volontaires: bool | None = None
    territoires_volontaires_since: date | None = None
    new_to_cooperation: bool | None = None
