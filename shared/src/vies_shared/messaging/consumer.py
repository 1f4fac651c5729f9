"""Idempotent event consumers: inbox, in-place retries, dead letters (docs/ARCHITECTURE.md 3).

For each batch a FastStream subscriber hands over, the records (each partition's
in order) are handled in one MongoDB transaction: the inbox documents (``_id =
ce_id``), the handlers' writes and the events they emit commit together. A record
already in the inbox is skipped. The inbox is not read first: its documents are
written at commit (``uow.at_commit``, in one command with the handlers' writes at
commit and the outbox documents), and only when that write meets one already there
(a redelivery, rare) is the transaction aborted and run again after reading which
ones. A handler failing in a batch the inbox already holds a record of is taken for
such a redelivery too, and the batch run again the same way. Transient
failures (database or broker unreachable, write conflicts) are retried in place
with capped exponential backoff; a record that cannot be handled is isolated,
retried alone and, after ``attempts`` failures, dead-lettered. The Kafka offset
is committed only once every record of the batch is handled or dead-lettered.

Nothing stalls silently:
* a batch failing "transiently" ``transient_attempts`` times in a row is split and
  its records handled alone; a record that still fails transiently that many times
  while the database answers counts as a failed attempt (reason ``transient_exhausted``
  once dead-lettered), whereas during an outage it waits, dead-lettering nothing;
* a dead letter that Kafka refuses for good (topic missing, not authorised, record
  too large) blocks the consumer *visibly*: ``blocked`` says why, ``/readyz`` is 503,
  ``vies_consumer_blocked`` is 1, an error is logged, and the batch is retried every
  ``retry_max`` seconds until an operator fixes the cause (the offset never moves
  past an undelivered dead letter);
* ``stalled_partitions`` reports partitions with lag whose committed offset has not
  moved for a while (``/readyz`` 503, ``vies_consumer_stalled_partitions``).

A replayed dead letter keeps the order of its aggregate:
the replay carries the record's original position (``dlq_original_partition`` and
``dlq_original_offset``); when the inbox shows that a later record of the same key was
already applied, the replayed one is applied only if its handler is marked
``@order_safe``, and otherwise parked again in the dead-letter topic with reason
``stale_replay`` and the later event named. ``vies dlq replay --force-stale`` applies
it anyway (``dlq_replay_force``) once an operator has judged it harmless.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Union

import structlog
from aiokafka.structs import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from pymongo.errors import DuplicateKeyError, PyMongoError
from typing_extensions import TypeVar

from vies_shared import context, metrics, tracing
from vies_shared.events.base import Event
from vies_shared.events.envelope import EnvelopeError, EventMeta, decode, headers_to_dict
from vies_shared.logging import get_logger
from vies_shared.messaging.broker import is_refused
from vies_shared.settings import ServiceSettings
from vies_shared.storage import FailedAtCommit, Transactions, UnitOfWork, backoff_delay, is_transient

if TYPE_CHECKING:
    from vies_shared.service import Runtime

Document = dict[str, Any]
INBOX = "inbox"


# The service's settings type: ``HandlerContext[MissionsSettings]`` reads ``ctx.settings.check_in_interval``
# without a downcast. Covariant, so a handler that needs no service setting takes a plain ``HandlerContext``.
S = TypeVar("S", bound=ServiceSettings, default=ServiceSettings)
S_co = TypeVar("S_co", bound=ServiceSettings, default=ServiceSettings, covariant=True)


@dataclasses.dataclass
class HandlerContext(Generic[S_co]):
    """What a handler gets besides its event: the transaction, the incoming event's attributes, the runtime."""

    # The handler's transaction: ``ctx.uow[name]`` is a collection bound to it, ``ctx.uow.get`` loads or 404s.
    uow: UnitOfWork[S_co]
    meta: EventMeta
    # Set when the kit's service runtime built the consumer (always, for a service's handlers).
    service_runtime: Runtime[S_co] | None = None

    @property
    def runtime(self) -> Runtime[S_co]:
        """The service's runtime (settings, extras); a consumer built without one has none to give."""
        if self.service_runtime is None:
            raise RuntimeError("this consumer was built without a service runtime")
        return self.service_runtime

    @property
    def settings(self) -> S_co:
        """The service's settings."""
        return self.runtime.settings

    def now(self) -> datetime:
        """The current UTC time as the service sees it: the same test-settable clock as its use cases."""
        return self.uow.now()

    def emit(self, event: Event, *, region: str | None = None) -> EventMeta:
        """Emit an event caused by the one being handled (same transaction, causation recorded)."""
        return self.uow.emit(event, region=region)


