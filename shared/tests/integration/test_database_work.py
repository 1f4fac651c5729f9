"""Database work of the messaging kit: hot queries use indexes, idle costs nothing, the relay prunes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import monitoring

from vies_dev.testing import wait_until
from vies_dev.testing.query_plans import QueryRecorder, collection_scans
from vies_shared.events.partners import PartnerApproved
from vies_shared.events.topics import events_topic
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.consumer import EventConsumer, HandlerContext
from vies_shared.messaging.outbox import KEYS_COLLECTION, Outbox
from vies_shared.messaging.relay import OutboxRelay
from vies_shared.settings import ServiceSettings
from vies_shared.storage import COMMAND_OBSERVERS, Transactions, UnitOfWork, create_mongo_client

pytestmark = pytest.mark.integration


class Side:
    """One service's database side: outbox, transactions, a relay on its own broker."""

    def __init__(self, settings: ServiceSettings, service: str) -> None:
        self.settings = settings
        self.client = create_mongo_client(settings.mongodb_uri)
        self.db = self.client[f"{settings.mongodb_db}_{service}"]
        self.outbox = Outbox(self.db, service=service, topic_prefix=settings.topic_prefix)
        self.transactions = Transactions(self.client, self.db, self.outbox)
        self.broker = create_broker(settings)
        self.relay: OutboxRelay | None = None

    async def start_relay(self, **options: Any) -> OutboxRelay:
        await self.outbox.ensure_indexes()
        await self.broker.start()
        self.relay = OutboxRelay(self.outbox, self.broker, service="partners", **options)
        self.relay.start()
        return self.relay

    async def approve(self, partner_id: str) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow["partners"].update_one({"_id": partner_id}, {"$set": {"status": "approved"}}, upsert=True)
            uow.emit(PartnerApproved(partner_id=partner_id))

        await self.transactions.run(work)

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        await self.broker.stop()
        await self.client.drop_database(self.db.name)
        await self.client.close()


@pytest_asyncio.fixture
async def side(vies_settings: Any) -> AsyncIterator[Side]:
    s = Side(vies_settings("partners"), "partners")
    yield s
    await s.close()


async def test_an_unindexed_query_is_reported_as_a_collection_scan(side: Side) -> None:
    """The check itself: a query on a field no index covers is caught, one on an indexed field is not."""
    await side.db["things"].insert_many([{"colour": f"c{i}", "size": i} for i in range(20)])
    await side.db["things"].create_index("size")
    with QueryRecorder() as recorder:
        await side.db["things"].find_one({"colour": "c3"})
        await side.db["things"].find_one({"size": 3})
    scans = await collection_scans(side.client, recorder.queries)
    assert len(scans) == 1 and "colour" in scans[0] and "COLLSCAN" in scans[0], scans


async def test_every_query_of_commit_publish_consume_and_prune_is_served_by_an_index(
    side: Side, vies_settings: Any
) -> None:
    """Use case with events, relay batches, an inbox consumer (with a redelivery), leases and pruning."""
    settings = side.settings
    consumer_side = Side(settings, "missions")
    await consumer_side.outbox.ensure_indexes()
    await consumer_side.db["inbox"].create_index("processed_at")
    await consumer_side.db["inbox"].create_index("key")
    handled: list[str] = []

    async def on_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
        await ctx.uow["partners"].update_one({"_id": event.partner_id}, {"$set": {"approved": True}}, upsert=True)
        ctx.emit(PartnerApproved(partner_id=f"echo-{event.partner_id}"))
        # Counted once committed: a redelivery's first attempt runs the handler, then is aborted at commit.
        ctx.uow.after_commit(lambda: handled.append(event.partner_id))

    consumer = EventConsumer(
        service="missions",
        name="missions",
        transactions=consumer_side.transactions,
        broker=consumer_side.broker,
        topics=[events_topic("partners", settings.topic_prefix)],
        group_id=f"{settings.topic_prefix}missions",
        dlq_topic=f"{settings.topic_prefix}vies.missions.dlq",
        handlers=[on_approved],
    )
    consumer.register()
    try:
        with QueryRecorder() as recorder:
            await consumer_side.broker.start()
            await side.start_relay(poll_seconds=0.05, lease_seconds=2.0)
            for i in range(5):
                await side.approve(f"p{i}")
            await wait_until(lambda: len(handled) >= 5, timeout=30, message="five events handled")
            # A redelivered event goes through the inbox lookup path.
            records = [r for r in await _records(settings, side) if r.value is not None][:2]
            await consumer.handle_records(records)
            await side.outbox.prune(datetime.now(UTC) + timedelta(days=30))
        scans = await collection_scans(side.client, recorder.queries)
        assert scans == [], "queries that read a whole collection:\n" + "\n".join(scans)
        assert sorted(handled) == [f"p{i}" for i in range(5)]
    finally:
        await consumer_side.close()


