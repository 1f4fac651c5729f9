"""The relay after its idempotent producer lost a partition's sequence (found by ``make chaos``).

Reproduced as ``tests/chaos/sequence_gap.py`` does, against the real broker: the producer is made to see
no leader for one partition, so the batch waiting for it expires after taking its sequence numbers;
from then on the broker refuses that partition's sends with ``OutOfOrderSequenceNumber``. The relay must
replace its producer and publish everything, each key's events in outbox order.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiokafka.structs import TopicPartition
from prometheus_client import REGISTRY

from vies_dev.testing import KafkaProbe, wait_until
from vies_shared.events.partners import PartnerSuspended
from vies_shared.events.topics import events_topic
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.outbox import Outbox
from vies_shared.messaging.relay import OutboxRelay
from vies_shared.storage import Transactions, UnitOfWork, create_mongo_client

pytestmark = pytest.mark.integration

KEYS = [f"p{i}" for i in range(6)]


def replacements(reason: str) -> float:
    labels = {"service": "partners", "reason": reason}
    return REGISTRY.get_sample_value("vies_relay_producer_replaced_total", labels) or 0.0


class Relayed:
    """An outbox on the real database, its relay's broker on the real Kafka, and what each key emitted."""

    def __init__(self, settings: Any) -> None:
        self.client = create_mongo_client(settings.mongodb_uri)
        db = self.client[settings.mongodb_db]
        self.outbox = Outbox(db, service="partners", topic_prefix=settings.topic_prefix)
        self.transactions = Transactions(self.client, db, self.outbox)
        self.topic = events_topic("partners", settings.topic_prefix)
        self.probe = KafkaProbe(settings.kafka_bootstrap, [self.topic])
        self.broker = create_broker(settings, client_id="relay-sequence-gap")
        self.relay = OutboxRelay(
            self.outbox, self.broker, service="partners", poll_seconds=0.05, lease_seconds=2.0, batch_size=50
        )
        self.emitted: dict[str, list[str]] = defaultdict(list)

    async def emit(self, step: int) -> None:
        for key in KEYS:

            async def work(uow: UnitOfWork, key: str = key) -> str:
                return uow.emit(PartnerSuspended(partner_id=key, reason=f"step {step}")).id

            self.emitted[key].append(await self.transactions.run(work))

    async def drained(self) -> bool:
        return bool(await self.outbox.backlog() == 0)

    @property
    def producer(self) -> Any:
        return self.broker.config.producer._producer.producer  # type: ignore[attr-defined]

    async def assert_each_key_in_order(self) -> None:
        """Every event on the topic, each key's in outbox order; those acknowledged before the fault only once."""
        events = await self.probe.events("partners.PartnerSuspended")
        ids = [e["headers"]["ce_id"] for e in events]
        for key in KEYS:
            first_seen = list(dict.fromkeys(e["headers"]["ce_id"] for e in events if e["key"] == key))
            assert first_seen == self.emitted[key], key
            assert ids.count(self.emitted[key][0]) == 1, "an event acknowledged before the fault was sent again"


@pytest_asyncio.fixture
async def relayed(vies_settings: Any) -> AsyncIterator[Relayed]:
    kit = Relayed(vies_settings("partners"))
    await kit.outbox.ensure_indexes()
    await kit.broker.start()
    await kit.emit(0)
    kit.relay.start()
    await wait_until(kit.drained, timeout=20, message="first events published (the producer has sequences)")
    yield kit
    await asyncio.wait_for(kit.relay.stop(), timeout=30)  # a relay stuck on acknowledgements fails, not hangs
    await kit.broker.stop()
    await kit.client.close()


async def test_relay_replaces_a_producer_whose_sequence_broke_and_keeps_each_key_in_order(relayed: Relayed) -> None:
    kit = relayed

    async def expired() -> bool:
        return await kit.outbox.collection.count_documents({"failures": {"$gte": 1}}) > 0

    before = replacements("OutOfOrderSequenceNumber")
    blocked = TopicPartition(kit.topic, next(e["partition"] for e in await kit.probe.events() if e["key"] == "p0"))
    kit.producer._message_accumulator._batch_ttl = 1.0  # expire in a second, not after the 15 s request timeout
    cluster = kit.producer.client.cluster
    leader = cluster.leader_for_partition
    cluster.leader_for_partition = lambda tp: -1 if tp == blocked else leader(tp)
    try:
        for step in (1, 2, 3):
            await kit.emit(step)
        await wait_until(expired, timeout=20, message="the blocked partition's batch expired")
    finally:
        cluster.leader_for_partition = leader
    await wait_until(kit.drained, timeout=30, message="everything published after the producer was replaced")
    assert replacements("OutOfOrderSequenceNumber") > before
    assert kit.relay.stuck is None
    await kit.assert_each_key_in_order()


async def test_relay_replaces_a_producer_whose_sender_task_died_mid_batch(relayed: Relayed) -> None:
    kit = relayed
    before = replacements("sender_stopped")
    producer = kit.producer
    cluster = producer.client.cluster
    leader = cluster.leader_for_partition
    cluster.leader_for_partition = lambda tp: -1  # the batch waits in the producer...
    try:
        await kit.emit(1)
        await wait_until(lambda: any(producer._message_accumulator._batches.values()), message="batch in flight")
        producer._sender.sender_task.cancel()  # ...whose sender loop then ends (as on an unexpected aiokafka error)
    finally:
        cluster.leader_for_partition = leader
    await wait_until(kit.drained, timeout=20, message="published by a new producer")
    assert replacements("sender_stopped") > before
    await kit.assert_each_key_in_order()
