"""MongoDB collections of the recruitment service, their indexes and small typed readers.

Own state: ``positions``, ``applications``, ``persons`` (personal data, erasable),
``engagements`` (VSI history: ids and dates only). Projections of other services'
events: ``authorities``, ``partnerships``, ``partners``, ``sending_organisations``.
Dates are stored as ISO strings (BSON has no date-only type; ISO strings sort).
"""

from __future__ import annotations

from datetime import date

from pymongo import ASCENDING, DESCENDING

from vies_recruitment.domain.application import Application
from vies_recruitment.domain.position import Position
from vies_shared.aggregate import Aggregate, Document, emit_recorded
from vies_shared.service import Runtime
from vies_shared.storage import RaceLost, UnitOfWork

POSITIONS = "positions"
APPLICATIONS = "applications"
PERSONS = "persons"
ENGAGEMENTS = "engagements"
AUTHORITIES = "authorities"
PARTNERSHIPS = "partnerships"
PARTNERS = "partners"
SENDING_ORGANISATIONS = "sending_organisations"


async def ensure_indexes(runtime: Runtime) -> None:
    """Create the indexes the queries and uniqueness rules need (idempotent)."""
    db = runtime.db
    await db[POSITIONS].create_index([("status", ASCENDING), ("starts_on", ASCENDING)])
    await db[POSITIONS].create_index("authority_id")
    await db[POSITIONS].create_index("partnership_id")
    await db[POSITIONS].create_index("region")
    # One application per email and position (409 on a second one).
    await db[APPLICATIONS].create_index(
        [("position_id", ASCENDING), ("email_key", ASCENDING)], unique=True, name="one_application_per_email"
    )
    # And one per person and position (a candidate whose account's email changed applies once too).
    await db[APPLICATIONS].create_index(
        [("position_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True, name="one_application_per_person"
    )
    await db[APPLICATIONS].create_index([("position_id", ASCENDING), ("eligible", DESCENDING), ("score", DESCENDING)])
    await db[APPLICATIONS].create_index("candidate_id")
    await db[APPLICATIONS].create_index("authority_id")
    await db[PERSONS].create_index("email_key")
    await db[ENGAGEMENTS].create_index("person_id")
    await db[ENGAGEMENTS].create_index("mission_id")
    await db[PARTNERSHIPS].create_index("authority_id")


def iso(day: date | None) -> str | None:
    """A date as stored."""
    return day.isoformat() if day is not None else None


def parse_date(text: str | None) -> date | None:
    """A stored date back as a ``date``."""
    return date.fromisoformat(text) if text else None


async def authority_region(uow: UnitOfWork, authority_id: str) -> str | None:
    """The French region of an authority, from the partners directory's events."""
    doc = await uow[AUTHORITIES].find_one({"_id": authority_id})
    region = doc.get("region") if doc else None
    return str(region) if region else None


async def load_position(uow: UnitOfWork, position_id: str) -> Position:
    """The position, or 404."""
    return Position.from_doc(await uow.get(POSITIONS, position_id, "position"))


async def load_application(uow: UnitOfWork, application_id: str) -> Application:
    """The application, or 404."""
    return Application.from_doc(await uow.get(APPLICATIONS, application_id, "application"))


async def add(uow: UnitOfWork, collection: str, aggregate: Aggregate) -> None:
    """Insert a new aggregate and emit the events it recorded (emitted first: their ``seq`` may be in its document)."""
    emit_recorded(uow, aggregate)
    await uow[collection].insert_one(aggregate.to_doc())
    aggregate.saved()


async def save(
    uow: UnitOfWork, collection: str, aggregate: Aggregate, *, unless_changed: Document | None = None
) -> None:
    """Write what the aggregate changed and emit the events it recorded.

    ``unless_changed``: fields the stored document must still hold, or ``RaceLost`` (the
    transaction runs again on fresh state).
    """
    emit_recorded(uow, aggregate)  # first: an aggregate that orders its events writes their seq with its changes
    doc_id = aggregate.to_doc()["_id"]
    changes = aggregate.changes()
    if changes:
        written = await uow[collection].update_one({"_id": doc_id, **(unless_changed or {})}, {"$set": changes})
        if written.matched_count != 1:
            raise RaceLost(f"{collection} {doc_id} changed meanwhile")
        aggregate.saved()
