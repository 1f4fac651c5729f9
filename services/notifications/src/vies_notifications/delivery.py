"""The delivery worker: claims due notifications, sends them, records the outcome and emits the event.

Channels are sent in lanes of their own (email, SMS, webhooks), each with its own claim loop, so a
slow SMTP server or a webhook endpoint that never ends its answer does not delay a safety SMS. A
lane is woken by the commit that queues a message (``wakeup``), at the retries this process
schedules and by a slow safety-net poll; it costs nothing while there is no work. The webhook lane
keeps claiming while its calls are in flight, so an endpoint that takes its whole deadline holds up
neither another subscription's calls nor the second call its own subscription may have open.

Several replicas may run it at once: a notification is claimed atomically (``status`` pending →
sending with a claim token and ``claimed_until``, its attempt counted there), so only one worker
sends it; the claim is renewed while its pass runs, and a claim left by a crashed worker expires
and is taken over. An email the SMTP server accepted is marked ``accepted_at`` as the batch goes,
so a notification taken over after a crash is recorded as sent instead of going twice (its
``Message-ID``, derived from the notification id, is the same on every attempt). Outcomes and
``NotificationSent`` / ``NotificationFailed`` are written in one transaction per pass.

An email or SMS queued by this process while its lane has room is handed off (``wakeup``): the
intake writes it already claimed for the lane, and the lane sends it at its next step with the
documents the intake read, neither asking the database for it nor claiming it. Its claim is renewed
from the hand-off on, released at shutdown if it was not tried, and taken over once expired if the
process dies, like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import UpdateOne

from vies_notifications import answer_links, channels, intake, metrics, owners, projection, sealing, store, wakeup
from vies_notifications.domain import routing
from vies_notifications.domain.delivery import (
    SENT_OUTCOME,
    WAITING_FOR_CONTACT,
    Outcome,
    RetryPolicy,
    deferred,
    outcome_event,
    permanent,
    reported,
    transient,
)
from vies_notifications.domain.notification import Addressee, Cause, Notification
from vies_notifications.domain.privacy import scrub
from vies_notifications.domain.subscription import ACTIVE, WebhookSubscription
from vies_notifications.rendering import SUPPORTED_LANGUAGES, Rendered, render
from vies_notifications.settings import NotificationsSettings
from vies_shared import tracing
from vies_shared.events.notifications import NotificationFailed, NotificationSent
from vies_shared.logging import get_logger
from vies_shared.reference import branch_for_region, centre_for_country, head_office
from vies_shared.service import Runtime
from vies_shared.storage import UnitOfWork, backoff_delay, is_transient

Document = dict[str, Any]
log = get_logger(component="delivery")

# Channels whose recipients may wait for their contact data (webhooks carry their address).
ADDRESSED_CHANNELS = ("email", "sms")
# Where a recipient's address comes from, by kind: the messages waiting for it are released when it is stored.
_ADDRESS_BOOKS = {"person": store.CONTACTS, "authority": store.AUTHORITIES, "partner": store.PARTNERS}
# A party of a mission not known when its message was queued is found through the mission (intake.py).
_ADDRESS_BOOKS.update(dict.fromkeys(intake.MISSION_PARTIES, store.MISSIONS))
# The recipients' documents a pass read at once (see ``_prefetch``), for the lane running it.
_KNOWN: ContextVar[dict[tuple[str, str], Document | None]] = ContextVar("delivery_known")
# A hand-off's documents as the intake read them are used if its pass starts within this many seconds
# of the commit (it does unless it waited behind another pass); later, the pass reads them itself.
HANDED_KNOWN_SECONDS = 0.5
# An acceptance of the SMTP server is written at the latest this long after it came (see AcceptanceLedger).
ACCEPTANCE_MARK_SECONDS = 0.05


@dataclass
class Address:
    """Where and how to reach a recipient right now."""

    name: str = ""
    email: str | None = None
    phone: str | None = None
    language: str | None = None


@dataclass
class Attempt:
    """One claimed notification and what became of it (no outcome: not tried, handed back unchanged)."""

    notification: Notification
    outcome: Outcome | None = None
    address: str | None = None
    language: str | None = None
    subject: str | None = None


@dataclass
class HandOff:
    """Notifications a committed transaction claimed for a lane (``wakeup.hand_off``), waiting for its next step."""

    token: str
    notifications: list[Notification]
    known: dict[tuple[str, str], Document | None]  # what the intake read of them, as _prefetch would
    renewal: asyncio.Task[None]  # the claim's, from the hand-off on
    at: float = field(default_factory=time.monotonic)


@dataclass
class Lane:
    """One claim loop for a class of channels, sent apart from the others."""

    name: str
    channels: tuple[str, ...]
    limit: int
    # Passes run side by side (webhooks): the lane claims again while earlier calls are in flight.
    overlapping: bool = False
    bell: asyncio.Event = field(default_factory=asyncio.Event)
    next_due: float = math.inf  # monotonic time of the earliest retry this process scheduled
    # When the lane asks the database again whatever rang meanwhile (the safety-net poll): hand-offs
    # may keep it busy without a claim, and what other processes queued or left is found by claims.
    next_poll: float = 0.0
    next_stale_check: float = 0.0
    passes: set[asyncio.Task[None]] = field(default_factory=set)
    in_flight: Counter[str] = field(default_factory=Counter)  # claimed, not yet recorded, per recipient
    # The last claim took all it could: more may be due now. Else the lane waits for its bell (a commit
    # queuing or releasing work rings it), its retries and its poll instead of asking again at once.
    more: bool = False
    handed: deque[HandOff] = field(default_factory=deque)  # sent before claiming anything (not webhooks)
    # The database may hold work for the lane (a commit queued some, a retry or the poll came due): a
    # hand-off alone rings the bell without it, and the lane then claims nothing.
    ask: bool = True

    def schedule(self, seconds: float) -> None:
        """Wake this lane in ``seconds`` (a retry this process scheduled)."""
        self.next_due = min(self.next_due, time.monotonic() + max(0.0, seconds))

    @property
    def room(self) -> int:
        """How many more notifications this lane may claim now (or be handed)."""
        return self.limit - sum(self.in_flight.values()) - sum(len(handed.notifications) for handed in self.handed)


class AcceptanceLedger:
    """Marks the emails of one SMTP batch the server accepted (``accepted_at``), in one write or a few.

    An acceptance waits at most ``bound`` seconds (``ACCEPTANCE_MARK_SECONDS``, 50 ms) for the others
    of its batch: the batch's end (``settle``, before the pass records its outcomes) or the bound
    starts a write in the background of everything accepted so far, one write at a time. A batch
    sent within the bound (the two emails of an application) is marked in one write, a long one
    about once per bound instead of once per email or two. A notification taken over after its
    worker died (or stopped) that shows ``accepted_at`` is recorded as sent, not sent again; only a
    death between the SMTP server's acceptance and that write, at most the bound and a write (about
    55 ms) and, as before, a write already in flight, can send one twice, with the same Message-ID.
    """

    def __init__(self, collection: Any, token: str, clock: Callable[[], datetime]) -> None:
        self.collection = collection
        self.token = token
        self.clock = clock  # the service's clock
        self.bound = ACCEPTANCE_MARK_SECONDS
        self._waiting: list[str] = []
        self._flight: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()  # the batch ended: what is waiting goes at once

    def accepted(self, notification: str) -> None:
        """The SMTP server accepted this notification's email."""
        self._waiting.append(notification)
        if self._flight is None or self._flight.done():
            self._flight = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), timeout=self.bound)
            ids, self._waiting = self._waiting, []
            try:
                await self.collection.update_many(
                    Notification.held(self.token, ids), Notification.acceptance(self.clock())
                )
            except Exception as exc:  # noqa: BLE001 - the pass's record writes the outcome anyway
                log.warning("accepted_emails_not_marked", count=len(ids), error=repr(exc))

    async def settle(self) -> None:
        """The batch ended: every acceptance written (before the outcomes are recorded)."""
        self._ended.set()
        if self._flight is not None:
            await self._flight
        await self._write()


