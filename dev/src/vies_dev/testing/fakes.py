"""In-memory fakes of a service's runtime: use cases, handlers and schedulers without any server.

``FakeRuntime(definition, settings)`` is a ``Runtime`` whose database is mongomock behind the
async collection API the services use, whose transactions are the kit's own ``Transactions``
(same retries, same unit of work, same outbox ordering) on a fake client whose sessions
snapshot the database when a transaction starts and put it back when it aborts, and whose
clock is a ``FakeClock`` the test sets. What commits is recorded: ``runtime.events`` are the
events the relay would publish (decoded back from the outbox documents), ``runtime.tombstones``
the tombstones. ``runtime.deliver(event)`` runs the service's handler for it the way its
consumer does. Nothing connects to Kafka or MongoDB, so a test takes milliseconds.

Where a handler's wiring is what is tested, ``runtime.event_consumer(broker)`` registers the kit's
own consumer (a FastStream batch subscriber) on a broker that FastStream's ``TestKafkaBroker``
wraps: a record published to one of ``runtime.consumed_topics()`` then goes through the kit's
parser, inbox, dispatch table and dead letters, over the fakes.

Not modelled: isolation between concurrent transactions (the tests run one at a time), change
streams, and the query features mongomock lacks; those stay with the integration tests.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar, cast

import mongomock
from bson import ObjectId
from faststream.kafka import KafkaBroker
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.results import BulkWriteResult, UpdateResult

from vies_shared import context
from vies_shared.events.base import Event
from vies_shared.events.envelope import Envelope, EventMeta, decode, encode
from vies_shared.events.topics import dlq_topic
from vies_shared.logging import get_logger
from vies_shared.messaging.consumer import EventConsumer, HandlerContext, handler_table
from vies_shared.messaging.outbox import Outbox
from vies_shared.service import Runtime, ServiceDefinition
from vies_shared.settings import ServiceSettings
from vies_shared.storage import Collections, Transactions, UnitOfWork

Document = dict[str, Any]
S = TypeVar("S", bound=ServiceSettings)
E = TypeVar("E", bound=Event)

# The real client returns tz-aware datetimes (``tz_aware=True``): so does this one.
_START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


class FakeClock:
    """A settable clock: ``clock()`` is ``clock.now`` until the test moves it."""

    def __init__(self, now: datetime = _START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``."""
        self.now = moment

    def advance(self, delta: timedelta | None = None, **units: float) -> datetime:
        """Move forward by ``delta`` or ``timedelta(**units)``; returns the new time."""
        self.now += delta if delta is not None else timedelta(**units)
        return self.now


