"""The outbox relay: publishes pending outbox documents to Kafka, in order, in batches.

Only the holder of the lease document ``{_id: "relay", holder, expires_at}``
publishes, so per-key order holds with several replicas; the lease is renewed
every few seconds and taken over by another replica when it expires.

The relay costs nothing while there is nothing to publish: a commit that wrote outbox
documents wakes it (``wake``, called by ``Transactions`` in the same process; with
``watch_commits`` also a change stream on the outbox, for workers whose API runs in other
processes), and the poll every ``poll_seconds`` is only a safety net. Each batch is one
read and one update (marked by id); published documents older than the retention are
deleted by the relay itself, at most every ``prune_seconds`` and only while it publishes.

A record the relay cannot publish is reported, not retried silently forever: each
failure is counted on the document (``failures``,
``last_error``, ``last_failed_at``); once Kafka refuses it for good (topic missing, not
authorised, too large) or it failed ``stuck_failures`` times, ``stuck`` says which record
and why, ``/readyz`` answers 503 and ``vies_outbox_stuck`` counts it; ``vies outbox
stuck`` lists such records. A refusal counts as for good (``refused``) only once Kafka kept
refusing the record for ``refused_seconds`` (``refused_since`` on the document, cleared by
any other outcome): a broker that was unreachable or has just restarted answers "unknown
topic" for a topic it has, until the producer's metadata is fresh again, and the next
attempt publishes it. It still blocks the events after it, on purpose: publishing
them first would break the order of its aggregate, so an operator fixes the cause (creates
the topic, grants access, shrinks the record) and the relay resumes by itself.

A producer that cannot recover is replaced (found by ``make chaos``): aiokafka's idempotent
producer burns a batch's sequence numbers when the batch expires while its partition has no
leader, and from then on every send to that partition fails with ``OutOfOrderSequenceNumber``
until the process restarts. On that error (and the other ones after which the producer id is
useless: unknown producer id, invalid epoch or mapping, fenced, or a dead sender task) the
relay closes the broker's producer and starts a new one (new producer id, sequences from zero),
counts it in ``vies_relay_producer_replaced_total`` and retries. After a failure the records
acknowledged before the first failed one are marked; from that one on the batch is sent again
in outbox order, so a later event of the same key never overtakes it and the partitions that
did work receive as few duplicates as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka import errors as kafka_errors
from faststream.kafka import KafkaBroker
from opentelemetry.trace import Span
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from vies_shared import metrics, tracing
from vies_shared.logging import get_logger
from vies_shared.messaging.broker import is_refused
from vies_shared.messaging.outbox import Outbox
from vies_shared.storage import backoff_delay, is_transient

Document = dict[str, Any]
LEASE_ID = "relay"
# Ids per "mark published" update (see OutboxRelay._mark).
MARK_CHUNK = 100
# After these the idempotent producer refuses every later send of the partition: only a new producer id helps.
UNRECOVERABLE = (
    kafka_errors.OutOfOrderSequenceNumber,
    kafka_errors.UnknownProducerId,
    kafka_errors.InvalidProducerEpoch,
    kafka_errors.InvalidProducerIdMapping,
    kafka_errors.ProducerFenced,
)


class Lease:
    """A MongoDB lease that at most one holder has at a time, until it expires.

    Its expiry is wall time, not the service's test-settable clock: a lease is shared by processes
    whose set clocks may disagree, and a test moving one process's clock must not let it take a lease
    another process still holds.
    """

    def __init__(self, collection: AsyncCollection[Document], *, name: str, holder: str, seconds: float) -> None:
        self.collection = collection
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self.valid_until: datetime | None = None

    async def acquire(self) -> bool:
        """Take or renew the lease; False when another live holder has it."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self.seconds)
        # The filter is the _id alone, so the _id index serves it (SecantusDB scans the collection
        # for any other filter); whether we may take the lease is decided by the update itself.
        ours = {"$or": [{"$eq": ["$holder", self.holder]}, {"$lt": ["$expires_at", now]}]}
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": self.name},
                [
                    {
                        "$set": {
                            "holder": {"$cond": [ours, self.holder, "$holder"]},
                            "expires_at": {"$cond": [ours, expires, "$expires_at"]},
                        }
                    }
                ],
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            doc = None
        taken = doc is not None and doc.get("holder") == self.holder
        self.valid_until = expires if taken else None
        return taken

    def held(self, margin: float = 1.0) -> bool:
        """Whether our lease is still valid with a safety margin (stop publishing before it lapses)."""
        return self.valid_until is not None and datetime.now(UTC) + timedelta(seconds=margin) < self.valid_until

    async def release(self) -> None:
        """Give the lease up so another replica takes over at once (graceful shutdown)."""
        if self.valid_until is not None:
            await self.collection.delete_one({"_id": self.name, "holder": self.holder})
            self.valid_until = None


