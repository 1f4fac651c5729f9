"""MongoDB collections of the missions service and their indexes.

- ``missions``: one document per mission (``_id`` = mission id, unique ``engagement_id``);
- ``check_ins``: each check-in received; ``missed_check_ins``: one document per (mission, due date)
  missed, whose unique ``_id`` makes the scheduler idempotent;
- ``overdue_follow_ups``: one document per (mission, interview, due date) reported late;
- ``incidents``; ``security_alerts`` and ``safety_entries`` (one per alert and mission, the snapshot);
- ``authorities``: projection of ``partners.AuthorityRegistered`` (authority → name, region);
- ``partners``: projection of ``partners.PartnerRegistered`` (partner → name, country), for the certificate;
- ``contacts``: projection of the compacted ``vies.recruitment.contacts`` topic (name, email, phone).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from vies_shared.aggregate import Aggregate, emit_recorded
from vies_shared.storage import Collections, UnitOfWork

Document = dict[str, Any]

MISSIONS = "missions"
CHECK_INS = "check_ins"
MISSED_CHECK_INS = "missed_check_ins"
OVERDUE_FOLLOW_UPS = "overdue_follow_ups"
INCIDENTS = "incidents"
ALERTS = "security_alerts"
ENTRIES = "safety_entries"
AUTHORITIES = "authorities"
PARTNERS = "partners"
CONTACTS = "contacts"
CONTACTS_CHUNK = 25  # ids per $in query (see contacts_of)


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Create the indexes the queries below rely on (idempotent)."""
    missions = db[MISSIONS]
    await missions.create_index("engagement_id", unique=True)
    await missions.create_index([("country", ASCENDING), ("status", ASCENDING)])
    await missions.create_index([("status", ASCENDING), ("next_check_in_due_at", ASCENDING)])
    await missions.create_index([("partner_id", ASCENDING), ("status", ASCENDING)])
    await missions.create_index("authority_id")
    await missions.create_index("region")
    await missions.create_index("volunteer_id")
    await db[CHECK_INS].create_index([("mission_id", ASCENDING), ("at", DESCENDING)])
    await db[MISSED_CHECK_INS].create_index("mission_id")
    await db[INCIDENTS].create_index([("mission_id", ASCENDING), ("reported_at", DESCENDING)])
    await db[INCIDENTS].create_index([("country", ASCENDING), ("open", ASCENDING)])
    await db[INCIDENTS].create_index([("status", ASCENDING), ("escalated_to", ASCENDING), ("escalated_at", ASCENDING)])
    await db[ALERTS].create_index([("status", ASCENDING), ("respond_by", ASCENDING)])
    await db[ALERTS].create_index([("country", ASCENDING), ("issued_at", DESCENDING)])
    # One index only on the safety-check entries: a thousand of them are written per alert and
    # every extra index roughly doubles that cost (measured on SecantusDB). Erasure, which looks
    # entries up by volunteer, is rare enough to scan.
    await db[ENTRIES].create_index([("alert_id", ASCENDING), ("status", ASCENDING)])


async def add(uow: UnitOfWork, collection: str, aggregate: Aggregate) -> None:
    """Insert a new aggregate's document and emit the events its creation recorded."""
    await uow[collection].insert_one(aggregate.to_doc())
    emit_recorded(uow, aggregate)


async def save(uow: UnitOfWork, collection: str, aggregate: Aggregate) -> None:
    """Write an aggregate's document back and emit the events its change recorded."""
    doc = aggregate.to_doc()
    await uow[collection].replace_one({"_id": doc["_id"]}, doc)
    emit_recorded(uow, aggregate)


async def region_of(uow: Collections, authority_id: str) -> str | None:
    """The French region of an authority, from the projection of ``partners.AuthorityRegistered``."""
    doc = await uow[AUTHORITIES].find_one({"_id": authority_id}, {"region": 1})
    return doc.get("region") if doc else None


async def contacts_of(db: AsyncDatabase[Document], person_ids: list[str]) -> dict[str, Document]:
    """Contact data of several persons in one query, by person id."""
    return await by_id(db, CONTACTS, person_ids, {"name": 1, "email": 1, "phone": 1, "emergency_contact": 1})


async def by_id(
    db: AsyncDatabase[Document], collection: str, doc_ids: list[str], fields: Document
) -> dict[str, Document]:
    """Some fields of several documents of ``collection``, by id (unknown ids are left out)."""
    ids = sorted({i for i in doc_ids if i})
    if not ids:
        return {}
    # Small ``$in`` lists in parallel: SecantusDB's ``$in`` grows with the square of its length
    # (1,000 ids: ~1.9 s; 40 lists of 25: ~0.1 s, measured).
    chunks = [ids[i : i + CONTACTS_CHUNK] for i in range(0, len(ids), CONTACTS_CHUNK)]
    found = await asyncio.gather(*[db[collection].find({"_id": {"$in": chunk}}, fields).to_list() for chunk in chunks])
    return {doc["_id"]: doc for docs in found for doc in docs}