class FakeCursor:
    """The async cursor API (``sort``, ``skip``, ``limit``, ``to_list``, ``async for``) over mongomock's."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._iterator: Any = None

    def sort(self, key: Any, direction: int | None = None) -> FakeCursor:
        """Sort like PyMongo: a key and a direction, or a list of pairs."""
        self._cursor = self._cursor.sort(key, direction) if direction is not None else self._cursor.sort(key)
        return self

    def skip(self, count: int) -> FakeCursor:
        """Skip the first ``count`` documents."""
        self._cursor = self._cursor.skip(count)
        return self

    def limit(self, count: int) -> FakeCursor:
        """At most ``count`` documents (0: no limit)."""
        self._cursor = self._cursor.limit(count)
        return self

    def batch_size(self, size: int) -> FakeCursor:
        """Accepted and ignored: everything is in memory."""
        return self

    async def to_list(self, length: int | None = None) -> list[Document]:
        """The documents left, at most ``length``."""
        documents = list(self._cursor)
        return documents if length is None else documents[:length]

    def __aiter__(self) -> AsyncIterator[Document]:
        return self

    async def __anext__(self) -> Document:
        if self._iterator is None:
            self._iterator = iter(self._cursor)
        try:
            document: Document = next(self._iterator)
        except StopIteration:
            raise StopAsyncIteration from None
        return document

    async def close(self) -> None:
        """Nothing to release."""


class FakeCollection:
    """The async collection API over one mongomock collection; ``session`` arguments are accepted and ignored."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    @property
    def name(self) -> str:
        """The collection's name."""
        return str(self._collection.name)

    @property
    def full_name(self) -> str:
        """``database.collection``: the namespace of the writes a transaction sends at commit."""
        return str(self._collection.full_name)

    async def find_one(self, filter: Mapping[str, Any] | None = None, *args: Any, **options: Any) -> Document | None:
        """The first document matching ``filter``, or None."""
        options.pop("session", None)
        found: Document | None = self._collection.find_one(filter, *args, **options)
        return found

    def find(self, filter: Mapping[str, Any] | None = None, *args: Any, **options: Any) -> FakeCursor:
        """A cursor over the documents matching ``filter``."""
        options.pop("session", None)
        return FakeCursor(self._collection.find(filter, *args, **options))

    async def count_documents(self, filter: Mapping[str, Any], **options: Any) -> int:
        """How many documents match ``filter``."""
        options.pop("session", None)
        return int(self._collection.count_documents(filter, **options))

    async def estimated_document_count(self, **options: Any) -> int:
        """How many documents the collection holds."""
        return int(self._collection.count_documents({}))

    async def distinct(self, key: str, filter: Mapping[str, Any] | None = None, **options: Any) -> list[Any]:
        """The distinct values of ``key`` among the documents matching ``filter``."""
        options.pop("session", None)
        return list(self._collection.distinct(key, filter))

    async def aggregate(self, pipeline: Sequence[Mapping[str, Any]], **options: Any) -> FakeCursor:
        """A cursor over the results of an aggregation pipeline."""
        return FakeCursor(iter(list(self._collection.aggregate(list(pipeline)))))

    async def insert_one(self, document: Document, **options: Any) -> Any:
        """Insert one document (its ``_id`` is set on it, as PyMongo does)."""
        options.pop("session", None)
        return self._collection.insert_one(document, **options)

    async def insert_many(self, documents: Iterable[Document], **options: Any) -> Any:
        """Insert several documents."""
        options.pop("session", None)
        return self._collection.insert_many(list(documents), **options)

    async def replace_one(
        self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False, **options: Any
    ) -> Any:
        """Replace the first document matching ``filter``."""
        options.pop("session", None)
        return self._collection.replace_one(filter, replacement, upsert, **options)

    async def update_one(self, filter: Mapping[str, Any], update: Any, upsert: bool = False, **options: Any) -> Any:
        """Update the first document matching ``filter`` (with operators, or an aggregation pipeline)."""
        options.pop("session", None)
        if isinstance(update, list):
            return self._pipeline_update(filter, update, upsert, many=False)
        return self._collection.update_one(filter, update, upsert, **options)

    async def update_many(self, filter: Mapping[str, Any], update: Any, upsert: bool = False, **options: Any) -> Any:
        """Update every document matching ``filter`` (with operators, or an aggregation pipeline)."""
        options.pop("session", None)
        if isinstance(update, list):
            return self._pipeline_update(filter, update, upsert, many=True)
        return self._collection.update_many(filter, update, upsert, **options)

    def _pipeline_update(
        self, filter: Mapping[str, Any], pipeline: Sequence[Mapping[str, Any]], upsert: bool, *, many: bool
    ) -> UpdateResult:
        """An update pipeline, which mongomock's update lacks: each matched document (or, upserting, the
        filter's equality fields) goes through mongomock's aggregation, and the result replaces it."""
        stages = [_aggregation_stage(stage) for stage in pipeline]
        found: list[Document] = list(self._collection.find(filter))[: None if many else 1]
        inserting = not found and upsert
        if inserting:
            seed = {k: v for k, v in filter.items() if not k.startswith("$") and not isinstance(v, Mapping)}
            found = [{"_id": ObjectId(), **seed}]
        modified = 0
        for document in found:
            _SCRATCH.delete_many({})
            _SCRATCH.insert_one(copy.deepcopy(document))
            [result] = list(_SCRATCH.aggregate(stages))
            result["_id"] = document["_id"]  # an update never changes the id
            if inserting:
                self._collection.insert_one(result)
            elif result != document:
                self._collection.replace_one({"_id": document["_id"]}, result)
                modified += 1
        if inserting:
            return UpdateResult({"n": 1, "nModified": 0, "upserted": found[0]["_id"]}, acknowledged=True)
        return UpdateResult({"n": len(found), "nModified": modified}, acknowledged=True)

    async def find_one_and_update(
        self, filter: Mapping[str, Any], update: Any, projection: Any = None, **options: Any
    ) -> Document | None:
        """Update the first document matching ``filter`` and return it (before, unless told after)."""
        options.pop("session", None)
        found: Document | None = self._collection.find_one_and_update(filter, update, projection, **options)
        return found

    async def find_one_and_delete(self, filter: Mapping[str, Any], **options: Any) -> Document | None:
        """Delete the first document matching ``filter`` and return it."""
        options.pop("session", None)
        found: Document | None = self._collection.find_one_and_delete(filter, **options)
        return found

    async def delete_one(self, filter: Mapping[str, Any], **options: Any) -> Any:
        """Delete the first document matching ``filter``."""
        options.pop("session", None)
        return self._collection.delete_one(filter)

    async def delete_many(self, filter: Mapping[str, Any], **options: Any) -> Any:
        """Delete every document matching ``filter``."""
        options.pop("session", None)
        return self._collection.delete_many(filter)

    async def bulk_write(self, requests: Sequence[Any], **options: Any) -> BulkWriteResult:
        """The writes one by one (mongomock's own bulk API lags behind PyMongo's operation classes)."""
        counts = {"nInserted": 0, "nMatched": 0, "nModified": 0, "nRemoved": 0, "nUpserted": 0}
        upserted: list[Document] = []
        for index, request in enumerate(requests):
            match request:
                case InsertOne():
                    self._collection.insert_one(request._doc)
                    counts["nInserted"] += 1
                case UpdateOne() | UpdateMany() | ReplaceOne():
                    # Through this class's own methods, which also take update pipelines.
                    if isinstance(request, ReplaceOne):
                        result = await self.replace_one(request._filter, request._doc, bool(request._upsert))
                    elif isinstance(request, UpdateOne):
                        result = await self.update_one(request._filter, request._doc, bool(request._upsert))
                    else:
                        result = await self.update_many(request._filter, request._doc, bool(request._upsert))
                    counts["nMatched"] += result.matched_count
                    counts["nModified"] += result.modified_count
                    if result.upserted_id is not None:
                        counts["nUpserted"] += 1
                        upserted.append({"index": index, "_id": result.upserted_id})
                case DeleteOne():
                    counts["nRemoved"] += self._collection.delete_one(request._filter).deleted_count
                case DeleteMany():
                    counts["nRemoved"] += self._collection.delete_many(request._filter).deleted_count
                case _:
                    raise NotImplementedError(f"bulk_write of {type(request).__name__}")
        return BulkWriteResult({**counts, "upserted": upserted}, acknowledged=True)

    async def create_index(self, keys: Any, **options: Any) -> str:
        """Create an index (unique ones are enforced; the others only accepted)."""
        options.pop("session", None)
        return str(self._collection.create_index(keys, **_index_options(options)))

    async def create_indexes(self, indexes: Sequence[Any], **options: Any) -> list[str]:
        """Create several ``IndexModel``s."""
        return [
            str(self._collection.create_index(model.document["key"].items(), **_index_options(model.document)))
            for model in indexes
        ]

    async def drop_index(self, name: str, **options: Any) -> None:
        """Drop an index (``OperationFailure`` when there is none of that name, as on a server)."""
        self._collection.drop_index(name)

    async def index_information(self, **options: Any) -> dict[str, Any]:
        """The indexes by name."""
        return dict(self._collection.index_information())

    async def drop(self, **options: Any) -> None:
        """Drop the collection."""
        self._collection.drop()


