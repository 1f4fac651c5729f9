"""The service's own view of the platform, built only from events (contract: services talk through Kafka).

Each ``apply_*`` function updates the projection for one event inside the
consumer's transaction; ``lookup_*`` functions read it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from pymongo import UpdateOne

from vies_notifications import store
from vies_notifications.domain.delivery import CANCELLED, PENDING, SENDING
from vies_shared.erasure import ERASED_PERSONS, PERSON_ID_FIELDS, erased_since, without_persons
from vies_shared.events import missions as m
from vies_shared.events import partners as p
from vies_shared.events import recruitment as r
from vies_shared.events.base import Event
from vies_shared.events.envelope import NO_REGION, EventMeta
from vies_shared.events.recruitment import PersonErased
from vies_shared.storage import UnitOfWork

Document = dict[str, Any]

ERASED = "erased"


# Reads and writes of one transaction (a consumer batch) are remembered for the rest of it: a batch of
# events about the same authority or mission then costs one read, not one per event (each operation inside
# a transaction costs a few milliseconds). Keyed by the unit of work, so a retried transaction starts afresh.
_CACHES: WeakKeyDictionary[UnitOfWork, dict[tuple[str, str], Any]] = WeakKeyDictionary()


def batch_cache(uow: UnitOfWork) -> dict[tuple[str, str], Any]:
    """What this transaction already read or wrote, by (collection, id)."""
    cache = _CACHES.get(uow)
    if cache is None:
        cache = _CACHES[uow] = {}
    return cache


async def _upsert(uow: UnitOfWork, collection: str, key: str, values: Document) -> None:
    result = await uow[collection].update_one({"_id": key}, {"$set": values}, upsert=True)
    cache = batch_cache(uow)
    cached = cache.get((collection, key))
    if cached is not None:
        cached.update(values)
    elif result.upserted_id is not None:
        cache[(collection, key)] = {"_id": key, **values}  # a new document: we know all of it
    else:
        cache.pop((collection, key), None)


async def find(uow: UnitOfWork, collection: str, key: str | None) -> Document | None:
    """One projection document by id (None for a missing id)."""
    if not key:
        return None
    cache = batch_cache(uow)
    if (collection, key) in cache:
        cached: Document | None = cache[(collection, key)]
        return cached
    doc: Document | None = await uow[collection].find_one({"_id": key})
    cache[(collection, key)] = doc
    return doc


def known_after_commit(uow: UnitOfWork) -> Mapping[tuple[str, str], Document | None]:
    """This transaction's memory, for the delivery of the notifications it queues and hands off (``wakeup``).

    It is the memory itself, read once the transaction has committed: the documents as the
    transaction read them or left them (the contact as ``save_contact`` wrote it, the recipients'
    preferences as the opt-outs read them, the authority, the position), the very state the
    notifications were routed and worded from. For the delivery that is as current as its own read
    would be: that read is a snapshot too, and a change committed after the notifications is one a
    pass could miss just as well by reading a moment before it. What must not be missed does not
    rely on either read: contact data that arrive release what waits for them (the pass that marks a
    message waiting looks again in the database), an erasure cancels the claim (the pass's record
    then writes only what is still its own). A hand-off that waited behind another pass for long
    reads them again (``delivery``).
    """
    return batch_cache(uow)


def forget(uow: UnitOfWork, collection: str, key: str) -> None:
    """Drop what this transaction remembers of one document (written by a helper that does not tell)."""
    batch_cache(uow).pop((collection, key), None)


async def erased_among(uow: UnitOfWork, person_ids: Iterable[str | None], fact_time: datetime) -> set[str]:
    """Those of ``person_ids`` erased at or after ``fact_time``: ``vies_shared.erasure.erased_among`` with a memory.

    Each person's marker is read once per transaction: the contact and the application of one
    candidate, handled in one batch, then cost one read, not one each.
    """
    ids = sorted({p for p in person_ids if p})
    cache = batch_cache(uow)
    unread = [p for p in ids if (ERASED_PERSONS, p) not in cache]
    if unread:
        cursor = uow[ERASED_PERSONS].find({"_id": {"$in": unread}}, {"erased_at": 1})
        found = {doc["_id"]: doc async for doc in cursor}
        for person_id in unread:
            cache[(ERASED_PERSONS, person_id)] = found.get(person_id)
    return {p for p in ids if erased_since(cache[(ERASED_PERSONS, p)], fact_time)}


async def region_of_authority(uow: UnitOfWork, authority_id: str | None) -> str | None:
    """The French region of an authority, if it registered."""
    authority = await find(uow, store.AUTHORITIES, authority_id)
    return authority.get("region") if authority else None


async def event_region(uow: UnitOfWork, meta: EventMeta, authority_id: str | None) -> str | None:
    """The region an event concerns: its ``ce_region`` header, else its authority's region."""
    if meta.region and meta.region != NO_REGION:
        return meta.region
    return await region_of_authority(uow, authority_id)


# --- one rule per event class: each reads the event's data as taken in (an erased person's id nulled) ---------

Rule = Callable[[UnitOfWork, EventMeta, Document], Awaitable[None]]


