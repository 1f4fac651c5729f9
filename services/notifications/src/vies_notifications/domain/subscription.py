"""The webhook subscription: an endpoint, the event types it receives, its owner and its endpoint's health.

A staff member or a regional branch subscribes an endpoint (``active``); a branch's subscription
receives its own region's events only. The delivery worker suspends it when its owner lost their
rights (``owners.refusal``) and disables it once its endpoint has failed for too long. The signing
secret is stored sealed (``sealing``: ``secret_sealed`` and ``secret_key_id``); a subscription stored
by an early version holds it in clear (``secret``) until the start-up seals it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from pydantic import Field

from vies_shared.aggregate import Aggregate

ACTIVE = "active"
SUSPENDED = "suspended"
DISABLED = "disabled"


class WebhookSubscription(Aggregate):
    """An HTTP endpoint subscribed to event types, with its owner and the state of its deliveries.

    The fields are in the order of the stored document; the last four are added when it is
    disabled or suspended, and ``secret`` is only in a document of an early version.
    """

    subscription_id: str = Field(alias="_id")
    url: str
    event_types: list[str]
    secret: str | None = Field(default=None, repr=False)  # in clear: an early version's document
    secret_sealed: str | None = Field(default=None, repr=False)
    secret_key_id: str | None = None
    status: str
    owner: str | None = None  # the subscriber's ``sub``, whose rights are checked at every delivery
    owner_role: str | None = None  # the role they subscribed with (staff or branch)
    contact_email: str | None = None  # told when the endpoint is disabled
    scope_region: str | None = None  # a branch's region: it receives that region's events only
    failing_since: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    disabled_at: datetime | None = None
    suspended_at: datetime | None = None
    suspended_reason: str | None = None

    @classmethod
    def subscribe(
        cls,
        *,
        url: str,
        event_types: Collection[str],
        sealed: Mapping[str, str],
        owner: str,
        owner_role: str | None,
        contact_email: str | None,
        scope_region: str | None,
        now: datetime,
    ) -> WebhookSubscription:
        """A new active subscription of ``owner`` to ``event_types``; ``sealed``: its sealed secret's fields."""
        return cls(
            subscription_id=str(uuid.uuid4()),
            url=url,
            event_types=sorted(set(event_types)),
            secret_sealed=sealed["secret_sealed"],
            secret_key_id=sealed["secret_key_id"],
            status=ACTIVE,
            owner=owner,
            owner_role=owner_role,
            contact_email=contact_email,
            scope_region=scope_region,
            failing_since=None,
            last_error=None,
            created_at=now,
        )

    def wants(self, event_type: str, region: str | None) -> bool:
        """Whether it receives an event of ``event_type`` in ``region``: one of its types, in its region if any."""
        return event_type in self.event_types and (not self.scope_region or region == self.scope_region)

    def subscribes_to_any(self, event_types: Collection[str]) -> bool:
        """Whether one of its event types is among ``event_types``."""
        return any(event_type in event_types for event_type in self.event_types)

    def inactive_because(self) -> str | None:
        """Why nothing goes to it (its status, with the suspension's reason), or None while it is active."""
        if self.status == ACTIVE:
            return None
        reason = f": {self.suspended_reason}" if self.suspended_reason else ""
        return f"subscription {self.status}{reason}"

    def suspend(self, reason: str, now: datetime) -> None:
        """Its owner lost the rights to receive it: nothing more goes out."""
        self.status, self.suspended_at, self.suspended_reason = SUSPENDED, now, reason

    @property
    def failing_since_utc(self) -> datetime | None:
        """Since when its endpoint fails (a moment read without its zone is UTC), None while it answers."""
        since = self.failing_since
        return since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since

    def failing_too_long(self, now: datetime, limit_seconds: float) -> bool:
        """Whether it is active and its endpoint has been failing for ``limit_seconds`` or more."""
        since = self.failing_since_utc
        return self.status == ACTIVE and since is not None and (now - since).total_seconds() >= limit_seconds

    def disable(self, now: datetime) -> None:
        """Its endpoint failed for too long: nothing more goes to it."""
        self.status, self.disabled_at = DISABLED, now
