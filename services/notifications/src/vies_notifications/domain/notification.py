"""The notification: one message of one event to one recipient by one channel, and its delivery log.

Its document is created ``pending`` by the intake (or by the service's own notices: a regional
digest, a webhook disabled); the delivery worker then claims it and records each attempt
(``domain.delivery`` holds the states and the retry rules). The worker reads and updates the
raw documents in its hot path, where a security alert sends thousands at once; the fields it
writes are declared here all the same, so the model reads every stored notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field

from vies_notifications.domain.delivery import PENDING, notification_id
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

    @property
    def retry_due_at(self) -> datetime | None:
        """When a pending notification is tried next (None once it is no longer pending)."""
        return self.next_attempt_at if self.status == PENDING else None
