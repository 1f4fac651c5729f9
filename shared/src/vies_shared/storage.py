"""MongoDB access through PyMongo's async API, transactions and the unit of work.

A use case is a function of a ``UnitOfWork`` decorated ``@transactional``: one MongoDB
transaction holds its state changes and the outbox documents of the events it emits.
The collections it reaches through the unit of work (``uow[name]``) are bound to the
transaction's session, so no call site passes ``session=`` and none can forget it.
The runner follows PyMongo's ``with_transaction``: the whole body is run again on a
``TransientTransactionError`` (or a ``RaceLost``), the commit alone on an
``UnknownTransactionCommitResult``; after-commit callbacks run only after a real commit.

A write whose result the transaction does not need and whose effect nothing later in it reads
(an inbox record, a projection's upsert) may be declared with ``uow.at_commit(name)``: such
writes and the outbox documents are sent together when the body is done, in one command
(MongoDB 8.0's client-level ``bulkWrite``), instead of one command each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec

from pymongo import AsyncMongoClient, DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ClientBulkWriteException,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    InvalidOperation,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteError,
    WTimeoutError,
)
from pymongo.results import BulkWriteResult, DeleteResult, InsertManyResult, InsertOneResult, UpdateResult
from typing_extensions import TypeVar

from vies_shared import context, metrics
from vies_shared.errors import NotFound
from vies_shared.events.base import Event
from vies_shared.events.envelope import EventMeta
from vies_shared.messaging.outbox import Outbox
from vies_shared.settings import ServiceSettings

if TYPE_CHECKING:
    from vies_shared.service import Runtime

T = TypeVar("T")
P = ParamSpec("P")
Document = dict[str, Any]
# The service's settings type, as in ``Runtime[S]``: ``uow.settings`` is typed without a downcast.
S = TypeVar("S", bound=ServiceSettings, default=ServiceSettings)
S_co = TypeVar("S_co", bound=ServiceSettings, default=ServiceSettings, covariant=True)

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


class RaceLost(Exception):
    """A guarded update lost a race the server did not report as a write conflict: run the transaction again.

    E.g. an ``update_one`` whose filter checks a version or a count matched nothing because a
    concurrent transaction committed first. The transaction runner retries the whole body on it,
    as on a write conflict; a consumer retries it in place once those retries run out.
    """


def is_transient(exc: BaseException) -> bool:
    """True for failures that go away by themselves (database or broker unreachable, write conflicts).

    Kafka's errors that aiokafka marks ``retriable`` (no leader yet, not enough replicas, a
    coordinator loading...) are transient, except what ``is_refused`` says Kafka refuses for good:
    a topic it does not know is retriable to aiokafka but is reported, never retried silently.
    """
    if isinstance(exc, RaceLost):
        return True
    if isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError") or exc.has_error_label("RetryableWriteError")
    ):
        return True
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    # aiokafka's errors are imported lazily to keep this module free of Kafka.
    from aiokafka.errors import KafkaError, KafkaTimeoutError

    from vies_shared.messaging.broker import is_refused

    if isinstance(exc, KafkaTimeoutError):  # the client's own wait ran out: aiokafka does not mark it retriable
        return True
    return isinstance(exc, KafkaError) and bool(exc.retriable) and not is_refused(exc)


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Capped exponential backoff with full jitter for the ``attempt``-th retry (1-based)."""
    ceiling = min(maximum, initial * (2 ** max(0, attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


class Collection:
    """A collection bound to one session: every call passes it, so no call site can forget it.

    Reached as ``uow[name]`` inside a transaction (the transaction's session) or
    ``runtime.reads[name]`` outside one (no session: each command on its own).
    """

    def __init__(self, collection: AsyncCollection[Document], session: AsyncClientSession | None) -> None:
        self._collection = collection
        self._session = session

    @property
    def name(self) -> str:
        """The collection's name."""
        return self._collection.name

    async def find_one(
        self, filter: Mapping[str, Any] | None = None, projection: Any = None, **options: Any
    ) -> Document | None:
        """The first document matching ``filter``, or None."""
        return await self._collection.find_one(filter, projection, session=self._session, **options)

    def find(
        self, filter: Mapping[str, Any] | None = None, projection: Any = None, **options: Any
    ) -> AsyncCursor[Document]:
        """A cursor over the documents matching ``filter``."""
        return self._collection.find(filter, projection, session=self._session, **options)

    async def count_documents(self, filter: Mapping[str, Any], **options: Any) -> int:
        """How many documents match ``filter``."""
        return await self._collection.count_documents(filter, session=self._session, **options)

    async def distinct(self, key: str, filter: Mapping[str, Any] | None = None, **options: Any) -> list[Any]:
        """The distinct values of ``key`` among the documents matching ``filter``."""
        return await self._collection.distinct(key, filter, session=self._session, **options)

    async def aggregate(self, pipeline: Sequence[Mapping[str, Any]], **options: Any) -> AsyncCommandCursor[Document]:
        """A cursor over the results of an aggregation pipeline."""
        return await self._collection.aggregate(pipeline, session=self._session, **options)

    async def insert_one(self, document: Document, **options: Any) -> InsertOneResult:
        """Insert one document."""
        return await self._collection.insert_one(document, session=self._session, **options)

    async def insert_many(self, documents: Iterable[Document], **options: Any) -> InsertManyResult:
        """Insert several documents."""
        return await self._collection.insert_many(documents, session=self._session, **options)

    async def replace_one(
        self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False, **options: Any
    ) -> UpdateResult:
        """Replace the first document matching ``filter``."""
        return await self._collection.replace_one(filter, replacement, upsert, session=self._session, **options)

    async def update_one(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        upsert: bool = False,
        **options: Any,
    ) -> UpdateResult:
        """Update the first document matching ``filter``."""
        return await self._collection.update_one(filter, update, upsert, session=self._session, **options)

    async def update_many(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        upsert: bool = False,
        **options: Any,
    ) -> UpdateResult:
        """Update every document matching ``filter``."""
        return await self._collection.update_many(filter, update, upsert, session=self._session, **options)

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        projection: Any = None,
        **options: Any,
    ) -> Document | None:
        """Update the first document matching ``filter`` and return it (before, unless told after)."""
        return await self._collection.find_one_and_update(filter, update, projection, session=self._session, **options)

    async def delete_one(self, filter: Mapping[str, Any], **options: Any) -> DeleteResult:
        """Delete the first document matching ``filter``."""
        return await self._collection.delete_one(filter, session=self._session, **options)

    async def delete_many(self, filter: Mapping[str, Any], **options: Any) -> DeleteResult:
        """Delete every document matching ``filter``."""
        return await self._collection.delete_many(filter, session=self._session, **options)

    async def bulk_write(self, requests: Sequence[Any], **options: Any) -> BulkWriteResult:
        """Several writes in one command (``InsertOne``, ``UpdateOne``... from ``pymongo``)."""
        return await self._collection.bulk_write(requests, session=self._session, **options)


class Collections:
    """The collections of one database bound to one session (``None``: outside a transaction)."""

    def __init__(self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None) -> None:
        self._db = db
        self._session = session

    @property
    def database_name(self) -> str:
        """The name of the database (to tell services apart, e.g. whom a commit wakes)."""
        return self._db.name

    def __getitem__(self, name: str) -> Collection:
        """The collection ``name``, bound to this session."""
        return Collection(self._db[name], self._session)

    async def get(self, collection: str, doc_id: Any, what: str) -> Document:
        """The document of ``collection`` with ``_id`` ``doc_id``, or ``NotFound`` ("<what> <id> not found")."""
        doc = await self[collection].find_one({"_id": doc_id})
        if doc is None:
            raise NotFound(f"{what} {doc_id} not found")
        return doc


# A write a transaction sends at commit (``UnitOfWork.at_commit``), its namespace (``db.collection``) set.
WriteModel = InsertOne[Document] | ReplaceOne[Document] | UpdateOne | UpdateMany | DeleteOne | DeleteMany
DUPLICATE_KEY = 11000
WRITE_CONFLICT = 112
# MongoDB 8.0: the first server with the client-level ``bulkWrite`` command.
CLIENT_BULK_WRITE_WIRE_VERSION = 25


@dataclasses.dataclass(frozen=True)
class _AtCommit:
    """One write declared for the commit, with the collection it goes to."""

    collection: AsyncCollection[Document]
    model: WriteModel


class WritesAtCommit:
    """Writes to one collection sent when the transaction commits (``uow.at_commit(name)``).

    Each method declares one write, as the collection method of that name would do it at once;
    nothing is sent and nothing is returned until the commit, and the documents given are sent as
    they are then (not copied).
    """

    def __init__(self, collection: AsyncCollection[Document], declared: list[_AtCommit]) -> None:
        self._collection = collection
        self._declared = declared

    def _declare(self, model: WriteModel) -> None:
        self._declared.append(_AtCommit(self._collection, model))

    @property
    def _namespace(self) -> str:
        return self._collection.full_name

    def insert_one(self, document: Document) -> None:
        """Insert one document at commit."""
        self._declare(InsertOne(document, namespace=self._namespace))

    def replace_one(self, filter: Mapping[str, Any], replacement: Document, upsert: bool = False) -> None:
        """Replace the first document matching ``filter`` at commit."""
        self._declare(ReplaceOne(filter, replacement, upsert=upsert, namespace=self._namespace))

    def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any] | Sequence[Mapping[str, Any]], upsert: bool = False
    ) -> None:
        """Update the first document matching ``filter`` at commit (an update document or pipeline)."""
        self._declare(UpdateOne(filter, update, upsert=upsert, namespace=self._namespace))

    def update_many(
        self, filter: Mapping[str, Any], update: Mapping[str, Any] | Sequence[Mapping[str, Any]], upsert: bool = False
    ) -> None:
        """Update every document matching ``filter`` at commit."""
        self._declare(UpdateMany(filter, update, upsert=upsert, namespace=self._namespace))

    def delete_one(self, filter: Mapping[str, Any]) -> None:
        """Delete the first document matching ``filter`` at commit."""
        self._declare(DeleteOne(filter, namespace=self._namespace))

    def delete_many(self, filter: Mapping[str, Any]) -> None:
        """Delete every document matching ``filter`` at commit."""
        self._declare(DeleteMany(filter, namespace=self._namespace))


