"""Incidents: report, escalation to the centre then the head office, acknowledgement, resolution, lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start

from vies_dev.testing import KafkaProbe, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def test_incidents_escalate_until_acknowledged(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = settings_for(vies_settings, incident_escalation_delay_seconds=600)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        event = engagement(country="SN")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        await start(svc, mission_id, datetime.now(UTC).date())
        volunteer = svc.auth("volunteer", sub=event.volunteer_id)
        centre = svc.auth("centre", country="SN")
        base = f"/missions/{mission_id}/incidents"

        r = await svc.client.post(
            base, json={"category": "health", "severity": "low", "description": "flu"}, headers=volunteer
        )
        assert r.status_code == 201, r.text
        minor = r.json()
        assert minor["escalated_to"] is None and minor["status"] == "open"
        r = await svc.client.post(
            base, json={"category": "security", "severity": "high", "description": "robbery"}, headers=volunteer
        )
        assert r.status_code == 201
        serious = r.json()
        assert serious["escalated_to"] == "centre"
        r = await svc.client.post(
            base, json={"category": "weather", "severity": "high", "description": "x"}, headers=centre
        )
        assert r.status_code == 422
        r = await svc.client.post(
            base, json={"category": "health", "severity": "low", "description": "x"}, headers=svc.auth("authority")
        )
        assert r.status_code == 403

        # An urgent check-in opens a critical incident by itself.
        r = await svc.client.post(
            f"/missions/{mission_id}/check-ins", json={"status": "urgent", "note": "need evacuation"}, headers=volunteer
        )
        assert r.status_code == 201
        urgent_id = r.json()["incident_id"]
        urgent = (await svc.client.get(f"/incidents/{urgent_id}", headers=volunteer)).json()
        assert urgent["severity"] == "critical" and urgent["source"] == "urgent_check_in"
        # What the duty officer's page lists: escalated ones only, chosen by the API.
        r = await svc.client.get("/incidents", params={"open": "true", "escalated": "true"}, headers=svc.auth("staff"))
        assert r.status_code == 200
        assert {i["incident_id"] for i in r.json()["items"]} == {serious["incident_id"], urgent_id}

        # The centre acknowledges one serious incident; nobody acknowledges the other.
        assert (
            await svc.client.post(f"/incidents/{serious['incident_id']}/acknowledge", headers=volunteer)
        ).status_code == 403
        r = await svc.client.post(f"/incidents/{serious['incident_id']}/acknowledge", headers=centre)
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        assert (
            await svc.client.post(f"/incidents/{serious['incident_id']}/acknowledge", headers=centre)
        ).status_code == 409

        # After the delay, the unacknowledged one goes to the head office (once).
        svc.runtime.extras["clock"] = lambda: datetime.now(UTC) + timedelta(seconds=601)

        async def escalated() -> bool:
            doc = await svc.client.get(f"/incidents/{urgent_id}", headers=centre)
            return bool(doc.json()["escalated_to"] == "head_office")

        await wait_until(escalated, message="escalated to the head office")
        acknowledged = (await svc.client.get(f"/incidents/{serious['incident_id']}", headers=centre)).json()
        assert acknowledged["escalated_to"] == "centre"
        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        escalations = await probe.wait_for("missions.IncidentEscalated", 3)
        assert sorted((e["value"]["incident_id"], e["value"]["escalated_to"]) for e in escalations) == sorted(
            [(serious["incident_id"], "centre"), (urgent_id, "centre"), (urgent_id, "head_office")]
        )

        # Resolution with a note; lists per mission, per country, open only.
        r = await svc.client.post(f"/incidents/{urgent_id}/resolve", json={"resolution": ""}, headers=centre)
        assert r.status_code == 422
        r = await svc.client.post(
            f"/incidents/{urgent_id}/resolve", json={"resolution": "evacuated to Dakar"}, headers=centre
        )
        assert r.status_code == 200 and r.json()["status"] == "resolved"
        r = await svc.client.post(f"/incidents/{urgent_id}/resolve", json={"resolution": "again"}, headers=centre)
        assert r.status_code == 409
        r = await svc.client.get(f"/missions/{mission_id}/incidents", headers=volunteer)
        assert r.json()["total"] == 3
        r = await svc.client.get("/incidents", params={"country": "SN", "open": "true"}, headers=centre)
        assert sorted(i["incident_id"] for i in r.json()["items"]) == sorted(
            [minor["incident_id"], serious["incident_id"]]
        )
        r = await svc.client.get("/incidents", params={"country": "SN"}, headers=svc.auth("centre", country="BF"))
        assert r.json()["total"] == 0
        r = await svc.client.get("/incidents", headers=svc.auth("volunteer", sub="someone-else"))
        assert r.json()["total"] == 0
        assert (await svc.client.get("/incidents/nope", headers=centre)).status_code == 404
        [resolved] = await probe.wait_for("missions.IncidentResolved")
        assert resolved["value"] == {"incident_id": urgent_id, "mission_id": mission_id}
        [acked] = await probe.wait_for("missions.IncidentAcknowledged")
        assert acked["value"]["incident_id"] == serious["incident_id"]
        reported = await probe.wait_for("missions.IncidentReported", 3)
        assert {e["value"]["partner_id"] for e in reported} == {event.partner_id}
