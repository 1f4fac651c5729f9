"""The transactional outbox: events written in the same transaction as their state change.

Document shape: ``{_id: ce_id, seq, topic, key, headers, value, type, created_at,
published_at: null}``. ``seq`` orders publication (nanosecond clock, strictly
increasing per process); published documents expire by TTL.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from vies_shared.events.base import Event
from vies_shared.events.envelope import EventMeta, encode, new_event_id
from vies_shared.events.topics import contacts_topic, events_topic

Document = dict[str, Any]

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

    def __init__(self, db: AsyncDatabase[Document], *, service: str, topic_prefix: str = "") -> None:
        self.collection: AsyncCollection[Document] = db["outbox"]
        self.service = service
        self.prefix = topic_prefix

    async def ensure_indexes(self, retention_days: int = 7) -> None:
        """Pending scan index and TTL on published documents."""
        await self.collection.create_index([("published_at", ASCENDING), ("seq", ASCENDING)])
        await self.collection.create_index(
            "published_at", expireAfterSeconds=retention_days * 86400, name="published_ttl"
        )

    def topic_for(self, event: Event) -> str:
        """Contact data goes to the compacted contacts topic, everything else to the service's events."""
        if event.TYPE == "recruitment.ContactUpdated":
            return contacts_topic(self.prefix)
        return events_topic(event.service(), self.prefix)

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
        return meta, {
            "_id": meta.id,
            "seq": next_seq(),
            "topic": topic or self.topic_for(event),
            "key": message.key,
            "headers": message.headers,
            "value": message.value,
            "type": meta.type,
            "created_at": datetime.now(UTC),
            "published_at": None,
        }

    def tombstone(self, topic: str, key: str) -> Document:
        """An outbox document that publishes a null value for ``key`` (compaction deletes it)."""
        return {
            "_id": new_event_id(),
            "seq": next_seq(),
            "topic": topic,
            "key": key,
            "headers": {},
            "value": None,
            "type": "tombstone",
            "created_at": datetime.now(UTC),
            "published_at": None,
        }

    async def backlog(self) -> int:
        """How many events wait to be published."""
        return await self.collection.count_documents({"published_at": None})