class OutboxRelay:
    """Moves outbox documents to Kafka: acks=all, idempotent producer, marked published after ack."""

    def __init__(
        self,
        outbox: Outbox,
        broker: KafkaBroker,
        *,
        service: str,
        batch_size: int = 500,
        poll_seconds: float = 5.0,
        lease_seconds: float = 10.0,
        holder: str | None = None,
        stuck_failures: int = 10,
        refused_seconds: float = 60.0,
        watch_commits: bool = False,
        prune_seconds: float = 60.0,
    ) -> None:
        self.outbox = outbox
        self.broker = broker
        self.service = service
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.stuck_failures = stuck_failures
        self.refused_seconds = refused_seconds
        self.watch_commits = watch_commits
        self.prune_seconds = prune_seconds
        self._pruned_at = 0.0
        # Which record cannot be published and why (None while the relay makes progress).
        self.stuck: str | None = None
        self.lease = Lease(
            outbox.collection.database["leases"],
            name=LEASE_ID,
            holder=holder or f"{service}-{uuid.uuid4().hex[:12]}",
            seconds=lease_seconds,
        )
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.log = get_logger(component="relay")

    def wake(self) -> None:
        """Called after a commit that wrote outbox documents: publish without waiting for the poll."""
        self._wake.set()

    def start(self) -> None:
        """Run the relay loop in the background."""
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"{self.service}-outbox-relay")
        if self.watch_commits:
            self._watch_task = asyncio.create_task(self._watch(), name=f"{self.service}-outbox-watch")

    async def _watch(self) -> None:
        """Wake the relay on every outbox insert committed by any process (a change stream)."""
        failures = 0
        while not self._stopping.is_set():
            try:
                pipeline: list[Document] = [{"$match": {"operationType": "insert"}}, {"$project": {"_id": 1}}]
                async with await self.outbox.collection.watch(pipeline, max_await_time_ms=5000) as stream:
                    self.wake()  # what was committed before the stream opened
                    async for _ in stream:
                        failures = 0
                        self.wake()
            except Exception as exc:  # noqa: BLE001 - the poll still publishes meanwhile
                failures += 1
                delay = backoff_delay(failures, 1.0, 60.0)
                self.log.warning("relay_watch_failed", error=repr(exc), retry_in=round(delay, 2))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    @property
    def running(self) -> bool:
        """Whether the relay loop is alive."""
        return self._task is not None and not self._task.done()

    async def stop(self, flush_seconds: float = 0.0) -> None:
        """Finish the batch in flight, publish what is still pending (up to ``flush_seconds``), release the lease."""
        self._stopping.set()
        self._wake.set()
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None
        if self._task is not None:
            # A task that was cancelled (killed) or crashed has nothing left to flush.
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if flush_seconds > 0 and self.lease.held():
            # The loop has stopped, so this last pass cannot race it into publishing twice.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(), timeout=flush_seconds)
        try:
            await self.lease.release()
        except Exception as exc:  # noqa: BLE001 - a lease left behind only expires later
            self.log.warning("relay_lease_release_failed", error=str(exc))

    async def run(self) -> None:
        """Loop: hold the lease, publish pending batches, sleep when idle; back off on failures."""
        failures = 0
        while not self._stopping.is_set():
            try:
                if not self.lease.held(margin=self.lease.seconds / 2) and not await self.lease.acquire():
                    await self._idle(self.lease.seconds / 3)
                    continue
                published = await self.publish_pending()
                failures = 0
                self._unstick()
                if published:
                    await self._prune_now_and_then()
                if published < self.batch_size:
                    await self._idle(self.poll_seconds)
            except Exception as exc:  # noqa: BLE001 - the relay must survive any outage
                failures += 1
                delay = backoff_delay(failures, 0.2, 10.0)
                level = "warning" if is_transient(exc) else "error"
                getattr(self.log, level)("relay_publish_failed", error=repr(exc), retry_in=round(delay, 2))
                await self._idle(delay)

    async def _prune_now_and_then(self) -> None:
        """Delete old published events, at most every ``prune_seconds`` (an indexed delete, never a scan)."""
        if time.monotonic() - self._pruned_at < self.prune_seconds:
            return
        self._pruned_at = time.monotonic()
        try:
            pruned = await self.outbox.prune()
        except Exception as exc:  # noqa: BLE001 - publishing matters more; pruned next time
            self.log.warning("relay_prune_failed", error=repr(exc))
            return
        if pruned:
            self.log.info("relay_pruned", documents=pruned)

    async def _flush(self) -> None:
        while self.lease.held() and await self.publish_pending() > 0:
            pass

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of pending events in ``seq`` order; returns how many were published."""
        cursor = self.outbox.collection.find({"published_at": None}).sort("seq", ASCENDING).limit(self.batch_size)
        batch = await cursor.to_list(length=self.batch_size)
        if not batch or not self.lease.held():
            return 0
        if producer_is_dead(self.broker):
            await self._replace_producer("sender_stopped", None)
        outcomes = await self._send(batch)
        if len(outcomes) < len(batch) or any(isinstance(o, BaseException) for o in outcomes):
            await self._record_failures(batch, outcomes)
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            await self._after_failure(batch, outcomes, failed)
            raise failed
        await self._mark(batch)
        return len(batch)

    async def _send(self, batch: list[Document]) -> list[Any]:
        """Send all, then wait for every ack (the idempotent producer keeps per-partition order); the outcomes.

        A record refused before sending ends the list: later ones must not overtake it.
        """
        futures: list[Any] = []
        # With tracing on, each record is sent within a producer span child of its emitter's trace,
        # and the span travels in the record's ce_traceparent header.
        spans: list[Span | None] = []
        for doc in batch:
            spans.append(span := tracing.publish_span(doc))
            try:
                futures.append(
                    await self.broker.publish(
                        doc["value"],
                        topic=doc["topic"],
                        key=doc["key"].encode(),
                        headers=tracing.with_traceparent(doc["headers"], span),
                        no_confirm=True,
                    )
                )
            except Exception as exc:  # noqa: BLE001 - refused before sending; later ones must not overtake it
                futures.append(_failed(exc))
                break
        outcomes = await self._acknowledgements(futures)
        for span, outcome in zip(spans, outcomes, strict=False):
            tracing.end_span(span, outcome if isinstance(outcome, BaseException) else None)
        return outcomes

    async def _after_failure(self, batch: list[Document], outcomes: list[Any], failed: BaseException) -> None:
        """Mark what was acknowledged before the first failure; replace a producer that cannot recover.

        From the failed record on, the batch is sent again in outbox order (consumers de-duplicate on ce_id).
        """
        first = next(i for i, o in enumerate(outcomes) if isinstance(o, BaseException))
        await self._mark(batch[:first])
        broken = next((o for o in outcomes if isinstance(o, UNRECOVERABLE)), None)
        if broken is not None:
            await self._replace_producer(type(broken).__name__, broken)
        elif producer_is_dead(self.broker):
            await self._replace_producer("sender_stopped", failed)

    async def _acknowledgements(self, futures: list[Any]) -> list[Any]:
        """Each send's outcome; all failed if the producer's sender task dies meanwhile (they would never end)."""
        gathered: asyncio.Future[list[Any]] = asyncio.gather(*futures, return_exceptions=True)
        sender = _sender_task(self.broker)
        if sender is not None and not sender.done():
            waited: list[asyncio.Future[Any]] = [gathered, sender]
            await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        elif sender is not None:
            await asyncio.sleep(0)  # let acknowledgements that already came settle
        if sender is None or gathered.done():
            return list(await gathered)
        gathered.cancel()
        dead = kafka_errors.KafkaError("the producer's sender task stopped: the records were not sent")
        return [dead] * len(futures)

    async def _mark(self, docs: list[Document]) -> None:
        """Mark acknowledged documents published."""
        if not docs:
            return
        ids = [doc["_id"] for doc in docs]
        now = self.outbox.now()
        # By id, never by a seq range: a transaction still in flight may hold a lower seq. One update
        # per MARK_CHUNK ids (one per batch at everyday sizes): the local server's cost of an $in grows
        # with the square of the list (1,000 ids: 2.8 s; ten lists of 100: 0.7 s). (The backlog gauge is
        # computed when /metrics is scraped, not here.)
        for start in range(0, len(ids), MARK_CHUNK):
            chunk = ids[start : start + MARK_CHUNK]
            await self.outbox.collection.update_many({"_id": {"$in": chunk}}, {"$set": {"published_at": now}})
        for doc in docs:
            metrics.EVENTS_PUBLISHED.labels(self.service, doc.get("type", "")).inc()

    async def _replace_producer(self, reason: str, error: BaseException | None) -> None:
        """Close the broker's producer and start a new one (new producer id, sequences from zero)."""
        old_id = await renew_producer(self.broker)
        metrics.RELAY_PRODUCER_REPLACED.labels(self.service, reason).inc()
        self.log.warning(
            "relay_producer_replaced", reason=reason, old_producer_id=old_id, error=repr(error) if error else None
        )

    async def _record_failures(self, batch: list[Document], outcomes: list[Any]) -> None:
        """Count the failure on each record that failed; report the first one that is stuck."""
        now = self.outbox.now()
        for doc, outcome in zip(batch, outcomes, strict=False):
            if not isinstance(outcome, BaseException):
                continue
            refused_since = _refused_since(doc, outcome, now)
            refused = refused_since is not None and (now - refused_since).total_seconds() >= self.refused_seconds
            failures = int(doc.get("failures", 0)) + 1
            error = repr(outcome)[:1000]
            with contextlib.suppress(Exception):  # the database may be what is down
                await self.outbox.collection.update_one(
                    {"_id": doc["_id"], "published_at": None},
                    {
                        "$inc": {"failures": 1},
                        "$set": {
                            "last_error": error,
                            "last_failed_at": now,
                            "refused": refused,
                            "refused_since": refused_since,
                        },
                    },
                )
            if (refused or failures >= self.stuck_failures) and self.stuck is None:
                self.stuck = (
                    f"outbox record {doc['_id']} ({doc.get('type')}, topic {doc['topic']}, key {doc['key']}) "
                    f"failed {failures} time(s), last: {error}"
                    + (": Kafka refuses it, an operator must act" if refused else "")
                )
                self.log.error("relay_record_stuck", stuck=self.stuck)
                with contextlib.suppress(Exception):
                    metrics.OUTBOX_STUCK.labels(self.service).set(await count_stuck(self.outbox, self.stuck_failures))

    def _unstick(self) -> None:
        if self.stuck is not None:
            self.log.warning("relay_record_unstuck", was=self.stuck)
            self.stuck = None
            metrics.OUTBOX_STUCK.labels(self.service).set(0)

    async def oldest_pending_seconds(self) -> float:
        """Age of the oldest pending event (0 when none); also sets the metric."""
        return await oldest_pending_seconds(self.outbox)


