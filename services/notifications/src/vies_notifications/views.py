"""What the API answers: one typed view per resource, declared as the routes' response models.

The delivery log's notifications, a person's preferences, the webhook subscriptions, the templates
and their previews. The use cases return a view as JSON (``show(view)``) and each route declares
its model, so ``/docs`` and ``/openapi.json`` show what comes back. The fields are in the order the
answers have always had; moments are written as pydantic writes them, as they always were (UTC as ``Z``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from vies_notifications.domain import privacy, routing
from vies_notifications.domain.notification import Attempted, Notification
from vies_notifications.domain.preferences import Preferences
from vies_notifications.domain.subscription import WebhookSubscription
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


class PreferencesView(BaseModel):
    """A person's language (the service's when they never chose), the categories they opted out of
    and those sent whatever the opt-outs; ``updated_at`` null when they never chose."""

    person_id: str
    language: str
    opt_out_categories: list[str]
    mandatory_categories: list[str]
    updated_at: datetime | None

    @classmethod
    def of(cls, preferences: Preferences, default_language: str) -> PreferencesView:
        """The view of ``preferences``, in ``default_language`` when they name none."""
        return cls(
            person_id=preferences.person_id,
            language=preferences.language or default_language,
            opt_out_categories=sorted(preferences.opt_out_categories),
            mandatory_categories=sorted(routing.MANDATORY_CATEGORIES),
            updated_at=preferences.updated_at,
        )


class SubscriptionView(BaseModel):
    """A webhook subscription, without its secret.

    ``status``: active, suspended (``suspended_reason``: its owner lost the rights), disabled
    (its endpoint failed since ``failing_since`` for too long); deleted in the answer to a deletion.
    ``scope_region``: a branch's subscription receives that region's events only.
    """

    subscription_id: str
    url: str
    event_types: list[str]
    status: str
    owner: str | None
    contact_email: str | None
    scope_region: str | None
    failing_since: datetime | None
    last_error: str | None
    created_at: datetime | None
    disabled_at: datetime | None
    suspended_at: datetime | None
    suspended_reason: str | None

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> SubscriptionView:
        """The view of ``subscription``."""
        return cls(**subscription.model_dump(include=_SUBSCRIPTION_AS_IS))


_SUBSCRIPTION_AS_IS = set(SubscriptionView.model_fields)


class NewSubscriptionView(SubscriptionView):
    """A subscription just created, with its signing secret: shown this once, never again."""

    secret: str

    @classmethod
    def created(cls, subscription: WebhookSubscription, secret: str) -> NewSubscriptionView:
        """The view of ``subscription`` just created with ``secret``."""
        return cls(**subscription.model_dump(include=_SUBSCRIPTION_AS_IS), secret=secret)


class RouteRow(BaseModel):
    """One row of the routing table: who gets which template of an event type, by which channels.

    ``condition``: when the row applies (null: always); ``after``: a delayed row's delay (e.g. return_seminar).
    """

    event_type: str
    role: str
    channels: list[str]
    template: str
    category: str
    condition: str | None
    after: str | None

    @classmethod
    def of(cls, route: routing.Route) -> RouteRow:
        """The row of ``route``; its condition is told by the condition's docstring."""
        condition = route.when.__doc__.strip() if route.when.__doc__ else None
        return cls(
            event_type=route.event_type,
            role=route.role,
            channels=list(route.channels),
            template=route.template,
            category=route.category,
            condition=condition,
            after=route.after,
        )


class TemplatesView(BaseModel):
    """The templates, the languages they are written in and the routing table that uses them."""

    templates: list[str]
    languages: list[str]
    routes: list[RouteRow]


class TemplatePreview(BaseModel):
    """A template rendered with sample data: its subject, plain text, HTML and SMS text."""

    template: str
    language: str
    subject: str
    text: str
    html: str
    sms: str
