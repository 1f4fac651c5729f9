"""What the delivery log answers: the typed view of a notification, declared as the routes' response models.

The use cases return a view as JSON (``show(view)``) and each route declares its model, so
``/docs`` and ``/openapi.json`` show what comes back. The fields are in the order the answers have
always had; moments are written as pydantic writes them, as they always were (UTC as ``Z``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from vies_notifications.domain import privacy
from vies_notifications.domain.notification import Attempted, Notification
from vies_shared.aggregate import Document

T = TypeVar("T")

# The offices' own addresses come from the shared reference data and settings: not personal data.
OFFICES = frozenset({"branch", "centre", "duty_officer"})


def show(view: BaseModel) -> Document:
    """A view as the JSON the route answers (and validates again against its response model)."""
    return view.model_dump(mode="json")


class PageOf(BaseModel, Generic[T]):
    """One page of a list: ``items``, the ``total`` count and the page asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


class RecipientView(BaseModel):
    """Whom a message went to: the route's role, the kind and id of the recipient, the address used."""

    role: str
    kind: str
    id: str
    address: str | None


class NotificationView(BaseModel):
    """A delivery log entry: no message context, no webhook payload.

    ``next_attempt_at`` only while the message is pending; ``template`` is null for a webhook delivery.
    """

    notification_id: str
    event_id: str
    event_type: str | None
    channel: str
    template: str | None
    category: str | None
    recipient: RecipientView
    language: str | None
    subject: str | None
    region: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime | None
    sent_at: datetime | None
    history: list[Attempted]

    @classmethod
    def of(cls, notification: Notification, *, masked: bool = False) -> NotificationView:
        """The view of ``notification``.

        ``masked`` (branches): the addresses of people, authorities and subscribers are masked,
        and so is any address an error text repeats (``domain.privacy``).
        """
        recipient = notification.recipient
        address, last_error, history = recipient.address, notification.last_error, notification.history
        if masked:
            if recipient.kind not in OFFICES:
                address = privacy.mask_address(address, notification.channel)
            last_error = privacy.scrub(last_error)
            history = [entry.model_copy(update={"error": privacy.scrub(entry.error)}) for entry in history]
        return cls(
            **notification.model_dump(include=_AS_IS),
            template=notification.template or None,
            recipient=RecipientView(role=recipient.role, kind=recipient.kind, id=recipient.id, address=address),
            next_attempt_at=notification.retry_due_at,
            last_error=last_error,
            history=history,
        )


_AS_IS = {
    "notification_id",
    "event_id",
    "event_type",
    "channel",
    "category",
    "language",
    "subject",
    "region",
    "status",
    "attempts",
    "created_at",
    "sent_at",
}
