"""The transactional outbox: events written in the same transaction as their state change.

Document shape: ``{_id: ce_id, seq, topic, key, headers, value, type, created_at,
published_at: null}``, plus ``traceparent`` when emitted within a trace (``vies_shared.tracing``).
``seq`` orders publication; the relay deletes published documents once they are older than
the retention (``Outbox.prune``).

Per-key order does not depend on the clocks of the API replicas: ``seq``
starts from the writer's nanosecond clock, then ``Outbox.order`` raises it, inside the
use case's transaction, above the last ``seq`` of the same aggregate (``topic`` and
``key``), kept in ``outbox_keys`` ``{_id: "<topic> <key>", seq, at}``. Two transactions
on one aggregate both write that document, so they conflict and one is retried: the
``seq`` of an aggregate's events grows in commit order whatever the pods' clocks say.
An aggregate may instead keep its last ``seq`` on its own document (``UnitOfWork.emit_in_order``):
the same guarantee, without the ``outbox_keys`` commands.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from vies_shared import tracing
from vies_shared.events.base import Event
from vies_shared.events.envelope import EventMeta, encode, new_event_id

if TYPE_CHECKING:
    from vies_shared.storage import Collection, WritesAtCommit

Document = dict[str, Any]
Clock = Callable[[], int]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


KEYS_COLLECTION = "outbox_keys"

_seq_lock = threading.Lock()
_last_seq = 0


def next_seq() -> int:
    """A strictly increasing sequence number per process, close to wall-clock nanoseconds."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        return _last_seq