async def _failed(exc: BaseException) -> None:
    raise exc


def _refused_since(doc: Document, outcome: BaseException, now: datetime) -> datetime | None:
    """Since when Kafka refuses the record without a break (None when this failure is no refusal)."""
    if not is_refused(outcome):
        return None
    since: datetime | None = doc.get("refused_since")
    if since is None:
        return now
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def _kafka_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The aiokafka producer behind the FastStream broker (None before it is connected)."""
    state = getattr(broker.config.producer, "_producer", None)
    return state.producer if state else None  # an unconnected state is falsy


def _sender_task(broker: KafkaBroker) -> asyncio.Task[None] | None:
    """The task that sends the producer's batches (None when there is no running producer)."""
    producer = _kafka_producer(broker)
    if producer is None or producer._closed:  # not started yet, or stopped on purpose (shutdown)
        return None
    task: asyncio.Task[None] | None = getattr(producer._sender, "sender_task", None)
    return task


def producer_is_dead(broker: KafkaBroker) -> bool:
    """Whether the broker's producer can never deliver again: its sender task ended or it is in a fatal state."""
    producer = _kafka_producer(broker)
    task = _sender_task(broker)
    if producer is None or task is None:
        return False
    txn = producer._txn_manager
    return bool(task.done() or (txn is not None and txn.is_fatal_error()))


