"""Request bodies of the HTTP API (pydantic: bad input answers 422 with field errors)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

from vies_recruitment.domain.application import Contract, Declaration, Profile
from vies_recruitment.domain.position import Place
from vies_shared.aggregate import IsoDate
from vies_shared.events.recruitment import Scheme

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_lower=True)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
Skill = Annotated[str, StringConstraints(min_length=1, max_length=80, strip_whitespace=True)]
# Ids are bounded like the platform's (tokens cap scope claims at 100 characters).
MAX_ID = 100
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
Phone = Annotated[str, StringConstraints(max_length=40)]
EmergencyPhone = Annotated[
    str, StringConstraints(pattern=r"^\+?[0-9][0-9 .()-]{4,37}[0-9]$", max_length=40, strip_whitespace=True)
]
"""A number someone will dial in an emergency: digits, an optional leading ``+``, spaces, dots, dashes and
brackets between them (6 to 40 characters)."""
ResidencePermit = Literal["needs_one_year_in_france", "without_residence_condition"]
"""A foreign candidate's residence permit, by what Code du service national art. L120-4 asks with it:
``needs_one_year_in_france`` (the permits of its 1°, 2° and 4°: more than a year in France) or
``without_residence_condition`` (its 3° and the Algerian student certificate)."""
Employment = Literal["employee", "retiree"]
Months = Annotated[float, Field(ge=0, le=1000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Subdivision = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}-[A-Za-z0-9]{1,3}$", to_upper=True)]


class PlaceIn(_Body):
    """Where the volunteer will live and work: a city and its ISO 3166-2 subdivision (e.g. SN-ZG)."""

    city: Text
    subdivision: Subdivision


class PositionIn(_Body):
    """``POST /positions``."""

    partnership_id: Id
    scheme: Scheme
    title: Text
    description: LongText = ""
    starts_on: date
    duration_months: int = Field(ge=1, le=72)
    duration_days: int | None = Field(default=None, ge=1, le=366, description="short projects (jsi_vvvsi)")
    places: int = Field(ge=1, le=500)
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)
    skills: list[Skill] = Field(default_factory=list, max_length=50)
    sending_organisation_id: Id | None = Field(default=None, description="VSI: the approved sending organisation")
    action_days: int | None = Field(
        default=None, ge=1, le=366, description="jsi_vvvsi: days of solidarity action within the project"
    )
    sponsor: Text | None = Field(
        default=None, description="jsi_vvvsi: the sponsoring association (parrain) of the group's project"
    )
    place: PlaceIn | None = Field(
        default=None, description="the city and ISO 3166-2 subdivision of the mission, in the position's country"
    )


class PositionPatch(_Body):
    """``PATCH /positions/{id}``: a draft's fields to change; the partnership and the scheme stay (draft anew
    for another). ``null`` clears an optional field (duration_days, sending_organisation_id, action_days,
    sponsor, place)."""

    title: Text | None = None
    description: LongText | None = None
    starts_on: date | None = None
    duration_months: int | None = Field(default=None, ge=1, le=72)
    duration_days: int | None = Field(default=None, ge=1, le=366)
    places: int | None = Field(default=None, ge=1, le=500)
    languages: list[LanguageCode] | None = Field(default=None, max_length=20)
    skills: list[Skill] | None = Field(default=None, max_length=50)
    sending_organisation_id: Id | None = None
    action_days: int | None = Field(default=None, ge=1, le=366)
    sponsor: Text | None = None
    place: PlaceIn | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> PositionPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give at least one field")
        required = ("title", "description", "starts_on", "duration_months", "places", "languages", "skills")
        cleared = [name for name in required if name in self.model_fields_set and getattr(self, name) is None]
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be null")
        return self


class ReasonIn(_Body):
    """A command that needs a reason (close, reject)."""

    reason: Text


class CandidateIn(_Body):
    """The candidate's profile given when applying.

    ``email``: a candidate applies with their account's verified email (the token's), and any
    other address given here is ignored; staff applying on someone's behalf must give it.
    """

    name: Text
    email: Email | None = None
    phone: Phone | None = None
    birth_date: date
    nationality: CountryCode
    residence_country: CountryCode
    language: LanguageCode = "fr"
    disability: bool = False
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)
    skills: list[Skill] = Field(default_factory=list, max_length=50)
    other_nationalities: list[CountryCode] = Field(
        default_factory=list, max_length=5, description="every other nationality (dual nationals)"
    )
    residence_permit: ResidencePermit | None = Field(
        default=None, description="Service Civique, a foreign candidate: the residence permit held (confirmed by staff)"
    )
    in_france_since: date | None = Field(default=None, description="with residence_permit: living in France since")
    employment: Employment | None = Field(default=None, description="VEC: going as an employee or as a retiree")
    seniority_months: int | None = Field(default=None, ge=0, le=720, description="VEC employee: months with employer")
    vsi_months_served_elsewhere: Months = Field(
        default=0.0, description="VSI time served with other associations (confirmed by the authority or staff)"
    )


class ApplicationIn(_Body):
    """``POST /positions/{id}/applications``."""

    candidate: CandidateIn
    motivation: LongText = ""


class InterviewIn(_Body):
    """``POST /applications/{id}/interview``."""

    at: datetime


class EngagementIn(_Body):
    """``POST /applications/{id}/engage``: the contract's dates (``ends_on`` is the last day)."""

    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _ordered(self) -> EngagementIn:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class EmergencyContactIn(_Body):
    """Whom to call about a volunteer in an emergency: a person, not a date in a checklist.

    ``relation`` is what they are to the volunteer (mother, partner, friend, ...). The same names as
    ``ContactUpdated.emergency_contact``; ``email`` stays in recruitment (the event has no field for it).
    """

    name: Text
    relation: Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
    phone: EmergencyPhone
    email: Email | None = None


