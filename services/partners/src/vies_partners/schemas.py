"""Request bodies of the partners API (pydantic: invalid input answers 422 with the field errors)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

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
