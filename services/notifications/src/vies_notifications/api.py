"""HTTP routes of the notifications service: parse → authorise → use case → answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from vies_notifications import use_cases
from vies_notifications.domain.routing import CATEGORIES
from vies_notifications.settings import NotificationsSettings
from vies_notifications.views import (
    NewSubscriptionView,
    NotificationView,
    PageOf,
    PreferencesView,
    SubscriptionView,
    TemplatePreview,
    TemplatesView,
)
from vies_shared.service import RuntimeDep as ServiceRuntimeDep
from vies_shared.web import CurrentPrincipal, Pagination

router = APIRouter()
RuntimeDep = ServiceRuntimeDep[NotificationsSettings]  # settings typed, no downcast

Language = Literal["fr", "en"]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Status = Literal["pending", "sending", "sent", "failed", "cancelled"]
ChannelName = Literal["email", "sms", "webhook"]

# Every free string from the caller is bounded: ids as long as the platform's (tokens cap scope
# claims at 100 characters), event types and roles by their shape, addresses by RFC 5321's 320
# characters. Longer input is a 422.
MAX_ID = 100
MAX_EVENT_TYPES = 100
PersonId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
SubscriptionId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
NotificationId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
TemplateName = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
EventType = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
IdFilter = Annotated[str | None, Query(min_length=1, max_length=MAX_ID)]
AddressFilter = Annotated[str | None, Query(min_length=1, max_length=320)]
EventTypeFilter = Annotated[str | None, Query(max_length=MAX_ID, pattern=r"^[a-z]+\.[A-Za-z]+$")]
RoleFilter = Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")]
RegionFilter = Annotated[str | None, Query(pattern=r"^FR-[A-Z0-9]{2,3}$")]


class PreferencesIn(BaseModel):
    """A person's language and the message categories they do not want (safety/security always sent)."""

    model_config = ConfigDict(extra="forbid")
    language: Language
    opt_out_categories: list[Category] = Field(default_factory=list, max_length=len(CATEGORIES))


class SubscriptionIn(BaseModel):
    """A webhook subscription: where, which event types, the signing secret (``whsec_...``), who to tell.

    ``contact_email`` (told when the endpoint is disabled): a branch may give only its own verified
    address (its token's ``email``), which is also the default; staff any address.
    """

    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[EventType] = Field(min_length=1, max_length=MAX_EVENT_TYPES)
    secret: str | None = Field(default=None, min_length=24, max_length=200)
    contact_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)


@router.put("/preferences/{person_id}", response_model=PreferencesView)
async def put_preferences(
    person_id: PersonId, body: PreferencesIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> dict[str, Any]:
    """Set a person's language and opt-outs."""
    return await use_cases.set_preferences(runtime, principal, person_id, body.language, list(body.opt_out_categories))


@router.get("/preferences/{person_id}", response_model=PreferencesView)
async def get_preferences(person_id: PersonId, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    """A person's preferences."""
    return await use_cases.get_preferences(runtime, principal, person_id)


@router.post("/subscriptions", status_code=201, response_model=NewSubscriptionView)
async def post_subscription(body: SubscriptionIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    """Subscribe a webhook endpoint (the secret is returned once)."""
    return await use_cases.create_subscription(
        runtime,
        principal,
        url=body.url,
        event_types=body.event_types,
        secret=body.secret,
        contact_email=body.contact_email,
    )


@router.get("/subscriptions", response_model=PageOf[SubscriptionView])
async def get_subscriptions(principal: CurrentPrincipal, runtime: RuntimeDep, page: Pagination) -> dict[str, Any]:
    """Webhook subscriptions (staff all, a branch its own)."""
    return await use_cases.list_subscriptions(runtime, principal, page)


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionView)
async def remove_subscription(
    subscription_id: SubscriptionId, principal: CurrentPrincipal, runtime: RuntimeDep
) -> dict[str, Any]:
    """Delete a webhook subscription."""
    return await use_cases.delete_subscription(runtime, principal, subscription_id)


@router.get("/notifications", response_model=PageOf[NotificationView])
async def get_notifications(
    *,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    event_id: IdFilter = None,
    recipient: AddressFilter = None,
    recipient_id: IdFilter = None,
    status: Annotated[Status | None, Query()] = None,
    channel: Annotated[ChannelName | None, Query()] = None,
    event_type: EventTypeFilter = None,
    role: RoleFilter = None,
    region: RegionFilter = None,
    retrying: Annotated[bool | None, Query()] = None,
) -> dict[str, Any]:
    """The delivery log with filters and pagination (staff everything, a branch its region).

    Branches see recipients' addresses masked and filter by ``recipient_id`` only;
    ``recipient`` (an id or an address) is for staff (403 for a branch). ``retrying=true``:
    the messages waiting for another attempt (pending after at least one failed one);
    ``retrying=false`` leaves them out.
    """
    filters = {
        "event_id": event_id,
        "recipient": recipient,
        "recipient_id": recipient_id,
        "status": status,
        "channel": channel,
        "event_type": event_type,
        "role": role,
        "region": region,
    }
    return await use_cases.list_notifications(runtime, principal, page, filters, retrying=retrying)


@router.get("/notifications/{notification_id}", response_model=NotificationView)
async def get_notification(
    notification_id: NotificationId, principal: CurrentPrincipal, runtime: RuntimeDep
) -> dict[str, Any]:
    """One delivery log entry."""
    return await use_cases.get_notification(runtime, principal, notification_id)


@router.get("/templates", response_model=TemplatesView)
async def get_templates(principal: CurrentPrincipal) -> dict[str, Any]:
    """The templates and the routing table."""
    return use_cases.list_templates(principal)


@router.get("/templates/{name}/preview", response_model=TemplatePreview)
async def preview_template(
    name: TemplateName, principal: CurrentPrincipal, language: Annotated[Language, Query()] = "fr"
) -> dict[str, Any]:
    """Render a template with sample data."""
    return use_cases.preview(principal, name, language)
