"""The life cycle of a position (draft → published → closed) and what publishing requires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from vies_recruitment.domain.eligibility import EligibilityPolicy, Placement, Reason, check_placement
from vies_shared.errors import NotAllowedInState

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
