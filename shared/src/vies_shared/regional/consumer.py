"""The regional consumer: the kit's ``EventConsumer`` (inbox, transactions, retries, manual commits),
reading the four ``*.events`` topics for one region.

Two changes to the kit's behaviour, both in this subclass:
* records whose ``ce_region`` header is not the branch's are dropped before
  anything reads them (their offsets still commit with the batch), except
  ``recruitment.PersonErased``: it names no region (``none``) and every branch
  must forget the person;
* what the kit would dead-letter (not CloudEvents, unknown type or schema
  version, invalid data, a rule failing after its attempts) is counted in the
  view's ``skipped`` collection and passed over: a branch may not write to the
  platform's dead-letter topics, and one unreadable event must not stop it.

The skipped collection keeps the records themselves (key, value, headers), so that
after a fix (a newer kit that reads them, a corrected rule) ``replay_skipped``
(``vies regional replay-skipped``) runs them through the consumer again. Like a DLQ
replay, a record older than one of its key already applied is not applied (its rules
are not order-safe): it stays skipped with reason ``stale_replay`` unless forced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from vies_shared import erasure
from vies_shared.events.base import Event, registered_models
from vies_shared.events.recruitment import PersonErased
from vies_shared.events.topics import regional_topics
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.consumer import EventConsumer, HandlerContext, Handles
from vies_shared.messaging.outbox import Outbox
from vies_shared.regional import store
from vies_shared.regional.settings import RegionalSettings
from vies_shared.regional.view import PersonErasure, changes_for
from vies_shared.storage import Transactions, create_mongo_client

REGIONAL_RECORDS = Counter(
    "vies_regional_records_total", "Records read by the regional consumer, by outcome", ["region", "outcome"]
)


def kept_events() -> tuple[type[Event], ...]:
    """Every contract event that travels on the ``*.events`` topics (contacts are never read)."""
    return tuple(model for model in registered_models() if model.TOPIC == "events")


def kept_types() -> list[str]:
    """Every contract type that travels on the ``*.events`` topics (contacts are never read)."""
    return sorted({model.TYPE for model in kept_events()})


def _header(record: ConsumerRecord[bytes, bytes], wanted: str) -> str | None:
    for name, raw in record.headers:
        if name == wanted:
            return (raw or b"").decode(errors="replace")
    return None


def record_region(record: ConsumerRecord[bytes, bytes]) -> str | None:
    """The ``ce_region`` header of a record, if any."""
    return _header(record, "ce_region")


def is_for_region(record: ConsumerRecord[bytes, bytes], region: str) -> bool:
    """Whether a branch keeps a record: its region's events, and every erasure (it carries no region)."""
    return record_region(record) == region or _header(record, "ce_type") == PersonErased.TYPE


