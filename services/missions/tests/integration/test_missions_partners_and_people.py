"""Partner suspension flags missions for review; erasure removes a volunteer's personal data, keeps the facts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import PartnerReinstated, PartnerSuspended
from vies_shared.events.recruitment import ContactUpdated, PersonErased
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


async def test_partner_suspension_flags_active_missions(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        started = await plan(svc, bootstrap, topic_prefix, engagement(partner_id="p-sus"))
        await start(svc, started, datetime.now(UTC).date())
        planned = await plan(svc, bootstrap, topic_prefix, engagement(partner_id="p-sus"))
        ended = await plan(svc, bootstrap, topic_prefix, engagement(partner_id="p-sus"))
        await start(svc, ended, datetime.now(UTC).date())
        centre = svc.auth("centre", country="SN")
        r = await svc.client.post(
            f"/missions/{ended}/end",
            json={"ended_on": datetime.now(UTC).date().isoformat(), "debrief": "ok"},
            headers=centre,
        )
        assert r.status_code == 200
        other = await plan(svc, bootstrap, topic_prefix, engagement(partner_id="p-ok"))

        partners = events_topic("partners", topic_prefix)
        await publish_event(
            bootstrap, partners, PartnerSuspended(partner_id="p-sus", reason="financial irregularities")
        )
        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        flagged = await probe.wait_for("missions.MissionFlaggedForReview", 2)
        assert sorted(e["key"] for e in flagged) == sorted([started, planned])
        assert all(e["value"]["partner_id"] == "p-sus" for e in flagged)
        r = await svc.client.get("/missions", params={"flagged": "true"}, headers=svc.auth("staff"))
        assert sorted(m["mission_id"] for m in r.json()["items"]) == sorted([started, planned])
        review = (await svc.client.get(f"/missions/{started}", headers=centre)).json()["review"]
        assert "financial irregularities" in review["reason"]
        for untouched in (ended, other):
            assert (await svc.client.get(f"/missions/{untouched}", headers=centre)).json()["review"] is None

        await publish_event(bootstrap, partners, PartnerReinstated(partner_id="p-sus"))

        async def cleared() -> bool:
            r = await svc.client.get("/missions", params={"flagged": "true"}, headers=svc.auth("staff"))
            return bool(r.json()["total"] == 0)

        await wait_until(cleared, message="review flags lifted")


async def test_person_erased_keeps_anonymous_facts(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        event = engagement(country="SN")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        await start(svc, mission_id, datetime.now(UTC).date())
        volunteer = svc.auth("volunteer", sub=event.volunteer_id)
        centre = svc.auth("centre", country="SN")
        await publish_event(
            bootstrap,
            contacts_topic(topic_prefix),
            ContactUpdated(person_id=event.volunteer_id, name="Awa Diop", email="awa@example.org", language="fr"),
        )
        await wait_until(lambda: svc.runtime.db["contacts"].find_one({"_id": event.volunteer_id}), message="contact")
        r = await svc.client.post(
            f"/missions/{mission_id}/check-ins",
            json={"status": "concern", "note": "my landlord Mr X"},
            headers=volunteer,
        )
        assert r.status_code == 201
        r = await svc.client.post(
            f"/missions/{mission_id}/incidents",
            json={"category": "health", "severity": "medium", "description": "Awa has malaria"},
            headers=volunteer,
        )
        incident_id = r.json()["incident_id"]
        r = await svc.client.post(
            "/security-alerts",
            json={"country": "SN", "level": "info", "message": "Elections", "respond_within_hours": 24},
            headers=centre,
        )
        alert_id = r.json()["alert_id"]

        await publish_event(
            bootstrap, events_topic("recruitment", topic_prefix), PersonErased(person_id=event.volunteer_id)
        )

        async def erased() -> bool:
            doc = await svc.runtime.db["missions"].find_one({"_id": mission_id})
            return bool(doc and doc["erased"])

        await wait_until(erased, message="volunteer erased")
        assert await svc.runtime.db["contacts"].find_one({"_id": event.volunteer_id}) is None
        mission = (await svc.client.get(f"/missions/{mission_id}", headers=centre)).json()
        assert mission["volunteer_id"] is None
        assert mission["status"] == "started" and mission["country"] == "SN" and mission["scheme"] == "vsi"
        assert (await svc.client.get(f"/missions/{mission_id}", headers=volunteer)).status_code == 403
        check_ins = (await svc.client.get(f"/missions/{mission_id}/check-ins", headers=centre)).json()["items"]
        assert check_ins[0]["status"] == "concern" and check_ins[0]["note"] is None
        incident = (await svc.client.get(f"/incidents/{incident_id}", headers=centre)).json()
        assert incident["category"] == "health" and incident["description"] == "[erased]"
        status = (await svc.client.get(f"/security-alerts/{alert_id}", headers=centre)).json()
        [entry] = status["unaccounted"]
        assert entry["mission_id"] == mission_id and entry["volunteer_id"] is None and entry["name"] is None