# Where update pipelines are evaluated: a database of its own, so no transaction snapshot sees it.
_SCRATCH: Any = mongomock.MongoClient(tz_aware=True)["pipeline_updates"]["document"]


def _aggregation_stage(stage: Mapping[str, Any]) -> Mapping[str, Any]:
    """An update-pipeline stage as the aggregation stage mongomock implements ($replaceWith, $set, $unset)."""
    [(name, value)] = stage.items()
    if name == "$replaceWith":
        return {"$replaceRoot": {"newRoot": value}}
    if name == "$set":
        return {"$addFields": value}
    if name == "$unset":
        return {"$project": dict.fromkeys([value] if isinstance(value, str) else value, 0)}
    return stage


def _index_options(options: Mapping[str, Any]) -> dict[str, Any]:
    # Options mongomock does not know (partial filters, TTLs, collations) are dropped: they only tune a server.
    known = {"unique", "name", "sparse"}
    return {key: value for key, value in options.items() if key in known}


class FakeDatabase:
    """The async database API over one mongomock database."""

    def __init__(self, database: Any) -> None:
        self._database = database

    @property
    def name(self) -> str:
        """The database's name."""
        return str(self._database.name)

    def __getitem__(self, name: str) -> FakeCollection:
        return FakeCollection(self._database[name])

    def get_collection(self, name: str, **options: Any) -> FakeCollection:
        """The collection ``name``."""
        return self[name]

    async def list_collection_names(self, **options: Any) -> list[str]:
        """The names of the collections that hold something or were created."""
        return list(self._database.list_collection_names())

    async def drop_collection(self, name: str, **options: Any) -> None:
        """Drop the collection ``name``."""
        self._database.drop_collection(name)

    async def command(self, command: Any, **options: Any) -> Document:
        """Answers ``ping``; nothing else is modelled."""
        if command == "ping" or (isinstance(command, Mapping) and "ping" in command):
            return {"ok": 1.0}
        raise NotImplementedError(f"command {command!r}")

    def snapshot(self) -> dict[str, list[Document]]:
        """Every collection's documents, copied (what an aborted transaction goes back to)."""
        return {
            name: copy.deepcopy(list(self._database[name].find())) for name in self._database.list_collection_names()
        }

    def restore(self, snapshot: Mapping[str, list[Document]]) -> None:
        """Put back the documents of ``snapshot`` (indexes are kept; collections created since are emptied)."""
        for name in self._database.list_collection_names():
            collection = self._database[name]
            collection.delete_many({})
            if snapshot.get(name):
                collection.insert_many(copy.deepcopy(snapshot[name]))


