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
