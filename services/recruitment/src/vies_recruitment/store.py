"""MongoDB collections of the recruitment service, their indexes and small typed readers.

Own state: ``positions``, ``applications``, ``persons`` (personal data, erasable),
``engagements`` (VSI history: ids and dates only). Projections of other services'
events: ``authorities``, ``partnerships``, ``partners``, ``sending_organisations``.
Dates are stored as ISO strings (BSON has no date-only type; ISO strings sort).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING

from vies_shared.service import Runtime
from vies_shared.storage import UnitOfWork

Document = dict[str, Any]

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
