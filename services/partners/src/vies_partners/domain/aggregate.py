"""What the service's aggregates share: one typed model, one mapping to its document, the events it records.

An aggregate's document is its fields as dumped by pydantic (``_id`` by alias): adding a field
adds it to the document, the loader and the view at once. Dates are stored as ISO strings
(BSON has no date-only type, and ISO strings sort); moments as BSON dates.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer, PrivateAttr

from vies_shared.events import Event

Document = dict[str, Any]

IsoDate = Annotated[date, PlainSerializer(date.isoformat, return_type=str)]
"""A day, stored and shown as ``YYYY-MM-DD``."""


class Value(BaseModel):
    """A value inside an aggregate's document (a place, a contract, a declared fact)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, validate_assignment=True)


class Aggregate(Value):
    """A consistency boundary saved as one document; its domain methods record the events they cause.

    Only the fields a document holds are written back: a field never set (``updated_at`` of a
    position nobody corrected) stays absent, as it was before the aggregate was typed.
    """

    _events: list[Event] = PrivateAttr(default_factory=list)
    _stored: Document | None = PrivateAttr(default=None)

    def event_region(self) -> str | None:
        """The ``ce_region`` of the events this aggregate records (none unless an aggregate says)."""
        return None

    def record(self, event: Event) -> None:
        """Remember an event this change causes; the use case emits it with the saved state."""
        self._events.append(event)

    def pull_events(self) -> list[Event]:
        """The events recorded since the last pull, oldest first (each is emitted once)."""
        events, self._events = self._events, []
        return events

    def to_doc(self) -> Document:
        """The stored document."""
        return self.model_dump(by_alias=True, exclude_unset=True)

    @classmethod
    def from_doc(cls, doc: Document) -> Self:
        """The aggregate a stored document holds."""
        aggregate = cls.model_validate(doc)
        aggregate._stored = aggregate.to_doc()
        return aggregate

    def changes(self) -> Document:
        """The fields whose stored value this aggregate changed (all of them for a new one), to ``$set``:
        the other fields stay as stored, in their place."""
        doc = self.to_doc()
        stored = self._stored or {}
        return {name: value for name, value in doc.items() if name not in stored or stored[name] != value}

    def saved(self) -> None:
        """The aggregate's state is now the stored one."""
        self._stored = self.to_doc()
