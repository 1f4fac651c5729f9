"""Partnerships between a French authority and an approved partner abroad."""

from __future__ import annotations

from datetime import date

from vies_partners.domain.vetting import can_enter_partnership
from vies_shared.errors import InvalidInput, NotAllowedInState


def check_new_partnership(partner_status: str, starts_on: date, ends_on: date | None) -> None:
    """A partnership needs an approved partner and an end (if any) after its start."""
    if not can_enter_partnership(partner_status):
        raise NotAllowedInState(f"the partner is {partner_status}: only an approved partner can enter a partnership")
    if ends_on is not None and ends_on <= starts_on:
        raise InvalidInput("ends_on must be after starts_on")


def check_end(status: str, reason: str) -> None:
    """Ending needs a reason and a partnership that has not ended yet."""
    if not reason.strip():
        raise InvalidInput("a reason is required to end a partnership")
    if status == "ended":
        raise NotAllowedInState("the partnership has already ended")


def needs_review(partner_status: str) -> bool:
    """A suspended partner keeps its partnerships, but they are flagged for review."""
    return partner_status == "suspended"
