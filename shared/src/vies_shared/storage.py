"""MongoDB access through PyMongo's async API, transactions and the unit of work.

A use case runs inside ``Transactions.run``: one MongoDB transaction holds its
state changes and the outbox documents of the events it emits (contract 1.3).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    PyMongoError,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from vies_shared import context, metrics
from vies_shared.events.base import Event
from vies_shared.events.envelope import EventMeta
from vies_shared.messaging.outbox import Outbox

T = TypeVar("T")
Document = dict[str, Any]

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    AutoReconnect,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    ExecutionTimeout,
    WTimeoutError,
    ConnectionError,
    TimeoutError,
)


# Called with every command any client of this process sends (tests record queries to explain them).
COMMAND_OBSERVERS: list[Callable[[monitoring.CommandStartedEvent], None]] = []


class CommandCounter(monitoring.CommandListener):
    """Counts the commands a client sends (``vies_mongodb_commands_total``): the database work per request."""

    def __init__(self, service: str) -> None:
        self.counters: dict[str, Any] = {}
        self.service = service

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Count one command by name (the labelled child is cached: this runs on every command)."""
        counter = self.counters.get(event.command_name)
        if counter is None:
            counter = self.counters[event.command_name] = metrics.MONGODB_COMMANDS.labels(
                self.service, event.command_name
            )
        counter.inc()
        for observe in COMMAND_OBSERVERS:
            observe(event)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to record: the command was counted when it started."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to record: the command was counted when it started."""


def create_mongo_client(uri: str, *, timeout_ms: int = 5000, service: str = "unknown") -> AsyncMongoClient[Document]:
    """An async client; it connects lazily, so building it at start-up does no I/O.

    Its commands are counted per ``service`` and command name on ``/metrics``.
    """
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        uuidRepresentation="standard",
        event_listeners=[CommandCounter(service)],
    )


def is_transient(exc: BaseException) -> bool:
    """True for failures that go away by themselves (database or broker unreachable, write conflicts)."""
    if isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError") or exc.has_error_label("RetryableWriteError")
    ):
        return True
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    # aiokafka's errors are imported lazily to keep this module free of Kafka.
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError

    return isinstance(exc, (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError))


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Capped exponential backoff with full jitter for the ``attempt``-th retry (1-based)."""
    ceiling = min(maximum, initial * (2 ** max(0, attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


class UnitOfWork:
    """What one transaction may do: read and write with ``session`` and emit events."""

    def __init__(self, session: AsyncClientSession, db: AsyncDatabase[Document], outbox: Outbox) -> None:
        self.session = session
        self.db = db
        self._outbox = outbox
        self.pending: list[Document] = []
        self.emitted: list[EventMeta] = []
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction has committed (never if it aborts or is retried)."""
        self.committed.append(callback)

    def emit(self, event: Event, *, region: str | None = None, topic: str | None = None) -> EventMeta:
        """Record an event to publish when (and only if) this transaction commits."""
        meta, document = self._outbox.document(
            event,
            region=region,
            topic=topic,
            correlation_id=context.correlation_id.get(),
            causation_id=context.causation_id.get(),
        )
        self.pending.append(document)
        self.emitted.append(meta)
        return meta

    def emit_tombstone(self, topic: str, key: str) -> None:
        """Record a tombstone (null value) for a compacted topic, e.g. on erasure."""
        self.pending.append(self._outbox.tombstone(topic, key))


class Transactions:
    """Runs use cases in MongoDB transactions, retrying transient conflicts as a whole."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        outbox: Outbox,
        *,
        attempts: int = 8,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.outbox = outbox
        self.attempts = attempts
        self._on_commit: list[Callable[[], None]] = [on_commit] if on_commit else []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each commit that wrote outbox documents (wakes the relay)."""
        self._on_commit.append(callback)

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction with its outbox writes; retried on write conflicts."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.client.start_session() as session, await session.start_transaction():
                    uow = UnitOfWork(session, self.db, self.outbox)
                    result = await work(uow)
                    if uow.pending:
                        await self.outbox.order(uow.pending, session)
                        await self.outbox.collection.insert_many(uow.pending, session=session)
                if uow.pending:
                    for callback in self._on_commit:
                        callback()
                for callback in uow.committed:
                    callback()
                return result
            except PyMongoError as exc:
                # Only write conflicts are retried here; an unreachable server goes up to the
                # caller's own backoff (consumer) or becomes a 503 (HTTP) instead of hanging.
                conflict = exc.has_error_label("TransientTransactionError") and not isinstance(exc, ConnectionFailure)
                if attempt >= self.attempts or not conflict:
                    raise
                await asyncio.sleep(backoff_delay(attempt, 0.01, 0.5))
