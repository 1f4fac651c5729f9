"""No silent head-of-line stall, against the real broker and database.

* a dead letter that Kafka refuses (its topic is missing) blocks the consumer visibly: /readyz 503
  with the reason, ``vies_consumer_blocked`` 1; once the topic exists it moves on by itself;
* a record that keeps failing "transiently" is isolated from its batch and dead-lettered
  (``transient_exhausted``) while the records around it are handled;
* an outbox record Kafka refuses is reported (document, metric, /readyz, ``vies outbox stuck``) and
  published once the cause is fixed, before the events that came after it; refused because the
  producer could not see its topic while Kafka restarted, it is retried and published, not reported;
* /readyz turns 503 when a partition with lag has not moved for ``consumer_stall_seconds``, and
  when the oldest pending outbox event is older than ``relay_stale_seconds``.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo.errors import ExecutionTimeout
from typer.testing import CliRunner

from vies_dev.testing import KafkaProbe, ServiceHarness, publish_event, publish_raw, wait_until
from vies_dev.testing.helpers import running
from vies_shared.cli import app as cli
from vies_shared.events.partners import PartnerApproved, PartnerSuspended
from vies_shared.events.topics import dlq_topic, events_topic
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.service import ServiceDefinition, create_app
from vies_shared.storage import UnitOfWork

pytestmark = pytest.mark.integration


async def _count_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
    await ctx.uow["handled"].insert_one({"_id": event.partner_id})


async def create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def readyz(svc: ServiceHarness) -> tuple[int, dict[str, Any]]:
    response = await svc.client.get("/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def metric(svc: ServiceHarness, name: str) -> float:
    text = (await svc.client.get("/metrics")).text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")]
    return max(values, default=0.0)


async def test_refused_dead_letter_blocks_the_consumer_visibly_until_the_topic_exists(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    # Service "ghost": its dead-letter topic was never created (auto-creation is off).
    definition = ServiceDefinition(name="ghost", title="t", handlers=[_count_approved])
    settings = vies_settings("ghost")
    bootstrap = vies_stack.kafka_bootstrap
    topic = events_topic("partners", topic_prefix)
    async with running(create_app(definition, settings), settings) as svc:
        started = time.monotonic()
        await publish_raw(bootstrap, topic, key=b"k", value=b"not a cloud event")
        await publish_event(bootstrap, topic, PartnerApproved(partner_id="k"))  # same key: behind the poison

        async def blocked() -> bool:
            status, body = await readyz(svc)
            return status == 503 and "refuses" in body.get("problems", {}).get("consumers", "")

        await wait_until(blocked, timeout=60, message="/readyz 503: dead letters refused")
        blocked_after = time.monotonic() - started
        _, body = await readyz(svc)
        assert (
            body["checks"]["consumers"] is False and dlq_topic("ghost", topic_prefix) in body["problems"]["consumers"]
        )
        assert await metric(svc, "vies_consumer_blocked") == 1
        assert await svc.runtime.db["handled"].count_documents({}) == 0  # the partition waits, in order

        await create_topic(bootstrap, dlq_topic("ghost", topic_prefix))

        async def recovered() -> bool:
            status, _ = await readyz(svc)
            return status == 200 and bool(await svc.runtime.db["handled"].count_documents({}) == 1)

        await wait_until(recovered, timeout=90, message="dead letter accepted, the partition moved on")
        print(f"blocked visibly after {blocked_after:.1f}s; recovered {time.monotonic() - started:.1f}s after start")
        assert await metric(svc, "vies_consumer_blocked") == 0
        letters = await KafkaProbe(bootstrap, [dlq_topic("ghost", topic_prefix)]).read()
        assert len(letters) == 1 and letters[0].key == b"k" and letters[0].value == b"not a cloud event"


async def _approve_or_time_out(ctx: HandlerContext, event: PartnerApproved) -> None:
    if event.partner_id == "slow":
        raise ExecutionTimeout("operation exceeded time limit (deterministic for this record)")
    await ctx.uow["handled"].insert_one({"_id": event.partner_id})


async def test_a_record_failing_transiently_for_ever_is_isolated_and_dead_lettered(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    definition = ServiceDefinition(name="missions", title="t", handlers=[_approve_or_time_out])
    settings = vies_settings("missions", consumer_transient_attempts=3, handler_attempts=2)
    bootstrap = vies_stack.kafka_bootstrap
    topic = events_topic("partners", topic_prefix)
    for partner in ("before", "slow", "after"):
        await publish_raw(
            bootstrap,
            topic,
            key=b"one-key",
            value=PartnerApproved(partner_id=partner).model_dump_json().encode(),
            headers=_headers(PartnerApproved(partner_id=partner)),
        )
    async with running(create_app(definition, settings), settings) as svc:
        started = time.monotonic()
        db = svc.runtime.db

        async def both_handled() -> bool:
            return bool(await db["handled"].count_documents({}) == 2)

        await wait_until(both_handled, timeout=60, message="the records around the bad one handled")
        dlq = KafkaProbe(bootstrap, [dlq_topic("missions", topic_prefix)])
        letters = await wait_until(dlq.read, timeout=60, message="the bad record dead-lettered")
        print(f"isolated and dead-lettered in {time.monotonic() - started:.1f}s")
        headers = {k: v.decode() for k, v in letters[0].headers}
        assert len(letters) == 1 and headers["dlq_reason"] == "transient_exhausted"
        assert "ExecutionTimeout" in headers["dlq_error"]
        assert sorted([d["_id"] async for d in db["handled"].find()]) == ["after", "before"]
        status, _ = await readyz(svc)
        assert status == 200


def _headers(event: Any) -> list[tuple[str, bytes]]:
    from vies_shared.events.envelope import encode

    _, message = encode(event)
    return [(k, v.encode()) for k, v in message.headers.items()]


async def test_outbox_record_kafka_refuses_is_reported_then_published_in_order_once_fixed(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = ServiceDefinition(name="partners", title="t")
    settings = vies_settings("partners")
    bootstrap = vies_stack.kafka_bootstrap
    missing = f"{topic_prefix}vies.partners.not-created"
    monkeypatch.setenv("VIES_MONGODB_URI", vies_stack.mongodb_uri)
    runner = CliRunner()
    async with running(create_app(definition, settings), settings) as svc:
        runtime = svc.runtime
        # Refused for 10 s in a row, not the minute a broker restart may take: reported at the second refusal.
        runtime.relay.refused_seconds = 10.0
        started = time.monotonic()

        async def emit(topic: str | None, reason: str) -> str:
            async def work(uow: UnitOfWork) -> str:
                return uow.emit(PartnerSuspended(partner_id="p1", reason=reason), topic=topic).id

            result: str = await runtime.transactions.run(work)
            return result

        refused = await emit(missing, "first")
        after = await emit(missing, "second")

        async def reported() -> bool:
            status, body = await readyz(svc)
            return status == 503 and refused in body.get("problems", {}).get("relay", "")

        await wait_until(reported, timeout=60, message="/readyz 503 naming the stuck record")
        reported_after = time.monotonic() - started
        doc = await runtime.outbox.collection.find_one({"_id": refused})
        assert doc["failures"] >= 1 and doc["refused"] is True and "UnknownTopicOrPartition" in doc["last_error"]
        # Reported only once Kafka kept refusing it (a broker just back refuses a topic it has, for a while).
        assert doc["failures"] >= 2 and (doc["last_failed_at"] - doc["refused_since"]).total_seconds() >= 10
        assert await metric(svc, "vies_outbox_stuck") >= 1
        listed = await asyncio.to_thread(
            runner.invoke, cli, ["outbox", "stuck", "--service", "partners", "--db", settings.mongodb_db, "--json"]
        )
        assert listed.exit_code == 1, listed.output
        rows = json.loads(listed.output)["records"]
        assert rows[0]["id"] == refused and rows[0]["stuck"] is True and rows[0]["topic"] == missing
        assert await runtime.outbox.backlog() == 2

        await create_topic(bootstrap, missing)

        async def drained() -> bool:
            status, _ = await readyz(svc)
            return status == 200 and bool(await runtime.outbox.backlog() == 0)

        await wait_until(drained, timeout=90, message="published once the topic exists")
        print(f"reported after {reported_after:.1f}s; published {time.monotonic() - started:.1f}s after the emit")
        published = await KafkaProbe(bootstrap, [missing]).read()
        assert [dict(r.headers)["ce_id"].decode() for r in published] == [refused, after]
        assert await metric(svc, "vies_outbox_stuck") == 0
        listed = await asyncio.to_thread(
            runner.invoke, cli, ["outbox", "stuck", "--service", "partners", "--db", settings.mongodb_db]
        )
        assert listed.exit_code == 0 and "no outbox record failed" in listed.output


@pytest.mark.outage
async def test_unknown_topic_while_kafka_restarts_is_retried_not_reported_stuck(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    """The topic exists, but the relay's producer has no metadata for it yet when the broker goes away.

    aiokafka answers "unknown topic" after waiting ``request_timeout_ms`` for metadata it cannot get;
    that refusal is retried, not reported, and the record is published once Kafka is back.
    """
    if vies_stack.stack is None:
        pytest.skip("needs the stack started by the test plugin")
    stack = vies_stack.stack
    definition = ServiceDefinition(name="partners", title="t")
    settings = vies_settings("partners")
    existing = f"{topic_prefix}vies.partners.restarted"
    async with running(create_app(definition, settings), settings) as svc:
        runtime = svc.runtime
        # Created after the producer fetched its metadata: it learns of the topic only at its first send.
        await create_topic(vies_stack.kafka_bootstrap, existing)
        reported: list[str] = []

        async def watch() -> None:
            while True:
                if runtime.relay.stuck is not None:
                    reported.append(runtime.relay.stuck)
                await asyncio.sleep(0.1)

        watching = asyncio.create_task(watch())
        started = time.monotonic()
        await asyncio.to_thread(stack.stop_kafka)
        try:

            async def work(uow: UnitOfWork) -> str:
                return uow.emit(PartnerSuspended(partner_id="p1", reason="restart"), topic=existing).id

            event_id: str = await runtime.transactions.run(work)

            async def refused_once() -> Any:
                doc = await runtime.outbox.collection.find_one({"_id": event_id})
                return doc if doc and "UnknownTopicOrPartition" in str(doc.get("last_error")) else None

            doc = await wait_until(refused_once, timeout=60, message="the producer found no metadata for the topic")
            refused_after = time.monotonic() - started
        finally:
            await asyncio.to_thread(stack.start_kafka)
        back_after = time.monotonic() - started

        async def published() -> bool:
            return bool(await runtime.outbox.backlog() == 0)

        await wait_until(published, timeout=90, message="published once Kafka is back")
        watching.cancel()
        print(
            f"refused {refused_after:.1f}s after Kafka stopped, Kafka back after {back_after:.1f}s, "
            f"published after {time.monotonic() - started:.1f}s"
        )
        assert doc["refused"] is False and doc["refused_since"] is not None
        assert reported == [] and runtime.relay.stuck is None
        assert (await runtime.outbox.collection.find_one({"_id": event_id}))["refused"] is False
        assert await metric(svc, "vies_outbox_stuck") == 0
        published_ids = [
            dict(r.headers)["ce_id"].decode() for r in await KafkaProbe(vies_stack.kafka_bootstrap, [existing]).read()
        ]
        assert published_ids == [event_id]


async def test_readyz_turns_503_when_a_partition_with_lag_stops_moving(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    gate = asyncio.Event()

    async def held(ctx: HandlerContext, event: PartnerApproved) -> None:
        await gate.wait()
        await ctx.uow["handled"].insert_one({"_id": event.partner_id})

    definition = ServiceDefinition(name="missions", title="t", handlers=[held])
    settings = vies_settings("missions", consumer_stall_seconds=2.0)
    async with running(create_app(definition, settings), settings) as svc:
        try:
            status, _ = await readyz(svc)
            assert status == 200
            await publish_event(
                vies_stack.kafka_bootstrap, events_topic("partners", topic_prefix), PartnerApproved(partner_id="p1")
            )
            started = time.monotonic()

            async def stalled() -> bool:
                status, body = await readyz(svc)
                return status == 503 and "lag 1" in body.get("problems", {}).get("consumer_progress", "")

            await wait_until(
                stalled, timeout=30, interval=0.5, message="/readyz 503: a partition with lag stands still"
            )
            print(f"stall reported {time.monotonic() - started:.1f}s after the record arrived (limit 2s)")
            assert await metric(svc, "vies_consumer_stalled_partitions") == 1
        finally:
            gate.set()

        async def moving_again() -> bool:
            status, _ = await readyz(svc)
            return status == 200

        await wait_until(moving_again, timeout=30, interval=0.5, message="/readyz 200 once the offset moved")
        assert await metric(svc, "vies_consumer_stalled_partitions") == 0


async def test_readyz_turns_503_when_the_oldest_pending_event_is_too_old(vies_settings: Any) -> None:
    definition = ServiceDefinition(name="partners", title="t")
    settings = vies_settings("partners", relay_stale_seconds=2.0)
    async with running(create_app(definition, settings), settings) as svc:
        runtime = svc.runtime
        # Another replica holds the relay lease (and is stuck): nothing gets published here.
        await runtime.db["leases"].replace_one(
            {"_id": "relay"},
            {"holder": "a-stuck-replica", "expires_at": datetime.now(UTC) + timedelta(hours=1)},
            upsert=True,
        )
        runtime.relay.lease.valid_until = None

        async def work(uow: UnitOfWork) -> None:
            uow.emit(PartnerSuspended(partner_id="p1", reason="r"))

        await runtime.transactions.run(work)
        started = time.monotonic()

        async def stale() -> bool:
            status, body = await readyz(svc)
            return status == 503 and "oldest pending outbox event" in body.get("problems", {}).get("relay_backlog", "")

        await wait_until(stale, timeout=30, interval=0.5, message="/readyz 503: backlog too old")
        print(f"stale backlog reported {time.monotonic() - started:.1f}s after the commit (limit 2s)")
        assert await metric(svc, "vies_outbox_oldest_pending_seconds") >= 2
        await runtime.db["leases"].delete_one({"_id": "relay"})

        async def published() -> bool:
            status, _ = await readyz(svc)
            return status == 200 and bool(await runtime.outbox.backlog() == 0)

        await wait_until(published, timeout=30, interval=0.5, message="/readyz 200 once the relay published")


async def test_dead_letter_too_large_for_kafka_blocks_the_consumer_visibly(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    """A record the broker took, but whose dead letter (its value plus the dlq_* headers) is over the size limit."""
    from aiokafka import AIOKafkaProducer

    settings = vies_settings("missions")
    bootstrap = vies_stack.kafka_bootstrap
    definition = ServiceDefinition(name="missions", title="t", handlers=[_count_approved])
    async with running(create_app(definition, settings), settings) as svc:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * 1024 * 1024)
        await producer.start()
        try:
            # Just under the broker's 1 MiB batch limit; with the dead-letter headers, over the producer's 1 MiB.
            await producer.send_and_wait(events_topic("partners", topic_prefix), value=b"x" * 1_048_400, key=b"big")
        finally:
            await producer.stop()

        async def blocked() -> bool:
            status, body = await readyz(svc)
            return status == 503 and "MessageSizeTooLarge" in body.get("problems", {}).get("consumers", "")

        await wait_until(blocked, timeout=30, message="/readyz 503: dead letter too large")
        assert await metric(svc, "vies_consumer_blocked") == 1


async def test_failing_tombstone_handler_is_dead_lettered_not_looped(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    from vies_shared.events.topics import contacts_topic

    async def on_tombstone(uow: UnitOfWork, topic: str, key: str) -> None:
        if key == "bad":
            raise ValueError("tombstone handler bug")
        await uow["erased"].insert_one({"_id": key})

    definition = ServiceDefinition(name="missions", title="t", tombstone_handler=on_tombstone)
    settings = vies_settings("missions", handler_attempts=2)
    bootstrap = vies_stack.kafka_bootstrap
    for key in (b"bad", b"good"):
        await publish_raw(bootstrap, contacts_topic(topic_prefix), key=key, value=None)
    async with running(create_app(definition, settings), settings) as svc:
        await wait_until(
            lambda: svc.runtime.db["erased"].find_one({"_id": "good"}), timeout=30, message="the next tombstone"
        )
        letters = await wait_until(
            KafkaProbe(bootstrap, [dlq_topic("missions", topic_prefix)]).read, timeout=30, message="dead letter"
        )
        headers = {k: v.decode() for k, v in letters[0].headers}
        assert letters[0].key == b"bad" and headers["dlq_reason"] == "handler_failed"
        assert "tombstone handler bug" in headers["dlq_error"]
