"""Per-key order does not depend on the clocks of several API replicas.

Two writers share one service database, as two API pods do; their clocks disagree by an hour
(injected). Every transaction bumps the aggregate's version and emits an event carrying it; the
relay publishes the pending backlog in one go and each key's events must come out in version order.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pymongo import monitoring

from vies_dev.testing import KafkaProbe, wait_until
from vies_shared.events.partners import PartnerSuspended
from vies_shared.events.topics import events_topic
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.outbox import KEYS_COLLECTION, Outbox
from vies_shared.messaging.relay import OutboxRelay
from vies_shared.settings import ServiceSettings
from vies_shared.storage import COMMAND_OBSERVERS, Transactions, UnitOfWork, create_mongo_client

pytestmark = pytest.mark.integration

HOUR_NS = 3600 * 10**9


class Writer:
    """One API replica: its own client, outbox and clock, on the shared database."""

    def __init__(self, settings: ServiceSettings, skew_ns: int) -> None:
        self.client = create_mongo_client(settings.mongodb_uri)
        self.db = self.client[settings.mongodb_db]
        self.outbox = Outbox(
            self.db, service="partners", topic_prefix=settings.topic_prefix, clock=lambda: time.time_ns() + skew_ns
        )
        self.transactions = Transactions(self.client, self.db, self.outbox, attempts=50)

    async def bump(self, partner_id: str) -> int:
        """One command on the aggregate: version + 1, and an event saying which version it made."""

        async def work(uow: UnitOfWork) -> int:
            doc = await uow["partners"].find_one_and_update(
                {"_id": partner_id}, {"$inc": {"version": 1}}, upsert=True, return_document=True
            )
            version = int(doc["version"])
            uow.emit(PartnerSuspended(partner_id=partner_id, reason=f"v{version}"), region="FR-IDF")
            return version

        return await self.transactions.run(work)

    async def bump_in_order(self, partner_id: str) -> int:
        """``bump``, the aggregate keeping its events' last seq on its own document (``emit_in_order``)."""

        async def work(uow: UnitOfWork) -> int:
            doc = await uow["partners"].find_one_and_update(
                {"_id": partner_id}, {"$inc": {"version": 1}}, upsert=True, return_document=True
            )
            version = int(doc["version"])
            event = PartnerSuspended(partner_id=partner_id, reason=f"v{version}")
            seq = uow.emit_in_order(event, after=int(doc.get("event_seq") or 0), region="FR-IDF")
            await uow["partners"].update_one({"_id": partner_id}, {"$set": {"event_seq": seq}})
            return version

        return await self.transactions.run(work)


async def _published_versions(probe: KafkaProbe) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for event in await probe.events("partners.PartnerSuspended"):
        out.setdefault(event["key"], []).append(int(event["value"]["reason"][1:]))
    return out


async def _relay_all(
    settings: ServiceSettings, outbox: Outbox, bootstrap: str, topic_prefix: str, count: int
) -> dict[str, list[int]]:
    """Publish the pending backlog in one go with a relay; each key's versions as they came out of Kafka."""
    broker = create_broker(settings, client_id="order-relay")
    await broker.start()
    relay = OutboxRelay(outbox, broker, service="partners", poll_seconds=0.05, batch_size=500)
    relay.start()
    try:
        probe = KafkaProbe(bootstrap, [events_topic("partners", topic_prefix)])

        async def all_published() -> bool:
            return sum(len(v) for v in (await _published_versions(probe)).values()) == count

        await wait_until(all_published, timeout=30, message=f"{count} events published")
        return await _published_versions(probe)
    finally:
        await relay.stop()
        await broker.stop()


async def test_events_of_one_aggregate_keep_commit_order_across_writers_with_skewed_clocks(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings: ServiceSettings = vies_settings("partners")
    ahead, behind = Writer(settings, +HOUR_NS), Writer(settings, -HOUR_NS)
    await ahead.outbox.ensure_indexes()
    try:
        # Alternating commits on two aggregates: every commit of the writer behind would sort before
        # all the pending ones of the writer ahead if the clock alone ordered them.
        expected: dict[str, list[int]] = {"p-a": [], "p-b": []}
        for i in range(12):
            writer = ahead if i % 2 == 0 else behind
            for key, versions in expected.items():
                versions.append(await writer.bump(key))
        assert expected == {"p-a": list(range(1, 13)), "p-b": list(range(1, 13))}
        seqs = [d["seq"] async for d in ahead.outbox.collection.find({"key": "p-a"}).sort("seq", 1)]
        assert len(seqs) == 12 and seqs == sorted(set(seqs))
        assert min(seqs) > time.time_ns() + HOUR_NS // 2  # the writer behind was pulled up, not believed

        # Then the two writers race: concurrent commands on one aggregate (write conflicts, retried).
        async def burst(writer: Writer, n: int) -> None:
            for _ in range(n):
                await writer.bump("p-c")

        await asyncio.gather(burst(ahead, 15), burst(behind, 15))

        published = await _relay_all(settings, ahead.outbox, vies_stack.kafka_bootstrap, topic_prefix, 54)
        assert published["p-a"] == list(range(1, 13))
        assert published["p-b"] == list(range(1, 13))
        assert published["p-c"] == list(range(1, 31))
    finally:
        await ahead.client.close()
        await behind.client.close()


async def test_without_the_aggregate_sequence_the_skewed_clocks_would_reverse_the_order(
    vies_settings: Any,
) -> None:
    """The control: the clocks alone give the later commit the lower seq (what the fix corrects)."""
    settings: ServiceSettings = vies_settings("partners")
    ahead, behind = Writer(settings, +HOUR_NS), Writer(settings, -HOUR_NS)
    try:
        first = ahead.outbox.next_seq()
        second = behind.outbox.next_seq()
        assert second < first
        await ahead.bump("p-x")
        await behind.bump("p-x")
        docs = [d async for d in ahead.outbox.collection.find({"key": "p-x"}).sort("seq", 1)]
        # In seq order: the ahead writer's event (committed first) before the behind writer's.
        assert [d["seq"] for d in docs] == sorted(d["seq"] for d in docs)
        assert [d["seq"] > time.time_ns() for d in docs] == [True, True]
    finally:
        await ahead.client.close()
        await behind.client.close()


async def test_an_aggregate_keeping_its_own_seq_keeps_commit_order_without_outbox_keys(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    """``emit_in_order``: the same skewed writers and races, no ``outbox_keys`` command nor document."""
    settings: ServiceSettings = vies_settings("partners")
    ahead, behind = Writer(settings, +HOUR_NS), Writer(settings, -HOUR_NS)
    await ahead.outbox.ensure_indexes()
    commands: list[str] = []

    def observe(event: monitoring.CommandStartedEvent) -> None:
        if event.command.get(event.command_name) == KEYS_COLLECTION:
            commands.append(event.command_name)

    COMMAND_OBSERVERS.append(observe)
    try:
        for i in range(6):
            await (ahead if i % 2 == 0 else behind).bump_in_order("p-own")

        async def burst(writer: Writer, n: int) -> None:
            for _ in range(n):
                await writer.bump_in_order("p-own")

        await asyncio.gather(burst(ahead, 10), burst(behind, 10))
        assert commands == []
        assert await ahead.db[KEYS_COLLECTION].count_documents({"_id": {"$regex": "p-own$"}}) == 0

        published = await _relay_all(settings, ahead.outbox, vies_stack.kafka_bootstrap, topic_prefix, 26)
        assert published["p-own"] == list(range(1, 27))
    finally:
        COMMAND_OBSERVERS.remove(observe)
        await ahead.client.close()
        await behind.client.close()
