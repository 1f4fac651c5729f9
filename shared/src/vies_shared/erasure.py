"""Right to erasure that stays done: a marker per erased person, kept by every consumer of ``PersonErased``.

``recruitment.PersonErased`` (keyed by the person) and the events that name the person
(``VolunteerEngaged`` keyed by the engagement, ``ContactUpdated`` on the contacts topic, a
dead letter replayed late) travel on different partitions and topics, so one of them may
be handled after the erasure. Each service therefore remembers when a person was erased
(``erased_persons``: ``{_id: person id, erased_at}``, written in the handler's transaction)
and refuses the personal data of a fact produced before that moment (``ce_time`` at or
before ``erased_at``): such a fact is older than the erasure, which wins over it.

A fact produced after the erasure is kept as usual: a candidate who applies again after
being erased comes back under the same person id (recruitment clears its own marker then).

The marker holds the person's id and nothing else: ids are pseudonymous, and without it
the erasure could not be told from a person never seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vies_shared.storage import Collections

ERASED_PERSONS = "erased_persons"
# The data fields of the contract's events that hold a person's id.
PERSON_ID_FIELDS = ("person_id", "candidate_id", "volunteer_id")

Document = dict[str, Any]


async def remember_erasure(uow: Collections, person_id: str, erased_at: datetime) -> None:
    """Keep the marker of a person's erasure (the latest erasure wins; a redelivery changes nothing)."""
    await uow[ERASED_PERSONS].update_one({"_id": person_id}, {"$max": {"erased_at": erased_at}}, upsert=True)


async def erased_among(uow: Collections, person_ids: Iterable[str | None], fact_time: datetime | None) -> set[str]:
    """Those of ``person_ids`` erased at or after ``fact_time`` (None: ever): a fact of that time must not name them."""
    ids = sorted({p for p in person_ids if p})
    if not ids:
        return set()
    cursor = uow[ERASED_PERSONS].find({"_id": {"$in": ids}}, {"erased_at": 1})
    return {doc["_id"] async for doc in cursor if erased_since(doc, fact_time)}


def erased_since(marker: Mapping[str, Any] | None, fact_time: datetime | None) -> bool:
    """Whether an erasure ``marker`` (None: never erased) wins over a fact of ``fact_time`` (None: any fact).

    The database keeps milliseconds: the fact's time is compared as a query would have sent it.
    """
    erased_at = marker.get("erased_at") if marker else None
    if not isinstance(erased_at, datetime):
        return False
    if fact_time is None:
        return True
    moment = fact_time if fact_time.tzinfo else fact_time.replace(tzinfo=UTC)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return (erased_at if erased_at.tzinfo else erased_at.replace(tzinfo=UTC)) >= moment


async def is_erased_after(uow: Collections, person_id: str | None, fact_time: datetime) -> bool:
    """Whether a fact of ``fact_time`` about ``person_id`` is older than the person's erasure."""
    return bool(await erased_among(uow, [person_id], fact_time))


def person_ids_in(data: Mapping[str, Any]) -> set[str]:
    """The person ids an event's data names (top-level person fields)."""
    return {value for name in PERSON_ID_FIELDS if isinstance(value := data.get(name), str) and value}


def without_persons(data: Mapping[str, Any], erased: set[str]) -> Document:
    """A copy of an event's data with every person field naming one of ``erased`` set to null."""
    return {k: (None if k in PERSON_ID_FIELDS and v in erased else v) for k, v in data.items()}
