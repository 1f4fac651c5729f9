"""An event naming a mission this service has not heard of yet still reaches the mission's people.

The mission's ``MissionPlanned`` is keyed by the mission, a security alert by the alert: they travel
on different partitions and a consumer restart or a rebalance can put the alert first. The chaos
suite found a volunteer left without the alert that way. Here the alert, a missed check-in and the
mission's start arrive before the mission's planning; the volunteer, the authority and the host
partner get their messages once it arrives, and a volunteer whose contact data come last gets
them when they come.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder, Mailpit
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import CheckInMissed, MissionPlanned, MissionStarted, SecurityAlertIssued
from vies_shared.events.partners import AuthorityRegistered, PartnerRegistered
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


def _planned(mission: str, volunteer: str, authority: str, partner: str) -> MissionPlanned:
    return MissionPlanned(
        mission_id=mission,
        engagement_id=f"e-{mission}",
        volunteer_id=volunteer,
        authority_id=authority,
        partner_id=partner,
        country="BJ",
        scheme="vsi",
        starts_on=date(2027, 1, 1),
        ends_on=date(2027, 12, 31),
    )


def _contact(person: str, phone: str) -> ContactUpdated:
    return ContactUpdated(person_id=person, name=person, email=f"{person}@example.org", phone=phone, language="en")


async def test_messages_for_a_mission_not_known_yet_reach_its_people_once_it_arrives(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    partners, missions = events_topic("partners", topic_prefix), events_topic("missions", topic_prefix)
    contacts = contacts_topic(topic_prefix)
    early, late = f"early-{test_id}", f"late-{test_id}"  # the second one's contact data come last
    mission, other = f"m-{test_id}", f"n-{test_id}"
    authority, partner = f"auth-{test_id}", f"partner-{test_id}"
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications", NotificationsSettings, sms_provider_url=f"{sms.url}/sms", delivery_poll_seconds=0.1
        )
        async with running(create(settings), settings) as svc:
            db = svc.runtime.db
            await publish_event(bootstrap, contacts, _contact(early, "+22990000001"))
            await publish_event(
                bootstrap,
                partners,
                AuthorityRegistered(
                    authority_id=authority,
                    name="Ville de Test",
                    kind="commune",
                    region="FR-OCC",
                    contact_email=f"{authority}@example.org",
                    territoires_volontaires=False,
                ),
                region="FR-OCC",
            )
            await publish_event(
                bootstrap,
                partners,
                PartnerRegistered(
                    partner_id=partner,
                    name="Association hôte",
                    country="BJ",
                    city="Cotonou",
                    kind="association",
                    themes=["education"],
                    languages=["fr"],
                    hosting_capacity=2,
                    reciprocity=False,
                    contact_email=f"{partner}@example.org",
                ),
            )
            respond_by = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
            alert = SecurityAlertIssued(
                alert_id=f"al-{test_id}",
                country="BJ",
                level="crisis",
                respond_by=respond_by,
                mission_ids=[mission, other],
                message="Stay at home.",
                respond_within_hours=2,
            )
            alert_id = await publish_event(bootstrap, missions, alert)
            await publish_event(
                bootstrap, missions, CheckInMissed(mission_id=mission, due_on=respond_by.date(), missed_in_a_row=1)
            )
            await publish_event(bootstrap, missions, MissionStarted(mission_id=mission, departed_on=date(2027, 1, 1)))

            async def queued_for_the_missions() -> bool:
                # The alert to both volunteers (email, SMS), the reminder (email, SMS), the partner's notice.
                return await db["notifications"].count_documents({"recipient.kind": {"$regex": "_of_mission$"}}) == 7

            await wait_until(queued_for_the_missions, timeout=60, message="messages queued for the missions' parties")
            waiting = await db["notifications"].count_documents({"status": "sent", "event_id": alert_id})
            assert waiting == 0, "nothing can go before the missions are known"

            await publish_event(bootstrap, missions, _planned(mission, early, authority, partner), region="FR-OCC")
            await publish_event(bootstrap, missions, _planned(other, late, authority, partner), region="FR-OCC")

            async def early_reached() -> bool:
                sent = await db["notifications"].count_documents({"recipient.id": early, "status": "sent"})
                return sent == 4 and len(sms.on("/sms")) == 2

            await wait_until(early_reached, timeout=60, message="the first volunteer's alert and reminder sent")
            assert Counter(r.json()["to"] for r in sms.on("/sms")) == {"+22990000001": 2}
            mailpit = Mailpit(vies_stack.mailpit_url)
            partner_mail = await mailpit.wait_for(f"to:{partner}@example.org", 1, timeout=30)
            assert len(partner_mail) == 1

            # The second volunteer's mission is known, their address is not: the messages wait for it.
            unsent = {"recipient.id": late, "status": "pending", "waiting_for": "contact"}

            async def late_waits() -> bool:
                return await db["notifications"].count_documents(unsent) == 2

            await wait_until(late_waits, timeout=30, message="the second volunteer's alert waiting for their address")
            await publish_event(bootstrap, contacts, _contact(late, "+22990000002"))

            async def late_reached() -> bool:
                return await db["notifications"].count_documents({"recipient.id": late, "status": "sent"}) == 2

            await wait_until(late_reached, timeout=30, message="the second volunteer's alert sent on their address")
            assert Counter(r.json()["to"] for r in sms.on("/sms")) == {"+22990000001": 2, "+22990000002": 1}
            alerts = await mailpit.wait_for(test_id, 2, timeout=30, where=lambda m: "ALERT" in m["Subject"])
            assert sorted(m["To"][0]["Address"] for m in alerts) == sorted(
                [f"{early}@example.org", f"{late}@example.org"]
            )
