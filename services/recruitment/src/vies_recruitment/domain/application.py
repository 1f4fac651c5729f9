"""The life cycle of an application: screened → shortlisted → interview → selected → engaged.

A candidate may withdraw at any point before engagement; staff or the authority
may reject an open application with a reason. Anything else answers 409.
"""

from __future__ import annotations

from vies_shared.errors import NotAllowedInState

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
