"""Duty of care across missions and notifications, real Kafka, MongoDB, Mailpit, SMS.

Two missions replicas on one database (the ladder without its lease, so both schedulers run it)
and the notifications service, in this process, on the test's own topics:
- a crisis alert with a message, in a country with volunteers in two subdivisions, targeted at one:
  only the volunteers there get the email and the SMS, both with the message and the deadline on
  the local clock;
- at half-time the one who has not answered gets the reminder (and only once);
- at the deadline the centre and the duty officer receive the unaccounted list (once);
- an incident left unacknowledged goes up to head office: the duty officer's SMS and email.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder, Mailpit
from vies_missions import scheduler
from vies_missions.app import create as create_missions
from vies_missions.domain.mission import mission_id_for
from vies_missions.settings import MissionsSettings
from vies_notifications import local_time
from vies_notifications.app import create as create_notifications
from vies_notifications.settings import NotificationsSettings
from vies_shared import safety_link
from vies_shared.events.recruitment import ContactUpdated, VolunteerEngaged
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHECKLIST = ("training", "insurance", "visa", "travel_registration", "emergency_contact")
MESSAGE = "Unrest in Dakar: stay at home, keep away from the Plateau. Rally point: the centre, rue 10."


def _at(offset: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + offset


async def _mails(mailpit: Mailpit, query: str) -> Counter[tuple[str, str]]:
    return Counter((m["To"][0]["Address"], m["Subject"]) for m in await mailpit.search(query))


async def test_a_targeted_crisis_alert_its_ladder_and_an_incident_escalation_reach_the_right_people(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    tid = test_id
    bootstrap = vies_stack.kafka_bootstrap
    duty_email, duty_phone = f"duty-{tid}@example.org", "+33644444444"
    missions_db = f"t{tid}_missions"
    ladder: dict[str, Any] = {
        "mongodb_db": missions_db,
        "safety_ladder_exclusive": False,
        "safety_deadline_scan_seconds": 0.2,
        "safety_reminder_before_deadline_seconds": 600,
        "incident_escalation_scan_seconds": 0.2,
        "incident_escalation_delay_seconds": 1800,
    }
    settings_a = vies_settings("missions", MissionsSettings, **ladder)
    settings_b = vies_settings("missions", MissionsSettings, **ladder)
    async with HttpRecorder() as sms:
        notifications = vies_settings(
            "notifications",
            NotificationsSettings,
            sms_provider_url=f"{sms.url}/sms",
            duty_officer_email=duty_email,
            duty_officer_phone=duty_phone,
            delivery_poll_seconds=0.1,
        )
        async with (
            running(create_notifications(notifications), notifications) as notes,
            running(create_missions(settings_a), settings_a) as a,
            running(create_missions(settings_b), settings_b) as b,
        ):
            # Three volunteers in Senegal: two in Dakar, one in Thiès.
            volunteers = [f"v{n}-{tid}" for n in range(3)]
            places = [("Dakar", "SN-DK"), ("Dakar", "SN-DK"), ("Thiès", "SN-TH")]
            missions: list[str] = []
            for n, volunteer in enumerate(volunteers):
                contact = ContactUpdated(
                    person_id=volunteer,
                    name=f"Volunteer {n}",
                    email=f"{volunteer}@example.org",
                    phone=f"+22177{n:07d}",
                    language="en",
                )
                await publish_event(bootstrap, contacts_topic(topic_prefix), contact)
                engaged = VolunteerEngaged(
                    engagement_id=f"eng{n}-{tid}",
                    application_id=f"app{n}-{tid}",
                    volunteer_id=volunteer,
                    position_id=f"pos-{tid}",
                    authority_id="auth-1",
                    partner_id="p-1",
                    country="SN",
                    scheme="vsi",
                    starts_on=date(2026, 1, 5),
                    ends_on=date(2026, 12, 31),
                )
                await publish_event(bootstrap, events_topic("recruitment", topic_prefix), engaged)
                missions.append(mission_id_for(engaged.engagement_id))
            centre = a.auth("centre", country="SN")

            async def planned() -> bool:
                return await a.runtime.db["missions"].count_documents({"_id": {"$in": missions}}) == 3

            await wait_until(planned, timeout=60, message="three missions planned")
            for mission_id, (city, subdivision) in zip(missions, places, strict=True):
                for item in CHECKLIST:
                    r = await a.client.post(
                        f"/missions/{mission_id}/checklist",
                        json={"item": item, "done_on": "2026-01-01"},
                        headers=centre,
                    )
                    assert r.status_code == 200, r.text
                r = await a.client.post(
                    f"/missions/{mission_id}/start", json={"departed_on": "2026-01-05"}, headers=centre
                )
                assert r.status_code == 200, r.text
                r = await a.client.put(
                    f"/missions/{mission_id}/place", json={"city": city, "subdivision": subdivision}, headers=centre
                )
                assert r.status_code == 200, r.text

            async def started_and_known() -> bool:
                db = notes.runtime.db
                return (
                    await db["missions"].count_documents({"_id": {"$in": missions}, "status": "started"}) == 3
                    and await db["contacts"].count_documents({"_id": {"$in": volunteers}}) == 3
                )

            await wait_until(started_and_known, timeout=60, message="notifications knows the started missions")

            # The crisis alert for Dakar only.
            alert = {
                "country": "SN",
                "level": "crisis",
                "message": MESSAGE,
                "respond_within_hours": 4,
                "subdivisions": ["SN-DK"],
            }
            r = await a.client.post("/security-alerts", json=alert, headers=centre)
            assert r.status_code == 201, r.text
            alert_id, respond_by = r.json()["alert_id"], r.json()["respond_by"]
            local = local_time.written(respond_by, "Africa/Dakar")
            mailpit = Mailpit(vies_stack.mailpit_url)
            alerted = await mailpit.wait_for(
                tid, 2, timeout=60, where=lambda m: m["Subject"] == "SECURITY ALERT SN (crisis): confirm you are safe"
            )
            assert sorted(m["To"][0]["Address"] for m in alerted) == sorted(f"{v}@example.org" for v in volunteers[:2])
            for mail in alerted:
                text = (await mailpit.message(mail["ID"]))["Text"]
                assert MESSAGE in text and local in text

            async def sms_to(phone: str, start: str, count: int = 1) -> list[str]:
                async def found() -> list[str] | None:
                    texts = [r.json()["text"] for r in sms.on("/sms") if r.json()["to"] == phone]
                    texts = [t for t in texts if t.startswith(start)]
                    return texts if len(texts) >= count else None

                result: list[str] = await wait_until(found, timeout=60, message=f"SMS {start!r} to {phone}")
                return result

            for n in (0, 1):
                [text] = await sms_to(f"+22177{n:07d}", "VIES ALERT SN (crisis)")
                assert MESSAGE[:60] in text and local in text
                # The volunteer's own one-tap answer link, for this alert and this mission only.
                token = text.rsplit("/s/", 1)[1]
                dev_keys = safety_link.keys_from("", "dev")
                assert safety_link.read(dev_keys, token) == safety_link.SafetyLink(alert_id, missions[n])
            assert not [r for r in sms.on("/sms") if r.json()["to"] == "+221770000002"]  # Thiès: not asked

            # The first volunteer answers; at half-time the second is reminded, by both replicas' ladders at once.
            r = await a.client.post(
                f"/security-alerts/{alert_id}/responses",
                json={"mission_id": missions[0], "status": "safe"},
                headers=a.auth("volunteer", sub=volunteers[0]),
            )
            assert r.status_code == 201, r.text

            async def race(offset: timedelta) -> None:
                for svc in (a, b):
                    svc.runtime.extras["clock"] = _at(offset)
                await asyncio.gather(
                    *[scheduler.remind_unanswered_volunteers(s.runtime) for s in (a, b, a, b)],
                    *[scheduler.close_due_safety_checks(s.runtime) for s in (a, b)],
                    *[scheduler.escalate_unacknowledged_incidents(s.runtime) for s in (a, b)],
                )

            await race(timedelta(hours=2, minutes=1))
            reminder = "REMINDER: security alert SN (crisis), confirm you are safe"
            await mailpit.wait_for(
                f"to:{volunteers[1]}@example.org", 1, timeout=60, where=lambda m: m["Subject"] == reminder
            )
            await sms_to("+221770000001", "VIES REMINDER SN")

            # The deadline: the unaccounted list to the centre and the duty officer.
            await race(timedelta(hours=4, minutes=1))
            unaccounted = "Contrôle de sécurité clos : 1 volontaire(s) sans nouvelles (SN)"
            await mailpit.wait_for(f"to:{duty_email}", 1, timeout=60, where=lambda m: m["Subject"] == unaccounted)
            await sms_to(duty_phone, "VIES URGENT : contrôle")
            await sms_to("+221300000001", "VIES URGENT : contrôle")  # the centre in Dakar

            # An incident nobody acknowledges goes up to head office: the duty officer's SMS and email.
            r = await a.client.post(
                f"/missions/{missions[2]}/incidents",
                json={"category": "security", "severity": "critical", "description": "road block, car attacked"},
                headers=a.auth("volunteer", sub=volunteers[2]),
            )
            assert r.status_code == 201, r.text
            await race(timedelta(hours=4, minutes=40))
            escalation = f"ESCALADE : incident critical non pris en charge, mission {missions[2]} (SN)"
            await mailpit.wait_for(f"to:{duty_email}", 1, timeout=60, where=lambda m: m["Subject"] == escalation)
            await sms_to(duty_phone, "VIES ESCALADE")

            # Each step went out once, although two schedulers ran it.
            await race(timedelta(hours=5))
            await asyncio.sleep(1)  # let anything extra reach the mailbox (none should)
            mails = await _mails(mailpit, tid)
            assert mails[(f"{volunteers[1]}@example.org", reminder)] == 1
            assert (f"{volunteers[0]}@example.org", reminder) not in mails  # answered: not reminded
            assert mails[(duty_email, unaccounted)] == 1 and mails[(duty_email, escalation)] == 1
            cursor = a.runtime.db["outbox"].find({"key": alert_id}, {"type": 1})
            types = Counter([doc["type"] async for doc in cursor])
            assert types["missions.SafetyCheckReminded"] == 1 and types["missions.SafetyCheckClosed"] == 1