class RegionalConsumer(EventConsumer):
    """Keeps the events of one region: view, journal, forward queues; skips what it cannot read."""

    def __init__(self, *, settings: RegionalSettings, transactions: Transactions, broker: KafkaBroker) -> None:
        self.region = settings.region
        self.to_webhook = settings.regional_webhook_url is not None
        self.to_jsonl = settings.regional_jsonl_path is not None
        self._records: dict[str, ConsumerRecord[bytes, bytes]] = {}
        self._last_seq = 0
        super().__init__(
            service=settings.service,
            name=f"regional:{settings.region}",
            transactions=transactions,
            broker=broker,
            topics=regional_topics(settings.topic_prefix),
            group_id=settings.consumer_group,
            dlq_topic="",  # never written: see dead_letter
            handlers=[Handles(kept_events(), self.on_event)],
            attempts=settings.handler_attempts,
            retry_initial=settings.retry_initial_seconds,
            retry_max=settings.retry_max_seconds,
            max_records=settings.consumer_max_records,
            batch_timeout_ms=settings.consumer_batch_timeout_ms,
        )

    async def handle_records(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Keep the region's records (and erasures) only, then handle them as the kit does."""
        mine = [record for record in records if is_for_region(record, self.region)]
        if len(mine) < len(records):
            REGIONAL_RECORDS.labels(self.region, "other_region").inc(len(records) - len(mine))
        # The handler forwards the value as produced (fields newer than this kit included).
        self._records = {}
        for record in mine:
            ce_id = next((raw for name, raw in record.headers if name == "ce_id"), None)
            if ce_id:
                self._records[ce_id.decode(errors="replace")] = record
        await super().handle_records(mine)

    async def on_event(self, ctx: HandlerContext, event: Event) -> None:
        """One kept event: the view rules, the journal and the queues, in the batch's transaction.

        An erasure is remembered; a later-handled event produced before it keeps nothing of the
        person (view, journal, queues), so the erasure cannot be undone by the order of delivery.
        """
        record = self._records.get(ctx.meta.id)
        data: Any = json.loads(record.value) if record is not None and record.value else event.model_dump(mode="json")
        changes = changes_for(ctx.meta, event)
        if isinstance(event, PersonErased):
            await erasure.remember_erasure(ctx.uow, event.person_id, ctx.meta.time)
        elif isinstance(data, dict):
            erased = await erasure.erased_among(ctx.uow, erasure.person_ids_in(data), ctx.meta.time)
            if erased:
                changes += [PersonErasure(person_id) for person_id in sorted(erased)]
                data = erasure.without_persons(data, erased)
        await store.apply_changes(ctx.uow, changes)
        await store.keep_event(
            ctx.uow,
            ctx.meta,
            data,
            topic=record.topic if record is not None else "",
            seq=self._next_seq(),
            to_webhook=self.to_webhook,
            to_jsonl=self.to_jsonl,
        )
        REGIONAL_RECORDS.labels(self.region, "kept").inc()

    def _next_seq(self) -> int:
        # Queue order: strictly increasing in this process, and in time across restarts and replicas.
        self._last_seq = max(self._last_seq + 1, time.time_ns())
        return self._last_seq

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str, error: str) -> None:
        """Count the event as skipped in the view instead of dead-lettering it (no write access to the DLQ)."""
        document = store.skipped_document(record, reason, error)
        await self._retry_transient(lambda: store.record_skipped(self.transactions.db, document), what="skip")
        REGIONAL_RECORDS.labels(self.region, "skipped").inc()
        self.log.warning(
            "event_skipped",
            reason=reason,
            error=error[:500],
            ce_type=document["type"],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )


async def replay_skipped(settings: RegionalSettings, *, force_stale: bool = False) -> dict[str, int]:
    """Run every kept skipped record through the consumer again, oldest first; applied ones leave ``skipped``.

    Run it while the branch's consumer is stopped or running: the inbox makes a record count once.
    Returns how many were applied and how many are still skipped (their ``reason`` says why now).
    """
    client = create_mongo_client(settings.mongodb_uri)
    try:
        db = client[settings.mongodb_db]
        transactions = Transactions(client, db, Outbox(db, service=settings.service))
        # Never started: a regional consumer publishes nothing (its dead letters go to ``skipped``).
        broker = create_broker(settings, client_id=f"vies-regional-replay-{settings.region}", idempotent=False)
        consumer = RegionalConsumer(settings=settings, transactions=transactions, broker=broker)
        cursor = db[store.SKIPPED].find({"value": {"$ne": None}}).sort([("topic", 1), ("partition", 1), ("offset", 1)])
        documents = await cursor.to_list(length=None)
        applied = 0
        for document in documents:
            await consumer.handle_records([store.skipped_record(document, force_stale=force_stale)])
            if await db["inbox"].find_one({"_id": document["_id"]}, {"_id": 1}) is not None:
                await db[store.SKIPPED].delete_one({"_id": document["_id"]})
                applied += 1
        return {"applied": applied, "still_skipped": await db[store.SKIPPED].count_documents({})}
    finally:
        await client.close()
