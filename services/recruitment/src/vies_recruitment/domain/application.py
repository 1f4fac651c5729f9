"""The life cycle of an application: screened → shortlisted → interview → selected → engaged.

A candidate may withdraw at any point before engagement; staff or the authority
may reject an open application with a reason. Anything else answers 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pydantic import Field

from vies_recruitment.domain.eligibility import Candidate, Case, EligibilityPolicy, Placement, Reason, check
from vies_recruitment.domain.engagement import Engagement
from vies_recruitment.domain.matching import match_score
from vies_recruitment.domain.position import PUBLISHED, Position, reasons_doc
from vies_shared.aggregate import EVENT_SEQ, Aggregate, Document, IsoDate, Value
from vies_shared.errors import InvalidInput, NotAllowedInState
from vies_shared.events.recruitment import (
    ApplicationRejected,
    ApplicationScreened,
    ApplicationShortlisted,
    ApplicationSubmitted,
    ApplicationWithdrawn,
    CandidateSelected,
    InterviewScheduled,
    VolunteerEngaged,
)

INELIGIBLE = "ineligible"
SCREENED = "screened"
SHORTLISTED = "shortlisted"
INTERVIEW_SCHEDULED = "interview_scheduled"
SELECTED = "selected"
ENGAGED = "engaged"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"

STATUSES: tuple[str, ...] = (
    INELIGIBLE,
    SCREENED,
    SHORTLISTED,
    INTERVIEW_SCHEDULED,
    SELECTED,
    ENGAGED,
    REJECTED,
    WITHDRAWN,
)
OPEN: frozenset[str] = frozenset({SCREENED, SHORTLISTED, INTERVIEW_SCHEDULED, SELECTED})
"""Applications still in the race: rejected with "position filled" when the last place goes."""

POSITION_FILLED = "position filled"

# action → (states it is allowed from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "shortlist": (frozenset({SCREENED}), SHORTLISTED),
    "interview": (frozenset({SHORTLISTED, INTERVIEW_SCHEDULED}), INTERVIEW_SCHEDULED),
    "select": (frozenset({INTERVIEW_SCHEDULED}), SELECTED),
    "reject": (OPEN, REJECTED),
    "withdraw": (OPEN, WITHDRAWN),
    "engage": (frozenset({SELECTED}), ENGAGED),
}


def next_status(status: str, action: str) -> str:
    """The status after ``action``, or ``NotAllowedInState`` saying why not."""
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        raise NotAllowedInState(
            f"cannot {action} an application that is {status.replace('_', ' ')}",
            details={"status": status, "allowed_from": sorted(allowed)},
        )
    return target


def initial_status(eligible: bool) -> str:
    """Screening runs at once: an eligible application waits for shortlisting, the others stop."""
    return SCREENED if eligible else INELIGIBLE


ELSEWHERE = "vsi_months_served_elsewhere"
"""On a person: VSI months served with other organisations, as confirmed by an authority or staff."""


class Profile(Value):
    """The candidate's profile as given when applying (personal data: erased on request)."""

    name: str
    email: str
    phone: str | None
    birth_date: IsoDate
    nationality: str
    residence_country: str
    language: str
    disability: bool
    languages: list[str]
    skills: list[str]
    other_nationalities: list[str]
    residence_permit: str | None
    in_france_since: IsoDate | None
    employment: str | None
    seniority_months: int | None

    def candidate(self) -> Candidate:
        """What the eligibility rules need of the candidate."""
        return Candidate(
            self.birth_date,
            self.nationality,
            self.residence_country,
            self.disability,
            tuple(self.other_nationalities),
            self.residence_permit,
            self.in_france_since,
            self.employment,
            self.seniority_months,
        )


class Declaration(Value):
    """A fact the candidate declared, confirmed by the authority or staff from the papers before the contract."""

    declared: int | float | str
    confirmed: bool = False
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    confirmed_value: int | float | None = None  # VSI months: the papers' number


def declarations_of(vsi_months_served_elsewhere: float, residence_permit: str | None) -> dict[str, Declaration]:
    """What the candidate declared that the authority or staff must confirm before the contract."""
    declared: dict[str, Declaration] = {}
    if vsi_months_served_elsewhere:
        declared[ELSEWHERE] = Declaration(declared=vsi_months_served_elsewhere, confirmed=False)
    if residence_permit:
        declared["residence_permit"] = Declaration(declared=residence_permit, confirmed=False)
    return declared


class Contract(Value):
    """The signed contract's dates (``ends_on`` is the last day)."""

    starts_on: IsoDate
    ends_on: IsoDate


class Screening(NamedTuple):
    """The answer of screening: the failed rules (none: eligible) and, when eligible, the match score."""

    reasons: list[Reason]
    score: float | None

    @property
    def eligible(self) -> bool:
        """Eligible when no rule failed."""
        return not self.reasons