async def renew_producer(broker: KafkaBroker, stop_seconds: float = 10.0) -> int | None:
    """Replace the broker's Kafka producer by a new one (new producer id, sequences from zero).

    Publishers keep calling ``broker.publish`` and get the new producer; the old one is stopped
    (bounded: a producer whose broker is down may not finish its flush). Returns the old producer id.
    """
    holder: Any = broker.config.producer
    old = _kafka_producer(broker)
    old_id = old._txn_manager.producer_id if old is not None and old._txn_manager is not None else None
    fresh = AIOKafkaProducer(**broker._connection_kwargs)
    try:
        await holder.connect(fresh, serializer=holder.serializer, codec=holder.codec)
    except BaseException:
        with contextlib.suppress(Exception):
            await fresh.stop()
        raise
    if old is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.stop(), timeout=stop_seconds)
    return old_id if old_id is None or old_id >= 0 else None


def _stuck_filter(stuck_failures: int) -> Document:
    return {"published_at": None, "$or": [{"refused": True}, {"failures": {"$gte": stuck_failures}}]}


async def count_stuck(outbox: Outbox, stuck_failures: int) -> int:
    """How many pending records Kafka refused, or that failed ``stuck_failures`` times."""
    return await outbox.collection.count_documents(_stuck_filter(stuck_failures))


async def stuck_records(outbox: Outbox, *, min_failures: int = 1) -> list[Document]:
    """Pending records that failed to publish at least ``min_failures`` times, in publication order."""
    cursor = outbox.collection.find(
        {"published_at": None, "failures": {"$gte": min_failures}},
        {"value": 0, "headers": 0},
        sort=[("seq", ASCENDING)],
    )
    return await cursor.to_list(length=None)


async def oldest_pending_seconds(outbox: Outbox) -> float:
    """Age in seconds of the pending event with the lowest ``seq`` (0 when nothing waits)."""
    doc = await outbox.collection.find_one({"published_at": None}, {"created_at": 1}, sort=[("seq", ASCENDING)])
    age = 0.0
    if doc is not None and doc.get("created_at") is not None:
        created = doc["created_at"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        age = max(0.0, (outbox.now() - created).total_seconds())
    metrics.OUTBOX_OLDEST_SECONDS.labels(outbox.service).set(age)
    return age
