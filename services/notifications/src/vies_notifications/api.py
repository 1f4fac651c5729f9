"""HTTP routes of the notifications service: parse → authorise → use case → answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from vies_notifications import use_cases
from vies_notifications.domain.routing import CATEGORIES
from vies_shared.service import RuntimeDep
from vies_shared.web import CurrentPrincipal, Pagination

router = APIRouter()

Language = Literal["fr", "en"]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Status = Literal["pending", "sending", "sent", "failed", "cancelled"]
ChannelName = Literal["email", "sms", "webhook"]


class PreferencesIn(BaseModel):
    """A person's language and the message categories they do not want (safety/security always sent)."""

    model_config = ConfigDict(extra="forbid")
    language: Language
    opt_out_categories: list[Category] = Field(default_factory=list)


class SubscriptionIn(BaseModel):
    """A webhook subscription: where, which event types, the signing secret (``whsec_...``), who to tell."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[str] = Field(min_length=1, max_length=100)
    secret: str | None = Field(default=None, min_length=24, max_length=200)
    contact_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)


@router.put("/preferences/{person_id}")
async def put_preferences(
    person_id: str, body: PreferencesIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> dict[str, Any]:
    """Set a person's language and opt-outs."""
    return await use_cases.set_preferences(runtime, principal, person_id, body.language, list(body.opt_out_categories))


@router.get("/preferences/{person_id}")
async def get_preferences(person_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    """A person's preferences."""
    return await use_cases.get_preferences(runtime, principal, person_id)


@router.post("/subscriptions", status_code=201)
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


@router.get("/subscriptions")
async def get_subscriptions(principal: CurrentPrincipal, runtime: RuntimeDep, page: Pagination) -> dict[str, Any]:
    """Webhook subscriptions (staff all, a branch its own)."""
    return await use_cases.list_subscriptions(runtime, principal, page)


@router.delete("/subscriptions/{subscription_id}")
async def remove_subscription(subscription_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    """Delete a webhook subscription."""
    return await use_cases.delete_subscription(runtime, principal, subscription_id)


@router.get("/notifications")
async def get_notifications(
    *,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    event_id: str | None = None,
    recipient: str | None = None,
    status: Annotated[Status | None, Query()] = None,
    channel: Annotated[ChannelName | None, Query()] = None,
    event_type: str | None = None,
    role: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """The delivery log with filters and pagination (staff everything, a branch its region)."""
    filters = {
        "event_id": event_id,
        "recipient": recipient,
        "status": status,
        "channel": channel,
        "event_type": event_type,
        "role": role,
        "region": region,
    }
    return await use_cases.list_notifications(runtime, principal, page, filters)


@router.get("/notifications/{notification_id}")
async def get_notification(notification_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    """One delivery log entry."""
    return await use_cases.get_notification(runtime, principal, notification_id)


@router.get("/templates")
async def get_templates(principal: CurrentPrincipal) -> dict[str, Any]:
    """The templates and the routing table."""
    return use_cases.list_templates(principal)


@router.get("/templates/{name}/preview")
async def preview_template(
    name: str, principal: CurrentPrincipal, language: Annotated[Language, Query()] = "fr"
) -> dict[str, Any]:
    """Render a template with sample data."""
    return use_cases.preview(principal, name, language)