async def _authority_registered(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    facts = {"name": data["name"], "region": data["region"], "email": data["contact_email"], "kind": data["kind"]}
    await _upsert(uow, store.AUTHORITIES, data["authority_id"], facts)


async def _partner_registered(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    facts = {
        "name": data["name"],
        "country": data["country"],
        "languages": data.get("languages") or [],
        "email": data.get("contact_email"),
    }
    await _upsert(uow, store.PARTNERS, data["partner_id"], facts)


async def _partner_updated(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    changes: Document = {}
    if data.get("languages") is not None:
        changes["languages"] = data["languages"]
    if data.get("contact_email") is not None:
        changes["email"] = data["contact_email"]
    if changes:
        await _upsert(uow, store.PARTNERS, data["partner_id"], changes)


async def _authority_updated(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    # A corrected organisational address is where the authority's mail goes from now on.
    if data.get("contact_email") is not None:
        address = {"email": data["contact_email"], "contact_erased": False}
        await _upsert(uow, store.AUTHORITIES, data["authority_id"], address)
    elif "contact_email" in data.get("changed", []):
        # Named as changed and null: the address was its contact person's, who was erased.
        await erase_authority_contact(uow, data["authority_id"])


async def _partnership_established(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    facts = {"authority_id": data["authority_id"], "partner_id": data["partner_id"], "status": "active"}
    await _upsert(uow, store.PARTNERSHIPS, data["partnership_id"], facts)


async def _partnership_ended(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    await _upsert(uow, store.PARTNERSHIPS, data["partnership_id"], {"status": "ended"})


async def _position_published(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    fields = ("title", "authority_id", "partner_id", "country", "scheme")
    await _upsert(uow, store.POSITIONS, data["position_id"], {name: data[name] for name in fields})


async def _application_submitted(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    fields = ("candidate_id", "position_id", "authority_id")
    values = {name: data[name] for name in fields}
    # The position's title and country as published (events since they carry them): no position lookup.
    values.update({name: data[name] for name in ("position_title", "country") if data.get(name)})
    await _upsert(uow, store.APPLICATIONS, data["application_id"], values)


async def _mission_planned(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    facts = {
        "volunteer_id": data["volunteer_id"],
        "authority_id": data["authority_id"],
        "partner_id": data["partner_id"],
        "engagement_id": data["engagement_id"],
        "country": data["country"],
        "centre_id": data.get("centre_id"),
        "status": "planned",
        "missed_in_a_row": 0,
    }
    await _upsert(uow, store.MISSIONS, data["mission_id"], facts)


async def _mission_started(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    await _upsert(uow, store.MISSIONS, data["mission_id"], {"status": "started"})


async def _mission_over(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    await _upsert(uow, store.MISSIONS, data["mission_id"], {"status": "ended"})


async def _check_in_received(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    await _upsert(uow, store.MISSIONS, data["mission_id"], {"missed_in_a_row": 0})


async def _check_in_missed(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    if data.get("missed_in_a_row") is not None:
        await _upsert(uow, store.MISSIONS, data["mission_id"], {"missed_in_a_row": data["missed_in_a_row"]})
        return
    # An event without the count (older producers): count it here.
    await uow[store.MISSIONS].update_one({"_id": data["mission_id"]}, {"$inc": {"missed_in_a_row": 1}}, upsert=True)
    batch_cache(uow).pop((store.MISSIONS, data["mission_id"]), None)


async def _incident_reported(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    mission = await find(uow, store.MISSIONS, data["mission_id"])
    region = await event_region(uow, meta, mission.get("authority_id") if mission else None)
    facts = {
        "mission_id": data["mission_id"],
        "severity": data["severity"],
        "category": data["category"],
        "status": "open",
        "region": region,
        "reported_at": uow.now(),
    }
    await _upsert(uow, store.INCIDENTS, data["incident_id"], facts)


async def _incident_resolved(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    await _upsert(uow, store.INCIDENTS, data["incident_id"], {"status": "resolved"})


async def _security_alert_issued(uow: UnitOfWork, meta: EventMeta, data: Document) -> None:
    facts = {"country": data["country"], "level": data["level"], "mission_ids": data.get("mission_ids") or []}
    await _upsert(uow, store.ALERTS, data["alert_id"], facts)


RULES: dict[type[Event], Rule] = {
    p.AuthorityRegistered: _authority_registered,
    p.PartnerRegistered: _partner_registered,
    p.PartnerUpdated: _partner_updated,
    p.AuthorityUpdated: _authority_updated,
    p.PartnershipEstablished: _partnership_established,
    p.PartnershipEnded: _partnership_ended,
    r.PositionPublished: _position_published,
    r.ApplicationSubmitted: _application_submitted,
    m.MissionPlanned: _mission_planned,
    m.MissionStarted: _mission_started,
    m.MissionEnded: _mission_over,
    m.MissionInterrupted: _mission_over,
    m.CheckInReceived: _check_in_received,
    m.CheckInMissed: _check_in_missed,
    m.IncidentReported: _incident_reported,
    m.IncidentResolved: _incident_resolved,
    m.SecurityAlertIssued: _security_alert_issued,
}
# Looked up by the record's ce_type, as the consumer routes it.
_RULES_BY_TYPE = {model.TYPE: rule for model, rule in RULES.items()}


async def apply(uow: UnitOfWork, meta: EventMeta, event: Event, data: Document | None = None) -> None:
    """Update the projection for one event (types that matter here; others change nothing).

    ``data`` is the event's data as taken in (an erased person's id already nulled), by default all of it.
    """
    rule = _RULES_BY_TYPE.get(meta.type)
    if rule is not None:
        await rule(uow, meta, data if data is not None else event.model_dump(mode="json"))


async def erase_authority_contact(uow: UnitOfWork, authority_id: str) -> None:
    """The authority's address was an erased person's: forget it, and what was still to go there."""
    await _upsert(uow, store.AUTHORITIES, authority_id, {"email": None, "contact_erased": True})
    await uow[store.NOTIFICATIONS].update_many(
        {"recipient.key": f"authority:{authority_id}", "channel": "email", "status": {"$in": [PENDING, SENDING]}},
        {"$set": {"status": CANCELLED, "last_error": "recipient erased", "claim": None}},
    )


async def has_erased_contact(uow: UnitOfWork, authority_id: str) -> bool:
    """Whether the authority's address was erased with its contact person (and no new one came since)."""
    authority = await find(uow, store.AUTHORITIES, authority_id)
    return bool(authority and authority.get("contact_erased"))


# Set on a person's contacts document (created bare if need be) by the delivery worker when it marks a
# message waiting for their contact data: the contact's arrival then knows to release it, and saves a
# command on every other contact (a write conflict on the document orders the two transactions).
WAITED_FOR = "waited_for"


def is_known_contact(doc: Document | None) -> bool:
    """Whether a contacts document holds contact data (not only the mark that a message waits for them)."""
    return doc is not None and "email" in doc


async def save_contact(uow: UnitOfWork, person_id: str, data: Document) -> bool:
    """Keep a person's contact data (from ``recruitment.ContactUpdated``); True when a message waits for them."""
    values = {"name": data["name"], "email": data["email"], "phone": data.get("phone"), "language": data["language"]}
    before = await uow[store.CONTACTS].find_one_and_update(
        {"_id": person_id}, {"$set": values, "$unset": {WAITED_FOR: ""}}, {WAITED_FOR: 1}, upsert=True
    )
    # The whole document now: a contact holds these fields and at most the mark just removed.
    batch_cache(uow)[(store.CONTACTS, person_id)] = {"_id": person_id, **values}
    return bool(before and before.get(WAITED_FOR))


async def erase_person(uow: UnitOfWork, person_id: str) -> None:
    """Right to erasure: delete contact data and preferences, anonymise the delivery log, cancel pending sends.

    The projection forgets the person's id (applications, missions), so nothing is routed to them any
    more; messages to others and webhook bodies keep their facts with the person's id nulled.
    """
    await uow[store.CONTACTS].delete_one({"_id": person_id})
    await uow[store.PREFERENCES].delete_one({"_id": person_id})
    for collection, name in ((store.APPLICATIONS, "candidate_id"), (store.MISSIONS, "volunteer_id")):
        await uow[collection].update_many({name: person_id}, {"$set": {name: None}})
    batch_cache(uow).clear()
    for name in PERSON_ID_FIELDS:
        await uow[store.NOTIFICATIONS].update_many({f"context.{name}": person_id}, {"$set": {f"context.{name}": None}})
    await _scrub_webhook_bodies(uow, person_id)
    await uow[store.NOTIFICATIONS].update_many(
        {"recipient.id": person_id, "status": {"$in": [PENDING, SENDING]}},
        {"$set": {"status": CANCELLED, "last_error": "recipient erased", "claim": None}},
    )
    # The recipient key holds the person id too: replace it by one unique to each log entry.
    cursor = uow[store.NOTIFICATIONS].find({"recipient.id": person_id}, {"_id": 1})
    updates = [
        UpdateOne(
            {"_id": doc["_id"]},
            {
                "$set": {
                    "recipient.id": ERASED,
                    "recipient.key": f"{ERASED}:{doc['_id']}",
                    "recipient.address": None,
                    "recipient.name": None,
                    "context": {},
                    "erased": True,
                }
            },
        )
        async for doc in cursor
    ]
    if updates:
        await uow[store.NOTIFICATIONS].bulk_write(updates, ordered=False)


async def _scrub_webhook_bodies(uow: UnitOfWork, person_id: str) -> None:
    """Null the person's id in the bodies of webhook messages (sent or still to go), erasures excepted."""
    query = {
        "channel": "webhook",
        "event_type": {"$ne": PersonErased.TYPE},
        "payload": {"$regex": re.escape(json.dumps(person_id))},
    }
    async for doc in uow[store.NOTIFICATIONS].find(query, {"payload": 1}):
        body = json.loads(doc["payload"])
        body["data"] = without_persons(body.get("data") or {}, {person_id})
        if body.get("subject") == person_id:
            body["subject"] = None
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        await uow[store.NOTIFICATIONS].update_one({"_id": doc["_id"]}, {"$set": {"payload": payload}})
