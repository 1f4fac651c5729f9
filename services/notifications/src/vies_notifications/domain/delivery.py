"""Delivery rules: one notification per (event, recipient, channel), its states and its retry schedule.

States: ``pending`` (waiting for its ``next_attempt_at``) → ``sending`` (claimed by
one worker until ``claimed_until``) → ``sent`` | ``pending`` again (a transient
failure, retried later) | ``failed`` (permanent failure or last attempt);
``cancelled`` when the recipient was erased before it went out. A ``deferred`` attempt
(the check a delivery needs could not be made: the identity provider is unreachable) goes
back to ``pending`` without counting as an attempt.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from vies_notifications.domain.privacy import scrub
from vies_shared.events.notifications import NotificationFailed, NotificationSent

if TYPE_CHECKING:
    from vies_notifications.domain.notification import Notification

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES: tuple[str, ...] = (PENDING, SENDING, SENT, FAILED, CANCELLED)

_NAMESPACE = uuid.UUID("6f1d8a4e-3c59-4b6b-9a8e-2f4c1d7e0b15")


def notification_id(event_id: str, recipient_key: str, channel: str) -> str:
    """A stable id for (event, recipient, channel): redelivered events map to the same notification."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_id}|{recipient_key}|{channel}"))


def message_id(notification_id: str, domain: str) -> str:
    """The RFC 5322 ``Message-ID`` of an email notification (stable across retries)."""
    return f"<{notification_id}@{domain}>"


# Categories whose messages are never given up on a transient failure (security alerts, safety-check
# reminders, unaccounted lists, incident escalations): they keep retrying with capped backoff and are
# counted and alerted on instead.
SAFETY_CATEGORIES: frozenset[str] = frozenset({"safety", "security"})

# SMTP replies about the sender's own credentials (RFC 4954: 530 authentication required, 534 mechanism
# too weak, 535 credentials invalid, 538 encryption required): the relay password was rotated or
# mistyped. The platform's configuration is wrong, not the message: retried, counted, alerted.
SMTP_AUTH_CODES: frozenset[int] = frozenset({530, 534, 535, 538})
# The SMS gateway refusing our token.
HTTP_AUTH_CODES: frozenset[int] = frozenset({401, 403})


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to.

    ``configuration`` marks a transient failure caused by the platform's own provider settings
    (credentials refused); ``retry_in`` lets a deferred attempt say when to look again.
    """

    kind: Literal["sent", "transient", "permanent", "deferred"]
    error: str = ""
    configuration: bool = False
    retry_in: float | None = None

    @property
    def sent(self) -> bool:
        """The channel accepted the message."""
        return self.kind == "sent"


SENT_OUTCOME = Outcome("sent")

# The error of a deferral for want of the recipient's contact data: the message waits for their arrival.
WAITING_FOR_CONTACT = "recipient's contact data not known (yet)"

_SMTP_REPLY = re.compile(r"\b([245]\d\d)(?:[ -]+(\d\.\d{1,3}\.\d{1,3}))?\b[^;]*")


def reported(error: str | None) -> str:
    """An outcome's error as events and logs may carry it: SMTP replies cut to their codes, addresses masked.

    An SMTP server's reply text usually echoes the recipient's address (``550 5.1.1 <jane@x.org>:
    Recipient address rejected``); the codes say all an operator needs (``550 5.1.1``). The full
    reply stays in the delivery log, where branches see it masked.
    """
    if not error:
        return ""
    if "SMTP" in error:
        error = _SMTP_REPLY.sub(lambda m: " ".join(code for code in m.groups() if code), error)
    return scrub(error) or ""


def outcome_event(
    notification: Notification, outcome: Outcome, *, retrying: bool
) -> NotificationSent | NotificationFailed | None:
    """The event an attempt causes: ``NotificationSent``, or ``NotificationFailed`` when it failed for good.

    A deferral or a failure to be retried (``retrying``) causes none: the notification is still on its way.
    """
    recipient_role = notification.recipient.role
    if outcome.sent:
        return NotificationSent(
            notification_id=notification.notification_id,
            event_id=notification.event_id,
            channel=notification.channel,
            recipient_role=recipient_role,
        )
    if outcome.kind == "deferred" or retrying:
        return None
    return NotificationFailed(
        notification_id=notification.notification_id,
        event_id=notification.event_id,
        channel=notification.channel,
        error=reported(outcome.error),
        category=notification.category,
        recipient_role=recipient_role,
    )


def transient(error: str) -> Outcome:
    """A failure worth retrying (connection refused, timeout, 4xx from SMTP, 5xx from HTTP)."""
    return Outcome("transient", error)


def permanent(error: str) -> Outcome:
    """A failure that retrying will not fix."""
    return Outcome("permanent", error)


def deferred(error: str, retry_in: float | None = None) -> Outcome:
    """Not attempted: a check the delivery needs could not be made; try again later, attempts unchanged."""
    return Outcome("deferred", error, retry_in=retry_in)


def configuration_error(error: str) -> Outcome:
    """A provider refused the platform's credentials: retried (never permanent), counted and alerted on."""
    return Outcome("transient", f"configuration: {error}", configuration=True)


