"""The notification: one message of one event to one recipient by one channel, and its delivery log.

Its document is created ``pending`` by the intake (or by the service's own notices: a regional
digest, a webhook disabled, a safety message's failover); the delivery worker then claims it and
records each attempt (``domain.delivery`` holds the states and the retry rules). The worker works
on this model: a claimed document is typed once for its pass (``read``), a notification the intake
hands off is the one it queued, and every update the worker writes (the claim, an attempt's
outcome, a hand-back) is built here, beside the fields it names, so a renamed field fails a fast
test instead of a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field

from vies_notifications.domain.delivery import (
    FAILED,
    PENDING,
    SAFETY_CATEGORIES,
    SENDING,
    SENT,
    WAITING_FOR_CONTACT,
    Outcome,
    notification_id,
)
from vies_shared.aggregate import Aggregate, Document, Value


class Addressee(Value):
    """Whom a notification goes to, as stored: the kind and id of the recipient and the route's role.

    ``key`` (``kind:id``) is the identity of the one-per-(event, recipient, channel) rule. The
    ``address`` is looked up and set when sending (known at once for a webhook's disabled notice,
    which names its ``name`` too).
    """

    key: str
    kind: str
    id: str
    role: str
    address: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, kind: str, id_: str, role: str) -> Addressee:
        """The recipient ``id_`` of ``kind``, reached in ``role``."""
        return cls(key=f"{kind}:{id_}", kind=kind, id=id_, role=role)


class Attempted(Value):
    """One delivery attempt in the log: when, its outcome (sent, transient, permanent, deferred), the error."""

    at: datetime
    outcome: str
    error: str | None = None


@dataclass(frozen=True)
class Cause:
    """The event a notification tells of (or the service's own occasion for it: a digest, a notice)."""

    event_id: str
    event_type: str
    occurred_at: datetime
    correlation_id: str


class Notification(Aggregate):
    """A message of one event to one recipient by one channel, with its delivery state.

    The fields are in the order of the stored document; a field never set (``due_at`` of a message
    due at once, the delivery fields of one not tried yet) is absent from it.
    """

    # Mutable defaults are given as Field(default=...): pydantic copies them for each instance, and a
    # default_factory costs a signature inspection at every construct (the intake builds thousands).
    notification_id: str = Field(alias="_id")
    event_id: str
    event_type: str | None = None
    occurred_at: datetime | None = None
    correlation_id: str | None = None
    channel: str
    template: str | None = None  # empty for a webhook delivery (its body is the event)
    category: str | None = None
    recipient: Addressee
    context: dict[str, Any] = Field(default={})  # the facts the template renders
    payload: str | None = None  # a webhook's CloudEvents body, dropped once delivered
    region: str | None = None
    status: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    due_at: datetime | None = None  # a delayed message: the wait for contact data counts from here
    traceparent: str | None = None  # its sending joins the trace of the event that caused it
    # Written by the delivery worker.
    claim: str | None = None
    claimed_until: datetime | None = None
    accepted_at: datetime | None = None  # the SMTP server took it: never sent again
    language: str | None = None
    subject: str | None = None
    history: list[Attempted] = Field(default=[])
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None
    waiting_for: str | None = None  # "contact": released by the contact's arrival
    redriven_at: datetime | None = None
    erased: bool = False
    # The outbox seq of its last NotificationSent or NotificationFailed: it orders its own events.
    event_seq: int | None = None

    @classmethod
    def queue(
        cls,
        cause: Cause,
        recipient: Addressee,
        channel: str,
        *,
        template: str,
        category: str,
        context: Document,
        region: str | None,
        now: datetime,
        payload: str | None = None,
        due: datetime | None = None,
        traceparent: str | None = None,
    ) -> Notification:
        """A new pending notification of ``cause`` to ``recipient`` by ``channel``, due at once or at ``due``."""
        fields: Document = {
            "notification_id": notification_id(cause.event_id, recipient.key, channel),
            "event_id": cause.event_id,
            "event_type": cause.event_type,
            "occurred_at": cause.occurred_at,
            "correlation_id": cause.correlation_id,
            "channel": channel,
            "template": template,
            "category": category,
            "recipient": recipient,
            "context": context,
            "payload": payload,
            "region": region,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": due or now,
            "created_at": now,
            "updated_at": now,
        }
        if due is not None and due > now:
            fields["due_at"] = due
        if traceparent:
            fields["traceparent"] = traceparent
        # Built from typed arguments, not read from outside: no validation on the intake's hot path
        # (a security alert queues two messages per volunteer of a country in one transaction).
        return cls.model_construct(_fields_set=set(fields), **fields)

    def to_doc(self) -> Document:
        """The stored document; its context is the dict given, not a copy (one event's messages share its facts)."""
        doc = self.model_dump(by_alias=True, exclude_unset=True, exclude={"context"})
        if "context" not in self.model_fields_set:
            return doc
        fields = list(doc.items())
        at = list(doc).index("recipient") + 1
        return dict([*fields[:at], ("context", self.context), *fields[at:]])

    @classmethod
    def read(cls, doc: Document) -> Notification:
        """The notification a stored document holds, validated, without the snapshot ``changes()`` compares with.

        For the delivery worker, which writes its own updates (``tried``, ``handed_back``...) and
        never ``changes()``: the snapshot (a second dump) would double the cost of typing a claim.
        """
        return cls.model_validate(doc)

    @property
    def retry_due_at(self) -> datetime | None:
        """When a pending notification is tried next (None once it is no longer pending)."""
        return self.next_attempt_at if self.status == PENDING else None

    # -- the delivery worker's rules and updates. Every field it writes is named here, beside its
    # declaration (a fast test checks each update's names against the model), never in the worker.

    @property
    def safety(self) -> bool:
        """A safety message: never given up on a transient failure, failed over when it fails for good."""
        return self.category in SAFETY_CATEGORIES

    @property
    def already_accepted(self) -> bool:
        """An email the SMTP server accepted before its worker died or stopped: sent, not to be sent again."""
        return self.channel == "email" and bool(self.accepted_at)

    def out_of_claims(self, max_attempts: int) -> bool:
        """Taken over more often than the attempts allow, never recorded (its worker stops each time it sends it)."""
        return not self.safety and self.attempts > max_attempts

    def keeps_waiting_for_contact(self, now: datetime, max_seconds: float) -> bool:
        """Whether a message whose recipient has no contact data yet waits on (else the wait counts as a failure).

        A delayed message (return seminar) waits from its due date, not from when it was queued; a
        safety message keeps waiting either way.
        """
        since = self.due_at or self.created_at or now
        waited = (now - (since if since.tzinfo else since.replace(tzinfo=UTC))).total_seconds()
        return waited < max_seconds or self.safety

    @property
    def events_keyed_by_outbox(self) -> bool:
        """Redriven before it kept ``event_seq``: its earlier event went by ``outbox_keys``, its next ones too."""
        return self.event_seq is None and self.redriven_at is not None

    def due_now(self, now: datetime) -> bool:
        """Whether a new notification goes at once: neither delayed (``due_at``) nor due later."""
        at = self.next_attempt_at
        if self.due_at is not None or at is None:
            return False
        return (at if at.tzinfo else at.replace(tzinfo=UTC)) <= now

    def claimed_by(self, token: str, now: datetime, seconds: float) -> None:
        """This notification as ``claim_update`` leaves it: sending under ``token``, its attempt counted."""
        fields = {**_claim(token, now, seconds), "attempts": self.attempts + 1}
        # Set as a construct would, unvalidated: the values are ours, and a hand-off claims thousands
        # in one transaction; the fields set are marked so that ``to_doc`` writes them.
        self.__dict__.update(fields)
        self.__pydantic_fields_set__.update(fields)

    # The worker's queries, named here as its updates are (the fast test checks them alike).

    @staticmethod
    def due(channel: Any, now: datetime) -> Document:
        """Pending notifications of ``channel`` (a name or a ``$in``) due by ``now``: on one index."""
        return {"status": PENDING, "channel": channel, "next_attempt_at": {"$lte": now}}

    @staticmethod
    def stale(channel: Any, now: datetime) -> Document:
        """Notifications of ``channel`` whose claim expired by ``now`` (their worker died): on one index."""
        return {"status": SENDING, "channel": channel, "claimed_until": {"$lt": now}}

    @staticmethod
    def not_to(recipient_ids: list[str]) -> Document:
        """The condition leaving out the notifications of these recipients (their share already in flight)."""
        return {"recipient.id": {"$nin": recipient_ids}}

    @staticmethod
    def held(token: str, ids: str | list[str] | None = None) -> Document:
        """The notifications (of these ids) the claim ``token`` holds, whatever their state since."""
        held: Document = {"claim": token}
        return held if ids is None else {"_id": ids if isinstance(ids, str) else {"$in": ids}, **held}

    @staticmethod
    def sending(token: str) -> Document:
        """The notifications the claim ``token`` holds that are still being sent."""
        return {"claim": token, "status": SENDING}

    @staticmethod
    def waiting_for_contact_of(recipient_ids: list[str] | None = None) -> Document:
        """Pending messages waiting for their recipient's contact data (of these recipients; else of persons)."""
        waiting: Document = {"status": PENDING, "waiting_for": "contact"}
        if recipient_ids is None:
            return {**waiting, "recipient.kind": "person"}
        return {"recipient.id": {"$in": recipient_ids}, **waiting}

    @staticmethod
    def queued_to_endpoint(subscription_id: str, before: datetime) -> Document:
        """The webhook deliveries queued for a subscription to be tried before ``before``."""
        return {
            "recipient.id": subscription_id,
            "status": PENDING,
            "channel": "webhook",
            "next_attempt_at": {"$lt": before},
        }

    @staticmethod
    def postponed(until: datetime) -> Document:
        """The update postponing pending notifications to ``until`` (a failing endpoint's queue)."""
        return {"$set": {"next_attempt_at": until}}

    # The stored path of the recipient's id (the ``distinct`` of the persons messages wait for).
    RECIPIENT_ID: ClassVar[str] = "recipient.id"

    @staticmethod
    def claim_update(token: str, now: datetime, seconds: float) -> Document:
        """The update claiming due notifications for ``token`` until ``seconds`` from ``now``, counting an attempt."""
        return {"$set": _claim(token, now, seconds), "$inc": {"attempts": 1}}

    @staticmethod
    def renewal(until: datetime) -> Document:
        """The update holding a claim until ``until``."""
        return {"$set": {"claimed_until": until}}

    @staticmethod
    def acceptance(now: datetime) -> Document:
        """The update marking emails the SMTP server accepted (``already_accepted`` once taken over)."""
        return {"$set": {"accepted_at": now}}

    @staticmethod
    def release(now: datetime) -> Document:
        """The update giving back the notifications of a claim that were not tried, their attempt uncounted."""
        fields: Document = {"status": PENDING, "claim": None, "claimed_until": None, "next_attempt_at": now}
        return {"$set": fields, "$inc": {"attempts": -1}}

    @staticmethod
    def contact_arrived(now: datetime) -> Document:
        """The update releasing messages that waited for their recipient's contact data: due now."""
        return {"$set": {"next_attempt_at": now}, "$unset": {"waiting_for": ""}}

    def handed_back(self, now: datetime) -> Document:
        """The update of this claimed notification when it was not tried: pending again, its attempt given back."""
        changes: Document = {"status": PENDING, "next_attempt_at": now, "claim": None, "claimed_until": None}
        return {"$set": {**changes, "attempts": max(0, self.attempts - 1)}}

    def attempts_after(self, outcome: Outcome) -> int:
        """The attempts counted once ``outcome`` is recorded: a deferral gives back the one its claim counted."""
        return max(0, self.attempts - 1) if outcome.kind == "deferred" else self.attempts

    def tried(
        self,
        outcome: Outcome,
        now: datetime,
        retry_at: datetime | None,
        *,
        address: str | None = None,
        language: str | None = None,
        subject: str | None = None,
    ) -> Document:
        """The update one tried attempt writes (pure: no I/O, no clock of its own).

        ``retry_at`` is when a deferred or failed notification is tried again, None when a failure
        is final (the caller's retry policy decides); ``address``, ``language`` and ``subject`` are
        what the attempt resolved, if it got that far.
        """
        changes: Document = {
            "attempts": self.attempts_after(outcome),
            "updated_at": now,
            "claim": None,
            "claimed_until": None,
        }
        for name, value in (("recipient.address", address), ("language", language), ("subject", subject)):
            if value is not None:
                changes[name] = value
        changes.update(_settled(outcome, now, retry_at))
        history = {"at": now, "outcome": outcome.kind, "error": outcome.error or None}
        update: Document = {"$set": changes, "$push": {"history": {"$each": [history], "$slice": -20}}}
        if self.waiting_for and "waiting_for" not in changes:
            update["$unset"] = {"waiting_for": ""}
        return update

    @staticmethod
    def keeping_event_seq(update: Document, seq: int) -> None:
        """Add to ``update`` the outbox seq of the event it causes (it orders the notification's next one)."""
        update["$set"]["event_seq"] = seq


def _claim(token: str, now: datetime, seconds: float) -> Document:
    """The fields a claim by ``token`` at ``now`` sets, held ``seconds`` unless renewed (its attempt counted beside)."""
    return {"status": SENDING, "claim": token, "claimed_until": now + timedelta(seconds=seconds)}


def _settled(outcome: Outcome, now: datetime, retry_at: datetime | None) -> Document:
    """The state fields an outcome sets: sent, pending again (deferred or retrying) or failed."""
    if outcome.sent:
        # A delivered webhook body is not kept: the log needs the outcome, not the event again.
        return {"status": SENT, "sent_at": now, "last_error": None, "payload": None}
    if outcome.kind == "deferred":
        fields: Document = {"status": PENDING, "next_attempt_at": retry_at, "last_error": outcome.error}
        if outcome.error == WAITING_FOR_CONTACT:
            fields["waiting_for"] = "contact"  # released by the contact's arrival (wakeup)
        return fields
    if retry_at is not None:
        return {"last_error": outcome.error, "status": PENDING, "next_attempt_at": retry_at}
    return {"last_error": outcome.error, "status": FAILED, "failed_at": now, "payload": None}
