"""What the service's aggregates share: one typed model, one mapping to its document, the events it records.

An aggregate's document is its fields as pydantic dumps them (``_id`` by alias), so adding a
field adds it to the document and the loader at once. Days are stored as ISO strings (BSON has
no date-only type, and ISO strings sort); moments as BSON dates. A domain method that changes
the aggregate records the events the change causes; the use case saves the aggregate and then
emits what it recorded, each event with the region it is published under.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer, PrivateAttr

from vies_shared.events.base import Event

Document = dict[str, Any]

IsoDate = Annotated[date, PlainSerializer(date.isoformat, return_type=str)]
"""A day, stored (and shown) as ``YYYY-MM-DD``."""


def iso_moment(moment: datetime) -> str:
    """``moment`` as the API has always shown it: ``datetime.isoformat()`` in UTC (``+00:00``, not ``Z``)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


Moment = Annotated[datetime, PlainSerializer(iso_moment, return_type=str, when_used="json")]
"""A moment: a BSON date in a document, ``isoformat()`` in JSON (a naive one read from an old client is UTC)."""


@dataclass(frozen=True)
class Recorded:
    """An event a domain method recorded, with the region (``ce_region``) it is published under."""

    event: Event
    region: str | None = None


class Value(BaseModel):
    """A value kept inside an aggregate's document (a follow-up interview, a safety-check entry)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)


class Aggregate(Value):
    """A consistency boundary saved as one document; its domain methods record the events they cause."""

    _events: list[Recorded] = PrivateAttr(default_factory=list)

    def record(self, event: Event, *, region: str | None = None) -> None:
        """Remember an event this change causes; the use case emits it once the aggregate is saved."""
        self._events.append(Recorded(event, region))

    @property
    def events(self) -> list[Recorded]:
        """The events recorded since the aggregate was loaded or last emitted, oldest first."""
        return list(self._events)

    def pull_events(self) -> list[Recorded]:
        """The recorded events, forgotten here (each is emitted once)."""
        events, self._events = self._events, []
        return events

    def to_doc(self) -> Document:
        """The stored document."""
        return self.model_dump(by_alias=True)

    @classmethod
    def from_doc(cls, doc: Document) -> Self:
        """The aggregate a stored document holds."""
        return cls.model_validate(doc)

    def __eq__(self, other: object) -> bool:
        """Equal state; the events recorded on the way are not part of it."""
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable, as a dataclass with eq