# The event parameter is ``Any`` here because each handler takes its own event class; which one is read
# from its annotation when the consumer is built (``handler_table``), so a mismatch fails at start-up.
Handler = Callable[[HandlerContext[S], Any], Awaitable[None]]
H = TypeVar("H", bound=Callable[..., Awaitable[None]])
TombstoneHandler = Callable[[UnitOfWork, str, str], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Handles(Generic[S]):
    """The explicit way to give one handler a set of event classes that its annotation cannot list.

    A handler is normally registered by its event parameter's annotation: ``event: VolunteerEngaged``
    registers it for ``VolunteerEngaged.TYPE``, and ``event: PartnerApproved | PartnerRejected`` for
    both. A catch-all (notifications' intake, a regional branch) takes every event of a set computed
    from the registry, which grows with the contract: a union kept by hand would go stale silently.
    ``Handles(events, handler)`` names that set; the handler's annotation must still accept each of
    them (``event: Event`` does), so the declaration is checked against the signature all the same.
    """

    events: tuple[type[Event], ...]
    handler: Handler[S]


class InvalidHandler(TypeError):
    """A handler the kit cannot register: no event annotation, not an event class, or a type handled twice."""


def handler_name(handler: Callable[..., Any]) -> str:
    """``module.qualname`` of a handler, for error messages."""
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


def annotated_events(handler: Callable[..., Any]) -> tuple[type[Event], ...]:
    """The event classes a handler's second parameter is annotated with (each member of a union).

    Raises ``InvalidHandler`` naming the handler when the annotation is missing, cannot be resolved,
    or is not made of ``Event`` subclasses.
    """
    name = handler_name(handler)
    parameters = list(inspect.signature(handler).parameters.values())
    if len(parameters) != 2:  # (ctx, event)
        raise InvalidHandler(f"handler {name} must take (ctx, event), not {len(parameters)} parameters")
    event = parameters[1].name
    try:
        hints = typing.get_type_hints(handler)
    except Exception as exc:  # e.g. a NameError: the annotation names a class its module does not import
        raise InvalidHandler(f"handler {name}: the annotations cannot be resolved ({exc})") from exc
    if event not in hints:
        raise InvalidHandler(
            f"handler {name}: its {event!r} parameter has no annotation; annotate it with the event class it handles"
        )
    hint = hints[event]
    members = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    for member in members:
        if not (isinstance(member, type) and issubclass(member, Event)):
            raise InvalidHandler(f"handler {name}: {event}: {hint!r} is not an event class (a subclass of Event)")
    return tuple(members)


def _registrations(declared: Iterable[Handler[S] | Handles[S]]) -> list[tuple[type[Event], Handler[S]]]:
    """Each declared handler with each event class it is registered for, checked against its signature."""
    pairs: list[tuple[type[Event], Handler[S]]] = []
    for entry in declared:
        if isinstance(entry, Handles):
            handler = entry.handler
            accepted = annotated_events(handler)
            for model in entry.events:
                if not issubclass(model, accepted):
                    raise InvalidHandler(
                        f"handler {handler_name(handler)} is declared for {model.__name__}, "
                        "which its event annotation does not accept"
                    )
            models: Sequence[type[Event]] = entry.events
        else:
            handler = entry
            models = annotated_events(handler)
        for model in models:
            if not model.TYPE:
                raise InvalidHandler(
                    f"handler {handler_name(handler)}: {model.__name__} names no event type; annotate the "
                    "event classes it handles, or declare a catch-all with Handles(events, handler)"
                )
            pairs.append((model, handler))
    return pairs


def handler_table(declared: Iterable[Handler[S] | Handles[S]]) -> dict[str, Handler[S]]:
    """The consumer's dispatch table, ``ce_type`` → handler, from handlers keyed by their event classes.

    Raises ``InvalidHandler`` (naming the functions) for a handler whose event annotation is missing or
    not an event class, a ``Handles`` event its handler's annotation does not accept, or two handlers of
    one type, so that a service with such a handler refuses to start instead of never calling it.
    """
    table: dict[str, Handler[S]] = {}
    for model, handler in _registrations(declared):
        existing = table.setdefault(model.TYPE, handler)
        if existing != handler:
            raise InvalidHandler(f"two handlers for {model.TYPE}: {handler_name(existing)} and {handler_name(handler)}")
    return table


def handled_events(declared: Iterable[Handler[S] | Handles[S]]) -> list[type[Event]]:
    """The event classes the declared handlers are registered for (each once, in declaration order)."""
    return list(dict.fromkeys(model for model, _ in _registrations(declared)))


def order_safe(handler: H) -> H:
    """Mark a handler whose outcome does not depend on the order of its aggregate's events.

    E.g. it records an independent fact, or compares versions itself. A replayed dead letter
    older than what was already applied for its key reaches such a handler; any other is parked.
    """
    handler.order_safe = True  # type: ignore[attr-defined]
    return handler


def is_order_safe(handler: Callable[..., Any]) -> bool:
    """Whether ``handler`` was marked with ``@order_safe``."""
    return bool(getattr(handler, "order_safe", False))


class ConsumerStopping(Exception):
    """Raised to abandon a batch (un-acknowledged) when the service shuts down mid-retry."""


class HandlerFailed(Exception):
    """A handler raised a non-transient error."""


class TransientExhausted(Exception):
    """An action failed transiently ``limit`` times in a row (the last error is its cause)."""


class TransientLoop(HandlerFailed):
    """One record alone keeps failing transiently while the database answers: the record's fault."""


class _AlreadyInInbox(Exception):
    """An inbox document of the batch exists already: run it again, reading the inbox first."""


@dataclasses.dataclass
class _Item:
    record: ConsumerRecord[bytes, bytes]
    meta: EventMeta | None = None
    event: Event | None = None

    @property
    def tombstone(self) -> bool:
        return self.meta is None


class EventConsumer(Generic[S]):
    """Consumes contract events for one service: inbox, retries, dead letters.

    ``handlers`` are keyed by their event classes (``handler_table``): an invalid one raises
    ``InvalidHandler`` here, when the service starts.
    """

    def __init__(
        self,
        *,
        service: str,
        name: str,
        transactions: Transactions[S],
        broker: KafkaBroker,
        topics: Sequence[str],
        group_id: str,
        dlq_topic: str,
        handlers: Iterable[Handler[S] | Handles[S]],
        tombstone_handler: TombstoneHandler | None = None,
        attempts: int = 3,
        retry_initial: float = 0.2,
        retry_max: float = 30.0,
        max_records: int = 200,
        batch_timeout_ms: int = 100,
        transient_attempts: int = 10,
        runtime: Runtime[S] | None = None,
    ) -> None:
        self.runtime = runtime
        self.service = service
        self.name = name
        self.transactions = transactions
        self.broker = broker
        self.topics = tuple(topics)
        self.group_id = group_id
        self.dlq_topic = dlq_topic
        self.handlers = handler_table(handlers)
        self.tombstone_handler = tombstone_handler
        self.attempts = attempts
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.max_records = max_records
        self.batch_timeout_ms = batch_timeout_ms
        self.transient_attempts = transient_attempts
        # Why the consumer cannot move on (its dead letters are refused), None when all is well.
        self.blocked: str | None = None
        self._progress: dict[TopicPartition, tuple[int, float]] = {}
        self.inbox = transactions.db[INBOX]
        self.stopping = False
        self.last_batch_at: float | None = None
        self.subscriber: BatchSubscriber | None = None
        self.log = get_logger(component="consumer", consumer=name)

    def register(self) -> BatchSubscriber:
        """Attach a manual-ack batch subscriber for ``topics`` to the broker."""
        subscriber = self.broker.subscriber(
            *self.topics,
            group_id=self.group_id,
            batch=True,
            max_records=self.max_records,
            batch_timeout_ms=self.batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            parser=_tolerant_parser,
            decoder=_raw_decoder,
            title=f"{self.name}:consume",
            description=f"{self.service} consumes {', '.join(sorted(self.handlers))}",
        )

        async def on_batch(message: KafkaMessage) -> None:
            await self.on_message(message)

        subscriber(on_batch)
        self.subscriber = subscriber
        return subscriber

    async def on_message(self, message: KafkaMessage) -> None:
        """Handle a FastStream batch message and commit its offsets only when all is done."""
        records: tuple[ConsumerRecord[bytes, bytes], ...] = tuple(message.raw_message)
        try:
            await self.handle_records(records)
        except ConsumerStopping:
            return  # not acknowledged: the records come back after restart
        except Exception as exc:
            if is_refused(exc):
                # Not an endless silent loop: readiness off, metric, error log; retried slowly.
                self._block(exc)
                pause = self.retry_max
            else:
                self.log.exception("batch_failed_unexpectedly", records=len(records))
                pause = self.retry_max / 10
            try:
                await self._sleep(pause)
            except ConsumerStopping:
                return
            try:
                await message.nack()
            except Exception:  # noqa: BLE001 - partition may have been revoked meanwhile
                self.log.warning("nack_failed")
            return
        self._unblock()
        self.last_batch_at = time.monotonic()
        await self._retry_transient(message.ack, what="commit")

    async def handle_records(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Handle records of any partitions, each partition in order, all in one transaction when possible."""
        by_partition: dict[tuple[str, int], list[ConsumerRecord[bytes, bytes]]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)
        # One transaction for the whole batch (fewer commits and outbox writes); a failure is
        # isolated record by record, so one bad record never holds the others back.
        await self._handle_chunk([record for chunk in by_partition.values() for record in chunk])

    async def _handle_chunk(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        items: list[_Item] = []
        for record in records:
            item = await self._parse(record)
            if item is not None:
                items.append(item)
        if not items:
            return
        try:
            await self._retry_transient(lambda: self._run(items), what="batch", limit=self.transient_attempts)
        except (HandlerFailed, TransientExhausted):
            # Isolate the failing record: handle each alone so the others still commit.
            for item in items:
                await self._handle_alone(item)

    async def _parse(self, record: ConsumerRecord[bytes, bytes]) -> _Item | None:
        if record.value is None:
            return _Item(record) if self.tombstone_handler is not None else None
        try:
            envelope = decode(record.value, headers_to_dict(record.headers))
        except EnvelopeError as exc:
            await self.dead_letter(record, exc.reason, str(exc))
            return None
        if envelope.meta.type not in self.handlers:
            metrics.EVENTS_CONSUMED.labels(self.service, envelope.meta.type, "ignored").inc()
            return None
        if not is_order_safe(self.handlers[envelope.meta.type]):
            later = await self._later_record_applied(record)
            if later is not None:
                await self.dead_letter(record, "stale_replay", later)
                return None
        return _Item(record, envelope.meta, envelope.event)

    async def _later_record_applied(self, record: ConsumerRecord[bytes, bytes]) -> str | None:
        """For a replayed dead letter: why it is stale (a later record of its key was applied), else None."""
        headers = {name: (raw or b"").decode(errors="replace") for name, raw in record.headers}
        if "dlq_replayed_from" not in headers or headers.get("dlq_replay_force") == "true":
            return None
        try:
            partition = int(headers["dlq_original_partition"])
            offset = int(headers["dlq_original_offset"])
        except (KeyError, ValueError):
            return None  # replayed without its original position (an older tool): applied as before
        key = (record.key or b"").decode(errors="replace")
        later = await self._retry_transient(
            lambda: self.inbox.find_one(
                {"key": key, "topic": record.topic, "partition": partition, "offset": {"$gt": offset}},
                sort=[("offset", -1)],
            ),
            what="replay_check",
        )
        if later is None:
            return None
        return (
            f"replayed event (originally {record.topic}[{partition}]@{offset}) is older than what was applied "
            f"for key {key}: {later.get('type')} {later['_id']} at offset {later.get('offset')}; its handler is "
            "not order-safe, so it was parked; replay it with --force-stale to apply it anyway"
        )

    async def _handle_alone(self, item: _Item) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                await self._run_alone(item)
                return
            except HandlerFailed as exc:
                cause = exc.__cause__ or exc
                self.log.warning("handler_failed", attempt=attempt, error=repr(cause), **_log_fields(item))
                if attempt == self.attempts:
                    reason = "transient_exhausted" if isinstance(exc, TransientLoop) else "handler_failed"
                    await self.dead_letter(item.record, reason, repr(cause))
                    return
                await self._sleep(backoff_delay(attempt, self.retry_initial, self.retry_max))

    async def _run_alone(self, item: _Item) -> None:
        """One record in its own transaction; transient failures retried, boundedly while the database answers."""
        while True:
            try:
                await self._retry_transient(lambda: self._run([item]), what="message", limit=self.transient_attempts)
                return
            except TransientExhausted as exc:
                if await self._database_answers():
                    raise TransientLoop(
                        f"{self.transient_attempts} transient failures in a row on this record "
                        "while the database answers"
                    ) from exc.__cause__
                # An outage, not the record's fault: wait for the database, dead-letter nothing.
                self.log.warning("database_unreachable_waiting", **_log_fields(item))
                await self._sleep(self.retry_max)

    async def _database_answers(self) -> bool:
        try:
            await asyncio.wait_for(self.transactions.client.admin.command("ping"), timeout=2)
        except Exception:  # noqa: BLE001 - any failure means "not now"
            return False
        return True

    def _block(self, exc: BaseException) -> None:
        reason = (
            f"Kafka refuses this consumer's dead letters to {self.dlq_topic} ({exc!r}): create the topic, "
            "grant the write access or raise its size limit; the partition waits meanwhile"
        )
        if self.blocked is None:
            self.log.error("consumer_blocked", reason=reason)
        self.blocked = reason
        metrics.CONSUMER_BLOCKED.labels(self.service, self.name).set(1)

    def _unblock(self) -> None:
        if self.blocked is not None:
            self.log.warning("consumer_unblocked", was=self.blocked)
            self.blocked = None
            metrics.CONSUMER_BLOCKED.labels(self.service, self.name).set(0)

    async def stalled_partitions(self, stall_seconds: float) -> list[str]:
        """Assigned partitions with lag whose committed offset has not moved for ``stall_seconds``.

        Each call (a readiness probe) compares the committed offsets with the previous call's;
        a partition without lag, or whose offset moved, starts its clock again.
        """
        consumer = getattr(self.subscriber, "consumer", None)
        if consumer is None:
            return []
        assigned = sorted(consumer.assignment())
        if not assigned:
            return []
        ends = await consumer.end_offsets(assigned)
        now = time.monotonic()
        stalled: list[str] = []
        for tp in assigned:
            committed = await consumer.committed(tp)
            if committed is None:
                committed = (await consumer.beginning_offsets([tp]))[tp]
            lag = max(0, ends[tp] - committed)
            metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(lag)
            seen = self._progress.get(tp)
            if seen is None or seen[0] != committed or lag == 0:
                self._progress[tp] = (committed, now)
                continue
            still = now - seen[1]
            if stall_seconds > 0 and still >= stall_seconds:
                stalled.append(f"{tp.topic}[{tp.partition}]: lag {lag}, offset {committed} unchanged for {still:.0f}s")
        metrics.CONSUMER_STALLED.labels(self.service).set(len(stalled))
        return stalled

    async def _run(self, items: list[_Item]) -> None:
        started = time.perf_counter()
        try:
            handled = await self._transaction(items, lookup=False)
        except _AlreadyInInbox:
            # A redelivery: that transaction was aborted, nothing of it kept; skip what is done.
            handled = await self._transaction(items, lookup=True)
        except HandlerFailed:
            # The inbox is written after the handlers ran: one may have failed on a record it handled before.
            if not await self._any_in_inbox(items):
                raise
            handled = await self._transaction(items, lookup=True)
        elapsed = time.perf_counter() - started
        for item in handled:
            assert item.meta is not None
            metrics.EVENTS_CONSUMED.labels(self.service, item.meta.type, "handled").inc()
            metrics.HANDLER_LATENCY.labels(self.service, item.meta.type).observe(elapsed / max(1, len(handled)))

    async def _transaction(self, items: list[_Item], *, lookup: bool) -> list[_Item]:
        """The batch's transaction; a write at commit that fails is a redelivery (inbox) or a handler's failure."""
        try:
            return await self.transactions.run(lambda uow: self._work(uow, items, lookup=lookup))
        except PyMongoError as exc:
            if not isinstance(exc, FailedAtCommit):
                raise
            if exc.collection != INBOX:
                # A handler's write at commit (or an emitted event): isolated and dead-lettered like its other errors.
                raise HandlerFailed(str(exc)) from exc
            if isinstance(exc, DuplicateKeyError) and not lookup:
                raise _AlreadyInInbox from exc
            raise

    async def _any_in_inbox(self, items: list[_Item]) -> bool:
        """Whether the inbox holds a record of these items (read outside any transaction)."""
        ids = [item.meta.id for item in items if item.meta is not None]
        return bool(ids) and await self.inbox.find_one({"_id": {"$in": ids}}, {"_id": 1}) is not None

    async def _work(self, uow: UnitOfWork[S], items: list[_Item], *, lookup: bool) -> list[_Item]:
        """One transaction: record the batch in the inbox, then run each handler; returns the events handled."""
        todo = await self._record_in_inbox(uow, items, lookup=lookup)
        handled: list[_Item] = []
        for item in todo:
            if item.tombstone:
                await self._call_tombstone_handler(uow, item)
                continue
            await self._call_handler(uow, item)
            handled.append(item)
        return handled

    async def _record_in_inbox(self, uow: UnitOfWork[S], items: list[_Item], *, lookup: bool) -> list[_Item]:
        """Declare the batch's inbox records, written at commit; returns the items to handle (duplicates left out).

        Without ``lookup`` that write itself detects a redelivery (a duplicate key: ``_transaction``
        raises ``_AlreadyInInbox`` and the caller runs again with it); with it, the ids already in
        the inbox are read first and skipped.
        """
        seen: set[str] = set()
        if lookup:
            ids = [item.meta.id for item in items if item.meta is not None]
            seen = {doc["_id"] async for doc in uow[INBOX].find({"_id": {"$in": ids}}, {"_id": 1})}
        inbox = uow.at_commit(INBOX)
        todo: list[_Item] = []
        for item in items:
            if item.meta is not None:
                if item.meta.id in seen:
                    metrics.EVENTS_CONSUMED.labels(self.service, item.meta.type, "duplicate").inc()
                    continue
                seen.add(item.meta.id)
                inbox.insert_one(self._inbox_record(item, uow.now()))
            todo.append(item)
        return todo

    async def _call_tombstone_handler(self, uow: UnitOfWork[S], item: _Item) -> None:
        assert self.tombstone_handler is not None
        key = (item.record.key or b"").decode(errors="replace")
        try:
            await self.tombstone_handler(uow, item.record.topic, key)
        except Exception as exc:
            # Isolated and dead-lettered like any handler error, never an endless nack loop.
            if is_transient(exc):
                raise
            raise HandlerFailed(str(exc)) from exc

    def _inbox_record(self, item: _Item, at: datetime) -> Document:
        assert item.meta is not None
        return {
            "_id": item.meta.id,
            "type": item.meta.type,
            "consumer": self.name,
            "key": (item.record.key or b"").decode(errors="replace"),
            "topic": item.record.topic,
            "partition": item.record.partition,
            "offset": item.record.offset,
            "processed_at": at,
        }

    async def _call_handler(self, uow: UnitOfWork[S], item: _Item) -> None:
        assert item.meta is not None
        handler = self.handlers[item.meta.type]
        corr = context.correlation_id.set(item.meta.correlation_id)
        cause = context.causation_id.set(item.meta.id)
        structlog.contextvars.bind_contextvars(**_log_fields(item))
        try:
            # Within a consumer span whose parent is the event's ce_traceparent (no-op without tracing).
            with tracing.consumer_span(item.meta.type, item.meta.id, item.record.topic, item.record.headers):
                await handler(HandlerContext(uow=uow, meta=item.meta, service_runtime=self.runtime), item.event)
        except Exception as exc:
            if is_transient(exc):
                raise
            raise HandlerFailed(str(exc)) from exc
        finally:
            context.correlation_id.reset(corr)
            context.causation_id.reset(cause)
            structlog.contextvars.unbind_contextvars("ce_id", "ce_type", "correlation_id")

    async def _retry_transient(
        self, action: Callable[[], Awaitable[Any]], *, what: str, limit: int | None = None
    ) -> Any:
        attempt = 0
        while True:
            try:
                return await action()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                if limit is not None and attempt >= limit:
                    self.log.warning("transient_failures_exhausted", what=what, attempts=attempt, error=repr(exc))
                    raise TransientExhausted(f"{what}: {attempt} transient failures in a row") from exc
                metrics.HANDLER_RETRIES.labels(self.service).inc()
                delay = backoff_delay(attempt, self.retry_initial, self.retry_max)
                self.log.warning(
                    "transient_failure_retrying", what=what, attempt=attempt, error=repr(exc), retry_in=round(delay, 2)
                )
                await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        if self.stopping:
            raise ConsumerStopping
        await asyncio.sleep(seconds)
        if self.stopping:
            raise ConsumerStopping

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str, error: str) -> None:
        """Publish the original record with the contract's ``dlq_*`` headers, retrying until Kafka takes it."""
        headers = {name: (raw or b"").decode(errors="replace") for name, raw in record.headers}
        headers.update(
            {
                "dlq_reason": reason,
                "dlq_error": error[:2000],
                "dlq_topic": record.topic,
                "dlq_partition": str(record.partition),
                "dlq_offset": str(record.offset),
                "dlq_consumer": self.group_id,
                "dlq_time": self.transactions.clock().isoformat(),
            }
        )
        key = record.key if record.key is not None else b""
        value = record.value if record.value is not None else b""
        await self._retry_transient(
            lambda: self.broker.publish(value, topic=self.dlq_topic, key=key, headers=headers),
            what="dead_letter",
        )
        metrics.EVENTS_DEAD_LETTERED.labels(self.service, reason).inc()
        self.log.error(
            "dead_lettered",
            reason=reason,
            error=error[:500],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )


def _log_fields(item: _Item) -> dict[str, str]:
    if item.meta is None:
        return {}
    return {"ce_id": item.meta.id, "ce_type": item.meta.type, "correlation_id": item.meta.correlation_id}


async def _raw_decoder(message: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """Skip FastStream's body decoding (strict UTF-8 headers, JSON): we decode records ourselves.

    An exception there happens before our handler and, with manual ack, a later
    batch's commit would skip the message silently (faststream #2618).
    """
    return [record.value for record in message.raw_message]


async def _tolerant_parser(
    records: tuple[ConsumerRecord[bytes, bytes], ...],
    original: Callable[[tuple[ConsumerRecord[bytes, bytes], ...]], Awaitable[Any]],
) -> Any:
    """FastStream's batch parser decodes headers strictly; a garbage header must reach the DLQ, not crash it."""
    safe = tuple(
        dataclasses.replace(r, headers=[(k, (v or b"").decode(errors="replace").encode()) for k, v in r.headers])
        for r in records
    )
    message = await original(safe)
    message.raw_message = records
    return message
