"""What people do with the notifications service: preferences, webhook subscriptions, the delivery log, previews."""

from __future__ import annotations

from typing import Any

from vies_notifications import channels, handlers, rendering, sealing, store
from vies_notifications.domain import routing, webhooks
from vies_notifications.domain.delivery import PENDING
from vies_notifications.domain.notification import Notification
from vies_notifications.domain.preferences import Preferences
from vies_notifications.domain.subscription import WebhookSubscription
from vies_notifications.settings import NotificationsSettings
from vies_notifications.views import (
    NewSubscriptionView,
    NotificationView,
    PreferencesView,
    RouteRow,
    SubscriptionView,
    TemplatePreview,
    TemplatesView,
    show,
)
from vies_shared.errors import Forbidden, InvalidInput, NotFound
from vies_shared.messaging.consumer import handler_table
from vies_shared.service import Runtime
from vies_shared.storage import UnitOfWork, transactional
from vies_shared.web import Page, Principal, paged

Document = dict[str, Any]


# ---- preferences ---------------------------------------------------------------------------------


def _may_manage_preferences(principal: Principal, person_id: str) -> None:
    # A person manages their own preferences (candidates, volunteers; authorities by their id); staff any.
    if principal.is_staff or person_id in (principal.sub, principal.authority_id):
        return
    # A regional branch, those of its office: its digest and messages go to the region's id.
    if principal.role == "branch" and principal.region and person_id == principal.region:
        return
    raise Forbidden("you may only manage your own preferences")


@transactional
async def set_preferences(
    uow: UnitOfWork[NotificationsSettings],
    principal: Principal,
    person_id: str,
    language: str,
    opt_out_categories: list[str],
) -> Document:
    """Save a person's language and opt-outs (safety and security messages are sent whatever the opt-outs)."""
    _may_manage_preferences(principal, person_id)
    preferences = Preferences.choose(person_id, language, opt_out_categories, uow.now())
    doc = preferences.to_doc()
    await uow[store.PREFERENCES].update_one({"_id": doc.pop("_id")}, {"$set": doc}, upsert=True)
    return show(PreferencesView.of(preferences, uow.settings.default_language))


async def get_preferences(runtime: Runtime[NotificationsSettings], principal: Principal, person_id: str) -> Document:
    """A person's preferences (defaults when none were saved)."""
    _may_manage_preferences(principal, person_id)
    doc = await runtime.db[store.PREFERENCES].find_one({"_id": person_id})
    preferences = Preferences.none_chosen(person_id) if doc is None else Preferences.from_doc(doc)
    return show(PreferencesView.of(preferences, runtime.settings.default_language))


# ---- webhook subscriptions -----------------------------------------------------------------------

SUBSCRIBABLE: frozenset[str] = frozenset(
    t for t in handler_table(handlers.HANDLERS) if t != "recruitment.ContactUpdated"
)


@transactional
async def create_subscription(
    uow: UnitOfWork[NotificationsSettings],
    principal: Principal,
    *,
    url: str,
    event_types: list[str],
    secret: str | None,
    contact_email: str | None,
) -> Document:
    """Subscribe an HTTP endpoint to event types; the URL must pass the SSRF guard.

    The secret is stored sealed (``sealing``) and shown once, in this answer. The owner's
    rights are checked again at every delivery (``owners``).
    """
    principal.require_role("branch")
    if principal.role == "branch" and not principal.region:
        raise Forbidden("a branch token must carry its region")
    contact_email = _contact_email(principal, contact_email)
    unknown = sorted(set(event_types) - SUBSCRIBABLE)
    if unknown:
        raise InvalidInput(
            "event_types: unknown or not subscribable event types",
            details=[{"field": "event_types", "message": f"unknown: {', '.join(unknown)}"}],
        )
    secret = secret or webhooks.new_secret()
    webhooks.secret_bytes(secret)  # validates the form
    await channels.check_destination(url, uow.settings.webhook_allowed)
    subscription = WebhookSubscription.subscribe(
        url=url,
        event_types=event_types,
        sealed=sealing.box_from_settings(uow.settings).seal(secret),
        owner=principal.sub,
        owner_role=principal.role,
        contact_email=contact_email,
        scope_region=None if principal.is_staff else principal.region,
        now=uow.now(),
    )
    await uow[store.SUBSCRIPTIONS].insert_one(subscription.to_doc())
    return show(NewSubscriptionView.created(subscription, secret))


def _contact_email(principal: Principal, asked: str | None) -> str | None:
    """Who is told when the endpoint gets disabled.

    Staff set any address (the subscriber's team they spoke with). Anyone else may only name
    their own verified address (the token's ``email``), and gets it by default: the platform
    must not be made to mail an address of the caller's choosing.
    """
    if principal.is_staff:
        return asked
    own = principal.email if principal.email_verified and principal.email else None
    if asked is None:
        return own
    if own is None or asked.casefold() != own.casefold():
        raise Forbidden("contact_email: only your own verified email address (your token's email)")
    return own


def _subscription_scope(principal: Principal) -> Document:
    principal.require_role("branch")
    return {} if principal.is_staff else {"owner": principal.sub}


async def list_subscriptions(runtime: Runtime[NotificationsSettings], principal: Principal, page: Page) -> Document:
    """Staff see every subscription, a branch its own."""
    query = _subscription_scope(principal)
    collection = runtime.db[store.SUBSCRIPTIONS]
    total = await collection.count_documents(query)
    cursor = collection.find(query).sort("created_at", -1).skip(page.offset).limit(page.limit)
    views = [show(SubscriptionView.of(WebhookSubscription.from_doc(doc))) async for doc in cursor]
    return paged(views, total, page)


