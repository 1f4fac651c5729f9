"""What the routes answer for preferences, subscriptions, templates and previews: the views and their order."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import bson
import httpx
import pytest
from fastapi import FastAPI
from test_notifications_fast_subscription import NOW, stored, subscribed

from vies_notifications import api, use_cases
from vies_notifications.domain.preferences import Preferences
from vies_notifications.domain.subscription import WebhookSubscription
from vies_notifications.views import NewSubscriptionView, PreferencesView, SubscriptionView, show
from vies_shared.tokens import Principal

pytestmark = pytest.mark.fast


async def answer(model: Any, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as a route declaring ``model`` answers it."""
    app = FastAPI()

    @app.get("/", response_model=model)
    async def route() -> dict[str, Any]:
        return value

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        body: dict[str, Any] = (await client.get("/")).json()
        return body


async def test_the_subscription_views_keep_the_answers_fields_and_moments() -> None:
    doc = stored(status="suspended", suspended_at=NOW + timedelta(days=1), suspended_reason="moved")
    view = show(SubscriptionView.of(WebhookSubscription.from_doc(doc)))
    assert view == {
        "subscription_id": doc["_id"],
        "url": "https://hooks.example.org/vies",
        "event_types": ["missions.MissionStarted", "partners.PartnerApproved"],
        "status": "suspended",
        "owner": "kc-branch-1",
        "contact_email": "it@branch.example.org",
        "scope_region": "FR-BRE",
        "failing_since": None,
        "last_error": None,
        "created_at": "2026-05-01T12:00:00.123000Z",
        "disabled_at": None,
        "suspended_at": "2026-05-02T12:00:00.123000Z",
        "suspended_reason": "moved",
    }
    assert list(await answer(SubscriptionView, view)) == list(view)  # the order the answers have always had
    created = show(NewSubscriptionView.created(subscribed(), "whsec_shown-once"))
    assert list(created)[-1] == "secret" and created["secret"] == "whsec_shown-once"
    assert "secret_sealed" not in json.dumps(created)


async def test_preferences_are_stored_and_shown_as_they_always_were() -> None:
    chosen = Preferences.choose("vol-1", "en", ["engagement", "application", "engagement"], NOW)
    doc = chosen.to_doc()
    assert doc.pop("_id") == "vol-1"
    # The fields ``$set`` by person id, as they always were.
    expected = {"language": "en", "opt_out_categories": ["application", "engagement"], "updated_at": NOW}
    assert bson.encode(doc) == bson.encode(expected)
    view = show(PreferencesView.of(Preferences.from_doc({"_id": "vol-1", **expected}), "fr"))
    assert view == {
        "person_id": "vol-1",
        "language": "en",
        "opt_out_categories": ["application", "engagement"],
        "mandatory_categories": ["safety", "security"],
        "updated_at": "2026-05-01T12:00:00.123000Z",
    }
    assert await answer(PreferencesView, view) == view
    never = show(PreferencesView.of(Preferences.none_chosen("vol-2"), "fr"))
    assert never == {**view, "person_id": "vol-2", "language": "fr", "opt_out_categories": [], "updated_at": None}


def test_templates_and_preview_answer_their_models() -> None:
    staff = Principal(sub="s", role="staff")
    catalogue = use_cases.list_templates(staff)
    assert list(catalogue) == ["templates", "languages", "routes"]
    assert list(catalogue["routes"][0]) == [
        "event_type",
        "role",
        "channels",
        "template",
        "category",
        "condition",
        "after",
    ]
    preview = use_cases.preview(staff, catalogue["templates"][0], "en")
    assert list(preview) == ["template", "language", "subject", "text", "html", "sms"]


def test_the_routes_declare_what_they_answer() -> None:
    app = FastAPI()
    app.include_router(api.router)
    paths = app.openapi()["paths"]

    def schema(path: str, method: str) -> str:
        responses = paths[path][method]["responses"]
        ok = responses.get("200") or responses["201"]
        ref: str = ok["content"]["application/json"]["schema"]["$ref"]
        return ref.rsplit("/", 1)[-1]

    assert schema("/preferences/{person_id}", "get") == "PreferencesView"
    assert schema("/preferences/{person_id}", "put") == "PreferencesView"
    assert schema("/subscriptions", "post") == "NewSubscriptionView"
    assert schema("/subscriptions", "get") == "PageOf_SubscriptionView_"
    assert schema("/subscriptions/{subscription_id}", "delete") == "SubscriptionView"
    assert schema("/templates", "get") == "TemplatesView"
    assert schema("/templates/{name}/preview", "get") == "TemplatePreview"
