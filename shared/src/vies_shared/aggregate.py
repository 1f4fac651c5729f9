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
# The field of a document that holds the outbox seq of its aggregate's last event (``orders_its_events``).
EVENT_SEQ = "event_seq"

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

    orders_its_events: ClassVar[bool] = False
    """Whether the aggregate keeps the outbox ``seq`` of its last event keyed by its id (``event_seq``
    in its document), which orders its events without ``outbox_keys`` (``UnitOfWork.emit_in_order``).
    Only for an aggregate that records every event keyed by its id, and that is saved after emitting
    them (the ``seq`` is written with its changes). One stored before it kept that ``seq`` stays
    ordered through ``outbox_keys``."""

    _events: list[Recorded] = PrivateAttr(default_factory=list)
    _stored: Document | None = PrivateAttr(default=None)
    _event_seq: int | None = PrivateAttr(default=None)

    def record(self, event: Event, *, region: str | None = None) -> None:
        """Remember an event this change causes, published under ``region`` (none: national)."""
        self._events.append(Recorded(event, region))

    def pull_events(self) -> list[Recorded]:
        """The events recorded since the last pull, oldest first, forgotten here (each is emitted once)."""
        events, self._events = self._events, []
        return events

    def to_doc(self) -> Document:
        """The stored document."""
        doc = self.model_dump(by_alias=True, exclude_unset=not self.keep_unset)
        if self._event_seq is not None:
            doc[EVENT_SEQ] = self._event_seq
        return doc

    @classmethod
    def from_doc(cls, doc: Document) -> Self:
        """The aggregate a stored document holds."""
        aggregate = cls.model_validate(doc)
        if cls.orders_its_events and doc.get(EVENT_SEQ) is not None:
            aggregate._event_seq = int(doc[EVENT_SEQ])
        aggregate._stored = aggregate.to_doc()
        return aggregate

    def emit(self, uow: UnitOfWork) -> None:
        """Emit the events recorded since the last pull, in order, under their regions (each once).

        An aggregate that ``orders_its_events`` gives the ones keyed by its id the ``seq`` it keeps:
        a new one (never stored) starts it, one stored with it goes on from it.
        """
        own = self.orders_its_events and (self._stored is None or self._event_seq is not None)
        identity = str(self.model_dump(by_alias=True, include=self._identity_fields()).get("_id")) if own else None
        for recorded in self.pull_events():
            if own and recorded.event.subject == identity:
                after = self._event_seq or 0
                self._event_seq = uow.emit_in_order(recorded.event, after=after, region=recorded.region)
            else:
                uow.emit(recorded.event, region=recorded.region)

    @classmethod
    def _identity_fields(cls) -> set[str]:
        return {name for name, info in cls.model_fields.items() if info.alias == "_id"}

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
        aggregate.emit(uow)