class ContactIn(_Body):
    """``PATCH /persons/{id}``: contact data the person (or staff) changes.

    ``emergency_contact`` replaces the whole emergency contact; ``null`` removes it.
    """

    name: Text | None = None
    email: Email | None = None
    phone: Phone | None = None
    language: LanguageCode | None = None
    emergency_contact: EmergencyContactIn | None = None


class EligibilityCheckIn(_Body):
    """``POST /eligibility-checks``: a candidate's situation and a planned mission, before any position."""

    birth_date: date
    nationality: CountryCode
    other_nationalities: list[CountryCode] = Field(default_factory=list, max_length=5)
    residence_country: CountryCode
    residence_permit: ResidencePermit | None = None
    in_france_since: date | None = None
    employment: Employment | None = None
    seniority_months: int | None = Field(default=None, ge=0, le=720)
    disability: bool = False
    destination_country: CountryCode
    starts_on: date
    duration_months: int = Field(ge=1, le=72)
    duration_days: int | None = Field(default=None, ge=1, le=366)
    scheme: Scheme | None = None
    partner_country: CountryCode | None = Field(default=None, description="reciprocity: where the volunteer comes from")
    vsi_months_served: float = Field(default=0.0, ge=0, le=1000, description="VSI time already served elsewhere")
    action_days: int | None = Field(default=None, ge=1, le=366, description="jsi_vvvsi: days of solidarity action")
    group_size: int | None = Field(default=None, ge=1, le=500, description="jsi_vvvsi: young people in the group")


DECLARED_FACTS = ("vsi_months_served_elsewhere", "residence_permit")
"""Facts a candidate declares that the authority or staff confirms before the contract is signed."""


class DeclarationsConfirmedIn(_Body):
    """``POST /applications/{id}/declarations/confirm``: the facts checked against the candidate's papers.

    ``vsi_months_served_elsewhere`` corrects the declared months when the papers say otherwise.
    """

    facts: list[Literal["vsi_months_served_elsewhere", "residence_permit"]] = Field(min_length=1, max_length=2)
    vsi_months_served_elsewhere: Months | None = None


# --- answers ---------------------------------------------------------------------------------
# What the routes answer, for /docs and /openapi.json. Fields are in the order the answers have
# always had (the stored document's, the id last); a field a record does not hold stays absent
# (the routes answer with ``response_model_exclude_unset``).