class FakeSession:
    """A client session whose transaction is a snapshot of the database, put back on abort.

    ``commit_errors`` are raised by the next commits, one each (e.g. a ``PyMongoError`` labelled
    ``UnknownTransactionCommitResult`` or ``TransientTransactionError``), to test the runner.
    """

    def __init__(self, database: FakeDatabase, commit_errors: list[PyMongoError]) -> None:
        self._database = database
        self._commit_errors = commit_errors
        self._snapshot: dict[str, list[Document]] | None = None
        self.commits = 0

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._snapshot is not None

    async def start_transaction(self, **options: Any) -> None:
        """Open a transaction: remember the database as it is."""
        self._snapshot = self._database.snapshot()

    async def commit_transaction(self) -> None:
        """Keep what the transaction wrote (or raise the next planted commit error)."""
        self.commits += 1
        if self._commit_errors:
            error = self._commit_errors.pop(0)
            if not error.has_error_label("UnknownTransactionCommitResult"):
                await self.abort_transaction()  # a failed commit leaves nothing behind
            raise error
        self._snapshot = None

    async def abort_transaction(self) -> None:
        """Put the database back as it was when the transaction started."""
        if self._snapshot is not None:
            self._database.restore(self._snapshot)
            self._snapshot = None

    async def end_session(self) -> None:
        """An open transaction is aborted, as the server does."""
        await self.abort_transaction()

    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.end_session()


