"""The kit's delivery guarantees under injected faults, each one proven by a mutant.

``make mutants`` (tools/mutants/run.py) breaks each guarantee on purpose and expects a test here to fail:

* a consumer killed (SIGKILL) after it received a batch and before its transaction commits loses
  nothing on restart (mutant: offset committed before handling);
* the inbox record commits with the handler's writes and its events (mutants: inbox or outbox
  written outside the transaction, duplicate check skipped);
* a dead letter that Kafka has not acknowledged keeps the offset where it is (mutant: not awaited);
* a relay whose sends reached the broker but whose acknowledgements failed marks nothing and
  publishes everything later (mutant: marks after a failed ack), in ``seq`` order, and never marks
  an event committed while its batch was in flight.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import RequestTimedOutError
from pymongo.errors import AutoReconnect

from vies_dev.service_process import ServiceProcess
from vies_dev.testing import KafkaProbe, free_port, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.envelope import encode
from vies_shared.events.missions import MissionStarted
from vies_shared.events.partners import PartnerApproved, PartnerSuspended
from vies_shared.events.topics import dlq_topic, events_topic
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.messaging.outbox import Outbox
from vies_shared.messaging.relay import OutboxRelay
from vies_shared.service import ServiceDefinition, create_app
from vies_shared.settings import ServiceSettings
from vies_shared.storage import Transactions, UnitOfWork, create_mongo_client

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


# --- helpers -------------------------------------------------------------------------------------


async def send_events(bootstrap: str, topic: str, events: list[Any], *, key: bytes) -> list[Any]:
    """Publish contract events with one key (one partition, in order); returns their RecordMetadata."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = []
        for event in events:
            _, message = encode(event)
            headers = [(k, v.encode()) for k, v in message.headers.items()]
            sent.append(await producer.send_and_wait(topic, value=message.value, key=key, headers=headers))
        return sent
    finally:
        await producer.stop()


