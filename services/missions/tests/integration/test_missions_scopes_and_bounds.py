"""Scopes that hold (the volunteer's checklist items, the host partner's view) and bounded input and lists."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from missions_testkit import app_for, count_is, engagement, plan, settings_for, start

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import contacts_topic
from vies_shared.reference import centre_for_country

pytestmark = pytest.mark.integration

PARTNER_VIEW_KEYS = {
    "mission_id",
    "partner_id",
    "authority_id",
    "country",
    "origin_country",
    "scheme",
    "status",
    "starts_on",
    "ends_on",
    "departed_on",
    "ended_on",
    "volunteer",
    "centre",
}


async def test_a_volunteer_ticks_only_their_own_checklist_items(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    async with running(app_for(settings), settings) as svc:
        event = engagement(country="SN")
        mission_id = await plan(svc, vies_stack.kafka_bootstrap, topic_prefix, event)
        path = f"/missions/{mission_id}/checklist"
        volunteer = svc.auth("volunteer", sub=event.volunteer_id)
        # Insurance and visa are certified by the centre (or staff), never by the volunteer.
        for item in ("visa", "insurance"):
            r = await svc.client.post(path, json={"item": item, "done_on": "2026-01-02"}, headers=volunteer)
            assert r.status_code == 403, (item, r.text)
        doc = await svc.runtime.db["missions"].find_one({"_id": mission_id})
        assert doc["checklist"] == {}
        # The items that are the volunteer's own.
        for item in ("training", "travel_registration", "emergency_contact"):
            r = await svc.client.post(path, json={"item": item, "done_on": "2026-01-02"}, headers=volunteer)
            assert r.status_code == 200, (item, r.text)
        # Someone else's mission: nothing.
        stranger = svc.auth("volunteer", sub="vol-someone-else")
        r = await svc.client.post(path, json={"item": "training", "done_on": "2026-01-02"}, headers=stranger)
        assert r.status_code == 403
        centre = svc.auth("centre", country="SN")
        for item in ("visa", "insurance"):
            r = await svc.client.post(path, json={"item": item, "done_on": "2026-01-03"}, headers=centre)
            assert r.status_code == 200, (item, r.text)
        assert r.json()["checklist"]["missing"] == []


async def test_the_host_partner_reads_its_missions_through_a_partner_view(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    host, other = f"par-{test_id}", f"par-other-{test_id}"
    async with running(app_for(settings), settings) as svc:
        hosted = engagement(country="SN", partner_id=host)
        planned = engagement(country="SN", partner_id=host)
        elsewhere = engagement(country="SN", partner_id=other)
        secret_word = f"secret-{uuid.uuid4().hex[:8]}"
        await publish_event(
            bootstrap,
            contacts_topic(topic_prefix),
            ContactUpdated(
                person_id=hosted.volunteer_id,
                name="Awa Diallo-Surname",
                email=f"awa-{test_id}@example.org",
                phone="+221770009999",
                language="fr",
            ),
        )
        mission_id = await plan(svc, bootstrap, topic_prefix, hosted)
        planned_id = await plan(svc, bootstrap, topic_prefix, planned)
        other_id = await plan(svc, bootstrap, topic_prefix, elsewhere)
        await wait_until(
            lambda: count_is(svc.runtime.db["contacts"], {"_id": hosted.volunteer_id}, 1), message="contact projected"
        )
        await start(svc, mission_id, datetime.now(UTC).date())
        volunteer = svc.auth("volunteer", sub=hosted.volunteer_id)
        r = await svc.client.post(
            f"/missions/{mission_id}/check-ins", json={"status": "concern", "note": secret_word}, headers=volunteer
        )
        assert r.status_code == 201, r.text
        r = await svc.client.post(
            f"/missions/{mission_id}/incidents",
            json={"category": "health", "severity": "high", "description": secret_word},
            headers=volunteer,
        )
        assert r.status_code == 201, r.text
        incident_id = r.json()["incident_id"]

        partner = svc.auth("partner", sub=f"user-{host}", partner_id=host)
        r = await svc.client.get("/missions", headers=partner)
        assert r.status_code == 200, r.text
        listing = r.json()
        assert sorted(m["mission_id"] for m in listing["items"]) == sorted([mission_id, planned_id])
        assert listing["total"] == 2
        r = await svc.client.get(f"/missions/{mission_id}", headers=partner)
        assert r.status_code == 200, r.text
        view = r.json()
        assert set(view) == PARTNER_VIEW_KEYS
        assert view["status"] == "started" and view["country"] == "SN"
        assert view["starts_on"] == hosted.starts_on.isoformat() and view["departed_on"] is not None
        assert view["volunteer"] == {"first_name": "Awa"}
        centre = centre_for_country("SN")
        assert view["centre"] == {
            "centre_id": centre.centre_id,
            "city": centre.city,
            "email": centre.email,
            "phone": centre.phone,
        }
        assert [m for m in listing["items"] if m["mission_id"] == mission_id] == [view]
        text = json.dumps(listing) + json.dumps(view)
        for hidden in (
            "Surname",
            f"awa-{test_id}@example.org",
            "+221770009999",
            hosted.volunteer_id,
            secret_word,
            "check_ins",
            "checklist",
            "debrief",
            "review",
            "interruption",
            "follow_ups",
        ):
            assert hidden not in text, hidden
        # Another partner's mission, and everything beyond the mission itself: refused.
        assert (await svc.client.get(f"/missions/{other_id}", headers=partner)).status_code == 403
        for path in (
            f"/missions/{mission_id}/check-ins",
            f"/missions/{mission_id}/incidents",
            f"/missions/{mission_id}/follow-ups",
            f"/missions/{mission_id}/safety-checks",
            f"/incidents/{incident_id}",
            "/incidents",
            "/follow-ups?due_before=2030-01-01",
            "/security-alerts",
        ):
            r = await svc.client.get(path, headers=partner)
            assert r.status_code == 403, (path, r.status_code, r.text)
        r = await svc.client.post(
            f"/missions/{planned_id}/checklist", json={"item": "training", "done_on": "2026-01-02"}, headers=partner
        )
        assert r.status_code == 403
        # Filters stay within the partner's scope; filters on what it may not see are refused.
        r = await svc.client.get("/missions", params={"partner_id": other}, headers=partner)
        assert r.status_code == 200 and r.json()["items"] == []
        r = await svc.client.get("/missions", params={"status": "planned"}, headers=partner)
        assert [m["mission_id"] for m in r.json()["items"]] == [planned_id]
        for params in ({"flagged": "true"}, {"region": "FR-ARA"}):
            assert (await svc.client.get("/missions", params=params, headers=partner)).status_code == 403
        # The other partner sees its own mission only; a partner token without partner_id sees nothing.
        r = await svc.client.get("/missions", headers=svc.auth("partner", partner_id=other))
        assert [m["mission_id"] for m in r.json()["items"]] == [other_id]
        assert (await svc.client.get("/missions", headers=svc.auth("partner"))).status_code == 403
        assert (await svc.client.get(f"/missions/{mission_id}", headers=svc.auth("partner"))).status_code == 403
        # Staff and the centre keep the full view.
        full = (await svc.client.get(f"/missions/{mission_id}", headers=svc.auth("staff"))).json()
        assert full["volunteer_id"] == hosted.volunteer_id and "checklist" in full


async def test_oversized_input_is_refused_with_422(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = settings_for(vies_settings)
    async with running(app_for(settings), settings) as svc:
        event = engagement(country="SN")
        mission_id = await plan(svc, vies_stack.kafka_bootstrap, topic_prefix, event)
        await start(svc, mission_id, datetime.now(UTC).date())
        staff = svc.auth("staff")
        r = await svc.client.post(
            "/security-alerts",
            json={"country": "SN", "level": "info", "message": "m", "respond_within_hours": 2},
            headers=staff,
        )
        alert_id = r.json()["alert_id"]
        huge = "x" * 5000
        r = await svc.client.post(
            f"/security-alerts/{alert_id}/responses", json={"mission_id": huge, "status": "safe"}, headers=staff
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mission_id", r.text
        for path, params in (
            ("/missions", {"authority_id": huge}),
            ("/missions", {"partner_id": huge}),
            ("/missions", {"region": huge}),
            ("/missions", {"country": huge}),
            ("/incidents", {"mission_id": huge}),
            ("/incidents", {"country": huge}),
            ("/security-alerts", {"country": huge}),
            ("/follow-ups", {"due_before": "2030-01-01", "country": huge}),
            (f"/missions/{huge}", {}),
            (f"/security-alerts/{huge}", {}),
            (f"/incidents/{huge}", {}),
        ):
            r = await svc.client.get(path, params=params, headers=staff)
            assert r.status_code == 422, (path[:40], list(params), r.status_code, r.text[:200])


async def test_safety_check_status_and_the_follow_up_agenda_are_paginated(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        today = datetime.now(UTC).date()
        missions = sorted([await plan(svc, bootstrap, topic_prefix, engagement(country="TG")) for _ in range(3)])
        for mission_id in missions:
            await start(svc, mission_id, today, country="TG")
        centre = svc.auth("centre", country="TG")
        r = await svc.client.post(
            "/security-alerts",
            json={"country": "TG", "level": "vigilance", "message": "m", "respond_within_hours": 2},
            headers=centre,
        )
        alert_id = r.json()["alert_id"]
        r = await svc.client.post(
            f"/security-alerts/{alert_id}/responses", json={"mission_id": missions[0], "status": "safe"}, headers=centre
        )
        assert r.status_code == 201
        pages = []
        for offset in range(3):
            r = await svc.client.get(
                f"/security-alerts/{alert_id}", params={"limit": 1, "offset": offset}, headers=centre
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["counts"] == {"total": 3, "accounted": 1, "unaccounted": 2, "safe": 1, "need_help": 0}
            assert body["page"] == {"limit": 1, "offset": offset, "total": 3}
            pages += [e["mission_id"] for e in body["accounted"] + body["unaccounted"]]
        assert pages == missions
        whole = (await svc.client.get(f"/security-alerts/{alert_id}", headers=centre)).json()
        assert len(whole["accounted"]) + len(whole["unaccounted"]) == 3
        for params in ({"limit": 100000}, {"limit": 0}, {"offset": -1}):
            r = await svc.client.get(f"/security-alerts/{alert_id}", params=params, headers=centre)
            assert r.status_code == 422, params

        # The centre's agenda: three interviews per mission, a page at a time, in due-date order.
        r = await svc.client.get("/follow-ups", params={"due_before": "2030-01-01", "limit": 4}, headers=centre)
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["total"] == 9 and first["limit"] == 4 and first["offset"] == 0 and len(first["items"]) == 4
        rest = (
            await svc.client.get(
                "/follow-ups", params={"due_before": "2030-01-01", "limit": 200, "offset": 4}, headers=centre
            )
        ).json()
        items = first["items"] + rest["items"]
        assert len(items) == 9 and {i["mission_id"] for i in items} == set(missions)
        assert [(i["due_on"], i["mission_id"]) for i in items] == sorted((i["due_on"], i["mission_id"]) for i in items)
        assert (
            await svc.client.get("/follow-ups", params={"due_before": "2030-01-01", "limit": 1000}, headers=centre)
        ).status_code == 422