class FakeClient:
    """The async client API the kit uses: databases by name and sessions."""

    def __init__(self) -> None:
        self._client: Any = mongomock.MongoClient(tz_aware=True)
        self.commit_errors: list[PyMongoError] = []
        self.sessions: list[FakeSession] = []

    def __getitem__(self, name: str) -> FakeDatabase:
        return FakeDatabase(self._client[name])

    def start_session(self, **options: Any) -> FakeSession:
        """A session on the service's database (the fakes hold one database per client)."""
        session = FakeSession(self._database, self.commit_errors)
        self.sessions.append(session)
        return session

    def bind(self, name: str) -> FakeDatabase:
        """The database whose transactions this client's sessions snapshot."""
        self._database = self[name]
        return self._database

    async def close(self) -> None:
        """Nothing to close."""


class FakeTransactions(Transactions[S]):
    """The kit's transaction runner on the fake client; what commits is recorded on the runtime."""

    def __init__(self, runtime: FakeRuntime[S], client: FakeClient, db: FakeDatabase, outbox: Outbox) -> None:
        super().__init__(
            cast(Any, client),
            cast(AsyncDatabase[Document], db),
            outbox,
            settings=runtime.settings,
            clock=runtime.now,
            # No client-level bulkWrite here: the writes at commit go one collection at a time.
            client_bulk_write=False,
        )
        self._runtime = runtime
        self.runs = 0

    async def run(self, work: Callable[[UnitOfWork[S]], Any]) -> Any:
        """Run ``work`` like the real runner; counted, so a test can see a retry."""
        self.runs += 1
        return await super().run(work)

    def _committed(self, uow: UnitOfWork[S]) -> None:
        for document in uow.pending:
            if document["value"] is None:
                self._runtime.tombstones.append((document["topic"], document["key"]))
            else:
                self._runtime.envelopes.append(decode(document["value"], document["headers"]))
        super()._committed(uow)