async def send_raw(bootstrap: str, topic: str, *, key: bytes, value: bytes) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        return await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int) -> int:
    """The group's committed offset for one partition (-1 when it committed none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    found = offsets.get(TopicPartition(topic, partition))
    return found.offset if found is not None else -1


class ScriptProcess(ServiceProcess):
    """The killable consumer (``killable_consumer.py``) as its own operating-system process."""

    def command(self) -> list[str]:
        return [sys.executable, str(HERE / "killable_consumer.py")]


# --- consumer: SIGKILL mid-batch -------------------------------------------------------------------


async def test_consumer_killed_mid_batch_loses_nothing_on_restart(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, tmp_path: Path
) -> None:
    from killable_consumer import DEFINITION

    settings: ServiceSettings = vies_settings("missions")
    bootstrap = vies_stack.kafka_bootstrap
    topic = events_topic("partners", topic_prefix)
    partners = [f"p{i}" for i in range(6)]
    # All on one partition, before the consumer starts: one batch, one transaction.
    sent = await send_events(bootstrap, topic, [PartnerApproved(partner_id=p) for p in partners], key=b"one-key")
    blocked_on = sent[4]
    blocked = tmp_path / "blocked"
    env = {
        "VIES_ENV": "dev",
        "VIES_KAFKA_BOOTSTRAP": bootstrap,
        "VIES_MONGODB_URI": vies_stack.mongodb_uri,
        "VIES_MONGODB_DB": settings.mongodb_db,
        "VIES_TOPIC_PREFIX": topic_prefix,
        "VIES_CONSUMER_BATCH_TIMEOUT_MS": "50",
        "VIES_RETRY_INITIAL_SECONDS": "0.1",
        "VIES_RETRY_MAX_SECONDS": "1.0",
        "VIES_LOG_LEVEL": "WARNING",
        "VIES_TEST_BLOCK_ON": partners[4],
        "VIES_TEST_BLOCKED_FILE": str(blocked),
    }
    # Created up front: a collection created inside the killed transaction would lock the next writers out
    # until the server reaps that transaction (60 s).
    client = create_mongo_client(settings.mongodb_uri)
    db = client[settings.mongodb_db]
    try:
        await db.create_collection("handled")
        process = ScriptProcess("missions", free_port(), env, tmp_path / "consumer.log")
        process.start()
        assert process.process is not None
        try:

            async def blocked_mid_batch() -> bool:
                await asyncio.to_thread(process.ready)  # raises with the log if the process died
                return blocked.exists()

            await wait_until(blocked_mid_batch, timeout=60, interval=0.2, message="handler blocked mid-batch")
        finally:
            process.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.process.wait)
        assert process.process.returncode == -signal.SIGKILL

        # Nothing of the batch in flight was committed: not its offset, not its writes.
        group = settings.consumer_group
        offset = await committed_offset(bootstrap, group, topic, blocked_on.partition)
        assert offset <= blocked_on.offset, f"offset {offset} committed past the unhandled record {blocked_on.offset}"
        assert await db["handled"].count_documents({}) == await db["inbox"].count_documents({})
        assert await db["handled"].count_documents({"partner_id": partners[4]}) == 0

        # A new consumer in the same group (the restarted process) handles every event, each once.
        async with running(create_app(DEFINITION, settings), settings):

            async def all_handled() -> bool:
                return bool(await db["inbox"].count_documents({}) == len(partners))

            # The dead member holds its partitions until its session times out (10 s).
            await wait_until(all_handled, timeout=45, message="every event handled after the restart")
            handled = [d["partner_id"] async for d in db["handled"].find({}, {"partner_id": 1})]
            assert sorted(handled) == partners, handled
            await wait_until(
                lambda: _offset_is(bootstrap, group, topic, blocked_on.partition, sent[-1].offset + 1),
                timeout=10,
                message="offset committed after the batch",
            )
    finally:
        await client.close()


async def _offset_is(bootstrap: str, group: str, topic: str, partition: int, offset: int) -> bool:
    return await committed_offset(bootstrap, group, topic, partition) == offset


# --- consumer: inbox, handler writes and emitted events commit together ------------------------------


class _CrashAfterWrite:
    """Proxy of the client: its first bulk write at commit (inbox record, outbox documents) succeeds, then the
    connection "drops"."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.crashes = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def bulk_write(self, models: Any, **kwargs: Any) -> Any:
        result = await self._client.bulk_write(models, **kwargs)
        if self.crashes > 0:
            self.crashes -= 1
            raise AutoReconnect("injected: connection lost after the write, before the commit")
        return result


async def on_approved_emits(ctx: HandlerContext, event: PartnerApproved) -> None:
    await ctx.uow["counters"].update_one({"_id": event.partner_id}, {"$inc": {"approved": 1}}, upsert=True)
    ctx.emit(MissionStarted(mission_id=f"m-{event.partner_id}", departed_on="2026-01-01"))  # type: ignore[arg-type]


EMITTING = ServiceDefinition(name="missions", title="t", handlers=[on_approved_emits])


async def test_failed_commit_leaves_no_inbox_record_and_no_event(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("missions")
    async with running(create_app(EMITTING, settings), settings) as svc:
        runtime = svc.runtime
        proxy = _CrashAfterWrite(runtime.transactions.client)
        runtime.transactions.client = proxy
        await publish_event(
            vies_stack.kafka_bootstrap, events_topic("partners", topic_prefix), PartnerApproved(partner_id="p1")
        )
        db = runtime.db
        await wait_until(lambda: db["inbox"].count_documents({}), timeout=20, message="inbox record")
        # The inbox record is visible only together with the handler's write (same transaction).
        counter = await db["counters"].find_one({"_id": "p1"})
        assert counter is not None and counter["approved"] == 1, counter
        assert proxy.crashes == 0  # the first attempt did crash after its writes
        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("missions", topic_prefix)])
        await probe.wait_for("missions.MissionStarted")
        await asyncio.sleep(0.5)  # a second event (from the aborted attempt) has the chance to show up
        assert len(await probe.events("missions.MissionStarted")) == 1
        assert await runtime.outbox.backlog() == 0