def screen(position: Position, profile: Profile, served: float, policy: EligibilityPolicy) -> Screening:
    """Check the candidate against the position's scheme; score an eligible one on languages and skills."""
    reasons = check(Case(position.placement(), profile.candidate(), served, policy))
    if reasons:
        return Screening(reasons, None)
    return Screening(reasons, match_score(position.languages, position.skills, profile.languages, profile.skills))


class Application(Aggregate):
    """A candidate's application to a position, from screening to engagement."""

    orders_its_events = True  # every event keyed by an application is recorded here

    application_id: str = Field(alias="_id")
    position_id: str
    authority_id: str
    partner_id: str
    region: str | None
    scheme: str
    country: str
    candidate_id: str
    email_key: str
    candidate: Profile | None
    declarations: dict[str, Declaration]
    motivation: str | None
    status: str
    eligible: bool
    reasons: list[dict[str, str]]
    score: float | None
    interview_at: datetime | None
    rejection_reason: str | None
    engagement_id: str | None
    submitted_at: datetime
    updated_at: datetime
    contract: Contract | None = None  # absent until engaged
    erased_at: datetime | None = None  # absent until the person's data is erased

    @classmethod
    def submit(
        cls,
        application_id: str,
        position: Position,
        *,
        person_id: str,
        profile: Profile,
        declarations: dict[str, Declaration],
        motivation: str,
        screening: Screening,
        at: datetime,
    ) -> Application:
        """A new application, screened at once (an eligible one waits for shortlisting, the others stop)."""
        position.check_open_for_applications()
        application = cls(
            application_id=application_id,
            position_id=position.position_id,
            authority_id=position.authority_id,
            partner_id=position.partner_id,
            region=position.region,
            scheme=position.scheme,
            country=position.country,
            candidate_id=person_id,
            email_key=profile.email.lower(),
            candidate=profile,
            declarations=declarations,
            motivation=motivation,
            status=initial_status(screening.eligible),
            eligible=screening.eligible,
            reasons=reasons_doc(screening.reasons),
            score=screening.score,
            interview_at=None,
            rejection_reason=None,
            engagement_id=None,
            submitted_at=at,
            updated_at=at,
        )
        application.record(
            ApplicationSubmitted(
                application_id=application_id,
                position_id=position.position_id,
                candidate_id=person_id,
                authority_id=position.authority_id,
                position_title=position.title,
                country=position.country,
            ),
            region=application.region,
        )
        application.record(_screened(application_id, screening), region=application.region)
        return application

    def check_can(self, action: str) -> None:
        """409 unless ``action`` is allowed in the application's state."""
        next_status(self.status, action)

    def _move(self, action: str, at: datetime) -> None:
        self.status = next_status(self.status, action)
        self.updated_at = at

    def shortlist(self, at: datetime) -> None:
        """The authority shortlists an eligible application."""
        self._move("shortlist", at)
        self.record(ApplicationShortlisted(application_id=self.application_id), region=self.region)

    def schedule_interview(self, moment: datetime, at: datetime) -> None:
        """The authority sets (or moves) the interview."""
        self._move("interview", at)
        self.interview_at = moment
        self.record(InterviewScheduled(application_id=self.application_id, at=moment), region=self.region)

    def select(self, position: Position, at: datetime) -> None:
        """The authority selects an interviewed candidate for a position still published."""
        self.check_can("select")
        if position.status != PUBLISHED:
            raise NotAllowedInState(f"the position is {position.status}")
        self._move("select", at)
        self.record(
            CandidateSelected(
                application_id=self.application_id, position_id=self.position_id, candidate_id=self.candidate_id
            ),
            region=self.region,
        )

    def reject(self, reason: str, at: datetime) -> None:
        """Reject an open application with a reason."""
        self._move("reject", at)
        self.rejection_reason = reason
        self.record(ApplicationRejected(application_id=self.application_id, reason=reason), region=self.region)

    def withdraw(self, at: datetime) -> None:
        """The candidate withdraws before engagement."""
        self._move("withdraw", at)
        self.record(ApplicationWithdrawn(application_id=self.application_id), region=self.region)

    def unconfirmed_declarations(self) -> list[str]:
        """The candidate's declared facts nobody has confirmed yet (the contract waits for them)."""
        return sorted(name for name, fact in self.declarations.items() if not fact.confirmed)

    def check_contract(self, position: Position, contract: Contract, served: float, policy: EligibilityPolicy) -> None:
        """The contract needs a place left, the candidate's data, confirmed declarations and dates that fit."""
        position.check_place_left()
        if self.candidate is None:
            raise NotAllowedInState("the candidate's personal data was erased")
        waiting = self.unconfirmed_declarations()
        if waiting:
            raise NotAllowedInState(
                "confirm the candidate's declared facts first: " + ", ".join(waiting),
                details={"unconfirmed": waiting},
            )
        placement = Placement(
            position.scheme, position.country, contract.starts_on, contract.ends_on, position.partner_country
        )
        reasons = check(Case(placement, self.candidate.candidate(), served, policy))
        if reasons:
            raise NotAllowedInState(
                "the contract does not fit the scheme: " + "; ".join(r.en for r in reasons),
                details={"reasons": reasons_doc(reasons)},
            )

    def engage(
        self,
        position: Position,
        contract: Contract,
        *,
        served: float,
        policy: EligibilityPolicy,
        engagement_id: str,
        at: datetime,
    ) -> Engagement:
        """Sign the selected candidate's contract: it takes one of the position's places left."""
        self.check_can("engage")
        self.check_contract(position, contract, served, policy)
        position.take_place()
        self._move("engage", at)
        self.engagement_id, self.contract = engagement_id, contract
        self.record(
            VolunteerEngaged(
                engagement_id=engagement_id,
                application_id=self.application_id,
                volunteer_id=self.candidate_id,
                position_id=position.position_id,
                authority_id=position.authority_id,
                partner_id=position.partner_id,
                country=position.country,
                scheme=position.scheme,
                starts_on=contract.starts_on,
                ends_on=contract.ends_on,
                vsi_months_served_before=round(served, 4),
                place=position.event_place(),
            ),
            region=self.region,
        )
        return Engagement(
            engagement_id=engagement_id,
            application_id=self.application_id,
            person_id=self.candidate_id,
            position_id=position.position_id,
            authority_id=position.authority_id,
            partner_id=position.partner_id,
            country=position.country,
            scheme=position.scheme,
            starts_on=contract.starts_on,
            ends_on=contract.ends_on,
            served_until=None,
            mission_id=None,
            engaged_at=at,
        )

    def confirm(self, facts: list[str], corrected_months: float | None, by: str, at: datetime) -> float | None:
        """The authority or staff confirms declared facts from the papers.

        Returns the confirmed VSI months served elsewhere when they are among the facts (the
        person's record takes them), None otherwise.
        """
        if self.status not in OPEN | {INELIGIBLE} or self.candidate is None:
            raise NotAllowedInState(f"the application is {self.status}: nothing left to confirm")
        missing = [fact for fact in facts if fact not in self.declarations]
        if missing:
            raise NotAllowedInState("the candidate declared no " + ", ".join(missing), details={"facts": missing})
        if corrected_months is not None and ELSEWHERE not in facts:
            raise InvalidInput(
                "give vsi_months_served_elsewhere only when confirming it", details=[{"field": ELSEWHERE}]
            )
        months: float | None = None
        for fact in facts:
            declaration = self.declarations[fact]
            declaration.confirmed, declaration.confirmed_by, declaration.confirmed_at = True, by, at
            if fact == ELSEWHERE:
                declared = declaration.declared
                assert not isinstance(declared, str)  # months are a number
                months = declared if corrected_months is None else corrected_months
                declaration.confirmed_value = months
        self.updated_at = at
        return months

    def rescreen(self, position: Position, served: float, policy: EligibilityPolicy) -> None:
        """Screen again after a confirmation; a changed answer is recorded with its event."""
        assert self.candidate is not None
        reasons = check(Case(position.placement(), self.candidate.candidate(), served, policy))
        eligible = not reasons
        if eligible == self.eligible:
            return
        self.eligible, self.reasons = eligible, reasons_doc(reasons)
        self.status = SCREENED if eligible else INELIGIBLE
        self.record(_screened(self.application_id, Screening(reasons, None)), region=self.region)

    def erase(self, at: datetime) -> None:
        """Right to erasure: the candidate's personal data goes; an open application is withdrawn."""
        self.candidate, self.motivation = None, None
        self.email_key = f"erased:{self.application_id}"
        self.erased_at = self.updated_at = at
        if self.status in OPEN:
            self.status = WITHDRAWN
            self.record(ApplicationWithdrawn(application_id=self.application_id), region=self.region)

    def view(self, *, personal: bool) -> Document:
        """The application as the API shows it; without the candidate's profile when ``personal`` is False."""
        view = {k: v for k, v in self.to_doc().items() if k not in ("_id", "email_key", EVENT_SEQ)}
        view["application_id"] = self.application_id
        if not personal:
            view.pop("candidate", None)
            view.pop("motivation", None)
        return view


def _screened(application_id: str, screening: Screening) -> ApplicationScreened:
    return ApplicationScreened(
        application_id=application_id,
        eligible=screening.eligible,
        reasons=[r.en for r in screening.reasons],
        reason_codes=[r.code for r in screening.reasons],
        score=screening.score,
    )
