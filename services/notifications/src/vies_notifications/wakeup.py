"""Wake the delivery worker when there is something to send: once the transaction that queued it commits.

Notifications are queued inside the consumer's transaction (``intake.enqueue``); the delivery worker
of the same process hears of it from that commit, so sending starts at once instead of at a next
poll, and never before the notification is visible to its claim. A message waiting for its
recipient's contact data is released the moment the transaction storing them commits. Processes
that did not queue the work (other replicas, a re-drive from the command line) are covered by the
worker's slow safety-net poll.

The doorbell is per database: every delivery worker of this process serving that database hears it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vies_shared.storage import UnitOfWork


class Listener(Protocol):
    """What the doorbell rings: the delivery worker."""

    def wake(self, channels: Iterable[str]) -> None:
        """Notifications of these channels were queued or released."""

    def addresses_known(self, recipient_ids: set[str]) -> None:
        """Contact data of these recipients were stored: release the messages waiting for them."""


_LISTENERS: dict[str, list[Listener]] = {}


@dataclass
class _Rung:
    database: str
    channels: set[str] = field(default_factory=set)
    recipients: set[str] = field(default_factory=set)

    def ring(self) -> None:
        listeners = list(_LISTENERS.get(self.database, ()))
        for listener in listeners:
            if self.channels:
                listener.wake(self.channels)
        if self.recipients and listeners:
            listeners[0].addresses_known(self.recipients)  # one release is enough; it wakes the lanes it fills


_PENDING: weakref.WeakKeyDictionary[UnitOfWork, _Rung] = weakref.WeakKeyDictionary()


def listen(database: str, listener: Listener) -> None:
    """Let ``listener`` hear of what commits in ``database`` (the worker, when it starts)."""
    _LISTENERS.setdefault(database, []).append(listener)


def stop_listening(database: str, listener: Listener) -> None:
    """The worker stopped."""
    listeners = _LISTENERS.get(database, [])
    if listener in listeners:
        listeners.remove(listener)
    if not listeners:
        _LISTENERS.pop(database, None)


def _rung(uow: UnitOfWork) -> _Rung:
    rung = _PENDING.get(uow)
    if rung is None:
        rung = _PENDING[uow] = _Rung(uow.database_name)
        uow.after_commit(rung.ring)
    return rung


def queued(uow: UnitOfWork, channels: Iterable[str]) -> None:
    """Notifications of ``channels`` were written in ``uow``: wake their delivery once it commits."""
    _rung(uow).channels.update(channels)


def addresses_known(uow: UnitOfWork, recipient_ids: Iterable[str]) -> None:
    """Contact data of ``recipient_ids`` were written in ``uow``: release what waits for them once it commits."""
    ids = {str(key) for key in recipient_ids if key}
    if ids:
        _rung(uow).recipients.update(ids)


# Events whose projection gives a recipient an address: the authority's or the partner's own.
_ADDRESS_EVENTS = {
    "partners.AuthorityRegistered": "authority_id",
    "partners.AuthorityUpdated": "authority_id",
    "partners.PartnerRegistered": "partner_id",
    "partners.PartnerUpdated": "partner_id",
}


def addressees(event_type: str, data: Any) -> list[str]:
    """The recipient whose address an event of ``event_type`` may bring (an authority, a partner), if any."""
    name = _ADDRESS_EVENTS.get(event_type)
    key = getattr(data, name, None) if name else None
    return [str(key)] if key else []