async def test_redelivered_event_in_a_later_batch_is_skipped(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("missions")
    topic = events_topic("partners", topic_prefix)
    async with running(create_app(EMITTING, settings), settings) as svc:
        db = svc.runtime.db
        event_id = await publish_event(vies_stack.kafka_bootstrap, topic, PartnerApproved(partner_id="p1"))
        await wait_until(lambda: db["inbox"].count_documents({}), timeout=20, message="first delivery")
        await publish_event(vies_stack.kafka_bootstrap, topic, PartnerApproved(partner_id="p1"), event_id=event_id)
        await publish_event(vies_stack.kafka_bootstrap, topic, PartnerApproved(partner_id="p2"))
        await wait_until(lambda: db["counters"].find_one({"_id": "p2"}), timeout=15, message="the event after it")
        assert (await db["counters"].find_one({"_id": "p1"}))["approved"] == 1  # type: ignore[index]
        assert await db["inbox"].count_documents({}) == 2


# --- consumer: dead letters --------------------------------------------------------------------------


async def test_unacknowledged_dead_letter_keeps_the_offset(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("missions")
    bootstrap = vies_stack.kafka_bootstrap
    topic = events_topic("partners", topic_prefix)
    dlq = dlq_topic("missions", topic_prefix)
    async with running(create_app(EMITTING, settings), settings) as svc:
        runtime = svc.runtime
        acked = asyncio.Event()
        dlq_sent = asyncio.Event()
        original: Callable[..., Awaitable[Any]] = runtime.broker.publish

        async def publish(*args: Any, **kwargs: Any) -> Any:
            result = await original(*args, **kwargs)
            if kwargs.get("topic") == dlq:
                dlq_sent.set()
                await acked.wait()  # Kafka has the record; its acknowledgement has not come back yet
            return result

        runtime.broker.publish = publish
        poison = await send_raw(bootstrap, topic, key=b"k", value=b"\x00 not a cloudevent")
        [valid] = await send_events(bootstrap, topic, [PartnerApproved(partner_id="after")], key=b"k")
        await asyncio.wait_for(dlq_sent.wait(), timeout=20)
        for _ in range(10):  # several batch timeouts: a commit would happen now if it could
            offset = await committed_offset(bootstrap, settings.consumer_group, topic, poison.partition)
            assert offset <= poison.offset, f"offset {offset} moved past an unacknowledged dead letter"
            await asyncio.sleep(0.1)
        assert await runtime.db["counters"].count_documents({}) == 0
        acked.set()
        await wait_until(
            lambda: _offset_is(bootstrap, settings.consumer_group, topic, poison.partition, valid.offset + 1),
            timeout=15,
            message="offset committed once the dead letter is acknowledged",
        )
        letters = await KafkaProbe(bootstrap, [dlq]).read()
        assert [r.value for r in letters] == [b"\x00 not a cloudevent"]
        assert await runtime.db["counters"].count_documents({"_id": "after"}) == 1


async def on_always_fails(ctx: HandlerContext, event: PartnerSuspended) -> None:
    CALLS.append(event.partner_id)
    raise ValueError("handler bug")


CALLS: list[str] = []


async def test_failing_handler_is_dead_lettered_after_exactly_its_attempts(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    CALLS.clear()
    settings = vies_settings("missions", handler_attempts=3)
    definition = ServiceDefinition(name="missions", title="t", handlers=[on_always_fails])
    async with running(create_app(definition, settings), settings):
        bootstrap = vies_stack.kafka_bootstrap
        await publish_event(
            bootstrap, events_topic("partners", topic_prefix), PartnerSuspended(partner_id="x", reason="r")
        )
        probe = KafkaProbe(bootstrap, [dlq_topic("missions", topic_prefix)])
        await wait_until(probe.read, timeout=20, message="dead letter")
        # One try with its batch, then ``handler_attempts`` tries alone, then the dead letter.
        assert len(CALLS) == 1 + settings.handler_attempts, CALLS
        assert len(await probe.read()) == 1


# --- relay -------------------------------------------------------------------------------------------


class RelayKit:
    """An outbox with events already committed and a relay (not started) whose acks can be made to fail."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.client = create_mongo_client(settings.mongodb_uri)
        self.db = self.client[settings.mongodb_db]
        self.outbox = Outbox(self.db, service="partners", topic_prefix=settings.topic_prefix)
        self.transactions = Transactions(self.client, self.db, self.outbox)
        self.probe = KafkaProbe(settings.kafka_bootstrap, [events_topic("partners", settings.topic_prefix)])
        self.broker = create_broker(settings, client_id="relay-under-test")
        self.relay: OutboxRelay | None = None
        self.fail_acks = False
        self.hold_acks: asyncio.Event | None = None
        self.sent: list[str] = []
        self.attempts = 0

    async def start(self, batch_size: int) -> OutboxRelay:
        await self.outbox.ensure_indexes()
        await self.broker.start()
        original: Callable[..., Awaitable[Any]] = self.broker.publish

        async def publish(*args: Any, **kwargs: Any) -> Any:
            self.attempts += 1
            future = await original(*args, **kwargs)  # handed to the producer, on its way to the broker
            self.sent.append(dict(kwargs["headers"])["ce_id"])

            async def acknowledgement() -> Any:
                metadata = await future  # the broker has the record...
                if self.hold_acks is not None:
                    await self.hold_acks.wait()
                if self.fail_acks:
                    raise RequestTimedOutError("injected: the acknowledgement was lost")  # ...we never learn it
                return metadata

            return asyncio.ensure_future(acknowledgement())

        self.broker.publish = publish  # type: ignore[method-assign]
        self.relay = OutboxRelay(
            self.outbox, self.broker, service="partners", poll_seconds=0.05, lease_seconds=2.0, batch_size=batch_size
        )
        self.relay.start()
        return self.relay

    async def emit(self, partner_id: str, step: int) -> str:
        async def work(uow: UnitOfWork) -> str:
            return uow.emit(PartnerSuspended(partner_id=partner_id, reason=f"step {step}")).id

        return await self.transactions.run(work)

    async def marked(self) -> int:
        return await self.outbox.collection.count_documents({"published_at": {"$ne": None}})

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        await self.broker.stop()
        await self.client.close()


@pytest_asyncio.fixture
async def relay_kit(vies_settings: Any) -> AsyncIterator[RelayKit]:
    kit = RelayKit(vies_settings("partners"))
    yield kit
    await kit.close()


async def test_relay_whose_acks_fail_marks_nothing_and_publishes_everything_later(relay_kit: RelayKit) -> None:
    kit = relay_kit
    ids = [await kit.emit(f"p{i % 3}", i) for i in range(12)]
    kit.fail_acks = True
    await kit.start(batch_size=5)
    # Several rounds: each sends the first batch again, the broker takes it, every ack fails.

    async def rounds_or_marked() -> bool:
        return len(kit.sent) >= 15 or await kit.marked() > 0

    await wait_until(rounds_or_marked, timeout=20, message="three rounds of failed acks")
    assert await kit.marked() == 0
    assert set(kit.sent) == set(ids[:5]), "the relay went past a batch whose acks failed"
    kit.fail_acks = False

    async def drained() -> bool:
        return bool(await kit.outbox.backlog() == 0)

    await wait_until(drained, timeout=20, message="outbox drained once acks work")
    events = await kit.probe.events("partners.PartnerSuspended")
    published = [e["headers"]["ce_id"] for e in events]
    assert set(published) == set(ids)  # everything, the first batch more than once (consumers de-duplicate)
    assert len(published) > len(ids)


async def test_relay_publishes_a_backlog_in_commit_order(relay_kit: RelayKit) -> None:
    kit = relay_kit
    for step in range(20):
        for partner in ("a", "b", "c"):
            await kit.emit(partner, step)
    await kit.start(batch_size=25)
    events = await kit.probe.wait_for("partners.PartnerSuspended", 60, timeout=30)
    for partner in ("a", "b", "c"):
        steps = [int(e["value"]["reason"].split()[1]) for e in events if e["key"] == partner]
        assert steps == list(range(20)), (partner, steps)


async def test_event_committed_while_a_batch_is_in_flight_is_not_marked_with_it(relay_kit: RelayKit) -> None:
    kit = relay_kit
    first = await kit.emit("a", 0)
    kit.hold_acks = asyncio.Event()
    await kit.start(batch_size=10)
    await wait_until(lambda: kit.sent, timeout=20, message="first batch sent")
    later = await kit.emit("a", 1)  # committed while the first batch waits for its ack
    kit.hold_acks.set()
    events = await kit.probe.wait_for("partners.PartnerSuspended", 2, timeout=20)
    assert [e["headers"]["ce_id"] for e in events] == [first, later]


# --- consumer: shutdown during retries -------------------------------------------------------------------

DATABASE_DOWN = {"down": True, "calls": 0}


async def on_approved_while_db_down(ctx: HandlerContext, event: PartnerApproved) -> None:
    DATABASE_DOWN["calls"] += 1
    if DATABASE_DOWN["down"]:
        raise AutoReconnect("injected: database unreachable")
    await ctx.uow["counters"].update_one({"_id": event.partner_id}, {"$inc": {"approved": 1}}, upsert=True)


async def test_batch_abandoned_at_shutdown_is_not_acknowledged(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    DATABASE_DOWN.update(down=True, calls=0)
    settings = vies_settings("missions")
    definition = ServiceDefinition(name="missions", title="t", handlers=[on_approved_while_db_down])
    bootstrap = vies_stack.kafka_bootstrap
    topic = events_topic("partners", topic_prefix)
    async with running(create_app(definition, settings), settings):
        [record] = await send_events(bootstrap, topic, [PartnerApproved(partner_id="p1")], key=b"k")
        await wait_until(lambda: DATABASE_DOWN["calls"] >= 2, timeout=20, message="transient retries")
    # Stopped (as on SIGTERM) while the batch was being retried: it must come back, not be skipped.
    offset = await committed_offset(bootstrap, settings.consumer_group, topic, record.partition)
    assert offset <= record.offset, f"offset {offset} committed for a batch that was never handled"
    DATABASE_DOWN["down"] = False
    async with running(create_app(definition, settings), settings) as svc:
        await wait_until(
            lambda: svc.runtime.db["counters"].find_one({"_id": "p1"}), timeout=30, message="handled after restart"
        )


# --- relay: broker killed mid-batch (stops Kafka: needs the plugin's own stack) ---------------------------


@pytest.mark.outage
async def test_relay_with_broker_killed_mid_batch_marks_nothing_and_publishes_later(
    vies_settings: Any, vies_stack: Any
) -> None:
    if vies_stack.stack is None:
        pytest.skip("stops Kafka: needs the stack started by the test plugin")
    stack = vies_stack.stack
    kit = RelayKit(vies_settings("partners"))
    try:
        first = await kit.emit("p0", -1)
        await kit.start(batch_size=50)
        await wait_until(lambda: _marked_is(kit, 1), timeout=20, message="first event published")
        await asyncio.to_thread(stack.stop_kafka)
        try:
            ids = [await kit.emit(f"p{i % 3}", i) for i in range(20)]
            # Depending on what the producer still knows of the partitions' leaders, it takes the batch and
            # retries it until the broker is back, or refuses it after its request timeout: either way,
            # nothing may be marked.
            await wait_until(lambda: kit.attempts > 1, timeout=30, message="a batch tried with the broker down")
            await asyncio.sleep(3)
            assert await kit.marked() == 1
        finally:
            await asyncio.to_thread(stack.start_kafka)

        async def drained() -> bool:
            return bool(await kit.outbox.backlog() == 0)

        await wait_until(drained, timeout=90, message="outbox drained after the broker came back")
        events = await kit.probe.events("partners.PartnerSuspended")
        assert {e["headers"]["ce_id"] for e in events} == {first, *ids}
    finally:
        await kit.close()


async def _marked_is(kit: RelayKit, n: int) -> bool:
    return await kit.marked() == n
