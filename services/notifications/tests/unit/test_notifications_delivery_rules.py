"""Delivery rules: outcome classification, retry schedule, stable ids."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from vies_notifications.delivery import WAITING_FOR_CONTACT, Attempt, changes_for
from vies_notifications.domain.delivery import (
    SENT_OUTCOME,
    Outcome,
    RetryPolicy,
    classify_http,
    classify_sms_http,
    classify_smtp,
    deferred,
    message_id,
    notification_id,
    outcome_event,
    permanent,
    transient,
)
from vies_notifications.domain.notification import Notification
from vies_shared.events.notifications import NotificationFailed, NotificationSent


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, "sent"),
        (204, "sent"),
        (301, "transient"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (408, "transient"),
        (410, "permanent"),
        (429, "transient"),
        (500, "transient"),
        (502, "transient"),
        (503, "transient"),
    ],
)
def test_http_outcomes(status: int, kind: str) -> None:
    assert classify_http(status).kind == kind


@pytest.mark.parametrize(
    ("code", "kind"),
    [(550, "permanent"), (553, "permanent"), (554, "permanent"), (421, "transient"), (451, "transient")],
)
def test_smtp_outcomes(code: int, kind: str) -> None:
    outcome = classify_smtp(code, "mailbox unavailable")
    assert outcome.kind == kind and str(code) in outcome.error


@pytest.mark.parametrize(
    ("attempts", "low", "high"), [(1, 5, 10), (2, 10, 20), (3, 20, 40), (7, 300, 600), (20, 300, 600)]
)
def test_backoff_is_exponential_capped_and_jittered(attempts: int, low: float, high: float) -> None:
    policy = RetryPolicy(max_attempts=30, initial_seconds=10, max_seconds=600)
    delays = [policy.delay(attempts, random.Random(seed)) for seed in range(50)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 1  # jitter spreads retries of many notifications


def test_after_failure_gives_up_on_permanent_failures_and_after_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3, initial_seconds=1, max_seconds=10)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    retry_at = policy.after_failure(1, transient("down"), now)
    assert retry_at is not None and now + timedelta(seconds=0.5) <= retry_at <= now + timedelta(seconds=1)
    assert policy.after_failure(2, transient("down"), now) is not None
    assert policy.after_failure(3, transient("down"), now) is None
    assert policy.after_failure(1, permanent("550"), now) is None


def test_ids_are_stable_per_event_recipient_and_channel() -> None:
    a = notification_id("e1", "person:p1", "email")
    assert a == notification_id("e1", "person:p1", "email")
    assert len({a, notification_id("e1", "person:p1", "sms"), notification_id("e2", "person:p1", "email")}) == 3
    assert message_id(a, "example.org") == f"<{a}@example.org>"


@pytest.mark.parametrize(
    ("status", "kind", "configuration"),
    [(200, "sent", False), (401, "transient", True), (403, "transient", True), (400, "permanent", False)],
)
def test_sms_gateway_refusing_our_token_is_a_configuration_error_retried(
    status: int, kind: str, configuration: bool
) -> None:
    outcome = classify_sms_http(status)
    assert (outcome.kind, outcome.configuration) == (kind, configuration)


@pytest.mark.parametrize("code", [530, 534, 535, 538])
def test_smtp_authentication_replies_are_configuration_errors_retried(code: int) -> None:
    outcome = classify_smtp(code, "5.7.8 Authentication credentials invalid")
    assert outcome.kind == "transient" and outcome.configuration and outcome.error.startswith("configuration:")


@pytest.mark.parametrize("category", ["safety", "security"])
def test_safety_messages_never_give_up_on_a_transient_failure(category: str) -> None:
    policy = RetryPolicy(max_attempts=3, initial_seconds=1, max_seconds=3600, safety_max_seconds=60)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    for attempts in (3, 8, 100, 10_000):
        retry_at = policy.after_failure(attempts, transient("SMTP down"), now, category=category)
        assert retry_at is not None and retry_at <= now + timedelta(seconds=60)  # capped lower
        assert policy.beyond_budget(attempts)
    assert policy.after_failure(3, transient("SMTP down"), now, category="mission") is None
    assert policy.after_failure(1, permanent("no phone"), now, category=category) is None
    assert not policy.beyond_budget(2)


def test_redrive_takes_failed_email_and_sms_of_the_category_since_the_moment() -> None:
    from vies_notifications.redrive import failed_since

    since = datetime(2027, 1, 1, tzinfo=UTC)
    query = failed_since(since, "safety")
    assert query["status"] == "failed" and query["failed_at"] == {"$gte": since}
    assert query["category"] == {"$in": ["safety", "security"]} and query["channel"] == {"$in": ["email", "sms"]}
    assert "category" not in failed_since(since, None) and failed_since(since, "mission")["category"] == "mission"


def test_a_failed_safety_message_fails_over_to_the_other_channel() -> None:
    from vies_notifications.domain.routing import failover_channel

    assert (failover_channel("email"), failover_channel("sms"), failover_channel("webhook")) == ("sms", "email", None)


NOW = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)


def _tried(outcome: Outcome, **doc: object) -> Attempt:
    notification = _stored({"_id": "n-1", "attempts": 2, **doc})
    return Attempt(notification, outcome, address="a@example.org", language="fr", subject="S")


def _stored(doc: dict[str, object]) -> Notification:
    """A stored notification with these fields, the others as an email's to a volunteer."""
    recipient = {"key": "person:p-1", "kind": "person", "id": "p-1", "role": "volunteer"}
    return Notification.from_doc(
        {"event_id": "e-1", "channel": "email", "recipient": recipient, "status": "sending", **doc}
    )