async def _records(settings: ServiceSettings, side: Side) -> list[Any]:
    from aiokafka import AIOKafkaConsumer

    reader = AIOKafkaConsumer(
        events_topic("partners", settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    await reader.start()
    try:
        batches = await reader.getmany(timeout_ms=5000)
        return [record for records in batches.values() for record in records]
    finally:
        await reader.stop()


async def test_an_idle_relay_sends_no_command(side: Side) -> None:
    """Woken by commits: while nothing is committed the relay neither polls nor renews every few hundred ms."""
    relay = await side.start_relay(poll_seconds=5.0, lease_seconds=60.0)
    commands: list[tuple[str, Any]] = []

    def count(event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == side.db.name:
            commands.append((event.command_name, event.command.get(event.command_name)))

    COMMAND_OBSERVERS.append(count)
    try:
        await side.approve("p-wake")
        await wait_until(lambda: _published(side), timeout=10, message="the first event published")
        # After its first publication the relay prunes once (the outbox, then outbox_keys): idle starts after.
        await wait_until(lambda: ("delete", KEYS_COLLECTION) in commands, timeout=10, message="the first prune done")
        commands.clear()
        await asyncio.sleep(3.0)
    finally:
        COMMAND_OBSERVERS.remove(count)
    assert commands == [], commands
    assert relay.running


async def test_a_commit_from_another_process_wakes_a_watching_relay(side: Side, vies_settings: Any) -> None:
    """A worker's relay learns of an API replica's commit from the change stream, not from its slow poll."""
    await side.start_relay(poll_seconds=60.0, lease_seconds=60.0, watch_commits=True)
    await asyncio.sleep(1.0)  # the change stream opens
    other = Transactions(side.client, side.db, side.outbox)  # no on_commit: another process
    started = asyncio.get_running_loop().time()

    async def work(uow: UnitOfWork) -> None:
        uow.emit(PartnerApproved(partner_id="p-elsewhere"))

    await other.run(work)
    await wait_until(lambda: _published(side), timeout=20, message="published without the poll")
    assert asyncio.get_running_loop().time() - started < 10


async def _published(side: Side) -> bool:
    return await side.outbox.collection.count_documents({"published_at": {"$ne": None}}) > 0


async def test_the_relay_prunes_old_published_events_and_idle_keys_never_pending_ones(side: Side) -> None:
    """Old published events and idle aggregates' seq go; pending and recent ones stay; no TTL index is left."""
    # An earlier version's TTL indexes are replaced.
    await side.outbox.collection.create_index("published_at", expireAfterSeconds=7 * 86400, name="published_ttl")
    await side.outbox.keys.create_index("at", expireAfterSeconds=7 * 86400, name="idle_ttl")
    await side.outbox.ensure_indexes(retention_days=7)
    for collection in (side.outbox.collection, side.outbox.keys):
        indexes = await collection.index_information()
        assert not [name for name, spec in indexes.items() if "expireAfterSeconds" in spec], indexes
    old = datetime.now(UTC) - timedelta(days=8)
    recent = datetime.now(UTC) - timedelta(days=1)
    await side.outbox.collection.insert_many(
        [
            {"_id": "old", "seq": 1, "published_at": old},
            {"_id": "recent", "seq": 2, "published_at": recent},
            {"_id": "pending", "seq": 3, "published_at": None, "created_at": old},
        ]
    )
    await side.outbox.keys.insert_many(
        [{"_id": "t idle", "seq": 1, "at": old}, {"_id": "t busy", "seq": 3, "at": recent}]
    )
    assert await side.outbox.prune() == 2
    assert await _ids(side.outbox.collection, {"recent", "pending"})
    assert await _ids(side.outbox.keys, {"t busy"})
    # The relay prunes by itself once it publishes (a real event; the hand-made pending one would not go).
    await side.outbox.collection.delete_one({"_id": "pending"})
    await side.outbox.collection.insert_one({"_id": "old-again", "seq": 4, "published_at": old})
    await side.approve("p-prune")
    relay = await side.start_relay(poll_seconds=0.05, lease_seconds=2.0, prune_seconds=0.0)
    await wait_until(lambda: _old_gone(side), timeout=20, message="the relay pruned the old event")
    assert await side.outbox.collection.find_one({"_id": "recent"}) is not None
    assert relay.running


async def _old_gone(side: Side) -> bool:
    return await side.outbox.collection.find_one({"_id": "old-again"}) is None


async def _ids(collection: Any, expected: set[str]) -> bool:
    return {doc["_id"] async for doc in collection.find({}, {"_id": 1})} == expected
