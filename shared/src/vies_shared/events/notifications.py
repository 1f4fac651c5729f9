"""Events published by the notifications service on ``vies.notifications.events``."""

from __future__ import annotations

from typing import Literal

from vies_shared.events.base import Event

Channel = Literal["email", "sms", "webhook"]


class NotificationSent(Event):
    """A notification was accepted by its channel (SMTP server, SMS provider, webhook)."""

    TYPE = "notifications.NotificationSent"
    KEY = "notification_id"
    notification_id: str
    event_id: str
    channel: Channel
    recipient_role: str


class NotificationFailed(Event):
    """A notification could not be delivered after its last attempt."""

    TYPE = "notifications.NotificationFailed"
    KEY = "notification_id"
    notification_id: str
    event_id: str
    channel: Channel
    error: str
    # The message's category (``safety`` and ``security`` ones are escalated to the duty officer by
    # the other channel when they fail for good); absent in older events.
    category: str | None = None
    recipient_role: str | None = None