class FailedAtCommit:
    """Marks the error of a write sent at commit; ``collection`` names the collection it went to."""

    collection: str = ""


class DuplicateKeyAtCommit(DuplicateKeyError, FailedAtCommit):
    """A write sent at commit met a unique index: a ``DuplicateKeyError``, as that write done at once raises."""


class WriteErrorAtCommit(WriteError, FailedAtCommit):
    """Another write error of a write sent at commit: a ``WriteError``, as that write done at once raises."""


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class UnitOfWork(Collections, Generic[S_co]):
    """What one transaction may do: read and write its collections (``uow[name]``) and emit events.

    Every collection reached through it is bound to the transaction's session; the raw
    database and session are not exposed. It also carries the service's settings and
    clock, so that a use case needs nothing but its unit of work and its arguments.
    """

    def __init__(
        self,
        session: AsyncClientSession,
        db: AsyncDatabase[Document],
        outbox: Outbox,
        *,
        settings: S_co | None = None,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        super().__init__(db, session)
        self._outbox = outbox
        self._settings = settings
        self._clock = clock
        self.pending: list[Document] = []
        self.emitted: list[EventMeta] = []
        self.committed: list[Callable[[], None]] = []
        # Outbox documents of aggregates that keep their own last ``seq`` (``emit_in_order``): not in outbox_keys.
        self.self_ordered: set[str] = set()
        # Writes sent with the outbox documents when the body is done (``at_commit``), in declaration order.
        self.written_at_commit: list[_AtCommit] = []
        self._at_commit_names: set[str] = set()

    @property
    def settings(self) -> S_co:
        """The service's settings (a unit of work built outside a service runtime has none to give)."""
        if self._settings is None:
            raise RuntimeError("these transactions were built without the service's settings")
        return self._settings

    def now(self) -> datetime:
        """The current UTC time as the service sees it (the test-settable clock)."""
        return self._clock()

    def __getitem__(self, name: str) -> Collection:
        """The collection ``name``, bound to this transaction; refused once it has writes at commit.

        A read would miss those writes, and a write done now would be overtaken by them.
        """
        if name in self._at_commit_names:
            raise RuntimeError(
                f"{name} has writes declared with at_commit earlier in this transaction: a read would not see "
                "them and a write now would come before them; declare every write of it at commit, or none"
            )
        return super().__getitem__(name)

    def at_commit(self, name: str) -> WritesAtCommit:
        """The collection ``name`` for writes sent when this transaction commits, with its outbox documents.

        Only for a blind write: its result (counts, upserted id) is not needed, and nothing later in
        this transaction reads what it writes (in a consumer, neither the rest of the handler nor
        the handlers of the records after it in the batch). All of them and the outbox documents go
        in one command, in the order they were declared, once the body is done: one command for the
        transaction's writes instead of one per write. From then on ``uow[name]`` refuses that
        collection (``RuntimeError``). A write that fails raises, out of the transaction, what it
        would raise done at once (``DuplicateKeyError``, ``WriteError``), marked ``FailedAtCommit``.
        """
        self._at_commit_names.add(name)
        return WritesAtCommit(self._db[name], self.written_at_commit)

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

    def emit_in_order(self, event: Event, *, after: int, region: str | None = None) -> int:
        """Record an event of an aggregate that keeps its own last ``seq``; returns this event's ``seq``.

        ``after`` is the ``seq`` of the aggregate's previous event as its document holds it (0: none),
        and the caller stores the returned one there in this same transaction. Two transactions
        emitting for that aggregate then both write its document, so they conflict as the
        ``outbox_keys`` write makes them conflict for ``emit``, and the aggregate's events keep
        their commit order whatever the writers' clocks, without the two ``outbox_keys`` commands.
        Every event of such an aggregate must be emitted this way (it has no ``outbox_keys`` entry).
        """
        meta = self.emit(event, region=region)
        document = self.pending[-1]
        document["seq"] = max(int(document["seq"]), after + 1)
        self.self_ordered.add(meta.id)
        return int(document["seq"])

    def emit_tombstone(self, topic: str, key: str) -> None:
        """Record a tombstone (null value) for a compacted topic, e.g. on erasure."""
        self.pending.append(self._outbox.tombstone(topic, key))


def _max_time_expired(exc: PyMongoError) -> bool:
    """A commit that ran out of its ``maxTimeMS`` (code 50): PyMongo does not retry it, nor do we."""
    details = getattr(exc, "details", None) or {}
    concern = details.get("writeConcernError") or {}
    return getattr(exc, "code", None) == 50 or concern.get("code") == 50


def _conflict(exc: BaseException) -> bool:
    """Whether the whole transaction should run again: a write conflict or a lost race.

    An unreachable server is not retried here: it goes up to the caller's own backoff
    (a consumer) or becomes a 503 (HTTP) instead of hanging the request.
    """
    if isinstance(exc, RaceLost):
        return True
    return (
        isinstance(exc, PyMongoError)
        and exc.has_error_label("TransientTransactionError")
        # A commit that may have been applied is never run again from the start.
        and not exc.has_error_label("UnknownTransactionCommitResult")
        and not isinstance(exc, ConnectionFailure)
    )


class Transactions(Generic[S]):
    """Runs units of work in MongoDB transactions with PyMongo's ``with_transaction`` semantics.

    The whole body runs again on a write conflict (``TransientTransactionError``, in the body or
    at commit) or a ``RaceLost``, after a jittered exponential backoff, at most ``attempts`` times
    and within ``retry_seconds``. An ``UnknownTransactionCommitResult`` (the commit may have been
    applied) retries the commit alone, never the body: running the body again could do its work
    twice. Callbacks run only after a commit the server acknowledged.
    """

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        outbox: Outbox,
        *,
        attempts: int = 32,
        retry_seconds: float = 20.0,
        on_commit: Callable[[], None] | None = None,
        settings: S | None = None,
        clock: Callable[[], datetime] = _wall_clock,
        client_bulk_write: bool | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.outbox = outbox
        self.attempts = attempts
        self.retry_seconds = retry_seconds
        self.settings = settings
        self.clock = clock
        # Whether the writes at commit go in one client-level bulkWrite (False: one bulk write per
        # collection); None until the first commit with writes finds out what the server has.
        self.client_bulk_write = client_bulk_write
        self._on_commit: list[Callable[[], None]] = [on_commit] if on_commit else []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each commit that wrote outbox documents (wakes the relay)."""
        self._on_commit.append(callback)

    async def run(self, work: Callable[[UnitOfWork[S]], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction with its outbox writes; see the class for the retries."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            async with self.client.start_session() as session:
                uow = UnitOfWork(session, self.db, self.outbox, settings=self.settings, clock=self.clock)
                try:
                    result = await self._body(session, uow, work)
                    await self._commit(session, started)
                except (PyMongoError, RaceLost) as exc:
                    if attempt >= self.attempts or not self._in_time(started) or not _conflict(exc):
                        raise
                else:
                    self._committed(uow)
                    return result
            await asyncio.sleep(_retry_delay(attempt))

    async def _body(
        self, session: AsyncClientSession, uow: UnitOfWork[S], work: Callable[[UnitOfWork[S]], Awaitable[T]]
    ) -> T:
        await session.start_transaction()
        try:
            result = await work(uow)
            writes = list(uow.written_at_commit)
            if uow.pending:
                # The outbox's own collections, bound to this transaction like the use case's.
                keyed = [document for document in uow.pending if document["_id"] not in uow.self_ordered]
                if keyed:
                    keys = self.outbox.keys
                    await self.outbox.order(keyed, Collection(keys, session), WritesAtCommit(keys, writes))
                outbox = self.outbox.collection
                writes += [_AtCommit(outbox, InsertOne(doc, namespace=outbox.full_name)) for doc in uow.pending]
            if writes:
                await self._write_at_commit(session, writes)
        except BaseException:
            if session.in_transaction:
                await session.abort_transaction()  # PyMongo ignores its errors: the server aborts it anyway
            raise
        return result

    async def _write_at_commit(self, session: AsyncClientSession, writes: Sequence[_AtCommit]) -> None:
        """Send the writes declared for the commit and the outbox documents, in order, in one command.

        On a server without the client-level ``bulkWrite`` (before MongoDB 8.0), one bulk write per
        run of writes to one collection. A failure is raised as the same write done at once raises it.
        """
        if self.client_bulk_write is not False:
            try:
                await self.client.bulk_write([write.model for write in writes], session=session, ordered=True)
            except ClientBulkWriteException as exc:
                failure = _client_bulk_failure(exc, writes, session)
                if failure is exc.error:
                    raise failure from None  # the command's own error, as a write done at once raises it
                raise failure from exc
            except InvalidOperation:
                if self._server_has_client_bulk_write():
                    raise
                self.client_bulk_write = False
            else:
                self.client_bulk_write = True
                return
        await self._write_per_collection(session, writes)

    async def _write_per_collection(self, session: AsyncClientSession, writes: Sequence[_AtCommit]) -> None:
        for collection, run in itertools.groupby(writes, key=lambda write: write.collection):
            try:
                await Collection(collection, session).bulk_write([write.model for write in run], ordered=True)
            except BulkWriteError as exc:
                [error, *_] = exc.details["writeErrors"]
                raise _write_failure(collection.name, error, session) from exc
            except WriteError as exc:  # a client writing one by one (the fast tier's fakes) raises the write's own
                error = {"code": exc.code, "errmsg": exc.args[0] if exc.args else "", **(exc.details or {})}
                raise _write_failure(collection.name, error, session) from exc

    def _server_has_client_bulk_write(self) -> bool:
        """Whether the servers the client knows all have the client-level ``bulkWrite`` (MongoDB 8.0+)."""
        servers = [s for s in self.client.topology_description.server_descriptions().values() if s.is_server_type_known]
        return bool(servers) and all(s.max_wire_version >= CLIENT_BULK_WRITE_WIRE_VERSION for s in servers)

    async def _commit(self, session: AsyncClientSession, started: float) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await session.commit_transaction()
                return
            except PyMongoError as exc:
                unknown = exc.has_error_label("UnknownTransactionCommitResult") and not _max_time_expired(exc)
                if not unknown or attempt >= self.attempts or not self._in_time(started):
                    raise  # a TransientTransactionError runs the whole transaction again (``run``)
            # Commit again (PyMongo makes it idempotent, with a majority write concern); the body is not re-run.
            await asyncio.sleep(_retry_delay(attempt))

    def _in_time(self, started: float) -> bool:
        return time.monotonic() - started < self.retry_seconds

    def _committed(self, uow: UnitOfWork[S]) -> None:
        if uow.pending:
            for callback in self._on_commit:
                callback()
        for callback in uow.committed:
            callback()


def _client_bulk_failure(
    exc: ClientBulkWriteException, writes: Sequence[_AtCommit], session: AsyncClientSession
) -> PyMongoError:
    """What the failed write, done at once, would have raised: the command's own error, or the write's."""
    error = exc.error
    if isinstance(error, PyMongoError):
        return error  # a write conflict, the network...: with its labels (TransientTransactionError)
    if isinstance(error, Mapping):  # the server refused the command: its reply
        return OperationFailure(error.get("errmsg", "bulkWrite failed"), error.get("code"), error)
    failed: list[Mapping[str, Any]] = exc.details.get("writeErrors") or []
    if failed:  # ordered: the first failed write stopped the others
        return _write_failure(writes[failed[0]["idx"]].collection.name, failed[0], session)
    return exc


def _write_failure(collection: str, error: Mapping[str, Any], session: AsyncClientSession) -> PyMongoError:
    """The error a single write done at once raises for ``error``, an entry of a bulk write's ``writeErrors``."""
    details = {key: value for key, value in error.items() if key not in ("ok", "idx", "n", "op")}
    details["index"] = 0
    message, code = details.get("errmsg", "write failed"), details.get("code")
    if code == WRITE_CONFLICT and session.in_transaction:
        # A write done at once reports a conflict as its command's error, labelled so the transaction runs again.
        return OperationFailure(message, code, {**details, "errorLabels": ["TransientTransactionError"]})
    failure = (
        DuplicateKeyAtCommit(message, code, details)
        if code == DUPLICATE_KEY
        else WriteErrorAtCommit(message, code, details)
    )
    failure.collection = collection
    return failure


def _retry_delay(attempt: int) -> float:
    """PyMongo's ``with_transaction`` backoff: 5 ms growing by half each round to 500 ms, full jitter."""
    return random.random() * min(0.005 * (1.5**attempt), 0.5)


def transactional(
    use_case: Callable[Concatenate[UnitOfWork[S], P], Awaitable[T]],
) -> Callable[Concatenate[Runtime[S], P], Awaitable[T]]:
    """Run a use case written against its unit of work in a transaction of the service's runtime.

    ``async def start_mission(uow: UnitOfWork[MissionsSettings], principal, mission_id)`` becomes
    ``start_mission(runtime, principal, mission_id)``: its whole body is the transaction (run again
    on a conflict, see ``Transactions``), and mypy checks the callers' arguments against it.
    """

    @functools.wraps(use_case)
    async def in_transaction(runtime: Runtime[S], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await runtime.transactions.run(lambda uow: use_case(uow, *args, **kwargs))

    return in_transaction
