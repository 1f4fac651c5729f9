"""Each volunteer's alert email and SMS carry their own one-tap answer link, and no event or stored record does."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder, Mailpit
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import MissionPlanned, MissionStarted, SecurityAlertIssued
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import all_topics, contacts_topic, events_topic
from vies_shared.safety_link import SafetyLink, read

pytestmark = pytest.mark.integration

KEY = "notifications-test-safety-link-key-0123456789"
LINK = re.compile(r"https://portal\.test/s/([A-Za-z0-9_-]+)")


async def test_alert_messages_carry_each_volunteers_own_link_and_no_event_holds_it(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    missions_topic = events_topic("missions", topic_prefix)
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            sms_provider_url=f"{sms.url}/sms",
            delivery_poll_seconds=0.1,
            safety_link_keys=KEY,
            safety_check_url="https://portal.test/s/{token}",
            safety_check_signed_in_url="https://portal.test/volunteer/safety-checks/{alert_id}",
        )
        async with running(create(settings), settings) as svc:
            # Two volunteers the check asks, and a third on mission in the country whom it does not list
            # (its mission started after the snapshot): the third gets the signed-in page, not a link.
            people = {n: (f"v{n}-{test_id}", f"m{n}-{test_id}", f"+22178{n:07d}") for n in range(3)}
            for n, (volunteer, mission, phone) in people.items():
                contact = ContactUpdated(
                    person_id=volunteer, name=f"V {n}", email=f"{volunteer}@example.org", phone=phone, language="en"
                )
                await publish_event(bootstrap, contacts_topic(topic_prefix), contact)
                planned = MissionPlanned(
                    mission_id=mission,
                    engagement_id=f"e{n}-{test_id}",
                    volunteer_id=volunteer,
                    authority_id="a-1",
                    partner_id="p-1",
                    country="TG",
                    scheme="vsi",
                    starts_on=date(2027, 1, 1),
                    ends_on=date(2027, 12, 31),
                )
                await publish_event(bootstrap, missions_topic, planned, region="FR-OCC")
                started = MissionStarted(mission_id=mission, departed_on=date(2027, 1, 1))
                await publish_event(bootstrap, missions_topic, started, region="FR-OCC")

            async def projected() -> bool:
                return await svc.runtime.db["missions"].count_documents({"status": "started"}) == 3

            await wait_until(projected, timeout=60, message="three started missions projected")
            alert_id = f"alert-{test_id}"
            alert = SecurityAlertIssued(
                alert_id=alert_id,
                country="TG",
                level="crisis",
                respond_by=datetime.now(UTC) + timedelta(hours=3),
                mission_ids=[people[0][1], people[1][1]],
                message="Stay at home.",
                respond_within_hours=3,
            )
            await publish_event(bootstrap, missions_topic, alert)

            def texts_to(phone: str) -> list[str]:
                return [r.json()["text"] for r in sms.on("/sms") if r.json()["to"] == phone]

            await wait_until(lambda: all(texts_to(p[2]) for p in people.values()), timeout=60, message="3 alert SMS")
            mailpit = Mailpit(vies_stack.mailpit_url)
            mails = await mailpit.wait_for(test_id, 3, timeout=60, where=lambda m: "ALERT" in m["Subject"])
            mail_text = {m["To"][0]["Address"]: (await mailpit.message(m["ID"]))["Text"] for m in mails}
            keys = [KEY.encode()]
            tokens = []
            for n in (0, 1):
                volunteer, mission, phone = people[n]
                [text] = texts_to(phone)
                by_sms = LINK.findall(text)
                by_mail = LINK.findall(mail_text[f"{volunteer}@example.org"])
                assert by_sms and by_sms == by_mail[:1], (text, by_mail)
                assert read(keys, by_sms[0]) == SafetyLink(alert_id, mission)  # this volunteer's, this alert's
                assert volunteer not in by_sms[0]
                tokens.append(by_sms[0])
            assert tokens[0] != tokens[1]
            [third] = texts_to(people[2][2])
            assert "/s/" not in third and third.endswith(f"https://portal.test/volunteer/safety-checks/{alert_id}")

            # Nothing on any topic, and nothing the service stored, holds a token.
            records = await KafkaProbe(bootstrap, [t.name for t in all_topics(topic_prefix)]).read()
            assert records
            assert not [r for r in records if any(t.encode() in (r.value or b"") for t in tokens)]
            stored = await svc.runtime.db["notifications"].find({"event_id": {"$exists": True}}).to_list()
            assert len(stored) >= 6
            assert not [d for d in stored if any(t in repr(d) for t in tokens)]