class _NotAllOurs(Exception):
    """Some notifications of a pass are no longer claimed by it (erasure cancelled them meanwhile)."""


@dataclass
class _Effects:
    """What a recorded pass leaves to do once committed: counters, logs, timers, waits to re-check."""

    sent: list[Notification] = field(default_factory=list)
    outcomes: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[Notification, Outcome, int, bool]] = field(default_factory=list)
    due: list[tuple[str, datetime]] = field(default_factory=list)
    waiting: list[Addressee] = field(default_factory=list)


def policy(settings: NotificationsSettings) -> RetryPolicy:
    """The retry schedule from settings."""
    return RetryPolicy(
        settings.delivery_max_attempts,
        settings.delivery_retry_initial_seconds,
        settings.delivery_retry_max_seconds,
        safety_max_seconds=settings.safety_retry_max_seconds,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class DeliveryWorker:
    """Per-process delivery: one lane per channel class, woken by commits (counters for metrics and the benchmark)."""

    def __init__(self, runtime: Runtime[NotificationsSettings]) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.email = channels.EmailSender(self.settings)
        self.policy = policy(self.settings)
        s = self.settings
        self.lanes: dict[str, Lane] = {
            "email": Lane("email", ("email",), s.delivery_batch_size * s.smtp_connections),
            "sms": Lane("sms", ("sms",), s.delivery_batch_size),
            "webhook": Lane("webhook", ("webhook",), s.delivery_batch_size, overlapping=True),
        }
        self._lane_of = {channel: lane for lane in self.lanes.values() for channel in lane.channels}
        self._slots: dict[str, asyncio.Semaphore] = {}  # calls in flight per webhook subscription
        self._calls: asyncio.Semaphore | None = None  # webhook calls in flight, all passes together
        self._background: set[asyncio.Task[None]] = set()
        self.serving = False
        self.stopping = False
        self.sent = 0  # notifications this process delivered (metrics, benchmark)

    @property
    def collection(self) -> Any:
        """The notifications collection."""
        return self.runtime.db[store.NOTIFICATIONS]

    # -- waking ------------------------------------------------------------------------------------

    def wake(self, channels: Iterable[str]) -> None:
        """Notifications of ``channels`` were queued or released: their lanes look at once."""
        for channel in channels:
            lane = self._lane_of.get(channel)
            if lane is not None:
                lane.ask = True
                lane.bell.set()

    def claim_at_once(
        self, channel: str, notifications: list[Notification], token: str, now: datetime, waiting: int
    ) -> bool:
        """Claim notifications the intake is writing for this lane, as ``claim`` would (``wakeup.hand_off``).

        Only for the email and SMS lanes, while serving and not stopping, and when the lane has room
        for them beside what it holds and what this transaction claimed so already (``waiting``);
        transactions committing at the same moment may each take the last room, a few over the
        limit of a pass, which is not a hard cap.
        """
        lane = self._lane_of.get(channel)
        if lane is None or lane.overlapping or not self.serving or self.stopping:
            return False
        if lane.room < waiting + len(notifications):
            return False
        for notification in notifications:
            notification.claimed_by(token, now, self.settings.delivery_claim_seconds)
        return True

    def take(self, channel: str, token: str, notifications: list[Notification], known: wakeup.Known) -> None:
        """Notifications claimed by ``claim_at_once`` were committed: the lane sends them at its next step.

        The claim is renewed from now on. A worker stopping meanwhile gives them back at once.
        """
        lane = self._lane_of[channel]
        if self.stopping or not self.serving:
            self._in_background(self._release_quietly(token))
            return
        wanted = [(collection, key) for collection, keys in self._wanted(notifications).items() for key in keys]
        given = {pair: known[pair] for pair in wanted if pair in known}
        lane.handed.append(HandOff(token, notifications, given, self._in_background(self._renew(token))))
        lane.bell.set()

    def addresses_known(self, recipient_ids: set[str]) -> None:
        """Contact data of these recipients were committed: release the messages waiting for them."""
        self._in_background(self._release_waiting(recipient_ids))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._background.discard)
        return task

    async def _release_waiting(self, recipient_ids: Iterable[str]) -> None:
        # Runs after the commit that stored the address, and after the commit that marked a message
        # waiting (see record): whichever comes second sees the other, so none waits for nothing.
        try:
            released = await self.collection.update_many(
                Notification.waiting_for_contact_of(sorted(recipient_ids)),
                Notification.contact_arrived(self.runtime.now()),
            )
        except Exception as exc:  # noqa: BLE001 - the safety-net look (contact_wait_seconds) finds them
            log.warning("waiting_messages_not_released", error=repr(exc))
            return
        if released.modified_count:
            metrics.RELEASED_ON_CONTACT.labels(self.settings.service).inc(released.modified_count)
            self.wake(ADDRESSED_CHANNELS)

    def _schedule(self, channel: str, at: datetime, now: datetime) -> None:
        lane = self._lane_of.get(channel)
        if lane is not None:
            lane.schedule((at - now).total_seconds())

    # -- the lanes ---------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run every lane until cancelled.

        At shutdown the lanes stop claiming, messages being sent finish (within
        ``delivery_drain_seconds``) and are recorded; what was not tried is handed back.
        """
        database = self.runtime.db.name
        self.stopping = False
        self.serving = True
        wakeup.listen(database, self)
        tasks = [
            asyncio.create_task(self._lane_loop(lane), name=f"delivery-{lane.name}") for lane in self.lanes.values()
        ]
        try:
            await asyncio.wait(tasks)  # not gather: cancelling this must not cancel the lanes mid-message
        except asyncio.CancelledError:
            self.stopping = True
            for lane in self.lanes.values():
                lane.bell.set()
            _, late = await asyncio.wait(tasks, timeout=self.settings.delivery_drain_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self.serving = False
            for task in tasks:
                task.cancel()
            wakeup.stop_listening(database, self)
            with contextlib.suppress(Exception):
                await self.email.close()

    async def _lane_loop(self, lane: Lane) -> None:
        step = self._start_pass if lane.overlapping else self._pass
        try:
            while not self.stopping:
                try:
                    while not self.stopping and await step(lane) and lane.more:
                        pass
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a failed pass is tried again at the next wake-up
                    log.warning("delivery_pass_failed", lane=lane.name, error=repr(exc))
                    lane.schedule(min(self.settings.delivery_poll_seconds, 1.0))
                if not self.stopping:
                    await self._wait(lane)
        finally:
            await self._release_handed(lane)
            await self._finish_passes(lane)

    async def _start_pass(self, lane: Lane) -> int:
        """Claim what the lane has room for and send it in the background; the lane claims again at once.

        A recipient with its fair share already in flight is left out of the claim: its notifications
        stay pending for this or another replica instead of queuing behind its slow calls.
        """
        share = 4 * self.settings.webhook_subscription_concurrency
        busy = [key for key, count in lane.in_flight.items() if count >= share]
        if lane.room <= 0:
            lane.next_poll = time.monotonic() + self.settings.delivery_poll_seconds  # a pass ending rings
            return 0
        token, attempts = await self.claim(lane, busy=busy)
        if not attempts:
            return 0
        keys = [attempt.notification.recipient.id for attempt in attempts]
        lane.in_flight.update(keys)

        async def deliver() -> None:
            try:
                await self._deliver(token, attempts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the claim expires and another pass takes it over
                log.warning("delivery_pass_failed", lane=lane.name, error=repr(exc))
            finally:
                lane.in_flight.subtract(keys)
                lane.in_flight += Counter()  # drop the recipients with nothing in flight
                lane.bell.set()  # room again: claim what waited

        task = self._in_background(deliver())
        lane.passes.add(task)
        task.add_done_callback(lane.passes.discard)
        return len(attempts)

    async def _finish_passes(self, lane: Lane) -> None:
        """At shutdown: let the passes in flight finish within the drain time, then cut them short."""
        if not lane.passes:
            return
        passes = list(lane.passes)
        try:
            await asyncio.wait(passes, timeout=self.settings.delivery_drain_seconds)
        finally:
            for task in passes:
                task.cancel()  # a pass cut short records what went and hands the rest back
            await asyncio.gather(*passes, return_exceptions=True)

    async def _release_handed(self, lane: Lane) -> None:
        """At shutdown: the hand-offs not tried are given back, pending again with their attempt uncounted."""
        while lane.handed:
            handed = lane.handed.popleft()
            handed.renewal.cancel()
            await self._release_quietly(handed.token)

    async def _release_quietly(self, token: str) -> None:
        try:
            await self.release(token)
        except Exception as exc:  # noqa: BLE001 - the claim expires and is taken over, its attempt counted
            log.warning("claim_not_released", error=repr(exc))

    async def _wait(self, lane: Lane) -> None:
        timeout = max(0.0, min(lane.next_poll, lane.next_due) - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.bell.wait(), timeout=timeout)
        # Cleared before the pass: a commit that rings during it makes another pass, and what a ring
        # announces is already committed, so the pass that follows sees it.
        lane.bell.clear()
        now = time.monotonic()
        if lane.next_due <= now:
            lane.next_due = math.inf
            lane.ask = True  # a retry this process scheduled
        if lane.next_poll <= now:
            lane.ask = True

    async def run(self) -> int:
        """Send everything due now, lane by lane, pass after pass; returns how many were handled (tests, tools)."""
        handled = 0
        for lane in self.lanes.values():
            while count := await self._pass(lane):
                handled += count
        return handled

    async def _pass(self, lane: Lane) -> int:
        """One step of a sequential lane: what was handed off to it first, else a claim."""
        if lane.handed:
            return await self._handed_pass(lane, lane.handed.popleft())
        lane.ask = False
        token, attempts = await self.claim(lane)
        if attempts:
            with self._sending(lane, attempts):
                await self._deliver(token, attempts)
        return len(attempts)

    async def _handed_pass(self, lane: Lane, handed: HandOff) -> int:
        """Send a hand-off as claimed, with what the intake read of it unless it waited long (projection)."""
        attempts = [Attempt(notification) for notification in handed.notifications]
        fresh = time.monotonic() - handed.at <= HANDED_KNOWN_SECONDS
        try:
            with self._sending(lane, attempts):
                await self._deliver(handed.token, attempts, handed.renewal, handed.known if fresh else None)
        finally:
            lane.more = bool(lane.handed) or lane.ask  # claim next only if the database was rung for
        return len(attempts)

    @contextlib.contextmanager
    def _sending(self, lane: Lane, attempts: list[Attempt]) -> Iterator[None]:
        """Count a pass's notifications in the lane's room while it sends them."""
        keys = [attempt.notification.recipient.id for attempt in attempts]
        lane.in_flight.update(keys)
        try:
            yield
        finally:
            lane.in_flight.subtract(keys)
            lane.in_flight += Counter()

    async def _deliver(
        self,
        token: str,
        attempts: list[Attempt],
        renewal: asyncio.Task[None] | None = None,
        known: dict[tuple[str, str], Document | None] | None = None,
    ) -> None:
        """Send a claim's notifications and record what became of them, the claim renewed meanwhile.

        ``renewal`` renews a handed-off claim already; ``known``: documents already read for them.
        """
        metrics.QUEUE.labels(self.settings.service).set(len(attempts))
        if renewal is None:
            renewal = self._in_background(self._renew(token))
        try:
            try:
                await self.send(attempts, token, known)
            except asyncio.CancelledError:
                # Cut short at shutdown: record what went, hand the rest back at once.
                await asyncio.shield(self._hand_back(token, attempts))
                raise
            recording = asyncio.ensure_future(self._record_until_it_sticks(token, attempts))
            try:
                await asyncio.shield(recording)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(recording, timeout=self.settings.delivery_drain_seconds)
                raise
        finally:
            renewal.cancel()

    async def claim(self, lane: Lane, busy: Iterable[str] = ()) -> tuple[str, list[Attempt]]:
        """Atomically take up to the lane's limit of due notifications (and stale claims of a crashed worker).

        Each query is a range on one index (``status, channel, next_attempt_at`` or ``status,
        channel, claimed_until``) so its cost follows the queue, not the size of the delivery log;
        the update re-checks the state, so of two replicas racing for a notification only one wins
        it. The attempt is counted here, so a notification whose sending kills its worker every
        time still runs out of attempts. ``busy`` recipients (their share already in flight) are left out.
        """
        now = self.runtime.now()
        lane.next_poll = time.monotonic() + self.settings.delivery_poll_seconds
        channel: Any = lane.channels[0] if len(lane.channels) == 1 else {"$in": list(lane.channels)}
        pending, stale = Notification.due(channel, now), Notification.stale(channel, now)
        if busy := sorted(busy):
            pending.update(Notification.not_to(busy))
            stale.update(Notification.not_to(busy))
        limit = min(lane.limit, lane.room)
        found = _read(await self.collection.find(pending).limit(limit).to_list())
        taken_over: list[Notification] = []
        if time.monotonic() >= lane.next_stale_check:
            lane.next_stale_check = time.monotonic() + max(1.0, self.settings.delivery_claim_seconds / 4)
            taken_over = _read(await self.collection.find(stale).limit(limit).to_list())
        lane.more = len(found) >= limit or len(taken_over) >= limit
        if "webhook" in lane.channels:
            found, taken_over = self._fair_share(found, taken_over, lane.in_flight)
        if not found and not taken_over:
            return "", []
        token = uuid.uuid4().hex
        seconds = self.settings.delivery_claim_seconds
        update = Notification.claim_update(token, now, seconds)
        won = 0
        for batch, query in ((found, pending), (taken_over, stale)):
            if batch:
                ids = [notification.notification_id for notification in batch]
                result = await self.collection.update_many({"_id": {"$in": ids}, **query}, update)
                won += result.modified_count
        stale_ids = {notification.notification_id for notification in taken_over}
        notifications = found + taken_over
        if won == len(notifications):
            for notification in notifications:
                notification.claimed_by(token, now, seconds)
        else:  # another replica won some of them: read back what is ours
            ids = [notification.notification_id for notification in notifications]
            notifications = _read(await self.collection.find(Notification.held(token, ids)).to_list())
        return token, [self._attempt(n, n.notification_id in stale_ids) for n in notifications]

    def _fair_share(
        self, found: list[Notification], taken_over: list[Notification], in_flight: Counter[str]
    ) -> tuple[list[Notification], list[Notification]]:
        """At most a few notifications per webhook subscription in flight: one busy endpoint cannot fill the lane."""
        share = 4 * self.settings.webhook_subscription_concurrency
        counts: dict[str, int] = dict(in_flight)

        def keep(notification: Notification) -> bool:
            key = notification.recipient.id
            counts[key] = counts.get(key, 0) + 1
            return counts[key] <= share

        return [n for n in found if keep(n)], [n for n in taken_over if keep(n)]

    def _attempt(self, notification: Notification, taken_over: bool) -> Attempt:
        attempt = Attempt(notification)
        if notification.already_accepted:
            # Accepted by the SMTP server before its worker died or stopped: record it, do not send it again.
            attempt.outcome = SENT_OUTCOME
            metrics.RESENDS_AVOIDED.labels(self.settings.service).inc()
            log.info("email_already_accepted", notification_id=notification.notification_id)
        elif taken_over and notification.out_of_claims(self.settings.delivery_max_attempts):
            claims = notification.attempts
            attempt.outcome = permanent(f"no outcome recorded after {claims} claims (its worker stopped each time)")
        return attempt

    async def _renew(self, token: str) -> None:
        """Keep a pass's claim alive while it runs, so no other replica takes its notifications over."""
        seconds = self.settings.delivery_claim_seconds
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                await self.collection.update_many(
                    Notification.sending(token),
                    Notification.renewal(self.runtime.now() + timedelta(seconds=seconds)),
                )
                metrics.CLAIM_RENEWALS.labels(self.settings.service).inc()
            except Exception as exc:  # noqa: BLE001 - tried again a third of the claim later
                log.warning("claim_not_renewed", error=repr(exc))

    async def _hand_back(self, token: str, attempts: list[Attempt]) -> None:
        with contextlib.suppress(Exception):
            tried = [attempt for attempt in attempts if attempt.outcome is not None]
            if tried:
                await self.record(token, tried)
            await self.release(token)

    async def _record_until_it_sticks(self, token: str, attempts: list[Attempt]) -> None:
        # What was sent must be recorded, or it would go again once the claim expires: keep trying while the
        # database is unreachable (the claim is renewed meanwhile).
        attempt = 0
        while True:
            try:
                await self.record(token, attempts)
                return
            except Exception as exc:
                attempt += 1
                if not is_transient(exc):
                    raise
                log.warning("recording_outcomes_retried", attempt=attempt, error=repr(exc))
                await asyncio.sleep(backoff_delay(attempt, 0.2, 5.0))

    async def release(self, token: str) -> None:
        """Give back the notifications of a claim that were not tried, without counting an attempt."""
        await self.collection.update_many(Notification.sending(token), Notification.release(self.runtime.now()))

    async def _prefetch(
        self, notifications: list[Notification], given: dict[tuple[str, str], Document | None] | None = None
    ) -> dict[tuple[str, str], Document | None]:
        """Read the recipients' preferences and contact data of a whole pass with one query per collection.

        ``given``: documents already read for these notifications (by the intake that handed them off).
        """
        known: dict[tuple[str, str], Document | None] = {}
        for collection, keys in self._wanted(notifications).items():
            for key in keys:
                known[(collection, key)] = None
            unread = sorted(key for key in keys if (collection, key) not in (given or {}))
            if unread:
                async for found in self.runtime.db[collection].find({"_id": {"$in": unread}}):
                    known[(collection, found["_id"])] = found
        known.update(given or {})
        return known

    def _wanted(self, notifications: list[Notification]) -> dict[str, set[str]]:
        """The documents a pass reads for ``notifications`` by collection: preferences, address books, names."""
        ids: dict[str, set[str]] = {
            store.PREFERENCES: set(),
            store.CONTACTS: set(),
            store.AUTHORITIES: set(),
            store.POSITIONS: set(),
            store.PARTNERS: set(),
            store.MISSIONS: set(),
        }
        for notification in notifications:
            if notification.channel == "webhook":
                continue
            context = notification.context
            if context.get("position_id") and not context.get("position_title"):
                ids[store.POSITIONS].add(context["position_id"])
            if context.get("authority_id") and not context.get("authority_name"):
                ids[store.AUTHORITIES].add(context["authority_id"])
            recipient = notification.recipient
            ids[store.PREFERENCES].add(recipient.id)
            book = _ADDRESS_BOOKS.get(recipient.kind)
            if book is not None:
                ids[book].add(recipient.id)
        return {collection: keys for collection, keys in ids.items() if keys}

    async def _lookup(self, collection: str, key: str) -> Document | None:
        known = _KNOWN.get({})
        if (collection, key) in known:
            return known[(collection, key)]
        found: Document | None = await self.runtime.db[collection].find_one({"_id": key})
        return found

    async def send(
        self, attempts: list[Attempt], token: str = "", known: dict[tuple[str, str], Document | None] | None = None
    ) -> None:
        """Resolve, render and send each attempt not settled yet: email in batches, SMS and webhooks concurrently.

        ``known``: documents of the recipients already read (a hand-off's), not read again.
        """
        todo = [attempt for attempt in attempts if attempt.outcome is None]
        _KNOWN.set(await self._prefetch([attempt.notification for attempt in todo], known))
        emails: list[tuple[Attempt, channels.Email]] = []
        sms: list[Attempt] = []
        hooks: list[Attempt] = []
        for attempt in todo:
            if self.stopping:
                break
            if attempt.notification.channel == "email":
                prepared = await self._prepare_email(attempt)
                if prepared is not None:
                    emails.append((attempt, prepared))
            elif attempt.notification.channel == "sms":
                sms.append(attempt)
            else:
                hooks.append(attempt)
        jobs = []
        if emails:
            size = self.settings.delivery_batch_size
            jobs += [self._send_emails(emails[i : i + size], token) for i in range(0, len(emails), size)]
        if sms:
            jobs.append(self._send_sms_all(sms))
        if hooks:
            jobs.append(self._send_webhooks(hooks))
        await asyncio.gather(*jobs)

    async def _send_emails(self, batch: list[tuple[Attempt, channels.Email]], token: str) -> None:
        ledger = AcceptanceLedger(self.collection, token, self.runtime.now)

        def settle(index: int, outcome: Outcome) -> None:
            attempt = batch[index][0]
            attempt.outcome = outcome
            if outcome.sent:
                ledger.accepted(attempt.notification.notification_id)

        try:
            await self.email.send_batch([email for _, email in batch], settle, lambda: self.stopping)
        finally:
            await ledger.settle()

    async def _send_sms_all(self, attempts: list[Attempt]) -> None:
        limit = asyncio.Semaphore(self.settings.delivery_concurrency)
        async with httpx.AsyncClient() as http:

            async def one(attempt: Attempt) -> None:
                async with limit:
                    if not self.stopping:
                        await self._send_sms(http, attempt)

            await asyncio.gather(*(one(a) for a in attempts))

    async def _send_webhooks(self, attempts: list[Attempt]) -> None:
        """At most ``webhook_subscription_concurrency`` calls to one subscription at a time; once an endpoint
        fails in a pass, its other notifications wait for the retry instead of each costing a deadline."""
        if self._calls is None:
            self._calls = asyncio.Semaphore(self.settings.delivery_concurrency)
        limit = self._calls
        failing: dict[str, Outcome] = {}
        async with httpx.AsyncClient() as http:

            async def one(attempt: Attempt) -> None:
                subscription = attempt.notification.recipient.id
                async with self._slot(subscription), limit:
                    if self.stopping:
                        return
                    if subscription in failing:
                        attempt.outcome = deferred(
                            f"not tried: the endpoint failed meanwhile ({failing[subscription].error})",
                            retry_in=self.settings.delivery_retry_initial_seconds,
                        )
                        return
                    await self._send_webhook(http, attempt)
                    if attempt.outcome is not None and attempt.outcome.kind == "transient":
                        failing[subscription] = attempt.outcome

            await asyncio.gather(*(one(a) for a in attempts))

    def _slot(self, subscription: str) -> asyncio.Semaphore:
        slot = self._slots.get(subscription)
        if slot is None:
            slot = self._slots[subscription] = asyncio.Semaphore(self.settings.webhook_subscription_concurrency)
        return slot

    async def _address(self, recipient: Addressee) -> Address | None:
        """Where and how to reach a recipient now (None: not known yet); its preferred language first."""
        preference = await self._lookup(store.PREFERENCES, recipient.id)
        preferred = preference.get("language") if preference else None
        find = _ADDRESS_FINDERS.get(recipient.kind)
        return await find(self, recipient, preferred) if find is not None else None

    async def _person_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        contact = await self._lookup(store.CONTACTS, recipient.id)
        if contact is None or not projection.is_known_contact(contact):
            return None
        language = preferred or contact.get("language")
        return Address(contact.get("name", ""), contact.get("email"), contact.get("phone"), language)

    async def _authority_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        authority = await self._lookup(store.AUTHORITIES, recipient.id)
        if authority is None:
            return None
        return Address(authority.get("name", ""), authority.get("email"), None, preferred)

    async def _branch_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        branch = branch_for_region(recipient.id)
        return Address(branch.name, branch.email, branch.phone, preferred) if branch else None

    async def _centre_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        centre = centre_for_country(recipient.id)
        return Address(f"Espace Volontariats {centre.city}", centre.email, centre.phone, preferred)

    async def _duty_officer_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        s = self.settings
        language = preferred or s.duty_officer_language
        return Address(s.duty_officer_name, s.duty_officer_email, s.duty_officer_phone, language)

    async def _head_office_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        office = head_office()
        email = self.settings.head_office_safety_email or office.email
        language = preferred or self.settings.duty_officer_language
        return Address("Siège, cellule sécurité", email, office.phone, language)

    async def _partner_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        partner = await self._lookup(store.PARTNERS, recipient.id)
        if partner is None:
            return None  # not known (yet)
        languages = [str(lang).lower()[:2] for lang in partner.get("languages") or []]
        language = preferred or ("fr" if "fr" in languages or not languages else "en")
        return Address(partner.get("name", ""), partner.get("email"), None, language)

    async def _subscription_owner_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        return Address(recipient.name or "", recipient.address, None, preferred)

    async def _mission_party_address(self, recipient: Addressee, preferred: str | None) -> Address | None:
        """The volunteer, authority or host partner of a mission not known when the message was queued."""
        field, kind, _ = intake.MISSION_PARTIES[recipient.kind]
        mission = await self._lookup(store.MISSIONS, recipient.id)
        party = mission.get(field) if mission else None
        if not party:
            return None  # the mission is not known (yet): the intake addresses the message when it is
        return await self._address(recipient.model_copy(update={"kind": kind, "id": str(party)}))

    async def _render(self, attempt: Attempt) -> tuple[Address, Rendered] | None:
        notification = attempt.notification
        address = await self._address(notification.recipient)
        if address is None:
            attempt.outcome = self._waiting_for_contact(notification)
            return None
        language = routing.choose_language(address.language, None, self.settings.default_language, SUPPORTED_LANGUAGES)
        context = {**notification.context, "recipient_name": address.name}
        if context.get("alert_id"):
            # Minted here for this volunteer, never stored nor put on an event (answer_links).
            recipient = notification.recipient.model_dump()
            context["alert_url"] = await answer_links.alert_url(self.runtime.db, self.settings, context, recipient)
        template = notification.template or ""
        if template == routing.RETURN_SEMINAR_TEMPLATE:
            context["seminar_url"] = self.settings.return_seminar_url
        await self._complete(context)
        try:
            content = render(template, language, context)
        except Exception as exc:  # noqa: BLE001 - a broken template will not fix itself by retrying
            attempt.outcome = permanent(f"template {template} failed: {exc!r}")
            return None
        attempt.language = language
        attempt.subject = content.subject
        return address, content

    def _waiting_for_contact(self, notification: Notification) -> Outcome:
        """Contact data travel on another topic and may arrive after the event: wait without using attempts.

        Past ``contact_wait_max_seconds`` the wait counts as a transient failure (so an ordinary
        message ends failed); a safety message keeps waiting either way.
        """
        if notification.keeps_waiting_for_contact(self.runtime.now(), self.settings.contact_wait_max_seconds):
            return deferred(WAITING_FOR_CONTACT, retry_in=self.settings.contact_wait_seconds)
        return transient(WAITING_FOR_CONTACT)

    async def _complete(self, context: Document) -> None:
        """Fill names the projection did not have yet when the event was taken in (events of other partitions)."""
        if context.get("position_id") and not context.get("position_title"):
            position = await self._lookup(store.POSITIONS, context["position_id"])
            context["position_title"] = position.get("title") if position else None
        if context.get("authority_id") and not context.get("authority_name"):
            authority = await self._lookup(store.AUTHORITIES, context["authority_id"])
            context["authority_name"] = authority.get("name") if authority else None

    async def _prepare_email(self, attempt: Attempt) -> channels.Email | None:
        rendered = await self._render(attempt)
        if rendered is None:
            return None
        address, content = rendered
        if not address.email:
            attempt.outcome = permanent("recipient has no email address")
            return None
        attempt.address = address.email
        notification = attempt.notification
        return channels.Email(
            notification.notification_id,
            notification.event_id,
            address.email,
            address.name,
            attempt.language or "fr",
            content,
            traceparent=notification.traceparent,
        )

    async def _send_sms(self, http: httpx.AsyncClient, attempt: Attempt) -> None:
        rendered = await self._render(attempt)
        if rendered is None:
            return
        address, content = rendered
        if not address.phone:
            attempt.outcome = permanent("recipient has no phone number")
            return
        attempt.address = address.phone
        notification = attempt.notification
        with tracing.child_span("sms send", notification.traceparent):
            attempt.outcome = await channels.send_sms(
                http, self.settings, notification.notification_id, address.phone, content.sms
            )

    async def _send_webhook(self, http: httpx.AsyncClient, attempt: Attempt) -> None:
        notification = attempt.notification
        doc = await self.runtime.db[store.SUBSCRIPTIONS].find_one({"_id": notification.recipient.id})
        if doc is None:
            attempt.outcome = permanent("subscription deleted")
            return
        subscription = WebhookSubscription.from_doc(doc)
        inactive = subscription.inactive_because()
        if inactive is not None:
            attempt.outcome = permanent(inactive)
            return
        if not await self._owner_may_receive(subscription, attempt):
            return
        try:
            secret = self._secret_box().open(doc)
        except sealing.SecretUnreadable as exc:
            # A key removed before every secret was re-sealed with its successor: put it back.
            attempt.outcome = transient(f"subscription secret unreadable: {exc}")
            return
        attempt.address = subscription.url
        with tracing.child_span("webhook send", notification.traceparent):
            attempt.outcome = await channels.send_webhook(
                http, self.settings, doc, secret, notification.notification_id, notification.payload or "{}"
            )

    def _secret_box(self) -> sealing.SecretBox:
        box = self.runtime.extras.get("secret_box")
        if box is None:
            box = self.runtime.extras["secret_box"] = sealing.box_from_settings(self.settings)
        assert isinstance(box, sealing.SecretBox)
        return box

    async def _owner_may_receive(self, subscription: WebhookSubscription, attempt: Attempt) -> bool:
        """Check the owner's current rights; suspend the subscription when they are gone.

        No directory means development without an identity provider (refused at start-up
        elsewhere). An unreachable provider defers the delivery: never dropped, never unchecked.
        """
        directory: owners.OwnerDirectory | None = self.runtime.extras.get("owner_directory")
        if directory is None:
            return True
        owner = subscription.owner
        if owner:
            try:
                rights = await directory.rights(owner)
            except owners.OwnerRightsUnavailable as exc:
                attempt.outcome = deferred(f"owner's rights unknown: {exc}")
                return False
            reason = owners.refusal(subscription, rights)
        else:
            reason = "the subscription has no owner"
        if reason is None:
            return True
        subscription.suspend(reason, self.runtime.now())
        suspended = await self.runtime.db[store.SUBSCRIPTIONS].update_one(
            {"_id": subscription.subscription_id, "status": ACTIVE}, {"$set": subscription.changes()}
        )
        if suspended.modified_count:
            metrics.SUBSCRIPTIONS_SUSPENDED.labels(self.settings.service).inc()
            log.warning("webhook_subscription_suspended", subscription_id=subscription.subscription_id, reason=reason)
        attempt.outcome = permanent(f"subscription suspended: {reason}")
        return False

    async def record(self, token: str, attempts: list[Attempt]) -> None:
        """Write every outcome and its event in one transaction; supervise failing webhook endpoints.

        Notifications not tried (no outcome) go back to ``pending`` with their attempt given back.
        The outcomes are written assuming every notification is still this pass's; when one is not
        (an erasure cancelled it meanwhile) the transaction is run again, writing only those that are.
        """
        now = self.runtime.now()
        try:
            effects = await self.runtime.transactions.run(lambda uow: self._write_outcomes(uow, token, attempts, now))
        except _NotAllOurs:
            effects = await self.runtime.transactions.run(
                lambda uow: self._write_outcomes(uow, token, attempts, now, check=True)
            )
        await self._after_record(effects, now)

    async def _write_outcomes(
        self, uow: UnitOfWork, token: str, attempts: list[Attempt], now: datetime, *, check: bool = False
    ) -> _Effects:
        effects = _Effects()
        updates: list[UpdateOne] = []
        failovers: list[tuple[Notification, Outcome]] = []
        endpoints = _EndpointResults()
        ours = await self._still_ours(uow, token, attempts) if check else None
        for attempt in attempts:
            notification, outcome = attempt.notification, attempt.outcome
            if ours is not None and notification.notification_id not in ours:
                continue
            claimed = Notification.held(token, notification.notification_id)
            if outcome is None:  # not tried: handed back as it was
                updates.append(UpdateOne(claimed, notification.handed_back(now)))
                effects.due.append((notification.channel, now))
                continue
            retry_at = self._retry_at(notification, outcome, now)
            update = changes_for(attempt, now, retry_at)
            caused = self._follow_up(notification, outcome, retry_at, effects)
            if caused is not None:
                self._emit(uow, notification, caused, update)
            updates.append(UpdateOne(claimed, update))
            if isinstance(caused, NotificationFailed) and notification.safety:
                failovers.append((notification, outcome))
            if notification.channel == "webhook":
                endpoints.note(notification.recipient.id, outcome, retry_at)
            effects.outcomes.append((notification.channel, outcome.kind))
        if updates:
            result = await uow[store.NOTIFICATIONS].bulk_write(updates, ordered=False)
            if ours is None and result.matched_count != len(updates):
                raise _NotAllOurs
        await _mark_waited_for(uow, [r.id for r in effects.waiting if r.kind == "person"])
        for notification, outcome in failovers:
            await self._fail_over(uow, notification, outcome, now)
        await self._supervise_endpoints(uow, endpoints, now)
        return effects

    @staticmethod
    def _emit(
        uow: UnitOfWork, notification: Notification, event: NotificationSent | NotificationFailed, update: Document
    ) -> None:
        """Emit the outcome's event, the notification keeping its events' last seq (no outbox_keys commands).

        A notification redriven before it kept ``event_seq`` had its earlier event ordered through
        ``outbox_keys``: its events stay ordered that way.
        """
        if notification.events_keyed_by_outbox:
            uow.emit(event, region=notification.region)
            return
        after = notification.event_seq or 0
        Notification.keeping_event_seq(update, uow.emit_in_order(event, after=after, region=notification.region))

    async def _still_ours(self, uow: UnitOfWork, token: str, attempts: list[Attempt]) -> set[str]:
        """The ids of the attempts' notifications this claim still holds."""
        ids = [a.notification.notification_id for a in attempts]
        cursor = uow[store.NOTIFICATIONS].find(Notification.held(token, ids), {"_id": 1})
        return {found["_id"] async for found in cursor}

    def _retry_at(self, notification: Notification, outcome: Outcome, now: datetime) -> datetime | None:
        """When a deferred or failed notification is tried again (None: sent, or failed for good)."""
        if outcome.sent:
            return None
        if outcome.kind == "deferred":
            return now + timedelta(seconds=outcome.retry_in or self.settings.owner_rights_retry_seconds)
        count = notification.attempts  # this attempt included (counted when claimed)
        return self.policy.after_failure(count, outcome, now, category=notification.category)

    def _follow_up(
        self, notification: Notification, outcome: Outcome, retry_at: datetime | None, effects: _Effects
    ) -> NotificationSent | NotificationFailed | None:
        """The event the outcome causes (``outcome_event``), and what to do once committed noted."""
        if outcome.sent:
            effects.sent.append(notification)
        elif outcome.kind == "deferred":
            assert retry_at is not None
            if outcome.error == WAITING_FOR_CONTACT:
                effects.waiting.append(notification.recipient)  # released by the contact's arrival (wakeup)
            else:
                effects.due.append((notification.channel, retry_at))
        else:
            effects.failures.append((notification, outcome, notification.attempts, retry_at is not None))
            if retry_at is not None:
                effects.due.append((notification.channel, retry_at))
        return outcome_event(notification, outcome, retrying=retry_at is not None)

    async def _supervise_endpoints(self, uow: UnitOfWork, endpoints: _EndpointResults, now: datetime) -> None:
        """Each webhook subscription of the pass: disabled when failing too long; its queue held back while failing."""
        for subscription_id, (succeeded, error, backoff) in endpoints.results.items():
            await self._supervise(uow, subscription_id, succeeded, error, now)
            if not succeeded and backoff is not None:
                # The endpoint is failing: its other queued events wait for the same retry instead of each
                # costing a deadline in the next passes (and filling them).
                await uow[store.NOTIFICATIONS].update_many(
                    Notification.queued_to_endpoint(subscription_id, backoff), Notification.postponed(backoff)
                )

    async def _after_record(self, effects: _Effects, now: datetime) -> None:
        """Counters, logs and timers once the outcomes are committed (a retried transaction counts once)."""
        service = self.settings.service
        self.sent += len(effects.sent)
        for channel, kind in effects.outcomes:
            metrics.DELIVERIES.labels(service, channel, kind).inc()
        for notification in effects.sent:
            created = _aware(notification.due_at or notification.created_at or now)
            seconds = max(0.0, (now - created).total_seconds())
            metrics.DELIVERY_SECONDS.labels(service, notification.channel).observe(seconds)
        for notification, outcome, count, retrying in effects.failures:
            self._count_failure(notification, outcome, count, retrying)
            log.info(
                "delivery_failed",
                notification_id=notification.notification_id,
                channel=notification.channel,
                outcome=outcome.kind,
                error=reported(outcome.error),
            )
        for channel, at in effects.due:
            self._schedule(channel, at, now)
        if effects.waiting:
            await self._recheck_waiting(effects.waiting)

    async def _recheck_waiting(self, recipients: list[Addressee]) -> None:
        """Messages just marked waiting whose contact data were stored meanwhile are released at once."""
        books: dict[str, set[str]] = {}
        stand_ins = await self._mission_parties_known([r for r in recipients if r.kind in intake.MISSION_PARTIES])
        for recipient in recipients:
            book = _ADDRESS_BOOKS.get(recipient.kind)
            if book is not None and book != store.MISSIONS:
                books.setdefault(book, set()).add(recipient.id)
        for kind, party in stand_ins:
            books.setdefault(_ADDRESS_BOOKS[kind], set()).add(party)
        arrived: set[str] = set()
        for book, ids in books.items():
            known: Document = {"_id": {"$in": sorted(ids)}}
            if book == store.CONTACTS:
                known["email"] = {"$exists": True}  # not the bare mark of a wait (projection.WAITED_FOR)
            cursor = self.runtime.db[book].find(known, {"_id": 1})
            arrived |= {str(found["_id"]) async for found in cursor}
        # A message queued for a mission's party waits under the mission's id until it is addressed.
        arrived |= {mission for (_, party), missions in stand_ins.items() if party in arrived for mission in missions}
        if arrived:
            await self._release_waiting(arrived)

    async def _mission_parties_known(self, recipients: list[Addressee]) -> dict[tuple[str, str], set[str]]:
        """(party's kind, party id) -> the missions standing in for it, for the missions now known here."""
        if not recipients:
            return {}
        ids = sorted({r.id for r in recipients})
        missions = {doc["_id"]: doc async for doc in self.runtime.db[store.MISSIONS].find({"_id": {"$in": ids}})}
        parties: dict[tuple[str, str], set[str]] = {}
        for recipient in recipients:
            field, kind, _ = intake.MISSION_PARTIES[recipient.kind]
            party = (missions.get(recipient.id) or {}).get(field)
            if party:
                parties.setdefault((kind, str(party)), set()).add(recipient.id)
        return parties

    async def _fail_over(self, uow: UnitOfWork, failed: Notification, outcome: Outcome, now: datetime) -> None:
        """A safety message failed for good: the duty officer hears of it by the other channel (once)."""
        channel = routing.failover_channel(failed.channel)
        if channel is None or failed.event_type == routing.SAFETY_FAILOVER_TYPE:
            return  # a failed failover is not failed over again: the metric and the log alert the operators
        context = failed.context
        notice = Notification.queue(
            Cause(f"failover:{failed.notification_id}", routing.SAFETY_FAILOVER_TYPE, now, failed.correlation_id or ""),
            Addressee.of("duty_officer", "duty-officer", "duty_officer"),
            channel,
            template=routing.SAFETY_FAILOVER_TEMPLATE,
            category="safety",
            context={
                "failed_template": failed.template,
                "failed_channel": failed.channel,
                "failed_role": failed.recipient.role,
                "failed_recipient": failed.recipient.id,
                "error": scrub(outcome.error),
                **{k: context.get(k) for k in ("alert_id", "incident_id", "mission_id", "country")},
            },
            region=failed.region,
            now=now,
        ).to_doc()
        notice_id = notice.pop("_id")
        await uow[store.NOTIFICATIONS].update_one({"_id": notice_id}, {"$setOnInsert": notice}, upsert=True)
        wakeup.queued(uow, [channel])

    def _count_failure(self, notification: Notification, outcome: Outcome, attempts: int, retrying: bool) -> None:
        """Metrics and logs an operator alerts on: refused credentials, safety messages late or lost."""
        service, channel = self.settings.service, notification.channel
        error = reported(outcome.error)  # never the SMTP reply's text: it echoes the address
        if outcome.configuration:
            metrics.PROVIDER_AUTH_FAILURES.labels(service, channel).inc()
            log.error("provider_refused_credentials", channel=channel, error=error)
        if not notification.safety:
            return
        if not retrying:
            metrics.SAFETY_FAILED.labels(service, channel).inc()
            log.error(
                "safety_message_failed", notification_id=notification.notification_id, channel=channel, error=error
            )
        elif self.policy.beyond_budget(attempts):
            metrics.SAFETY_BEYOND_BUDGET.labels(service, channel).inc()
            log.error(
                "safety_message_still_undelivered",
                notification_id=notification.notification_id,
                channel=channel,
                attempts=attempts,
                error=error,
            )

    async def _supervise(
        self, uow: UnitOfWork, subscription_id: str, succeeded: bool, error: str, now: datetime
    ) -> None:
        """A webhook endpoint failing for ``webhook_disable_after_seconds`` is disabled and its owner told."""
        subscriptions = uow[store.SUBSCRIPTIONS]
        if succeeded:
            await subscriptions.update_one(
                {"_id": subscription_id, "failing_since": {"$ne": None}},
                {"$set": {"failing_since": None, "last_error": None}},
            )
            return
        await subscriptions.update_one(
            {"_id": subscription_id, "failing_since": None}, {"$set": {"failing_since": now}}
        )
        await subscriptions.update_one({"_id": subscription_id}, {"$set": {"last_error": error}})
        doc = await subscriptions.find_one({"_id": subscription_id})
        subscription = None if doc is None else WebhookSubscription.from_doc(doc)
        if subscription is None or not subscription.failing_too_long(now, self.settings.webhook_disable_after_seconds):
            return
        failing_since = subscription.failing_since_utc
        assert failing_since is not None  # failing too long: failing since a moment
        subscription.disable(now)
        await subscriptions.update_one({"_id": subscription_id}, {"$set": subscription.changes()})
        notice = _disabled_notice(subscription, error, failing_since, self.settings.ops_email, now).to_doc()
        notice_id = notice.pop("_id")
        await uow[store.NOTIFICATIONS].update_one({"_id": notice_id}, {"$setOnInsert": notice}, upsert=True)
        wakeup.queued(uow, ["email"])
        log.warning("webhook_subscription_disabled", subscription_id=subscription_id, failing_since=str(failing_since))


