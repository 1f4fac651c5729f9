"""Erasure stays done in missions: contact data and an engagement produced before a
person's erasure but read after it bring nothing of the person back; contact data produced after it (the person
came back) are kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from missions_testkit import app_for, engagement, settings_for

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_missions.domain.mission import mission_id_for
from vies_shared.events.recruitment import ContactUpdated, PersonErased
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


async def test_facts_older_than_an_erasure_do_not_bring_the_person_back(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    person = f"vol-{uuid.uuid4().hex[:8]}"
    contact = ContactUpdated(person_id=person, name="Awa Diop", email="awa@example.org", language="fr")
    async with running(app_for(settings), settings) as svc:
        db = svc.runtime.db

        async def handled(ce_id: str) -> bool:
            return await db["inbox"].find_one({"_id": ce_id}) is not None

        erased = await publish_event(
            bootstrap, events_topic("recruitment", topic_prefix), PersonErased(person_id=person)
        )
        await wait_until(lambda: handled(erased), message="erasure handled")
        before = datetime.now(UTC) - timedelta(minutes=5)

        late_contact = await publish_event(bootstrap, contacts_topic(topic_prefix), contact, at=before)
        engaged = engagement(volunteer_id=person)
        late_engagement = await publish_event(bootstrap, events_topic("recruitment", topic_prefix), engaged, at=before)
        await wait_until(lambda: handled(late_contact), message="late contact handled")
        await wait_until(lambda: handled(late_engagement), message="late engagement handled")

        assert await db["contacts"].find_one({"_id": person}) is None
        # The engagement is real: its mission is planned, erased, and its id is not published again.
        mission = await db["missions"].find_one({"_id": mission_id_for(engaged.engagement_id)})
        assert mission is not None and mission["volunteer_id"] is None and mission["erased"] is True
        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        [planned] = await probe.wait_for("missions.MissionPlanned")
        assert planned["value"]["volunteer_id"] == "" and person not in str(planned)

        # Contact data produced after the erasure (the person applied again) are kept as usual.
        again = await publish_event(bootstrap, contacts_topic(topic_prefix), contact)
        await wait_until(lambda: handled(again), message="new contact handled")
        kept = await db["contacts"].find_one({"_id": person})
        assert kept is not None and kept["email"] == "awa@example.org"


async def test_an_older_contact_update_read_late_leaves_the_newer_one_in_place(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    person = f"vol-{uuid.uuid4().hex[:8]}"
    topic = contacts_topic(topic_prefix)
    now = datetime.now(UTC)
    phone = "+221770000001"
    newer = ContactUpdated(person_id=person, name="$name", email="new@example.org", phone=phone, language="fr")
    older = ContactUpdated(person_id=person, name="Old Name", email="old@example.org", language="fr")
    async with running(app_for(settings), settings) as svc:
        db = svc.runtime.db

        async def handled(ce_id: str) -> bool:
            return await db["inbox"].find_one({"_id": ce_id}) is not None

        first = await publish_event(bootstrap, topic, newer, at=now)
        await wait_until(lambda: handled(first), message="newer contact handled")
        late = await publish_event(bootstrap, topic, older, at=now - timedelta(minutes=5))
        await wait_until(lambda: handled(late), message="older contact handled")
        kept = await db["contacts"].find_one({"_id": person})
        # The newer update stays, its name starting with "$" kept as written (not read as a field path).
        assert kept is not None and kept["email"] == "new@example.org" and kept["name"] == "$name"
        assert kept["phone"] == phone
