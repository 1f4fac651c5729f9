"""How long a volunteer's one-tap answer link to a safety check works.

The link (``vies_shared.safety_link``) names an alert and a mission; whether it still answers
is this service's rule, not the token's: while the check is open, and for ``valid_for`` after
it closed (an answer after the close is still recorded, flagged ``after_close``, as when the
volunteer signs in). Past that the link shows that it expired and records nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vies_missions.domain.safety_check import OPEN, SecurityAlert
from vies_shared.errors import DomainError, NotFound


class UnknownLink(NotFound):
    """Not a link of this platform, tampered with, or for a mission the check does not ask (404)."""

    code = "unknown_link"

    def __init__(self) -> None:
        super().__init__("this safety link is not valid")


class LinkExpired(DomainError):
    """The check closed longer ago than links live (410, with ``expired_at``)."""

    status = 410
    code = "link_expired"

    def __init__(self, expired_at: datetime) -> None:
        super().__init__("this safety link has expired", details={"expired_at": expired_at.isoformat()})


def link_expires_at(alert: SecurityAlert, valid_for: timedelta) -> datetime | None:
    """When links to ``alert`` stop working: ``valid_for`` after it closed; ``None`` while it is open."""
    if alert.status == OPEN or alert.closed_at is None:
        return None
    closed_at = alert.closed_at if alert.closed_at.tzinfo else alert.closed_at.replace(tzinfo=UTC)
    return closed_at + valid_for


def check_link_usable(alert: SecurityAlert, now: datetime, valid_for: timedelta) -> None:
    """Raise ``LinkExpired`` once the link's time is over."""
    expires_at = link_expires_at(alert, valid_for)
    if expires_at is not None and now >= expires_at:
        raise LinkExpired(expires_at)