class FakeRuntime(Runtime[S]):
    """A service's ``Runtime`` on in-memory fakes: pass it wherever a use case, handler or job wants one.

    ``await runtime.start()`` runs the service's setup (its indexes: unique ones are enforced).
    ``runtime.clock`` is the settable clock behind ``runtime.now()`` and ``uow.now()``.
    """

    def __init__(self, definition: ServiceDefinition[S], settings: S, *, clock: FakeClock | None = None) -> None:
        # The real constructor would build a Kafka broker and a MongoDB client: none is wanted here.
        self.definition = definition
        self.settings = settings
        self.clock = clock or FakeClock()
        self.extras: dict[str, Any] = {"clock": self.clock}
        self.fake_client = FakeClient()
        self.fake_db = self.fake_client.bind(settings.mongodb_db or f"fake_{settings.service}")
        self.client = cast(Any, self.fake_client)
        self.db = cast(AsyncDatabase[Document], self.fake_db)
        self.outbox = Outbox(self.db, service=settings.service, topic_prefix=settings.topic_prefix)
        self.envelopes: list[Envelope] = []
        self.tombstones: list[tuple[str, str]] = []
        self.transactions: FakeTransactions[S] = FakeTransactions(self, self.fake_client, self.fake_db, self.outbox)
        self.reads = Collections(self.db)
        self.relay = None
        self.consumer = None
        self.started = False
        self.problems: dict[str, str] = {}
        self.log = get_logger(component="runtime")
        self._handlers = handler_table(definition.handlers)

    async def start(self) -> None:
        """Run the service's setup (indexes, and whatever else it prepares); no broker, relay or job."""
        if self.definition.setup is not None:
            await self.definition.setup(self)
        self.started = True

    async def stop(self) -> None:
        """Nothing to stop."""
        self.started = False

    @property
    def events(self) -> list[Event]:
        """The events committed so far, in emission order (what the relay would publish)."""
        return [envelope.event for envelope in self.envelopes]

    def events_of(self, kind: type[E]) -> list[E]:
        """The committed events of one class."""
        return [event for event in self.events if isinstance(event, kind)]

    def types(self) -> list[str]:
        """The ``ce_type`` of every committed event, in order."""
        return [envelope.meta.type for envelope in self.envelopes]

    def clear_events(self) -> None:
        """Forget the events recorded so far (e.g. after arranging a scenario)."""
        self.envelopes.clear()
        self.tombstones.clear()

    def collection(self, name: str) -> AsyncCollection[Document]:
        """A collection of the fake database, for arranging and checking state outside a transaction."""
        return cast(AsyncCollection[Document], self.fake_db[name])

    async def deliver(
        self,
        event: Event,
        *,
        region: str | None = None,
        correlation_id: str | None = None,
        time: datetime | None = None,
    ) -> EventMeta:
        """Run the service's handler for ``event`` in one transaction, as its consumer would; returns its meta.

        The event's ``ce_time`` is ``time``, else the fake clock's now (a producer on the same clock).
        """
        meta, _ = encode(event, region=region, correlation_id=correlation_id, time=time or self.now())
        handler = self._handlers.get(meta.type)
        if handler is None:
            raise LookupError(f"{self.settings.service} has no handler for {meta.type}")
        corr = context.correlation_id.set(meta.correlation_id)
        cause = context.causation_id.set(meta.id)
        try:
            await self.transactions.run(
                lambda uow: handler(HandlerContext(uow=uow, meta=meta, service_runtime=self), event)
            )
        finally:
            context.correlation_id.reset(corr)
            context.causation_id.reset(cause)
        return meta

    def event_consumer(self, broker: KafkaBroker) -> EventConsumer[S]:
        """The kit's consumer of the service's handlers, built as ``Runtime`` builds it, registered on ``broker``.

        Its transactions are this runtime's fakes; ``broker`` is meant to be wrapped in FastStream's
        ``TestKafkaBroker`` (no Kafka): publishing a record to one of ``consumed_topics()`` runs it.
        """
        settings = self.settings
        consumer = EventConsumer(
            service=settings.service,
            name=settings.service,
            transactions=self.transactions,
            broker=broker,
            topics=self.consumed_topics(),
            group_id=settings.consumer_group,
            dlq_topic=dlq_topic(settings.service, settings.topic_prefix),
            handlers=self.definition.handlers,
            tombstone_handler=self.definition.tombstone_handler,
            attempts=settings.handler_attempts,
            retry_initial=settings.retry_initial_seconds,
            retry_max=settings.retry_max_seconds,
            max_records=settings.consumer_max_records,
            batch_timeout_ms=settings.consumer_batch_timeout_ms,
            transient_attempts=settings.consumer_transient_attempts,
            runtime=self,
        )
        consumer.register()
        return consumer

    async def deliver_tombstone(self, topic: str, key: str) -> None:
        """Run the service's tombstone handler for ``key`` of ``topic`` in one transaction."""
        handler = self.definition.tombstone_handler
        if handler is None:
            raise LookupError(f"{self.settings.service} has no tombstone handler")
        await self.transactions.run(lambda uow: handler(uow, topic, key))

    async def settle(self) -> None:
        """Let tasks the code under test started (after-commit wake-ups) run."""
        await asyncio.sleep(0)


__all__ = [
    "FakeClient",
    "FakeClock",
    "FakeCollection",
    "FakeCursor",
    "FakeDatabase",
    "FakeRuntime",
    "FakeSession",
    "FakeTransactions",
]