class Outbox:
    """Builds outbox documents for one service and owns the ``outbox`` collection."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        service: str,
        topic_prefix: str = "",
        clock: Clock | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.collection: AsyncCollection[Document] = db["outbox"]
        self.keys: AsyncCollection[Document] = db[KEYS_COLLECTION]
        self.service = service
        self.prefix = topic_prefix
        # Injected by tests to play replicas whose clocks disagree; the process clock otherwise.
        self.clock = clock
        # The service's clock for the documents' times (created, published, last touched): tests may set it.
        self.now: Callable[[], datetime] = now or _wall_clock
        self._last_seq = 0
        self._lock = threading.Lock()
        self.retention = timedelta(days=7)

    async def ensure_indexes(self, retention_days: int = 7) -> None:
        """The pending scan index and the indexes the relay prunes by; no TTL index.

        Published documents and idle aggregates' last ``seq`` are pruned by the relay itself
        (``prune``), with a delete served by these indexes. A TTL index would do it too, but
        SecantusDB (the local stack) sweeps a TTL collection by decoding every document while it
        holds its storage lock, a whole-database stall that grows with the outbox; and the relay
        knows when there is something to prune. The TTL indexes of earlier versions are dropped.
        """
        # Pending scan in publication order; its prefix also serves the prune by publication time.
        await self.collection.create_index([("published_at", ASCENDING), ("seq", ASCENDING)])
        await self.keys.create_index("at", name="idle")
        for collection, ttl in ((self.collection, "published_ttl"), (self.keys, "idle_ttl")):
            with contextlib.suppress(OperationFailure):  # absent: a new database
                await collection.drop_index(ttl)
        self.retention = timedelta(days=retention_days)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete what is published and idle aggregates' last ``seq`` older than the retention; returns the count.

        An aggregate silent for the whole retention falls back to the clock: by then its
        earlier events are long published, so no pending event can be overtaken.
        """
        cutoff = (now or self.now()) - self.retention
        published = await self.collection.delete_many({"published_at": {"$lt": cutoff}})
        idle = await self.keys.delete_many({"at": {"$lt": cutoff}})
        return published.deleted_count + idle.deleted_count

    def next_seq(self) -> int:
        """A strictly increasing number per writer, close to its wall clock in nanoseconds."""
        if self.clock is None:
            return next_seq()
        with self._lock:
            self._last_seq = max(self.clock(), self._last_seq + 1)
            return self._last_seq

    async def order(self, documents: Sequence[Document], keys: Collection, keys_at_commit: WritesAtCommit) -> None:
        """Raise each document's ``seq`` above its aggregate's last one, in the caller's transaction.

        ``keys`` is this outbox's ``outbox_keys`` collection bound to that transaction, and
        ``keys_at_commit`` the same for writes sent at its commit with the outbox documents.

        Within one transaction the documents keep their emission order; across transactions an
        aggregate's ``seq`` grows in commit order (the ``outbox_keys`` write makes concurrent
        transactions on one aggregate conflict, and the loser is retried from the start).
        """
        idents = [f"{document['topic']} {document['key']}" for document in documents]
        if len(set(idents)) == 1:
            await self._order_one_aggregate(idents[0], documents, keys)
            return
        # One read per transaction, whatever the number of aggregates; the writes go with the outbox documents.
        cursor = keys.find({"_id": {"$in": sorted(set(idents))}}, {"seq": 1})
        last: dict[str, int] = {doc["_id"]: int(doc["seq"]) async for doc in cursor}
        touched: dict[str, int] = {}
        floor = 0
        for ident, document in zip(idents, documents, strict=True):
            seq = max(int(document["seq"]), last.get(ident, 0) + 1, floor + 1)
            document["seq"] = last[ident] = touched[ident] = floor = seq
        now = self.now()
        for ident, seq in touched.items():
            keys_at_commit.update_one({"_id": ident}, {"$set": {"seq": seq, "at": now}}, upsert=True)

    async def _order_one_aggregate(self, ident: str, documents: Sequence[Document], keys: Collection) -> None:
        """``order`` for the usual transaction, whose events are all of one aggregate: one command.

        The documents' own ``seq`` are made strictly increasing, then the stored last ``seq`` is
        raised in one pipeline update that returns the previous one: if the aggregate's last event
        is not below the first document, every ``seq`` is lifted above it, and the stored value
        (the previous one plus the number of documents, or the local last if higher) is the same
        as the final last ``seq`` either way.
        """
        local: list[int] = []
        for document in documents:
            local.append(max(int(document["seq"]), local[-1] + 1 if local else 0))
        count = len(documents)
        raised = {"$max": [{"$add": [{"$ifNull": ["$seq", 0]}, count]}, local[-1]]}
        before = await keys.find_one_and_update(
            {"_id": ident}, [{"$set": {"seq": raised, "at": self.now()}}], {"seq": 1}, upsert=True
        )
        last = int(before["seq"]) if before else 0
        for position, document in enumerate(documents):
            document["seq"] = max(local[position], last + 1 + position)

    def topic_for(self, event: Event) -> str:
        """The topic its class names (``Event.TOPIC``): contact data to the compacted contacts topic."""
        return event.topic(self.prefix)

    def document(
        self,
        event: Event,
        *,
        region: str | None,
        topic: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> tuple[EventMeta, Document]:
        """The CloudEvents attributes and the outbox document of one event."""
        meta, message = encode(event, region=region, correlation_id=correlation_id, causation_id=causation_id)
        document = {
            "_id": meta.id,
            "seq": self.next_seq(),
            "topic": topic or self.topic_for(event),
            "key": message.key,
            "headers": message.headers,
            "value": message.value,
            "type": meta.type,
            "created_at": self.now(),
            "published_at": None,
        }
        if traceparent := tracing.current_traceparent():
            document["traceparent"] = traceparent  # the relay's publish span joins the emitter's trace
        return meta, document

    def tombstone(self, topic: str, key: str) -> Document:
        """An outbox document that publishes a null value for ``key`` (compaction deletes it)."""
        return {
            "_id": new_event_id(),
            "seq": self.next_seq(),
            "topic": topic,
            "key": key,
            "headers": {},
            "value": None,
            "type": "tombstone",
            "created_at": self.now(),
            "published_at": None,
        }

    async def backlog(self) -> int:
        """How many events wait to be published."""
        return await self.collection.count_documents({"published_at": None})
