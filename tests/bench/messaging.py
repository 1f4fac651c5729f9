"""Throughput and latency of the messaging kit against the local stack (``make bench``).

Prints one JSON document: raw aiokafka produce and consume rates (the ceiling),
outbox → relay → Kafka rate, inbox consumer rate with a trivial handler writing
one document, each as events/s and as a ratio to the raw rate, and end-to-end
latency p50/p95/p99 from outbox write to handler commit. The honest ceiling of the
inbox consumer is a raw aiokafka consumer doing the same MongoDB writes without the
guarantees (no transaction, no inbox, offsets auto-committed):
``inbox_ratio_to_raw_with_writes``; and the same pair again with the handler's write sent at
commit (``uow.at_commit``) against a raw consumer writing one ``insert_many`` per poll. Runs in
one process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from vies_dev.devstack import LocalStack, StackConfig, find_repo_root
from vies_shared.events.partners import PartnerSuspended
from vies_shared.events.topics import all_topics, events_topic
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.consumer import EventConsumer, HandlerContext
from vies_shared.messaging.outbox import Outbox
from vies_shared.messaging.relay import OutboxRelay
from vies_shared.settings import ServiceSettings
from vies_shared.storage import Transactions, UnitOfWork, create_mongo_client

PAYLOAD = b"x" * 200


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def create_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t.name, 6, 1) for t in all_topics(prefix)] + [NewTopic(f"{prefix}raw", 6, 1)]
        )
    finally:
        await admin.close()
    await asyncio.sleep(2.0)  # let the new partitions elect their leaders


async def raw_rates(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, PAYLOAD, key=str(i % 64).encode()) for i in range(n)]
    await asyncio.gather(*futures)
    produce = n / (time.perf_counter() - started)
    await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=f"raw-{uuid.uuid4()}"
    )
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    while seen < n:
        log(f"  consumed {seen}/{n}") if seen and seen % 10000 < 5000 else None
        for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
            seen += len(records)
    consume = n / (time.perf_counter() - started)
    await consumer.stop()
    return produce, consume


async def kit_rates(settings: ServiceSettings, n: int) -> dict[str, Any]:
    client = create_mongo_client(settings.mongodb_uri)
    db = client[settings.mongodb_db]
    outbox = Outbox(db, service="partners", topic_prefix=settings.topic_prefix)
    await outbox.ensure_indexes()
    transactions = Transactions(client, db, outbox)
    # Write n events in transactions of 100 (a use case emitting one event each would be bound by MongoDB).
    for start in range(0, n, 100):

        async def work(uow: UnitOfWork, start: int = start) -> None:
            for i in range(start, min(n, start + 100)):
                uow.emit(PartnerSuspended(partner_id=f"p{i % 64}", reason=datetime.now(UTC).isoformat()))

        await transactions.run(work)
    relay_broker = create_broker(settings)
    started = time.perf_counter()
    await relay_broker.start()
    relay = OutboxRelay(outbox, relay_broker, service="partners", batch_size=1000)
    if not await relay.lease.acquire():
        raise SystemExit("another relay holds the bench database's lease")
    published = 0
    while published < n:
        # The relay's own loop renews its lease; this one drives publish_pending directly, so it does too.
        if not relay.lease.held() and not await relay.lease.acquire():
            raise SystemExit("the bench relay lost its lease to another relay")
        published += await relay.publish_pending()
    relay_rate = n / (time.perf_counter() - started)
    await relay_broker.stop()
    # Each consumer alone, from its first record (its group joined) to its last commit, over the same topic.
    consume_rate, latencies = await kit_consume(settings, client, n, blind=False)
    blind_rate, _ = await kit_consume(settings, client, n, blind=True)
    raw_with_writes = await raw_consume_with_writes(settings, client, n, batched=False)
    raw_batched = await raw_consume_with_writes(settings, client, n, batched=True)
    for suffix in ("", "_consumer", "_consumer_blind", "_raw", "_raw_batched"):
        await client.drop_database(f"{settings.mongodb_db}{suffix}")
    await client.close()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "relay_events_per_s": round(relay_rate),
        "inbox_events_per_s": round(consume_rate),
        "raw_consume_with_writes_per_s": round(raw_with_writes),
        "inbox_ratio_to_raw_with_writes": round(consume_rate / raw_with_writes, 3),
        "inbox_writes_at_commit_events_per_s": round(blind_rate),
        "raw_consume_with_batched_writes_per_s": round(raw_batched),
        "inbox_writes_at_commit_ratio_to_raw_batched": round(blind_rate / raw_batched, 3),
        "latency_ms": {"p50": round(q[49] * 1000, 1), "p95": round(q[94] * 1000, 1), "p99": round(q[98] * 1000, 1)},
        "note": (
            "latency runs from the outbox write (all written up front) to the handler commit; the inbox "
            "rate is the consumer's alone, from its first record to its last commit, once the relay has put "
            "every event on the topic; raw_consume_with_writes likewise. Each handler writes one document: "
            "inbox_events_per_s at once in its transaction (against a raw consumer writing one insert per "
            "record), inbox_writes_at_commit_events_per_s as a blind write sent with the commit "
            "(uow.at_commit, one command per batch's transaction, against a raw consumer writing one "
            "insert_many per poll)"
        ),
    }


async def kit_consume(settings: ServiceSettings, client: Any, n: int, *, blind: bool) -> tuple[float, list[float]]:
    """The inbox consumer's rate over the topic's ``n`` events, and each event's latency from its outbox write.

    Its handler writes one document per event: at once in its transaction, or (``blind``) at commit.
    """
    suffix = "_consumer_blind" if blind else "_consumer"
    consumer_db = client[f"{settings.mongodb_db}{suffix}"]
    broker = create_broker(settings)
    latencies: list[float] = []
    first_handled: list[float] = []
    done = asyncio.Event()

    async def handler(ctx: HandlerContext, event: PartnerSuspended) -> None:
        if not first_handled:
            first_handled.append(time.perf_counter())
        if blind:
            ctx.uow.at_commit("seen").insert_one({"p": event.partner_id})
        else:
            await ctx.uow["seen"].insert_one({"p": event.partner_id})
        latencies.append((datetime.now(UTC) - datetime.fromisoformat(event.reason)).total_seconds())
        if len(latencies) >= n:
            done.set()

    consumer = EventConsumer(
        service="bench",
        name="bench",
        transactions=Transactions(client, consumer_db, Outbox(consumer_db, service="bench")),
        broker=broker,
        topics=[events_topic("partners", settings.topic_prefix)],
        group_id=f"{settings.topic_prefix}bench{suffix}",
        dlq_topic=f"{settings.topic_prefix}vies.missions.dlq",
        handlers=[handler],
        max_records=500,
    )
    consumer.register()
    await broker.start()
    await asyncio.wait_for(done.wait(), timeout=600)
    rate = n / (time.perf_counter() - first_handled[0])
    await broker.stop()
    return rate, latencies


async def raw_consume_with_writes(settings: ServiceSettings, client: Any, n: int, *, batched: bool) -> float:
    """A plain aiokafka consumer writing what the bench handler writes, one document per event, without guarantees.

    One insert per record, or (``batched``) one ``insert_many`` per poll's records.
    """
    suffix = "_raw_batched" if batched else "_raw"
    seen = client[f"{settings.mongodb_db}{suffix}"]["seen"]
    consumer = AIOKafkaConsumer(
        events_topic("partners", settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{settings.topic_prefix}raw-writes{suffix}",
        enable_auto_commit=True,
    )
    await consumer.start()
    count = 0
    started: float | None = None
    while count < n:
        for records in (await consumer.getmany(timeout_ms=1000, max_records=500)).values():
            started = started or time.perf_counter()  # from the first record (the group joined)
            documents = [{"p": (record.key or b"").decode()} for record in records]
            if batched:
                await seen.insert_many(documents)
            else:
                for document in documents:
                    await seen.insert_one(document)
            count += len(records)
    rate = n / (time.perf_counter() - (started or 0.0))
    await consumer.stop()
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=5_000)
    args = parser.parse_args()
    # VIES_TEST_* (as for the tests) point at another stack; else the local one, started if needed.
    bootstrap = os.environ.get("VIES_TEST_KAFKA_BOOTSTRAP", "")
    mongodb_uri = os.environ.get("VIES_TEST_MONGODB_URI", "")
    if not (bootstrap and mongodb_uri):
        stack = LocalStack(StackConfig(root=find_repo_root() / ".stack"))
        stack.up()
        bootstrap, mongodb_uri = stack.kafka_bootstrap, stack.mongodb_uri
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await create_topics(bootstrap, prefix)
    log("raw aiokafka produce/consume ...")
    produce, consume = await raw_rates(bootstrap, f"{prefix}raw", args.raw)
    settings = ServiceSettings(
        env="dev",
        service="partners",
        kafka_bootstrap=bootstrap,
        mongodb_uri=mongodb_uri,
        mongodb_db=f"bench_{prefix[:-1]}",
        topic_prefix=prefix,
    )
    log("outbox -> relay -> inbox ...")
    kit = await kit_rates(settings, args.events)
    print(
        json.dumps(
            {
                "raw_produce_per_s": round(produce),
                "raw_consume_per_s": round(consume),
                **kit,
                "relay_ratio_to_raw_produce": round(kit["relay_events_per_s"] / produce, 3),
                "inbox_ratio_to_raw_consume": round(kit["inbox_events_per_s"] / consume, 3),
                "messages": {"raw": args.raw, "events": args.events, "value_bytes": len(PAYLOAD)},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