class _View(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)


class ReasonView(_View):
    """A failed rule, in French and English (``source``: the text it comes from, when a rule says)."""

    code: str
    fr: str
    en: str
    source: str | None = None


class PublicPositionView(_View):
    """A published position as an anonymous visitor reads it."""

    position_id: str
    title: str
    description: str
    scheme: str
    country: str
    partner_country: str | None = None
    region: str | None = None
    starts_on: IsoDate
    duration_months: int
    duration_days: int | None = None
    places: int
    place: Place | None = None
    languages: list[str]
    skills: list[str]
    status: str
    published_at: datetime | None = None


class PositionView(_View):
    """A position as its authority, staff and signed-in callers read it."""

    partnership_id: str
    authority_id: str
    partner_id: str
    country: str
    partner_country: str | None
    region: str | None
    scheme: str
    title: str
    description: str
    starts_on: IsoDate
    duration_months: int
    duration_days: int | None
    places: int
    filled: int
    languages: list[str]
    skills: list[str]
    sending_organisation_id: str | None
    action_days: int | None
    sponsor: str | None
    place: Place | None
    status: str
    close_cause: str | None
    close_reason: str | None
    created_at: datetime
    published_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime | None = None
    position_id: str


AnyPositionView = PositionView | PublicPositionView
"""Signed in: the whole position; anonymous: the public fields."""


class ApplicationView(_View):
    """An application; ``candidate`` and ``motivation`` only for those who see personal data."""

    position_id: str
    authority_id: str
    partner_id: str
    region: str | None
    scheme: str
    country: str
    candidate_id: str
    candidate: Profile | None = None
    declarations: dict[str, Declaration]
    motivation: str | None = None
    status: str
    eligible: bool
    reasons: list[ReasonView]
    score: float | None
    interview_at: datetime | None
    rejection_reason: str | None
    engagement_id: str | None
    submitted_at: datetime
    updated_at: datetime
    contract: Contract | None = None
    erased_at: datetime | None = None
    application_id: str


class _Ranked(_View):
    rank: int


class RankedApplicationView(ApplicationView, _Ranked):
    """An application with its rank among the position's (1: best), ``rank`` first."""


Item = TypeVar("Item")


class Paged(_View, Generic[Item]):
    """A page of a list: the items, how many match in all, the page's limit and offset."""

    items: list[Item]
    total: int
    limit: int
    offset: int


class EmergencyContactView(_View):
    """Whom to call about the person in an emergency."""

    name: str
    relation: str
    phone: str
    email: str | None = None


class _InGivenOrder(_View):
    """A view answering its fields in the order the record gave them (the database's order), as
    before views were typed; further fields a record holds are answered as they are."""

    model_config = ConfigDict(extra="allow")
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        view = handler(data)
        if isinstance(data, dict):
            view._order = list(data)
        return view

    @model_serializer(mode="wrap")
    def _in_given_order(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        return {**{k: out[k] for k in self._order if k in out}, **out}


class PersonView(_InGivenOrder):
    """A person's record and VSI time on record; an erased person keeps only ``erased_at``."""

    person_id: str
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
    updated_at: datetime | None = None
    origin: str | None = None
    emergency_contact: EmergencyContactView | None = None
    vsi_months_served_elsewhere: float | None = None
    vsi_months_served: float


class ContactView(_View):
    """A person's contact data after a change."""

    person_id: str
    name: str | None
    email: str | None
    phone: str | None
    language: str | None
    emergency_contact: EmergencyContactView | None


class ErasureView(_View):
    """What an erasure did: when, and how many applications lost their personal data."""

    person_id: str
    erased_at: datetime
    applications: int


class SchemeResult(_View):
    """Eligible or not for one scheme, with every failed rule."""

    scheme: str
    eligible: bool
    reasons: list[ReasonView]


class EligibilityAnswer(_View):
    """The answer of an eligibility check: the VSI time counted and a result per scheme."""

    vsi_months_served: float
    results: list[SchemeResult]


class SchemesView(_View):
    """Every scheme's guidance (see ``GET /schemes``)."""

    schemes: list[dict[str, Any]]
