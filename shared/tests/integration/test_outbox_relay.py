"""Transactional outbox and relay against the real broker and database."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from vies_dev.testing import KafkaProbe
from vies_shared.events.partners import PartnerApproved, PartnerSuspended
from vies_shared.events.topics import events_topic
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.outbox import Outbox
from vies_shared.messaging.relay import OutboxRelay
from vies_shared.settings import ServiceSettings
from vies_shared.storage import Transactions, UnitOfWork, create_mongo_client

pytestmark = pytest.mark.integration


class Kit:
    """A service's outbox side, without HTTP: transactions, relays and a probe on its topic."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.client = create_mongo_client(settings.mongodb_uri)
        self.db = self.client[settings.mongodb_db]
        self.outbox = Outbox(self.db, service="partners", topic_prefix=settings.topic_prefix)
        self.transactions = Transactions(self.client, self.db, self.outbox)
        self.relays: list[tuple[OutboxRelay, Any]] = []
        self.probe = KafkaProbe(settings.kafka_bootstrap, [events_topic("partners", settings.topic_prefix)])

    async def relay(self, holder: str) -> OutboxRelay:
        broker = create_broker(self.settings, client_id=holder)
        await broker.start()
        relay = OutboxRelay(
            self.outbox,
            broker,
            service="partners",
            poll_seconds=0.05,
            lease_seconds=self.settings.relay_lease_seconds,
            batch_size=50,
            holder=holder,
        )
        relay.start()
        self.relays.append((relay, broker))
        return relay

    async def approve(self, partner_id: str, *, fail_after_emit: bool = False) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow["partners"].update_one({"_id": partner_id}, {"$inc": {"approvals": 1}}, upsert=True)
            uow.emit(PartnerApproved(partner_id=partner_id), region="FR-IDF")
            if fail_after_emit:
                raise RuntimeError("use case failed after emitting")

        await self.transactions.run(work)

    async def close(self) -> None:
        for relay, broker in self.relays:
            await relay.stop()
            await broker.stop()
        await self.client.close()


@pytest_asyncio.fixture
async def kit(vies_settings: Any) -> AsyncIterator[Kit]:
    k = Kit(vies_settings("partners", relay_lease_seconds=2.0))
    await k.outbox.ensure_indexes()
    yield k
    await k.close()


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


async def test_event_published_once_with_contract_headers(kit: Kit) -> None:
    await kit.relay("relay-a")
    await kit.approve("partner-1")
    with pytest.raises(RuntimeError):
        await kit.approve("partner-rolled-back", fail_after_emit=True)
    [event] = await kit.probe.wait_for("partners.PartnerApproved")
    await asyncio.sleep(0.5)  # give a duplicate or the rolled-back event the chance to show up
    events = await kit.probe.events()
    assert len(events) == 1, events
    headers = event["headers"]
    assert headers["ce_specversion"] == "1.0"
    assert uuid.UUID(headers["ce_id"])
    assert headers["ce_source"] == "/vies/partners"
    assert headers["ce_type"] == "partners.PartnerApproved"
    assert RFC3339.match(headers["ce_time"]), headers["ce_time"]
    assert headers["ce_subject"] == event["key"] == "partner-1"
    assert headers["ce_schemaversion"] == "1"
    assert headers["ce_region"] == "FR-IDF"
    assert headers["ce_correlationid"]
    assert headers["content-type"] == "application/json"
    assert event["value"]["partner_id"] == "partner-1"
    # State and outbox agree: the rolled-back use case left neither.
    assert await kit.db["partners"].count_documents({"_id": "partner-rolled-back"}) == 0
    assert await kit.outbox.backlog() == 0


async def test_two_relays_publish_each_event_once(kit: Kit) -> None:
    await kit.relay("relay-a")
    await kit.relay("relay-b")
    for i in range(120):
        await kit.approve(f"p{i % 7}-{i}")
    events = await kit.probe.wait_for("partners.PartnerApproved", 120, timeout=30)
    await asyncio.sleep(0.5)
    events = await kit.probe.events()
    ids = [e["headers"]["ce_id"] for e in events]
    assert len(ids) == 120 and len(set(ids)) == 120


async def test_killed_relay_is_replaced_within_lease(kit: Kit) -> None:
    first = await kit.relay("relay-first")
    await kit.approve("before")
    await kit.probe.wait_for("partners.PartnerApproved")
    assert first.lease.held()
    # Kill it abruptly: the task dies without releasing its lease.
    assert first._task is not None
    first._task.cancel()
    await asyncio.gather(first._task, return_exceptions=True)
    await kit.relay("relay-second")
    for i in range(10):
        await kit.approve(f"after-{i}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await kit.probe.wait_for("partners.PartnerApproved", 11, timeout=kit.settings.relay_lease_seconds + 10)
    assert loop.time() - started < kit.settings.relay_lease_seconds + 5


async def test_relay_keeps_per_key_order(kit: Kit) -> None:
    await kit.relay("relay-a")

    async def change(partner_id: str, step: int) -> None:
        async def work(uow: UnitOfWork) -> None:
            uow.emit(PartnerSuspended(partner_id=partner_id, reason=f"step {step}"))

        await kit.transactions.run(work)

    for step in range(30):
        for partner in ("a", "b", "c"):
            await change(partner, step)
    events = await kit.probe.wait_for("partners.PartnerSuspended", 90, timeout=30)
    for partner in ("a", "b", "c"):
        steps = [int(e["value"]["reason"].split()[1]) for e in events if e["key"] == partner]
        assert steps == sorted(steps) == list(range(30))
    raw = json.dumps(events[0]["value"])
    assert "step" in raw


async def test_a_large_batch_is_marked_published_in_chunks(kit: Kit) -> None:
    from pymongo import monitoring

    from vies_shared.messaging.relay import MARK_CHUNK
    from vies_shared.storage import COMMAND_OBSERVERS

    count = 2 * MARK_CHUNK + 30

    async def work(uow: UnitOfWork) -> None:
        for i in range(count):
            uow.emit(PartnerSuspended(partner_id=f"p{i % 7}", reason=f"step {i}"))

    await kit.transactions.run(work)
    broker = create_broker(kit.settings, client_id="relay-large")
    await broker.start()
    marks: list[int] = []

    def observe(event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update" and event.database_name == kit.db.name:
            marks.extend(len(u["q"]["_id"]["$in"]) for u in event.command["updates"] if "_id" in u["q"])

    relay = OutboxRelay(kit.outbox, broker, service="partners", batch_size=1000, holder="relay-large")
    COMMAND_OBSERVERS.append(observe)
    try:
        assert await relay.lease.acquire()
        assert await relay.publish_pending() == count
    finally:
        COMMAND_OBSERVERS.remove(observe)
        await broker.stop()
    assert marks == [MARK_CHUNK, MARK_CHUNK, 30]
    assert await kit.outbox.backlog() == 0
    events = await kit.probe.wait_for("partners.PartnerSuspended", count, timeout=30)
    assert len({e["headers"]["ce_id"] for e in events}) == count
