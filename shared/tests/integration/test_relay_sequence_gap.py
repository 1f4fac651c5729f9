"""The relay after its idempotent producer lost a partition's sequence (issue 18 item 4, found by ``make chaos``).

Reproduced as ``tests/chaos/sequence_gap.py`` does, against the real broker: the producer is made to see
no leader for one partition, so the batch waiting for it expires after taking its sequence numbers;
from then on the broker refuses that partition's sends with ``OutOfOrderSequenceNumber``. The relay must
replace its producer and publish everything, each key's events in outbox order.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from aiokafka.structs import TopicPartition
from prometheus_client import REGISTRY

from vies_shared.events.partners import PartnerSuspended
from vies_shared.events.topics import events_topic
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.outbox import Outbox
from vies_shared.messaging.relay import OutboxRelay
from vies_shared.storage import Transactions, UnitOfWork, create_mongo_client
from vies_shared.testing import KafkaProbe, wait_until

pytestmark = pytest.mark.integration

KEYS = [f"p{i}" for i in range(6)]


def replacements() -> float:
    labels = {"service": "partners", "reason": "OutOfOrderSequenceNumber"}
    return REGISTRY.get_sample_value("vies_relay_producer_replaced_total", labels) or 0.0


async def test_relay_replaces_a_producer_whose_sequence_broke_and_keeps_each_key_in_order(vies_settings: Any) -> None:
    settings = vies_settings("partners")
    client = create_mongo_client(settings.mongodb_uri)
    db = client[settings.mongodb_db]
    outbox = Outbox(db, service="partners", topic_prefix=settings.topic_prefix)
    await outbox.ensure_indexes()
    transactions = Transactions(client, db, outbox)
    topic = events_topic("partners", settings.topic_prefix)
    probe = KafkaProbe(settings.kafka_bootstrap, [topic])
    broker = create_broker(settings, client_id="relay-sequence-gap")
    await broker.start()
    relay = OutboxRelay(outbox, broker, service="partners", poll_seconds=0.05, lease_seconds=2.0, batch_size=50)
    emitted: dict[str, list[str]] = defaultdict(list)

    async def emit(step: int) -> None:
        for key in KEYS:

            async def work(uow: UnitOfWork, key: str = key) -> str:
                return uow.emit(PartnerSuspended(partner_id=key, reason=f"step {step}")).id

            emitted[key].append(await transactions.run(work))

    async def drained() -> bool:
        return bool(await outbox.backlog() == 0)

    async def expired() -> bool:
        return await outbox.collection.count_documents({"failures": {"$gte": 1}}) > 0

    before = replacements()
    try:
        await emit(0)
        relay.start()
        await wait_until(drained, timeout=20, message="first events published (the producer has sequences)")
        blocked = TopicPartition(topic, next(e["partition"] for e in await probe.events() if e["key"] == "p0"))
        producer = broker.config.producer._producer.producer  # type: ignore[attr-defined]
        producer._message_accumulator._batch_ttl = 1.0  # expire in a second, not after the 15 s request timeout
        cluster = producer.client.cluster
        leader = cluster.leader_for_partition
        cluster.leader_for_partition = lambda tp: -1 if tp == blocked else leader(tp)
        try:
            for step in (1, 2, 3):
                await emit(step)
            await wait_until(expired, timeout=20, message="the blocked partition's batch expired")
        finally:
            cluster.leader_for_partition = leader
        await wait_until(drained, timeout=30, message="everything published after the producer was replaced")
        assert replacements() > before
        assert relay.stuck is None

        events = await probe.events("partners.PartnerSuspended")
        ids = [e["headers"]["ce_id"] for e in events]
        for key in KEYS:
            first_seen = list(dict.fromkeys(e["headers"]["ce_id"] for e in events if e["key"] == key))
            assert first_seen == emitted[key], key
            assert ids.count(emitted[key][0]) == 1, "an event acknowledged before the failure was sent again"
    finally:
        await relay.stop()
        await broker.stop()
        await client.close()
