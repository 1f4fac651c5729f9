"""The life cycle of a position (draft → published → closed) and what publishing requires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import Field

from vies_recruitment.domain.eligibility import (
    RECIPROCITY_SCHEMES,
    EligibilityPolicy,
    Placement,
    Reason,
    check_placement,
)
from vies_shared.aggregate import Aggregate, Document, IsoDate, Value
from vies_shared.errors import InvalidInput, NotAllowedInState
from vies_shared.events.recruitment import Place as PlaceOfMission
from vies_shared.events.recruitment import PositionClosed, PositionPublished

DRAFT = "draft"
PUBLISHED = "published"
CLOSED = "closed"
OPEN_POSITION = frozenset({DRAFT, PUBLISHED})

# Why a position closed (``cause`` on PositionClosed; the free-text ``reason`` goes with it).
FILLED = "filled"
CANCELLED = "cancelled"
PARTNERSHIP_ENDED = "partnership_ended"


@dataclass(frozen=True)
class PartnerStanding:
    """What the partners directory told us about a partner."""

    known: bool
    status: str = "pending"  # pending | approved | rejected
    suspended: bool = False


@dataclass(frozen=True)
class SendingApproval:
    """A sending organisation's ministry approval (VSI)."""

    known: bool
    approved_from: date | None = None
    approved_until: date | None = None

    def valid_on(self, day: date) -> bool:
        """Whether the approval covers ``day``."""
        if not self.known or self.approved_from is None:
            return False
        return self.approved_from <= day and (self.approved_until is None or day <= self.approved_until)


def _reason(code: str, fr: str, en: str) -> Reason:
    return Reason(code, fr, en)


def publish_problems(
    *,
    status: str,
    placement: Placement,
    policy: EligibilityPolicy,
    partnership_active: bool,
    partner: PartnerStanding,
    sending: SendingApproval | None,
    sponsor: str | None = None,
) -> list[Reason]:
    """Every reason a position cannot be published (empty when it can)."""
    if status != DRAFT:
        raise NotAllowedInState(f"only a draft position can be published; this one is {status}")
    problems = list(check_placement(placement, policy))
    if not partnership_active:
        problems.append(
            _reason("position.partnership_ended", "Le partenariat est terminé.", "The partnership has ended.")
        )
    if not partner.known or partner.status != "approved":
        problems.append(
            _reason("position.partner_not_approved", "Le partenaire n'est pas agréé.", "The partner is not approved.")
        )
    elif partner.suspended:
        problems.append(
            _reason("position.partner_suspended", "Le partenaire est suspendu.", "The partner is suspended.")
        )
    if placement.scheme == "vsi":
        if sending is None:
            problems.append(
                _reason(
                    "position.sending_organisation_missing",
                    "Un VSI doit nommer l'association d'envoi agréée.",
                    "A VSI position must name its approved sending organisation.",
                )
            )
        elif not sending.valid_on(placement.starts_on):
            # Loi 2005-159 art. 9: only associations approved by the foreign ministry send VSI volunteers.
            problems.append(
                _reason(
                    "position.sending_organisation_not_approved",
                    "L'agrément de l'association d'envoi n'est pas valable à la date de début.",
                    "The sending organisation's approval is not valid on the start date.",
                )
            )
    if placement.scheme == "jsi_vvvsi" and not sponsor:
        # fonjep.org JSI / VVV-SI: the group's project is carried with a sponsoring association.
        problems.append(
            _reason(
                "position.sponsor_missing",
                "Un projet JSI / VVV-SI doit nommer son association marraine (parrain).",
                "A JSI / VVV-SI project must name its sponsoring association (parrain).",
            )
        )
    return problems


def check_can_close(status: str) -> None:
    """A closed position stays closed."""
    if status not in OPEN_POSITION:
        raise NotAllowedInState("the position is already closed")


# What an anonymous visitor reads of a published position: no partnership, authority, partner or
# sending organisation id, no closing reason, no internal dates.
PUBLIC_POSITION_FIELDS = (
    "position_id",
    "title",
    "description",
    "scheme",
    "country",
    "partner_country",
    "region",
    "starts_on",
    "duration_months",
    "duration_days",
    "places",
    "place",
    "languages",
    "skills",
    "status",
    "published_at",
)


def check_duration(scheme: str, duration_days: int | None) -> None:
    """A JSI / VVV-SI project is counted in days (422 without them)."""
    if scheme == "jsi_vvvsi" and not duration_days:
        raise InvalidInput("a jsi_vvvsi project needs duration_days", details=[{"field": "duration_days"}])


def reasons_doc(reasons: list[Reason]) -> list[dict[str, str]]:
    """Reasons as stored and answered."""
    return [r.as_dict() for r in reasons]


class Place(Value):
    """Where the volunteer will live and work: a city and its ISO 3166-2 subdivision."""

    city: str
    subdivision: str