def test_a_sent_attempt_records_sent_and_drops_the_body() -> None:
    update = changes_for(_tried(SENT_OUTCOME), NOW, None)
    assert update["$set"] == {
        "attempts": 2,
        "updated_at": NOW,
        "claim": None,
        "claimed_until": None,
        "recipient.address": "a@example.org",
        "language": "fr",
        "subject": "S",
        "status": "sent",
        "sent_at": NOW,
        "last_error": None,
        "payload": None,
    }
    assert update["$push"] == {"history": {"$each": [{"at": NOW, "outcome": "sent", "error": None}], "$slice": -20}}
    assert "$unset" not in update


def test_a_deferral_gives_its_attempt_back_and_waits_for_the_contact() -> None:
    later = NOW + timedelta(minutes=5)
    update = changes_for(_tried(deferred(WAITING_FOR_CONTACT)), NOW, later)
    assert update["$set"]["attempts"] == 1
    assert update["$set"]["status"] == "pending"
    assert update["$set"]["next_attempt_at"] == later
    assert update["$set"]["waiting_for"] == "contact"


def test_a_failure_retries_when_the_policy_says_when_and_fails_for_good_otherwise() -> None:
    retry_at = NOW + timedelta(seconds=30)
    retrying = changes_for(_tried(transient("timeout"), waiting_for="contact"), NOW, retry_at)["$set"]
    assert (retrying["status"], retrying["next_attempt_at"], retrying["last_error"]) == ("pending", retry_at, "timeout")
    failed = changes_for(_tried(permanent("550 no such user"), waiting_for="contact"), NOW, None)
    assert failed["$set"]["status"] == "failed"
    assert failed["$set"]["failed_at"] == NOW
    assert failed["$set"]["payload"] is None
    assert failed["$unset"] == {"waiting_for": ""}  # no longer waiting for anything


def test_an_attempt_not_tried_is_handed_back_with_its_attempt() -> None:
    assert _stored({"_id": "n-1", "attempts": 3}).handed_back(NOW) == {
        "$set": {"status": "pending", "next_attempt_at": NOW, "claim": None, "claimed_until": None, "attempts": 2}
    }


_NOTIFICATION = _stored({"_id": "n-1", "event_id": "e-1", "channel": "email", "category": "safety"})


def test_an_attempt_causes_an_event_only_when_sent_or_failed_for_good() -> None:
    sent = outcome_event(_NOTIFICATION, SENT_OUTCOME, retrying=False)
    assert sent == NotificationSent(notification_id="n-1", event_id="e-1", channel="email", recipient_role="volunteer")
    assert outcome_event(_NOTIFICATION, deferred("owner's rights unknown"), retrying=False) is None
    assert outcome_event(_NOTIFICATION, transient("SMTP 451 4.3.0 try later"), retrying=True) is None
    failed = outcome_event(
        _NOTIFICATION, permanent("SMTP 550 5.1.1 <jane@example.org>: Recipient address rejected"), retrying=False
    )
    assert isinstance(failed, NotificationFailed)
    assert failed.category == "safety" and failed.recipient_role == "volunteer"
    assert "jane" not in failed.error and "550 5.1.1" in failed.error
