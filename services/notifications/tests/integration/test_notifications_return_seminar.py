"""The return-seminar invitation: a delayed row of the routing table. A month after
``missions.MissionEnded`` (seconds here) the volunteer gets the invitation in their language, through
the real SMTP server (Mailpit); not before, and not at all once erased."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import Mailpit
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import MissionEnded, MissionPlanned
from vies_shared.events.recruitment import ContactUpdated, PersonErased
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration

DELAY = 8.0  # seconds standing for the month (room for the erasure to come first)


async def test_the_invitation_goes_a_delay_after_the_end_in_the_volunteers_language(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    tid, bootstrap = test_id, vies_stack.kafka_bootstrap
    missions = events_topic("missions", topic_prefix)
    settings = vies_settings(
        "notifications",
        NotificationsSettings,
        delivery_poll_seconds=0.1,
        return_seminar_delay_seconds=DELAY,
        return_seminar_url="https://vies.example.org/retour",
    )
    people = {
        "en": (f"vol-en-{tid}", f"vol-en-{tid}@example.org"),
        "fr": (f"vol-fr-{tid}", f"vol-fr-{tid}@example.org"),
    }
    erased = (f"vol-erased-{tid}", f"vol-erased-{tid}@example.org")
    async with running(create(settings), settings) as svc:
        for language, (person, email) in [*people.items(), ("fr", erased)]:
            await publish_event(
                bootstrap,
                contacts_topic(topic_prefix),
                ContactUpdated(person_id=person, name=f"Sam {language}", email=email, language=language),
            )
            mission = f"m-{person}"
            planned = MissionPlanned(
                mission_id=mission,
                engagement_id=f"e-{person}",
                volunteer_id=person,
                authority_id=f"auth-{tid}",
                partner_id="p-1",
                country="SN",
                scheme="vsi",
                starts_on=date(2027, 1, 15),
                ends_on=date(2028, 1, 14),
            )
            await publish_event(bootstrap, missions, planned, region="FR-ARA")
        ended_at = time.monotonic()
        for person, _ in [*people.values(), erased]:
            await publish_event(
                bootstrap, missions, MissionEnded(mission_id=f"m-{person}", ended_on=date(2028, 1, 14)), region="FR-ARA"
            )
        mailpit = Mailpit(vies_stack.mailpit_url)

        # The thanks go at once; the invitation waits in the queue, due a delay after the event.
        await mailpit.wait_for(f"to:{people['en'][1]} subject:Thank", 1, timeout=30)
        queued = await svc.runtime.db["notifications"].find_one(
            {"recipient.id": people["en"][0], "template": "return_seminar_invitation"}
        )
        assert queued is not None and queued["status"] == "pending" and queued["due_at"] > queued["created_at"]
        assert not await mailpit.search(f"to:{people['en'][1]} subject:seminar")

        # The erased volunteer's invitation is cancelled with the rest of their pending messages.
        notifications = svc.runtime.db["notifications"]
        invitation = await wait_until(
            lambda: notifications.find_one({"recipient.id": erased[0], "template": "return_seminar_invitation"}),
            message="invitation of the erased volunteer queued",
        )
        assert invitation["status"] == "pending"
        await publish_event(bootstrap, events_topic("recruitment", topic_prefix), PersonErased(person_id=erased[0]))

        async def cancelled() -> bool:
            doc = await notifications.find_one({"_id": invitation["_id"]})
            return doc is not None and doc["status"] == "cancelled"

        await wait_until(cancelled, timeout=30, message="invitation of the erased volunteer cancelled")

        english = await mailpit.wait_for(f"to:{people['en'][1]} subject:seminar", 1, timeout=30)
        assert time.monotonic() - ended_at >= DELAY - 0.5  # not before the delay (the event's time, ± clocks)
        assert english[0]["Subject"] == "Invitation to the return seminar"
        text = (await mailpit.message(english[0]["ID"]))["Text"]
        assert "Hello Sam en," in text and f"m-{people['en'][0]}" in text and "https://vies.example.org/retour" in text
        french = await mailpit.wait_for(f"to:{people['fr'][1]} subject:séminaire", 1, timeout=30)
        assert french[0]["Subject"] == "Invitation au séminaire de retour"
        text = (await mailpit.message(french[0]["ID"]))["Text"]
        assert "Bonjour Sam fr," in text and "le 2028-01-14" in text and "https://vies.example.org/retour" in text
        assert not await mailpit.search(f"to:{erased[1]} subject:séminaire")
