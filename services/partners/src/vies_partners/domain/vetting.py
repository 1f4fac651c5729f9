"""Vetting of international partners: a small state machine with a history of who did what and why.

pending → approved | rejected; approved → suspended; suspended → approved (reinstated, staff only).
Only approved partners can be matched or enter a partnership.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from vies_shared.errors import Forbidden, InvalidInput, NotAllowedInState

PartnerStatus = Literal["pending", "approved", "rejected", "suspended"]
STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "suspended")

# action → (states it is allowed from, resulting state)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("pending",), "approved"),
    "reject": (("pending",), "rejected"),
    "suspend": (("approved",), "suspended"),
    "reinstate": (("suspended",), "approved"),
}
REASON_REQUIRED = frozenset({"reject", "suspend"})


@dataclass(frozen=True)
class VettingStep:
    """One entry of a partner's vetting history."""

    action: str
    from_status: str
    to_status: str
    by: str
    role: str
    at: datetime
    note: str | None = None

    def to_doc(self) -> dict[str, Any]:
        """The stored and displayed form."""
        return {
            "action": self.action,
            "from": self.from_status,
            "to": self.to_status,
            "by": self.by,
            "role": self.role,
            "at": self.at,
            "note": self.note,
        }


def transition(status: str, action: str, *, by: str, role: str, at: datetime, note: str | None) -> VettingStep:
    """Check that ``action`` is allowed from ``status`` and return the history step it makes."""
    allowed_from, target = TRANSITIONS[action]
    if action == "reinstate" and role != "staff":
        raise Forbidden("only staff may reinstate a suspended partner")
    if action in REASON_REQUIRED and not (note and note.strip()):
        raise InvalidInput(f"a reason is required to {action} a partner")
    if status not in allowed_from:
        raise NotAllowedInState(
            f"cannot {action} a partner that is {status} (allowed only when {' or '.join(allowed_from)})"
        )
    return VettingStep(action, status, target, by, role, at, note.strip() if note else None)


def can_be_matched(status: str) -> bool:
    """Only approved partners are suggested by matching."""
    return status == "approved"


def can_enter_partnership(status: str) -> bool:
    """Only approved partners can start a partnership."""
    return status == "approved"
