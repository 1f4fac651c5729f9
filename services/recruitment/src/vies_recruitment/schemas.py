"""Request bodies of the HTTP API (pydantic: bad input answers 422 with field errors)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from vies_shared.events.recruitment import Scheme

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_lower=True)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
Skill = Annotated[str, StringConstraints(min_length=1, max_length=80, strip_whitespace=True)]
# Ids are bounded like the platform's (tokens cap scope claims at 100 characters): review L5.
MAX_ID = 100
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
Phone = Annotated[str, StringConstraints(max_length=40)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class ContactIn(_Body):
    """``PATCH /persons/{id}``: contact data the candidate changes."""

    name: Text | None = None
    email: Email | None = None
    phone: Phone | None = None
    language: LanguageCode | None = None


class EligibilityCheckIn(_Body):
    """``POST /eligibility-checks``: a candidate's situation and a planned mission, before any position."""

    birth_date: date
    nationality: CountryCode
    residence_country: CountryCode
    disability: bool = False
    destination_country: CountryCode
    starts_on: date
    duration_months: int = Field(ge=1, le=72)
    duration_days: int | None = Field(default=None, ge=1, le=366)
    scheme: Scheme | None = None
    partner_country: CountryCode | None = Field(default=None, description="reciprocity: where the volunteer comes from")
    vsi_months_served: float = Field(default=0.0, ge=0, le=1000, description="VSI time already served elsewhere")
