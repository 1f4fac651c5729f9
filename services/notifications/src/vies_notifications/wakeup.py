"""Wake the delivery worker when there is something to send: once the transaction that queued it commits.

Notifications are queued inside the consumer's transaction (``intake.enqueue``); the delivery worker
of the same process hears of it from that commit, so sending starts at once instead of at a next
poll, and never before the notification is visible to its claim. A message waiting for its
recipient's contact data is released the moment the transaction storing them commits. Processes
that did not queue the work (other replicas, a re-drive from the command line) are covered by the
worker's slow safety-net poll.

The doorbell is per database: every delivery worker of this process serving that database hears it.

Notifications due now whose lane in this process is serving and has room are handed off instead
(``hand_off``): written already claimed for that lane, they are given to it once the transaction
commits, with what the transaction read of their recipients, so it sends them without asking the
database for them again. A transaction retried or aborted gives nothing; a process that dies before
sending leaves claims that expire and are taken over like those of a crashed pass.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from vies_shared.storage import UnitOfWork

if TYPE_CHECKING:
    from vies_notifications.domain.notification import Notification

Document = dict[str, Any]
# What a transaction read or wrote, by (collection, id); None: it found no such document.
Known = Mapping[tuple[str, str], Document | None]


class Listener(Protocol):
    """What the doorbell rings: the delivery worker."""

    def wake(self, channels: Iterable[str]) -> None:
        """Notifications of these channels were queued or released."""

    def addresses_known(self, recipient_ids: set[str]) -> None:
        """Contact data of these recipients were stored: release the messages waiting for them."""

    def claim_at_once(
        self, channel: str, notifications: list[Notification], token: str, now: datetime, waiting: int
    ) -> bool:
        """Claim ``notifications`` (due now, not written yet) by ``token`` for this worker's lane of ``channel``.

        Only while it serves, is not stopping and has room for them beside ``waiting`` already claimed
        so in this transaction; False leaves them pending, unchanged.
        """

    def take(self, channel: str, token: str, notifications: list[Notification], known: Known) -> None:
        """Notifications claimed by ``claim_at_once`` were committed: deliver them, with what was read of them."""


_LISTENERS: dict[str, list[Listener]] = {}


@dataclass
class _HandOff:
    """Notifications of one channel a transaction claims for a local lane, under one token."""

    listener: Listener
    token: str
    notifications: list[Notification] = field(default_factory=list)


@dataclass
class _Rung:
    database: str
    channels: set[str] = field(default_factory=set)
    recipients: set[str] = field(default_factory=set)
    handed: dict[str, _HandOff] = field(default_factory=dict)
    known: Known = field(default_factory=dict)

    def ring(self) -> None:
        for channel, handed in self.handed.items():
            handed.listener.take(channel, handed.token, handed.notifications, self.known)
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


def hand_off(uow: UnitOfWork, notifications: list[Notification], known: Known) -> None:
    """Claim for this process's lanes those of ``notifications`` (to be written in ``uow``) they can send at once.

    A notification due now goes to the first listening worker whose lane of its channel takes it
    (``Listener.claim_at_once`` marks it claimed); once ``uow`` commits, the lane is given its
    notifications and ``known``, what the transaction read or wrote (read then, after the commit).
    The others stay pending: ``queued`` wakes their lanes.
    """
    listeners = _LISTENERS.get(uow.database_name)
    if not listeners:
        return
    now = uow.now()
    due: dict[str, list[Notification]] = {}
    for notification in notifications:
        if notification.due_now(now):
            due.setdefault(notification.channel, []).append(notification)
    rung = _rung(uow)
    rung.known = known
    for channel, group in due.items():
        handed = rung.handed.get(channel)
        if handed is not None:
            if handed.listener.claim_at_once(channel, group, handed.token, now, len(handed.notifications)):
                handed.notifications += group
            continue
        token = uuid.uuid4().hex
        for listener in listeners:
            if listener.claim_at_once(channel, group, token, now, 0):
                rung.handed[channel] = _HandOff(listener, token, group)
                break


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
