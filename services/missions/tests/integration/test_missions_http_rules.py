"""Every endpoint: 401 without or with a bad token, 403 out of role or scope, 404 unknown id, 422 bad body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import AuthorityRegistered
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration

LISTS = ("/missions", "/incidents", "/security-alerts", "/follow-ups")
BODIES: dict[str, dict[str, Any]] = {
    "checklist": {"item": "visa", "done_on": "2026-01-01"},
    "start": {"departed_on": "2026-01-10"},
    "check-ins": {"status": "ok"},
    "incidents": {"category": "health", "severity": "low", "description": "x"},
    "extend": {"ends_on": "2027-01-01"},
    "end": {"ended_on": "2026-06-01", "debrief": "x"},
    "interrupt": {"reason": "health"},
    "check-in-interval": {"days": 7},
    "follow-ups/start/done": {"done_on": "2026-02-01"},
}


def endpoints(mission_id: str, incident_id: str, alert_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, body) of every endpoint that needs a token."""
    m = f"/missions/{mission_id}"
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", m, None),
        ("GET", "/missions", None),
        ("GET", f"{m}/follow-ups", None),
        ("GET", f"{m}/check-ins", None),
        ("GET", f"{m}/incidents", None),
        ("GET", f"{m}/safety-checks", None),
        ("GET", "/follow-ups?due_before=2030-01-01", None),
        ("GET", "/incidents", None),
        ("GET", f"/incidents/{incident_id}", None),
        ("POST", f"/incidents/{incident_id}/acknowledge", None),
        ("POST", f"/incidents/{incident_id}/resolve", {"resolution": "done"}),
        ("POST", "/security-alerts", {"country": "SN", "level": "info", "message": "m", "respond_within_hours": 1}),
        ("GET", "/security-alerts", None),
        ("GET", f"/security-alerts/{alert_id}", None),
        ("POST", f"/security-alerts/{alert_id}/responses", {"mission_id": mission_id, "status": "safe"}),
        ("POST", f"/security-alerts/{alert_id}/close", None),
    ]
    calls += [("POST", f"{m}/{action}", body) for action, body in BODIES.items()]
    return calls


async def test_authentication_scope_and_unknown_ids(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        # The authority registers after the engagement: its region is filled in afterwards.
        event = engagement(country="SN", authority_id="auth-late")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        await publish_event(
            bootstrap,
            events_topic("partners", topic_prefix),
            AuthorityRegistered(
                authority_id="auth-late",
                name="Commune",
                kind="commune",
                region="FR-974",
                contact_email="x@commune.example.fr",
                territoires_volontaires=False,
            ),
        )

        async def region_filled() -> bool:
            doc = await svc.runtime.db["missions"].find_one({"_id": mission_id})
            return bool(doc and doc["region"] == "FR-974")

        await wait_until(region_filled, message="region filled in")
        await start(svc, mission_id, datetime.now(UTC).date())
        staff = svc.auth("staff")
        r = await svc.client.post(
            f"/missions/{mission_id}/incidents",
            json={"category": "legal", "severity": "medium", "description": "x"},
            headers=staff,
        )
        incident_id = r.json()["incident_id"]
        r = await svc.client.post(
            "/security-alerts",
            json={"country": "SN", "level": "info", "message": "m", "respond_within_hours": 5},
            headers=staff,
        )
        alert_id = r.json()["alert_id"]

        bad_token = {"Authorization": "Bearer x.y.z"}
        other_secret = {"Authorization": "Bearer " + _token_signed_elsewhere()}
        for method, path, body in endpoints(mission_id, incident_id, alert_id):
            for headers in ({}, bad_token, other_secret):
                r = await svc.client.request(method, path, json=body, headers=headers)
                assert r.status_code == 401, (method, path, r.status_code)
            r = await svc.client.request(method, path, json=body, headers=svc.auth("partner"))
            assert r.status_code == 403, (method, path, r.status_code, r.text)
            r = await svc.client.request(method, path, json=body, headers=svc.auth("centre", country="VN"))
            if method == "GET" and path.split("?")[0] in LISTS:
                assert r.status_code == 200 and r.json()["items"] == [], (path, r.text)  # lists: scoped, empty
            else:
                assert r.status_code == 403, (method, path, r.status_code, r.text)

        for method, path, body in endpoints("nope", "nope", "nope"):
            if "nope" not in path:
                continue
            r = await svc.client.request(method, path, json=body, headers=staff)
            assert r.status_code == 404, (method, path, r.status_code, r.text)

        for action in BODIES:
            r = await svc.client.post(f"/missions/{mission_id}/{action}", json={"unexpected": 1}, headers=staff)
            assert r.status_code == 422, (action, r.text)
            assert r.json()["errors"], action


def _token_signed_elsewhere() -> str:
    return jwt.encode({"sub": "x", "role": "staff"}, "another-secret-entirely-0123456789", algorithm="HS256")
