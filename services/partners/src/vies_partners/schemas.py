"""Request bodies of the partners API (pydantic: invalid input answers 422 with the field errors)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vies_partners.domain.directory import COUNTRY_PATTERN, LANGUAGE_PATTERN, AuthorityKind, PartnerKind, Theme
from vies_shared.events.recruitment import Scheme

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Country = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=COUNTRY_PATTERN)]
Language = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=LANGUAGE_PATTERN)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Region = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^FR-[0-9A-Z]{2,3}$")]

# Every string and list a caller sends is bounded: ids as long as the platform's
# (tokens cap scope claims at 100 characters), lists by what a real record needs. Beyond: 422.
MAX_ID = 100
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
MAX_CONTACTS = 20
MAX_THEMES = 20
MAX_LANGUAGES = 20
MAX_COUNTRIES = 50


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(_Body):
    """A contact person; ``person_id`` links it to a person known to recruitment (for erasure)."""

    name: Name
    email: Email
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    role: Annotated[str, StringConstraints(max_length=100)] | None = None
    person_id: Id | None = None


class AuthorityIn(_Body):
    """A French local or regional authority."""

    name: Name
    kind: AuthorityKind
    region: Region
    contact: Contact
    territoires_volontaires: bool = False
    new_to_cooperation: bool = False


class PartnerIn(_Body):
    """An international partner (starts pending)."""

    name: Name
    kind: PartnerKind
    country: Country
    city: Name
    themes: list[Theme] = Field(min_length=1, max_length=MAX_THEMES)
    languages: list[Language] = Field(min_length=1, max_length=MAX_LANGUAGES)
    hosting_capacity: int = Field(ge=0, le=1000)
    reciprocity: bool = False
    contacts: list[Contact] = Field(default_factory=list, max_length=MAX_CONTACTS)
    contact_email: Email | None = Field(
        default=None,
        description="the organisation's own address (not a contact person's): told about the volunteers it hosts",
    )


class AuthorityPatch(_Body):
    """``PATCH /authorities/{id}``: the fields to change; absent fields stay as they are."""

    contact: Contact | None = None
    territoires_volontaires: bool | None = None
    territoires_volontaires_since: date | None = Field(
        default=None, description="the date the authority joined Territoires Volontaires"
    )
    new_to_cooperation: bool | None = None


class PartnerPatch(_Body):
    """``PATCH /partners/{id}``: the fields to change; absent fields stay as they are."""

    themes: list[Theme] | None = Field(default=None, min_length=1, max_length=MAX_THEMES)
    languages: list[Language] | None = Field(default=None, min_length=1, max_length=MAX_LANGUAGES)
    hosting_capacity: int | None = Field(default=None, ge=0, le=1000)
    reciprocity: bool | None = None
    contacts: list[Contact] | None = Field(default=None, max_length=MAX_CONTACTS)
    contact_email: Email | None = Field(default=None, description="the organisation's own address")


class VettingNote(_Body):
    """Optional notes when approving or reinstating."""

    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ReasonIn(_Body):
    """A required reason (reject, suspend, end)."""

    reason: Reason


class MatchRequestIn(_Body):
    """What an authority is looking for."""

    authority_id: Id
    countries: list[Country] = Field(default_factory=list, max_length=MAX_COUNTRIES)
    themes: list[Theme] = Field(default_factory=list, max_length=MAX_THEMES)
    languages: list[Language] = Field(default_factory=list, max_length=MAX_LANGUAGES)
    scheme: Scheme | None = None
    volunteers: int = Field(default=1, ge=1, le=100)
    reciprocity: bool = False


class PartnershipIn(_Body):
    """A partnership between an authority and an approved partner."""

    authority_id: Id
    partner_id: Id
    themes: list[Theme] = Field(min_length=1, max_length=MAX_THEMES)
    starts_on: date
    ends_on: date | None = None


class SendingOrganisationIn(_Body):
    """A French association approved to send VSI volunteers."""

    name: Name
    approval_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | None = None
    approved_from: date | None = None
    approved_until: date | None = None


class ApprovalIn(_Body):
    """A new (or withdrawn, all fields null) ministry approval."""

    approval_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | None = None
    approved_from: date | None = None
    approved_until: date | None = None


# --- answers ---------------------------------------------------------------------------------
# What the routes answer, for /docs and /openapi.json, fields in the answers' order. A field a
# record does not hold stays absent (the routes answer with ``response_model_exclude_unset``).


class _View(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)


Item = TypeVar("Item")


class Paged(_View, Generic[Item]):
    """A page of a list: the items, how many match in all, the page's limit and offset."""

    items: list[Item]
    total: int
    limit: int
    offset: int


class ContactView(_View):
    """A contact person (``erased``: their personal data was erased on request)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    role: str | None = None
    person_id: str | None = None
    erased: bool | None = None


class AuthorityView(_View):
    """A French authority."""

    authority_id: str
    name: str
    kind: str
    region: str
    contact: ContactView | None
    contact_email: str | None
    territoires_volontaires: bool
    territoires_volontaires_since: date | None
    new_to_cooperation: bool
    registered_at: datetime
    updated_at: datetime | None


class VettingStepView(_View):
    """One step of a partner's vetting history: who moved it from what to what, when and why."""

    action: str
    from_: str | None = Field(alias="from")
    to: str
    by: str
    role: str
    at: datetime
    note: str | None


class PartnerView(_View):
    """A partner; contact persons and vetting history for staff and the centre of its country only."""

    partner_id: str
    name: str
    kind: str
    country: str
    city: str
    themes: list[str]
    languages: list[str]
    hosting_capacity: int
    reciprocity: bool
    status: str
    registered_at: datetime
    updated_at: datetime | None
    contacts: list[ContactView] | None = None
    contact_email: str | None = None
    history: list[VettingStepView] | None = None


class PartnershipView(_View):
    """A partnership, flagged ``needs_review`` while its partner is suspended."""

    partnership_id: str
    authority_id: str
    partner_id: str
    country: str
    region: str | None
    themes: list[str]
    starts_on: date
    ends_on: date | None
    status: str
    established_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    partner_status: str | None
    needs_review: bool


class SendingOrganisationView(_View):
    """A sending organisation and whether its approval is valid today."""

    organisation_id: str
    name: str
    approval_number: str | None
    approved_from: date | None
    approved_until: date | None
    approval_valid: bool
    registered_at: datetime


class SuggestionView(_View):
    """A suggested partner: its score in 0..1, the reasons and each component's value."""

    partner_id: str
    score: float
    reasons: list[str]
    components: dict[str, float]


class MatchRequestView(_View):
    """A match request and its suggestions, best first."""

    request_id: str
    authority_id: str
    criteria: dict[str, Any]
    excluded_crisis_countries: list[str]
    suggestions: list[SuggestionView]
    requested_at: datetime


class MatchAnswer(MatchRequestView):
    """A match request just answered, with the time the ranking took."""

    elapsed_ms: float
