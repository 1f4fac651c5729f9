"""A security alert reaches every volunteer on mission in the country, by email and SMS, whatever their opt-outs."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder, Mailpit
from vies_notifications import local_time
from vies_notifications.app import create
from vies_notifications.domain.routing import CATEGORIES
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.base import Event
from vies_shared.events.envelope import encode
from vies_shared.events.missions import MissionPlanned, MissionStarted, SecurityAlertIssued
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration

VOLUNTEERS = 50
MESSAGE = "Unrest in Cotonou: stay at home, keep away from the port. Rally point if needed: the centre, rue 12."


async def _publish_many(bootstrap: str, items: list[tuple[str, Event, str | None]]) -> None:
    """Publish many contract events with one plain producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for topic, event, region in items:
            _, message = encode(event, region=region)
            headers = [(k, v.encode()) for k, v in message.headers.items()]
            futures.append(await producer.send(topic, value=message.value, key=message.key.encode(), headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def test_security_alert_reaches_all_fifty_volunteers_by_email_and_sms_despite_opt_outs(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    missions = events_topic("missions", topic_prefix)
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications", NotificationsSettings, sms_provider_url=f"{sms.url}/sms", delivery_poll_seconds=0.1
        )
        async with running(create(settings), settings) as svc:
            volunteers = [f"v{n:02d}-{test_id}" for n in range(VOLUNTEERS)]
            # Half of them opted out of every category they could.
            for volunteer in volunteers[::2]:
                r = await svc.client.put(
                    f"/preferences/{volunteer}",
                    json={"language": "en", "opt_out_categories": list(CATEGORIES)},
                    headers=svc.auth("volunteer", sub=volunteer),
                )
                assert r.status_code == 200, r.text
            items: list[tuple[str, Event, str | None]] = []
            for n, volunteer in enumerate(volunteers):
                items.append(
                    (
                        contacts_topic(topic_prefix),
                        ContactUpdated(
                            person_id=volunteer,
                            name=f"Volunteer {n}",
                            email=f"{volunteer}@example.org",
                            phone=f"+22177{n:07d}",
                            language="fr",
                        ),
                        None,
                    )
                )
                mission = f"m{n:02d}-{test_id}"
                items.append(
                    (
                        missions,
                        MissionPlanned(
                            mission_id=mission,
                            engagement_id=f"e{n}",
                            volunteer_id=volunteer,
                            authority_id="a-1",
                            partner_id="p-1",
                            country="BJ",
                            scheme="vsi",
                            starts_on=date(2027, 1, 1),
                            ends_on=date(2027, 12, 31),
                        ),
                        "FR-OCC",
                    )
                )
                items.append((missions, MissionStarted(mission_id=mission, departed_on=date(2027, 1, 1)), "FR-OCC"))
            # A volunteer whose mission in the same country has not started, and one elsewhere: not alerted.
            items.append(
                (
                    missions,
                    MissionPlanned(
                        mission_id=f"later-{test_id}",
                        engagement_id="e-later",
                        volunteer_id=f"later-{test_id}",
                        authority_id="a-1",
                        partner_id="p-1",
                        country="BJ",
                        scheme="vsi",
                        starts_on=date(2027, 6, 1),
                        ends_on=date(2027, 12, 31),
                    ),
                    "FR-OCC",
                )
            )
            await _publish_many(bootstrap, items)
            staff = svc.auth("staff")
            respond_by = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
            local = local_time.written(respond_by, "Africa/Porto-Novo")

            async def missions_known() -> bool:
                # Plannings and starts notify nobody here: wait until the projection holds the 50 started missions.
                return await svc.runtime.db["missions"].count_documents({"status": "started"}) == VOLUNTEERS

            await wait_until(missions_known, timeout=60, message="50 started missions projected")
            alert_id = await publish_event(
                bootstrap,
                missions,
                SecurityAlertIssued(
                    alert_id=f"al-{test_id}",
                    country="BJ",
                    level="crisis",
                    respond_by=respond_by,
                    message=MESSAGE,
                    respond_within_hours=2,
                ),
            )

            async def all_sent() -> bool:
                log = (
                    await svc.client.get(
                        "/notifications", params={"event_id": alert_id, "status": "sent", "limit": 200}, headers=staff
                    )
                ).json()
                return log["total"] == 2 * VOLUNTEERS

            await wait_until(all_sent, timeout=60, message="100 alert notifications sent")
            mailpit = Mailpit(vies_stack.mailpit_url)
            messages = await mailpit.wait_for(test_id, VOLUNTEERS, timeout=30, where=lambda m: "ALERT" in m["Subject"])
            assert Counter(m["To"][0]["Address"] for m in messages) == {f"{v}@example.org": 1 for v in volunteers}
            # Opted-out volunteers chose English; the others are written to in French (their contact language).
            english = {m["To"][0]["Address"] for m in messages if m["Subject"].startswith("SECURITY ALERT BJ")}
            french = {m["To"][0]["Address"] for m in messages if m["Subject"].startswith("ALERTE SÉCURITÉ BJ")}
            assert english == {f"{v}@example.org" for v in volunteers[::2]}
            assert french == {f"{v}@example.org" for v in volunteers[1::2]}
            phones = Counter(r.json()["to"] for r in sms.on("/sms"))
            assert phones == {f"+22177{n:07d}": 1 for n in range(VOLUNTEERS)}
            # The instructions and the deadline on the volunteer's clock, written with its zone.
            body = (await mailpit.message(messages[0]["ID"]))["Text"]
            assert MESSAGE in body and local in body and "Africa/Porto-Novo" in local
            texts = {r.json()["text"] for r in sms.on("/sms")}
            assert all(
                MESSAGE[:40] in t and local in t and t.endswith(f"/volunteer/safety-checks/al-{test_id}") for t in texts
            )
