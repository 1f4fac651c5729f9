"""The one-tap safety answer link against real Kafka and MongoDB: read, answer, replace, refuse, expire."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start

from vies_dev.testing.helpers import running
from vies_shared.safety_link import mint

pytestmark = pytest.mark.integration

KEYS = [b"missions-test-safety-link-key-0123456789"]


async def test_a_link_answers_for_its_volunteer_and_alert_only_until_it_expires(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(
        vies_settings, safety_link_keys=KEYS[0].decode(), safety_link_valid_days=1, safety_link_per_minute=20
    )
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        today = datetime.now(UTC).date()
        events = [engagement(country="SN") for _ in range(2)]
        mine, other = [await plan(svc, bootstrap, topic_prefix, e) for e in events]
        for mission_id in (mine, other):
            await start(svc, mission_id, today)
        elsewhere = await plan(svc, bootstrap, topic_prefix, engagement(country="BF"))
        await start(svc, elsewhere, today, country="BF")
        centre = svc.auth("centre", country="SN")
        alert = {"country": "SN", "level": "crisis", "message": "Restez chez vous.", "respond_within_hours": 6}
        r = await svc.client.post("/security-alerts", json=alert, headers=centre)
        assert r.status_code == 201, r.text
        alert_id = r.json()["alert_id"]
        entries = svc.runtime.db["safety_entries"]
        token = mint(KEYS, alert_id, mine)

        # Opening the link (as a mail scanner would) shows the alert and records nothing.
        r = await svc.client.get(f"/safety-links/{token}")
        assert r.status_code == 200, r.text
        page = r.json()
        assert (page["country"], page["level"], page["message"]) == ("SN", "crisis", "Restez chez vous.")
        assert page["check_status"] == "open" and page["link_expires_at"] is None
        assert page["answer"] == {"status": "pending", "responded_at": None, "after_close": False}
        volunteer_id = events[0].volunteer_id
        assert volunteer_id not in r.text and mine not in r.text  # nothing about the person
        assert (await entries.find_one({"alert_id": alert_id, "mission_id": mine}))["status"] == "pending"

        # Answer safe, then need help: the second replaces the first, with its own time and an incident.
        r = await svc.client.post(f"/safety-links/{token}/answer", json={"status": "safe"})
        assert r.status_code == 200, r.text
        first = await entries.find_one({"alert_id": alert_id, "mission_id": mine})
        assert (first["status"], first["responded_via"], first["responded_by_role"]) == ("safe", "link", "volunteer")
        r = await svc.client.post(f"/safety-links/{token}/answer", json={"status": "need_help"})
        assert r.status_code == 200, r.text
        assert r.json()["answer"]["status"] == "need_help"
        second = await entries.find_one({"alert_id": alert_id, "mission_id": mine})
        assert second["status"] == "need_help" and second["responded_at"] > first["responded_at"]
        incident = await svc.runtime.db["incidents"].find_one({"_id": second["incident_id"]})
        assert incident and (incident["mission_id"], incident["severity"]) == (mine, "critical")
        assert (await entries.find_one({"alert_id": alert_id, "mission_id": other}))["status"] == "pending"

        # What a token cannot do: another key, another mission, another alert, a changed character, a bad bearer.
        refused = {
            "another key": mint([b"x" * 40], alert_id, mine),
            "a mission this check does not ask": mint(KEYS, alert_id, elsewhere),
            "another alert": mint(KEYS, "alert-0000000000000000", mine),
            "tampered": token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
            "garbage": "not-a-link",
        }
        for name, bad in refused.items():
            for method, path, body in (("GET", "", None), ("POST", "/answer", {"status": "safe"})):
                r = await svc.client.request(method, f"/safety-links/{bad}{path}", json=body)
                assert (r.status_code, r.json()["error"]) == (404, "unknown_link"), (name, method, r.text)
        r = await svc.client.get(f"/safety-links/{token}", headers={"Authorization": "Bearer nonsense"})
        assert r.status_code == 401
        r = await svc.client.post(f"/safety-links/{token}/answer", json={"status": "maybe"})
        assert r.status_code == 422
        assert (await entries.find_one({"alert_id": alert_id, "mission_id": mine}))["status"] == "need_help"

        # Closed: the link still answers (after_close) for a day, then shows that it expired and records nothing.
        r = await svc.client.post(f"/security-alerts/{alert_id}/close", headers=centre)
        assert r.status_code == 200, r.text
        r = await svc.client.post(f"/safety-links/{token}/answer", json={"status": "safe"})
        assert r.status_code == 200, r.text
        assert r.json()["answer"]["after_close"] is True and r.json()["link_expires_at"]
        svc.runtime.extras["clock"] = lambda: datetime.now(UTC) + timedelta(days=1, minutes=1)
        r = await svc.client.get(f"/safety-links/{token}")
        assert (r.status_code, r.json()["error"]) == (410, "link_expired"), r.text
        r = await svc.client.post(f"/safety-links/{token}/answer", json={"status": "need_help"})
        assert r.status_code == 410
        assert (await entries.find_one({"alert_id": alert_id, "mission_id": mine}))["status"] == "safe"

        # Limited per client address: a script hammering the endpoint gets 429 with Retry-After. The limiter's
        # clock stands still meanwhile, so no call earns a token back however slow the machine is.
        limiter = svc.app.state.safety_link_limiters["read"]
        still = time.monotonic()
        limiter.clock = lambda: still
        statuses = [(await svc.client.get("/safety-links/not-a-link")).status_code for _ in range(25)]
        assert 429 in statuses
        r = await svc.client.get("/safety-links/not-a-link")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