def classify_http(status: int) -> Outcome:
    """An HTTP answer from a webhook or the SMS provider.

    Standard Webhooks: 2xx is success; 4xx other than 408 (timeout) and 429
    (rate limited) will not change on retry; the rest (5xx, 408, 429) is retried.
    """
    if 200 <= status < 300:
        return SENT_OUTCOME
    if 400 <= status < 500 and status not in (408, 429):
        return permanent(f"HTTP {status}")
    return transient(f"HTTP {status}")


def classify_sms_http(status: int) -> Outcome:
    """An HTTP answer from the SMS gateway: as ``classify_http``, but 401/403 mean our token is refused."""
    if status in HTTP_AUTH_CODES:
        return configuration_error(f"SMS gateway answered HTTP {status}")
    return classify_http(status)


def classify_smtp(code: int, message: str) -> Outcome:
    """An SMTP reply code: 5xx is a permanent failure (RFC 5321 4.2.1), 4xx a transient one.

    Authentication replies (``SMTP_AUTH_CODES``) are the relay refusing our credentials: a
    configuration error, retried.
    """
    if code in SMTP_AUTH_CODES:
        return configuration_error(f"SMTP {code} {message}".strip())
    if 500 <= code < 600:
        return permanent(f"SMTP {code} {message}".strip())
    return transient(f"SMTP {code} {message}".strip())


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, persisted as ``next_attempt_at`` so it survives restarts."""

    max_attempts: int
    initial_seconds: float
    max_seconds: float
    safety_max_seconds: float | None = None  # the cap for safety messages (default: max_seconds)

    def delay(self, attempts: int, rng: random.Random | None = None, cap: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (equal jitter: half fixed, half random)."""
        ceiling = float(min(cap or self.max_seconds, self.initial_seconds * 2.0 ** min(60, max(0, attempts - 1))))
        draw: float = (rng or random).uniform(0.0, ceiling / 2)
        return ceiling / 2 + draw

    def after_failure(
        self,
        attempts: int,
        outcome: Outcome,
        now: datetime,
        rng: random.Random | None = None,
        *,
        category: str | None = None,
    ) -> datetime | None:
        """When to try again after a failure, or None when the notification has failed for good.

        A permanent failure ends it. A transient one ends it after ``max_attempts``, except for
        safety messages and configuration errors: those are never given up while the failure may
        pass (a relay back up, a rotated password put right); ``beyond_budget`` tells the caller
        to count and alert.
        """
        if outcome.kind == "permanent":
            return None
        safety = category in SAFETY_CATEGORIES
        if attempts >= self.max_attempts and not safety:
            return None
        cap = self.safety_max_seconds if safety else None
        return now + timedelta(seconds=self.delay(attempts, rng, cap))

    def beyond_budget(self, attempts: int) -> bool:
        """Whether a message still retrying has used up the ordinary attempts (an operator must look)."""
        return attempts >= self.max_attempts
