"""Missions from engagements: one mission per engagement however often it is delivered."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from missions_testkit import app_for, count_is, engagement, plan, settings_for

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_missions.domain.mission import mission_id_for
from vies_shared.events.partners import AuthorityRegistered
from vies_shared.events.topics import dlq_topic, events_topic

pytestmark = pytest.mark.integration


async def _all_published(svc: Any) -> bool:
    return await svc.runtime.db["outbox"].count_documents({"published_at": None}) == 0


async def test_engagement_delivered_twice_plans_one_mission(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        await publish_event(
            bootstrap,
            events_topic("partners", topic_prefix),
            AuthorityRegistered(
                authority_id="auth-ara",
                name="Région Auvergne-Rhône-Alpes",
                kind="region",
                region="FR-ARA",
                contact_email="international@ara.example.fr",
                territoires_volontaires=True,
            ),
        )
        await wait_until(lambda: svc.runtime.db["authorities"].find_one({"_id": "auth-ara"}), message="authority")

        event = engagement(country="SN", authority_id="auth-ara")
        recruitment = events_topic("recruitment", topic_prefix)
        # The same event twice (same ce_id), then the same engagement again under a new ce_id.
        await publish_event(bootstrap, recruitment, event, times=2)
        await publish_event(bootstrap, recruitment, event)
        await wait_until(
            lambda: count_is(svc.runtime.db["inbox"], {"type": "recruitment.VolunteerEngaged"}, 2),
            message="both distinct deliveries handled",
        )
        mission_id = mission_id_for(event.engagement_id)
        assert await svc.runtime.db["missions"].count_documents({}) == 1

        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        [planned] = await probe.wait_for("missions.MissionPlanned")
        await wait_until(lambda: _all_published(svc), message="outbox drained")
        assert len(await probe.events("missions.MissionPlanned")) == 1
        assert planned["key"] == mission_id
        assert planned["headers"]["ce_region"] == "FR-ARA"
        assert planned["headers"]["ce_source"] == "/vies/missions"
        value = planned["value"]
        assert value["engagement_id"] == event.engagement_id
        assert value["volunteer_id"] == event.volunteer_id
        assert value["centre_id"] == "ev-sn"
        assert value["country"] == "SN" and value["scheme"] == "vsi"
        assert value["starts_on"] == event.starts_on.isoformat() and value["ends_on"] == event.ends_on.isoformat()

        # Reading: staff, the centre of the country, the authority, the volunteer; others 403.
        r = await svc.client.get(f"/missions/{mission_id}", headers=svc.auth("staff"))
        assert r.status_code == 200, r.text
        mission = r.json()
        assert mission["status"] == "planned" and mission["region"] == "FR-ARA"
        assert [f["stage"] for f in mission["follow_ups"]] == ["start", "mid", "end"]
        assert (await svc.client.get(f"/missions/{mission_id}")).status_code == 401
        bad = {"Authorization": "Bearer not-a-token"}
        assert (await svc.client.get(f"/missions/{mission_id}", headers=bad)).status_code == 401
        allowed = [
            svc.auth("centre", country="SN"),
            svc.auth("authority", authority_id="auth-ara"),
            svc.auth("branch", region="FR-ARA"),
            svc.auth("volunteer", sub=event.volunteer_id),
        ]
        for headers in allowed:
            assert (await svc.client.get(f"/missions/{mission_id}", headers=headers)).status_code == 200
        denied = [
            svc.auth("centre", country="BF"),
            svc.auth("authority", authority_id="someone-else"),
            svc.auth("branch", region="FR-IDF"),
            svc.auth("volunteer", sub="another-volunteer"),
            svc.auth("partner"),
        ]
        for headers in denied:
            assert (await svc.client.get(f"/missions/{mission_id}", headers=headers)).status_code == 403
        assert (await svc.client.get("/missions/nope", headers=svc.auth("staff"))).status_code == 404

        # Lists follow the caller's scope.
        r = await svc.client.get("/missions", params={"country": "SN"}, headers=svc.auth("branch", region="FR-ARA"))
        assert r.status_code == 200 and r.json()["total"] == 1
        r = await svc.client.get("/missions", headers=svc.auth("branch", region="FR-IDF"))
        assert r.json()["total"] == 0
        r = await svc.client.get("/missions", params={"status": "bogus"}, headers=svc.auth("staff"))
        assert r.status_code == 422

        # What the service publishes and consumes is documented.
        channels = (await svc.client.get("/asyncapi.json")).json()["channels"]
        assert "missions.CheckInMissed:publish" in channels and "missions.SafetyCheckClosed:publish" in channels
        assert any("recruitment.contacts" in name for name in channels)


async def test_reciprocity_and_countries_without_centre(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        hosted = await plan(svc, bootstrap, topic_prefix, engagement(country="TN", scheme="reciprocity"))
        no_centre = await plan(svc, bootstrap, topic_prefix, engagement(country="MX"))
        staff = svc.auth("staff")
        reciprocity = (await svc.client.get(f"/missions/{hosted}", headers=staff)).json()
        # Hosted in France by the authority, supported by the head office; no Ariane nor pre-departure training.
        assert reciprocity["country"] == "FR" and reciprocity["origin_country"] == "TN"
        assert reciprocity["centre_id"] == "head-office"
        assert reciprocity["checklist"]["required"] == [
            "insurance",
            "visa",
            "emergency_contact",
            "housing",
            "tutor",
            "french_classes",
            "return_commitment",
        ]
        mexico = (await svc.client.get(f"/missions/{no_centre}", headers=staff)).json()
        assert mexico["country"] == "MX" and mexico["centre_id"] == "head-office"


async def test_an_engagement_that_cannot_be_planned_goes_to_the_dead_letters(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings, handler_attempts=2)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        broken = engagement(country="SN").model_copy(update={"ends_on": date(2025, 1, 1)})  # ends before it starts
        recruitment = events_topic("recruitment", topic_prefix)
        await publish_event(bootstrap, recruitment, broken)
        fine = engagement(country="SN")
        mission_id = await plan(svc, bootstrap, topic_prefix, fine)  # the consumer moved on
        assert await svc.runtime.db["missions"].count_documents({}) == 1
        dlq = KafkaProbe(bootstrap, [dlq_topic("missions", topic_prefix)])
        [dead] = await dlq.wait_for("recruitment.VolunteerEngaged")
        assert dead["key"] == broken.engagement_id and dead["headers"]["dlq_reason"] == "handler_failed"
        assert "ends_on" in dead["headers"]["dlq_error"]
        assert mission_id