@transactional
async def delete_subscription(
    uow: UnitOfWork[NotificationsSettings], principal: Principal, subscription_id: str
) -> Document:
    """Remove a subscription (its owner or staff); pending deliveries to it then fail as deleted."""
    scope = _subscription_scope(principal)
    doc = await uow[store.SUBSCRIPTIONS].find_one({"_id": subscription_id})
    if doc is None:
        raise NotFound(f"subscription {subscription_id} not found")
    subscription = WebhookSubscription.from_doc(doc)
    if scope and subscription.owner != principal.sub:
        raise Forbidden("this subscription belongs to someone else")
    await uow[store.SUBSCRIPTIONS].delete_one({"_id": subscription_id})
    return show(SubscriptionView.of(subscription).model_copy(update={"status": "deleted"}))


# ---- delivery log --------------------------------------------------------------------------------


def notification_view(doc: Document, *, masked: bool = False) -> Document:
    """A delivery log entry as the API shows it (``masked`` for branches: see ``NotificationView.of``)."""
    return show(NotificationView.of(Notification.from_doc(doc), masked=masked))


def _log_scope(principal: Principal) -> Document:
    # Staff see every entry, a branch its region's; nobody else reads the log.
    if principal.is_staff:
        return {}
    if principal.role == "branch" and principal.region:
        return {"region": principal.region}
    raise Forbidden("only staff and regional branches may read the delivery log")


def _check_log_filters(scope: Document, filters: dict[str, str | None], retrying: bool | None) -> None:
    """Refuse filters a branch may not use, and a retrying filter that contradicts the status asked."""
    if scope and filters.get("recipient"):
        raise Forbidden("a branch cannot search the log by recipient address; filter by recipient_id")
    if retrying and filters.get("status") not in (None, PENDING):
        raise InvalidInput("retrying=true lists pending messages; it cannot be combined with another status")
    if scope and filters.get("region") and filters["region"] != scope["region"]:
        raise Forbidden("a branch reads its own region's log only")


def _log_query(filters: dict[str, str | None], retrying: bool | None) -> Document:
    """The delivery log's query for the filters given (the caller adds the reader's scope)."""
    query: Document = {}
    if filters.get("event_id"):
        query["event_id"] = filters["event_id"]
    if filters.get("recipient"):
        query["$or"] = [{"recipient.id": filters["recipient"]}, {"recipient.address": filters["recipient"]}]
    if filters.get("recipient_id"):
        query["recipient.id"] = filters["recipient_id"]
    for name, field in (
        ("status", "status"),
        ("channel", "channel"),
        ("event_type", "event_type"),
        ("region", "region"),
        ("role", "recipient.role"),
    ):
        if filters.get(name):
            query[field] = filters[name]
    # Pending with an attempt used: an earlier attempt failed (waiting for contact data uses none).
    waiting_for_retry: Document = {"status": PENDING, "attempts": {"$gt": 0}}
    if retrying:
        query.update(waiting_for_retry)
    elif retrying is False:
        query["$nor"] = [waiting_for_retry]
    return query


async def list_notifications(
    runtime: Runtime[NotificationsSettings],
    principal: Principal,
    page: Page,
    filters: dict[str, str | None],
    *,
    retrying: bool | None = None,
) -> Document:
    """The delivery log, newest first, filtered by event, recipient, status, channel, type.

    ``recipient`` matches an id or an address and is for staff only: a branch filters by
    ``recipient_id`` and never learns from the log whether an address is known (403).
    ``retrying``: only (``True``) or none (``False``) of the messages waiting for another
    attempt, i.e. pending after at least one failed attempt; the log has no such status.
    """
    scope = _log_scope(principal)
    _check_log_filters(scope, filters, retrying)
    query = {**_log_query(filters, retrying), **scope}
    collection = runtime.db[store.NOTIFICATIONS]
    total = await collection.count_documents(query)
    cursor = collection.find(query).sort([("created_at", -1), ("_id", 1)]).skip(page.offset).limit(page.limit)
    return paged([notification_view(doc, masked=bool(scope)) async for doc in cursor], total, page)


async def get_notification(
    runtime: Runtime[NotificationsSettings], principal: Principal, notification_id: str
) -> Document:
    """One delivery log entry."""
    scope = _log_scope(principal)
    doc = await runtime.db[store.NOTIFICATIONS].find_one({"_id": notification_id})
    if doc is None:
        raise NotFound(f"notification {notification_id} not found")
    if scope and doc.get("region") != scope["region"]:
        raise Forbidden("this notification concerns another region")
    return notification_view(doc, masked=bool(scope))


# ---- templates -----------------------------------------------------------------------------------


def list_templates(principal: Principal) -> Document:
    """The templates and the routing table that uses them."""
    principal.require_role("branch", "centre")
    catalogue = TemplatesView(
        templates=list(routing.TEMPLATES),
        languages=list(rendering.SUPPORTED_LANGUAGES),
        routes=[RouteRow.of(route) for route in routing.ROUTES],
    )
    return show(catalogue)


def preview(principal: Principal, name: str, language: str) -> Document:
    """Render a template with sample data."""
    principal.require_role("branch", "centre")
    if name not in routing.TEMPLATES:
        raise NotFound(f"template {name} not found")
    content = rendering.render(name, language, rendering.sample_context(name))
    rendered = TemplatePreview(
        template=name,
        language=language,
        subject=content.subject,
        text=content.text,
        html=content.html,
        sms=content.sms,
    )
    return show(rendered)
