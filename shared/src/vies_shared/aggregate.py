"""Typed aggregates: one pydantic model, one mapping to its document, the events it records.

An aggregate's document is its fields as pydantic dumps them (``_id`` by alias), so adding a
field adds it to the document, the loader and the view at once. Days are stored as ISO strings
(BSON has no date-only type, and ISO strings sort); moments as BSON dates. A domain method that
changes an aggregate records the events the change causes, each with the region
(``ce_region``) it is published under; the use case saves the aggregate, then emits them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer, PrivateAttr

from vies_shared.events.base import Event

if TYPE_CHECKING:
    from vies_shared.storage import UnitOfWork

Document = dict[str, Any]

IsoDate = Annotated[date, PlainSerializer(date.isoformat, return_type=str)]
"""A day, stored and shown as ``YYYY-MM-DD``."""


def iso_moment(moment: datetime) -> str:
    """``moment`` as the APIs have always shown it: ``datetime.isoformat()`` in UTC (``+00:00``, not ``Z``)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


Moment = Annotated[datetime, PlainSerializer(iso_moment, return_type=str, when_used="json")]
"""A moment: a BSON date in a document, ``isoformat()`` in JSON (a naive one read from an old client is UTC)."""


@dataclass(frozen=True)
class Recorded:
    """An event a domain method recorded, with the region (``ce_region``) it is published under."""

    event: Event
    region: str | None = None


class Value(BaseModel):
    """A value kept inside an aggregate's document (a place, a follow-up interview, a declared fact)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, validate_assignment=True)


class Aggregate(Value):
    """A consistency boundary saved as one document; its domain methods record the events they cause.

    ``changes()`` tells which fields to ``$set`` since the aggregate was loaded or saved, so a
    save leaves the other fields as stored, in their place.
    """

    keep_unset: ClassVar[bool] = False
    """Whether the document holds the fields never set, at their defaults. Off: such a field
    (``updated_at`` of a position nobody corrected) stays absent, as before the aggregate was typed."""

    _events: list[Recorded] = PrivateAttr(default_factory=list)
    _stored: Document | None = PrivateAttr(default=None)

    def record(self, event: Event, *, region: str | None = None) -> None:
        """Remember an event this change causes, published under ``region`` (none: national)."""
        self._events.append(Recorded(event, region))

    def pull_events(self) -> list[Recorded]:
        """The events recorded since the last pull, oldest first, forgotten here (each is emitted once)."""
        events, self._events = self._events, []
        return events

    def to_doc(self) -> Document:
        """The stored document."""
        return self.model_dump(by_alias=True, exclude_unset=not self.keep_unset)

    @classmethod
    def from_doc(cls, doc: Document) -> Self:
        """The aggregate a stored document holds."""
        aggregate = cls.model_validate(doc)
        aggregate._stored = aggregate.to_doc()
        return aggregate

    def changes(self) -> Document:
        """The fields whose stored value this aggregate changed (all of them for a new one), to ``$set``."""
        stored = self._stored or {}
        return {name: value for name, value in self.to_doc().items() if name not in stored or stored[name] != value}

    def saved(self) -> None:
        """The aggregate's state is now the stored one."""
        self._stored = self.to_doc()

    def __eq__(self, other: object) -> bool:
        """Equal state; the events recorded on the way and the stored snapshot are not part of it."""
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable, as a dataclass with eq


def emit_recorded(uow: UnitOfWork, *aggregates: Aggregate) -> None:
    """Emit the events ``aggregates`` recorded, in order, under their regions (each is emitted once)."""
    for aggregate in aggregates:
        for recorded in aggregate.pull_events():
            uow.emit(recorded.event, region=recorded.region)