async def _mark_waited_for(uow: UnitOfWork, persons: Iterable[str]) -> None:
    """Mark the persons whose contact data a message now waits for, so that their arrival releases it."""
    if ids := sorted(set(persons)):
        marks = [UpdateOne({"_id": person}, {"$set": {projection.WAITED_FOR: True}}, upsert=True) for person in ids]
        await uow[store.CONTACTS].bulk_write(marks, ordered=False)


async def mark_waiting_persons(runtime: Runtime[NotificationsSettings]) -> None:
    """At start-up: the persons messages already wait for are marked (those marked waiting by an earlier version)."""
    waiting = Notification.waiting_for_contact_of()
    persons = await runtime.db[store.NOTIFICATIONS].distinct(Notification.RECIPIENT_ID, waiting)
    if persons:
        await runtime.transactions.run(lambda uow: _mark_waited_for(uow, [str(person) for person in persons]))


AddressFinder = Callable[[DeliveryWorker, Addressee, str | None], Awaitable[Address | None]]

# Where each kind of recipient is reached; a kind not listed has no address.
_ADDRESS_FINDERS: dict[str, AddressFinder] = {
    "person": DeliveryWorker._person_address,
    "authority": DeliveryWorker._authority_address,
    "branch": DeliveryWorker._branch_address,
    "centre": DeliveryWorker._centre_address,
    "duty_officer": DeliveryWorker._duty_officer_address,
    "head_office": DeliveryWorker._head_office_address,
    "partner": DeliveryWorker._partner_address,
    "subscription_owner": DeliveryWorker._subscription_owner_address,
}
_ADDRESS_FINDERS.update(dict.fromkeys(intake.MISSION_PARTIES, DeliveryWorker._mission_party_address))


