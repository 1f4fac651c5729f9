"""Database work of missions' consumer: what one consumed event costs in MongoDB commands, and the contact
writes sent at commit keep the order of their batch."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from missions_testkit import app_for, settings_for
from pymongo import monitoring

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.base import Event
from vies_shared.events.envelope import encode
from vies_shared.events.recruitment import ContactUpdated, PersonErased
from vies_shared.events.topics import contacts_topic, events_topic
from vies_shared.storage import COMMAND_OBSERVERS

pytestmark = pytest.mark.integration


async def test_a_consumed_contact_update_costs_three_commands(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    """The inbox record and the contact's upsert go with the commit: find the erasure, one write, the commit."""
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    person = f"vol-{uuid.uuid4().hex[:8]}"
    seen: list[tuple[Any, Any, str, str]] = []

    def record(event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        session = (command.get("lsid", {}).get("id"), command.get("txnNumber"))
        seen.append((*session, event.command_name, str(command)))

    async with running(app_for(settings), settings) as svc:
        db = svc.runtime.db

        async def handled(ce_id: str) -> bool:
            return await db["inbox"].find_one({"_id": ce_id}) is not None

        COMMAND_OBSERVERS.append(record)
        try:
            contact = ContactUpdated(person_id=person, name="Awa Diop", email="awa@example.org", language="fr")
            ce_id = await publish_event(bootstrap, contacts_topic(topic_prefix), contact)
            await wait_until(lambda: handled(ce_id), message="contact handled")
        finally:
            COMMAND_OBSERVERS.remove(record)
        assert (await db["contacts"].find_one({"_id": person}) or {}).get("email") == "awa@example.org"
    # The consumer's transaction is the one that wrote the inbox record: its commands share a session number.
    [transaction] = {(lsid, txn) for lsid, txn, _, text in seen if txn is not None and ce_id in text}
    commands = [name for lsid, txn, name, _ in seen if (lsid, txn) == transaction]
    print("commands per consumed ContactUpdated:", len(commands), Counter(commands))
    assert len(commands) <= 3, commands


def record(
    topic: str, offset: int, event: Event | None, key: str, at: datetime | None = None
) -> ConsumerRecord[bytes, bytes]:
    """A Kafka record as the subscriber hands it over: a contract event, or a tombstone (``None``)."""
    value: bytes | None = None
    headers: list[tuple[str, bytes]] = []
    if event is not None:
        _, message = encode(event, time=at)
        value = message.value
        headers = [(name, text.encode()) for name, text in message.headers.items()]
    size = len(value) if value is not None else 0
    return ConsumerRecord(topic, 0, offset, int(time.time() * 1000), 0, key.encode(), value, None, 1, size, headers)


async def test_an_erasure_after_a_contact_update_of_the_same_batch_wins(vies_settings: Any, topic_prefix: str) -> None:
    """The upsert, the erasure's and the tombstone's deletes all go at commit, in the batch's order."""
    settings = settings_for(vies_settings)
    contacts, recruitment = contacts_topic(topic_prefix), events_topic("recruitment", topic_prefix)
    erased, tombstoned, kept = (f"vol-{uuid.uuid4().hex[:8]}" for _ in range(3))
    earlier = datetime.now(UTC) - timedelta(minutes=5)

    def contact(person: str) -> ContactUpdated:
        return ContactUpdated(person_id=person, name="Awa Diop", email=f"{person}@example.org", language="fr")

    async with running(app_for(settings), settings) as svc:
        consumer = svc.runtime.consumer
        assert consumer is not None
        await consumer.handle_records(
            [
                record(contacts, 1, contact(erased), erased, at=earlier),
                record(contacts, 2, contact(tombstoned), tombstoned),
                record(contacts, 3, None, tombstoned),
                record(contacts, 4, contact(kept), kept),
                record(recruitment, 1, PersonErased(person_id=erased), erased),
            ]
        )
        db = svc.runtime.db
        assert await db["contacts"].distinct("_id") == [kept]
        assert await db["inbox"].count_documents({}) == 4
