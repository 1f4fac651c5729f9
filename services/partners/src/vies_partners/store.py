"""MongoDB collections of the partners service, their indexes, and the in-process matching index.

Dates are stored as ISO strings (``YYYY-MM-DD``, which sort as dates); moments as UTC datetimes.
Reads and writes inside a transaction go through its unit of work (``uow[name]``), bound to it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING

from vies_partners.domain.matching import SERIOUS_SEVERITIES, PartnerProfile
from vies_shared.aggregate import Aggregate, emit_recorded
from vies_shared.storage import RaceLost

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

    from vies_partners.settings import PartnersSettings
    from vies_shared.service import Runtime
    from vies_shared.storage import UnitOfWork

Document = dict[str, Any]

AUTHORITIES = "authorities"
PARTNERS = "partners"
PARTNER_STATS = "partner_stats"
PARTNERSHIPS = "partnerships"
MATCH_REQUESTS = "match_requests"
SENDING_ORGANISATIONS = "sending_organisations"
# Projections of other services' events.
MISSIONS = "missions"
INCIDENTS = "incidents"
ALERTS = "alerts"
POSITIONS = "positions"
SELECTIONS = "selections"
ENGAGEMENTS = "engagements"


def iso(day: date | None) -> str | None:
    """A date as stored."""
    return day.isoformat() if day else None


def parse_day(text: str | None) -> date | None:
    """A stored date back as a date."""
    return date.fromisoformat(text) if text else None


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Create the service's indexes (idempotent)."""
    await db[AUTHORITIES].create_index("key", unique=True)
    await db[AUTHORITIES].create_index([("region", ASCENDING), ("territoires_volontaires", ASCENDING)])
    await db[AUTHORITIES].create_index("contact.person_id")
    # Who did an action, found by the person's erasure.
    await db[AUTHORITIES].create_index("registered_by")
    await db[PARTNERS].create_index("key", unique=True)
    await db[PARTNERS].create_index([("status", ASCENDING), ("country", ASCENDING)])
    await db[PARTNERS].create_index("changed_at")
    await db[PARTNERS].create_index("contacts.person_id")
    await db[PARTNERS].create_index("history.by")
    await db[PARTNER_STATS].create_index("changed_at")
    await db[PARTNERSHIPS].create_index("authority_id")
    await db[PARTNERSHIPS].create_index("partner_id")
    await db[PARTNERSHIPS].create_index("established_by")
    await db[PARTNERSHIPS].create_index("ended_by")
    await db[SENDING_ORGANISATIONS].create_index("key", unique=True)
    await db[MATCH_REQUESTS].create_index("authority_id")
    await db[MATCH_REQUESTS].create_index("requested_by")
    await db[MISSIONS].create_index("authority_id")
    await db[MISSIONS].create_index("partner_id")
    await db[INCIDENTS].create_index("partner_id")
    await db[INCIDENTS].create_index("mission_id")
    await db[ALERTS].create_index("open")
    await db[POSITIONS].create_index("authority_id")
    await db[SELECTIONS].create_index("position_id")
    await db[ENGAGEMENTS].create_index("authority_id")


async def recompute_partner_stats(uow: UnitOfWork, partner_id: str) -> None:
    """Recount a partner's missions and serious incidents from the projections (idempotent, order-free).

    Volunteers on mission = missions planned or started and not ended; hosted = missions started,
    ended or interrupted (the volunteer came); serious = incidents of severity high or critical.
    The stats are written at commit: no transaction reads them (the matching cache reads them after).
    """
    on_mission = await uow[MISSIONS].count_documents(
        {"partner_id": partner_id, "status": {"$in": ["planned", "started"]}}
    )
    hosted = await uow[MISSIONS].count_documents(
        {"partner_id": partner_id, "status": {"$in": ["started", "ended", "interrupted"]}}
    )
    serious = await uow[INCIDENTS].count_documents(
        {"partner_id": partner_id, "severity": {"$in": sorted(SERIOUS_SEVERITIES)}}
    )
    uow.at_commit(PARTNER_STATS).update_one(
        {"_id": partner_id},
        {"$set": {"on_mission": on_mission, "hosted": hosted, "serious_incidents": serious, "changed_at": uow.now()}},
        upsert=True,
    )


async def crisis_countries(db: AsyncDatabase[Document]) -> frozenset[str]:
    """Countries with an open crisis security alert (read outside a transaction)."""
    cursor = db[ALERTS].find({"open": True, "level": "crisis"}, {"country": 1})
    return frozenset([doc["country"] async for doc in cursor if doc.get("country")])