def changes_for(attempt: Attempt, now: datetime, retry_at: datetime | None) -> Document:
    """The update one tried attempt writes to its notification (``Notification.tried``, with what it resolved)."""
    assert attempt.outcome is not None
    return attempt.notification.tried(
        attempt.outcome,
        now,
        retry_at,
        address=attempt.address,
        language=attempt.language,
        subject=attempt.subject,
    )


def _read(docs: list[Document]) -> list[Notification]:
    """The notifications a claim query returned, each typed once for the whole pass."""
    return [Notification.read(doc) for doc in docs]


@dataclass
class _EndpointResults:
    """What a pass learned of each webhook subscription's endpoint: any success, last error, when to retry."""

    results: dict[str, tuple[bool, str, datetime | None]] = field(default_factory=dict)

    def note(self, subscription_id: str, outcome: Outcome, retry_at: datetime | None) -> None:
        """Count one attempt's outcome for its subscription (a deferral says nothing of the endpoint)."""
        if outcome.kind == "deferred":
            return
        succeeded, error, backoff = self.results.get(subscription_id, (False, "", None))
        if outcome.kind == "transient":
            backoff = retry_at
        self.results[subscription_id] = (succeeded or outcome.sent, outcome.error or error, backoff)


def _disabled_notice(
    subscription: WebhookSubscription, error: str, failing_since: datetime, ops_email: str, now: datetime
) -> Notification:
    """The email telling a subscription's owner (else operations) that its failing endpoint was disabled."""
    subscription_id = subscription.subscription_id
    owner = subscription.owner
    recipient = Addressee(
        key=f"subscription_owner:{subscription_id}",
        kind="subscription_owner",
        id=owner or subscription_id,
        role="subscription_owner",
        address=subscription.contact_email or ops_email,
        name=owner or "",
    )
    context = {
        "subscription_id": subscription_id,
        "url": subscription.url,
        "failing_since": failing_since.strftime("%Y-%m-%d %H:%M UTC"),
        "last_error": error,
    }
    return Notification.queue(
        Cause(f"webhook-disabled:{subscription_id}", "notifications.WebhookDisabled", now, ""),
        recipient,
        "email",
        template=routing.WEBHOOK_DISABLED_TEMPLATE,
        category="account",
        context=context,
        region=subscription.scope_region,
        now=now,
        traceparent=tracing.current_traceparent(),
    )


async def deliver_due(runtime: Runtime[NotificationsSettings]) -> None:
    """Job (every replica): the delivery lanes until the service stops; claims keep replicas from sending twice."""
    worker = runtime.extras.get("delivery")
    if worker is None:
        worker = runtime.extras["delivery"] = DeliveryWorker(runtime)
    await worker.serve()
