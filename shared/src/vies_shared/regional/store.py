"""The branch's MongoDB: the regional view, the journal of kept events, skipped events and forward queues.

Every write of a kept event happens in the consumer's transaction (with the kit's
inbox document), so the view, the journal and the queues change together or not
at all, and a redelivered event (same ``ce_id``) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka.structs import ConsumerRecord
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from vies_shared import erasure
from vies_shared.events.envelope import EventMeta, format_time
from vies_shared.events.recruitment import PersonErased
from vies_shared.regional.cloudevents import structured
from vies_shared.regional.view import (
    APPLICATIONS,
    INCIDENTS,
    MISSIONS,
    PARTNERSHIPS,
    PERSON_FIELDS,
    POSITIONS,
    SAFETY_CHECKS,
    Change,
    PersonErasure,
)
from vies_shared.storage import Collections

Document = dict[str, Any]
Database = AsyncDatabase[Document]

JOURNAL = "events"  # one document per kept event: {_id: ce_id, type, subject, time, ...}
SKIPPED = "skipped"  # events of the region it could not apply: {_id: ce_id, reason, type, ..., key, value, headers}
WEBHOOK_QUEUE = "webhook_queue"  # kept events waiting for the branch's webhook
JSONL_QUEUE = "jsonl_queue"  # kept events waiting to be appended to the JSON Lines file
QUEUES = (WEBHOOK_QUEUE, JSONL_QUEUE)


async def ensure_indexes(db: Database) -> None:
    """Indexes of the report's groupings and the queues' order."""
    await db[JOURNAL].create_index("type")
    await db[SKIPPED].create_index("reason")
    for queue in QUEUES:
        await db[queue].create_index("seq")
    for collection in (POSITIONS, APPLICATIONS, PARTNERSHIPS, INCIDENTS, SAFETY_CHECKS):
        await db[collection].create_index("state")
    await db[MISSIONS].create_index([("country", ASCENDING), ("state", ASCENDING)])
    for collection, fields in PERSON_FIELDS.items():
        for name in fields:
            await db[collection].create_index(name)


async def apply_changes(uow: Collections, changes: Sequence[Change | PersonErasure]) -> None:
    """Apply the view rules of one event in the transaction of ``uow``."""
    for change in changes:
        if isinstance(change, PersonErasure):
            for collection, fields in PERSON_FIELDS.items():
                for name in fields:
                    await uow[collection].update_many({name: change.person_id}, {"$unset": {name: ""}})
            await _forget_skipped_records_of(uow, change.person_id)
            await _forget_queued_mentions_of(uow, change.person_id)
            await uow[JOURNAL].update_many({"subject": change.person_id}, {"$set": {"subject": None}})
            continue
        documents = uow[change.collection]
        before = await documents.find_one({"_id": change.key})
        if before is not None:
            before.pop("_id", None)
        after = change.update(before)
        await documents.replace_one({"_id": change.key}, after, upsert=True)


async def _forget_skipped_records_of(uow: Collections, person_id: str) -> None:
    """Drop the kept record of every skipped event that names the person (it can no longer be replayed)."""
    needle = person_id.encode()
    cursor = uow[SKIPPED].find({"value": {"$ne": None}}, {"value": 1, "key": 1})
    async for doc in cursor:
        if needle in bytes(doc.get("value") or b"") or needle in bytes(doc.get("key") or b""):
            await uow[SKIPPED].update_one(
                {"_id": doc["_id"]}, {"$set": {"value": None, "key": None, "headers": [], "erased": True}}
            )


async def _forget_queued_mentions_of(uow: Collections, person_id: str) -> None:
    """Null the person's id in every event still queued for the webhook or the file.

    The events themselves stay queued (their facts are the branch's); erasures are left whole:
    they are how the branch learns whom to forget.
    """
    mentions = [{"event.subject": person_id}, *({f"event.data.{f}": person_id} for f in erasure.PERSON_ID_FIELDS)]
    query = {"$or": mentions, "event.type": {"$ne": PersonErased.TYPE}}
    for queue in QUEUES:
        async for doc in uow[queue].find(query, {"event": 1}):
            event = doc["event"]
            scrubbed = {**event, "data": erasure.without_persons(event.get("data") or {}, {person_id})}
            if scrubbed.get("subject") == person_id:
                scrubbed["subject"] = None
            await uow[queue].update_one({"_id": doc["_id"]}, {"$set": {"event": scrubbed}})


async def keep_event(
    uow: Collections,
    meta: EventMeta,
    data: Any,
    *,
    topic: str,
    seq: int,
    to_webhook: bool,
    to_jsonl: bool,
) -> None:
    """Journal a kept event and queue it for the webhook and the file when they are configured.

    The journal of an erasure does not name the person (its subject is the person's id).
    """
    await uow[JOURNAL].update_one(
        {"_id": meta.id},
        {
            "$setOnInsert": {
                "type": meta.type,
                "schema_version": meta.schema_version,
                "subject": None if meta.type == PersonErased.TYPE else meta.subject,
                "time": format_time(meta.time),
                "topic": topic,
            }
        },
        upsert=True,
    )
    if not (to_webhook or to_jsonl):
        return
    queued = {"_id": meta.id, "seq": seq, "event": structured(meta, data)}
    if to_webhook:
        await uow[WEBHOOK_QUEUE].insert_one({**queued, "attempts": 0})
    if to_jsonl:
        await uow[JSONL_QUEUE].insert_one(queued)


def skipped_document(record: ConsumerRecord[bytes, bytes], reason: str, error: str) -> Document:
    """What the view remembers of an event it could not apply, the record itself included (to replay it).

    Only the region's records of the ``*.events`` topics get here: ids, no contact data (contract 1.5).
    """
    headers = {name: (raw or b"").decode(errors="replace") for name, raw in record.headers}
    return {
        "key": record.key,
        "value": record.value,
        "headers": [[name, (raw or b"")] for name, raw in record.headers],
        "_id": headers.get("ce_id") or f"{record.topic}:{record.partition}:{record.offset}",
        "reason": reason,
        "error": error[:500],
        "type": headers.get("ce_type"),
        "schema_version": headers.get("ce_schemaversion"),
        "time": headers.get("ce_time"),
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
    }


async def record_skipped(db: Database, document: Document) -> None:
    """Count a skipped event once, however often it is delivered (a replay updates why)."""
    latest = {"reason": document["reason"], "error": document["error"]}
    fields = {k: v for k, v in document.items() if k not in ("_id", *latest)}
    await db[SKIPPED].update_one({"_id": document["_id"]}, {"$setOnInsert": fields, "$set": latest}, upsert=True)


def skipped_record(document: Document, *, force_stale: bool = False) -> ConsumerRecord[bytes, bytes]:
    """The Kafka record a skipped document keeps, marked as a replay of its original position."""
    headers = [(str(name), bytes(raw)) for name, raw in document.get("headers", [])]
    headers = [h for h in headers if not h[0].startswith("dlq_")] + [
        ("dlq_replayed_from", b"regional-skipped"),
        ("dlq_original_partition", str(document["partition"]).encode()),
        ("dlq_original_offset", str(document["offset"]).encode()),
    ]
    if force_stale:
        headers.append(("dlq_replay_force", b"true"))
    key = document.get("key")
    value = document.get("value")
    return ConsumerRecord(
        topic=document["topic"],
        partition=int(document["partition"]),
        offset=int(document["offset"]),
        timestamp=0,
        timestamp_type=0,
        key=bytes(key) if key is not None else None,
        value=bytes(value) if value is not None else None,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=headers,
    )