PROFILE_FIELDS = {
    "_id": 1,
    "country": 1,
    "status": 1,
    "themes": 1,
    "languages": 1,
    "hosting_capacity": 1,
    "reciprocity": 1,
    "changed_at": 1,
}


@dataclass
class ProfileIndex:
    """The partners' matching profiles kept in memory and refreshed incrementally.

    Reading 5,000 partner documents takes ~300 ms on this database, more than the whole match budget;
    so each process keeps the profiles in memory and, before each match, re-reads only the partners and
    statistics changed since its last refresh (an indexed ``changed_at`` query). The re-read window
    overlaps by ``overlap`` (10 s) so a transaction that committed a little after stamping
    ``changed_at``, or another replica's slightly different clock, is not missed; what the window
    re-reads is simply replaced. A mass change (say 5,000 partners at once) is re-read for 10 s.
    """

    overlap: timedelta = timedelta(seconds=10)
    partners: dict[str, Document] = field(default_factory=dict)
    stats: dict[str, Document] = field(default_factory=dict)
    profiles: dict[str, PartnerProfile] = field(default_factory=dict)
    refreshed_from: datetime | None = None
    # Concurrent requests refresh one at a time, so an older read never overwrites a newer one.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self, runtime: Runtime) -> None:
        """Load what changed since the last refresh (everything the first time)."""
        async with self.lock:
            await self._refresh(runtime.db, runtime.now())

    async def _refresh(self, db: AsyncDatabase[Document], started: datetime) -> None:
        query: Document = {}
        if self.refreshed_from is not None:
            query = {"changed_at": {"$gte": self.refreshed_from - self.overlap}}
        changed: set[str] = set()
        async for doc in db[PARTNERS].find(query, PROFILE_FIELDS):
            self.partners[doc["_id"]] = doc
            changed.add(doc["_id"])
        async for doc in db[PARTNER_STATS].find(query):
            self.stats[doc["_id"]] = doc
            changed.add(doc["_id"])
        for partner_id in changed:
            if partner_id in self.partners:
                self.profiles[partner_id] = _profile(self.partners[partner_id], self.stats.get(partner_id, {}))
        self.refreshed_from = started

    def approved(self) -> list[PartnerProfile]:
        """Profiles of approved partners."""
        return [p for p in self.profiles.values() if p.status == "approved"]


def _profile(doc: Document, stats: Document) -> PartnerProfile:
    return PartnerProfile(
        partner_id=doc["_id"],
        country=doc["country"],
        status=doc["status"],
        themes=frozenset(doc.get("themes", [])),
        languages=frozenset(doc.get("languages", [])),
        hosting_capacity=int(doc.get("hosting_capacity", 0)),
        reciprocity=bool(doc.get("reciprocity", False)),
        on_mission=int(stats.get("on_mission", 0)),
        hosted=int(stats.get("hosted", 0)),
        serious_incidents=int(stats.get("serious_incidents", 0)),
    )


def profile_index(runtime: Runtime) -> ProfileIndex:
    """The process's profile index (created on first use)."""
    index = runtime.extras.get("profile_index")
    if index is None:
        index = ProfileIndex()
        runtime.extras["profile_index"] = index
    assert isinstance(index, ProfileIndex)
    return index


async def setup(runtime: Runtime[PartnersSettings]) -> None:
    """Start-up: indexes, demo data when ``VIES_DEMO_DATA`` is on, then the matching profiles in memory."""
    await ensure_indexes(runtime.db)
    if runtime.settings.demo_data:
        from vies_partners.demo import seed

        await seed(runtime)
    if runtime.settings.runs_api:
        # Load the profiles now so the first match request does not pay for reading every partner.
        await profile_index(runtime).refresh(runtime)


async def add(uow: UnitOfWork, collection: str, aggregate: Aggregate) -> None:
    """Insert a new aggregate and emit the events it recorded."""
    await uow[collection].insert_one(aggregate.to_doc())
    aggregate.saved()
    emit_recorded(uow, aggregate)


async def save(uow: UnitOfWork, collection: str, aggregate: Aggregate) -> None:
    """Write what the aggregate changed and emit the events it recorded."""
    doc_id = aggregate.to_doc()["_id"]
    changes = aggregate.changes()
    if changes:
        written = await uow[collection].update_one({"_id": doc_id}, {"$set": changes})
        if written.matched_count != 1:
            raise RaceLost(f"{collection} {doc_id} changed meanwhile")
        aggregate.saved()
    emit_recorded(uow, aggregate)