class Position(Aggregate):
    """A position an authority opens within one of its partnerships, with its places."""

    position_id: str = Field(alias="_id")
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
    updated_at: datetime | None = None  # absent until a draft is corrected

    @classmethod
    def draft(
        cls,
        position_id: str,
        partnership: dict[str, Any],
        region: str | None,
        details: dict[str, Any],
        at: datetime,
    ) -> Position:
        """A new draft within ``partnership`` (its projection); ``details`` are the authority's fields."""
        reciprocity = details["scheme"] in RECIPROCITY_SCHEMES
        position = cls(
            position_id=position_id,
            partnership_id=partnership["_id"],
            authority_id=partnership["authority_id"],
            partner_id=partnership["partner_id"],
            # Reciprocity: the volunteer serves in France and comes from the partner's country.
            country="FR" if reciprocity else partnership["country"],
            partner_country=partnership["country"],
            region=region,
            **details,
            filled=0,
            status=DRAFT,
            close_cause=None,
            close_reason=None,
            created_at=at,
            published_at=None,
            closed_at=None,
        )
        position.languages = sorted(set(position.languages))
        position.check_details()
        return position

    def check_details(self) -> None:
        """What the fields must agree on (422 otherwise)."""
        check_duration(self.scheme, self.duration_days)
        if self.place is not None and not self.place.subdivision.startswith(f"{self.country}-"):
            raise InvalidInput(
                f"place.subdivision {self.place.subdivision} is not a subdivision of {self.country}",
                details=[{"field": "place.subdivision"}],
            )

    def correct(self, changes: dict[str, Any], at: datetime) -> None:
        """The authority corrects a draft; once published, only closing is left (409)."""
        if self.status != DRAFT:
            raise NotAllowedInState(f"position {self.position_id} is {self.status}: only a draft can be edited")
        for name, value in changes.items():
            setattr(self, name, value)
        if "languages" in changes:
            self.languages = sorted(set(self.languages))
        self.check_details()
        self.updated_at = at

    @property
    def group_size(self) -> int | None:
        """A JSI / VVV-SI position is the group's project: its places are the group's young people."""
        return self.places if self.scheme == "jsi_vvvsi" else None

    def placement(self) -> Placement:
        """The placement the position offers, as eligibility sees it."""
        return Placement.for_duration(
            self.scheme,
            self.country,
            self.starts_on,
            months=self.duration_months,
            days=self.duration_days,
            partner_country=self.partner_country,
            action_days=self.action_days,
            group_size=self.group_size,
        )

    def event_place(self) -> PlaceOfMission | None:
        """The place as the contract's events carry it."""
        return PlaceOfMission(**self.place.model_dump()) if self.place else None

    def check_open_for_applications(self) -> None:
        """Only a published position takes applications (409 otherwise)."""
        if self.status != PUBLISHED:
            raise NotAllowedInState(f"the position is {self.status}, not open for applications")

    def view(self) -> Document:
        """The position as the API shows it to an authenticated caller."""
        view = {k: v for k, v in self.to_doc().items() if k != "_id"}
        view["position_id"] = self.position_id
        return view

    def public_view(self) -> Document:
        """A published position as an anonymous visitor sees it."""
        view = self.view()
        return {k: view[k] for k in PUBLIC_POSITION_FIELDS if k in view}

    def publish(
        self,
        policy: EligibilityPolicy,
        *,
        partnership_active: bool,
        partner: PartnerStanding,
        sending: SendingApproval | None,
        at: datetime,
    ) -> None:
        """Open the draft for applications, or say every reason it cannot be (409)."""
        problems = publish_problems(
            status=self.status,
            placement=self.placement(),
            policy=policy,
            partnership_active=partnership_active,
            partner=partner,
            sending=sending,
            sponsor=self.sponsor,
        )
        if problems:
            raise NotAllowedInState(
                "the position cannot be published: " + "; ".join(p.en for p in problems),
                details={"reasons": reasons_doc(problems)},
            )
        self.status, self.published_at = PUBLISHED, at
        self.record(
            PositionPublished(
                position_id=self.position_id,
                partnership_id=self.partnership_id,
                authority_id=self.authority_id,
                partner_id=self.partner_id,
                country=self.country,
                scheme=self.scheme,
                title=self.title,
                starts_on=self.starts_on,
                duration_months=self.duration_months,
                places=self.places,
                sending_organisation_id=self.sending_organisation_id,
                duration_days=self.duration_days,
                place=self.event_place(),
            ),
            region=self.region,
        )

    def close(self, cause: str, reason: str, at: datetime) -> None:
        """Close the position (its open applications are the caller's to reject)."""
        self.status, self.close_cause, self.close_reason, self.closed_at = CLOSED, cause, reason, at
        self.record(PositionClosed(position_id=self.position_id, reason=reason, cause=cause), region=self.region)

    def check_place_left(self) -> None:
        """An engagement needs a published position with a place left (409 otherwise)."""
        if self.status != PUBLISHED or self.filled >= self.places:
            raise NotAllowedInState(f"the position is {self.status} with no place left")

    def take_place(self) -> None:
        """One more place taken (a contract signed)."""
        self.check_place_left()
        self.filled += 1

    @property
    def is_full(self) -> bool:
        """Every place is taken: the position closes."""
        return self.filled >= self.places
