"""The notification's two mappings: to its stored document (new and delivered) and to the delivery log's view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vies_notifications.domain.delivery import notification_id
from vies_notifications.domain.notification import Addressee, Cause, Notification
from vies_notifications.views import NotificationView, show

pytestmark = pytest.mark.fast

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CAUSE = Cause("ev-1", "missions.SecurityAlertIssued", NOW - timedelta(minutes=2), "corr-1")


def queued(**overrides: Any) -> Notification:
    """A security alert's email to a volunteer, queued now."""
    arguments: dict[str, Any] = {
        "template": "security_alert",
        "category": "security",
        "context": {"alert_id": "al-1", "mission_ids": ["m-1"]},
        "region": "FR-BRE",
        "now": NOW,
        **overrides,
    }
    return Notification.queue(CAUSE, Addressee.of("person", "vol-1", "volunteer"), "email", **arguments)


def test_a_new_notification_is_stored_pending_with_its_fields_in_order() -> None:
    doc = queued().to_doc()
    assert doc == {
        "_id": notification_id("ev-1", "person:vol-1", "email"),
        "event_id": "ev-1",
        "event_type": "missions.SecurityAlertIssued",
        "occurred_at": NOW - timedelta(minutes=2),
        "correlation_id": "corr-1",
        "channel": "email",
        "template": "security_alert",
        "category": "security",
        "recipient": {"key": "person:vol-1", "kind": "person", "id": "vol-1", "role": "volunteer"},
        "context": {"alert_id": "al-1", "mission_ids": ["m-1"]},
        "payload": None,
        "region": "FR-BRE",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    # The order as stored (dict equality ignores it); no delivery field before the first attempt.
    assert list(doc)[-5:] == ["status", "attempts", "next_attempt_at", "created_at", "updated_at"]
    assert list(doc)[8:10] == ["recipient", "context"]


def test_a_delayed_notification_records_when_it_was_due_and_its_trace() -> None:
    later = NOW + timedelta(days=3)
    doc = queued(due=later, traceparent="00-trace-span-01").to_doc()
    assert doc["next_attempt_at"] == later
    assert list(doc)[-2:] == ["due_at", "traceparent"] and doc["due_at"] == later
    assert "due_at" not in queued(due=NOW - timedelta(hours=1)).to_doc()  # due already: sent at once


def test_the_messages_of_one_event_share_its_facts_rather_than_copy_them() -> None:
    facts = {"mission_ids": [f"m-{i}" for i in range(1000)]}
    assert queued(context=facts).to_doc()["context"] is facts


def test_a_recipient_known_by_address_keeps_it_and_its_name() -> None:
    owner = Addressee(key="subscription_owner:s-1", kind="subscription_owner", id="kc-1", role="subscription_owner")
    owner = owner.model_copy(update={"address": "ops@example.org", "name": "kc-1"})
    doc = Notification.queue(
        CAUSE, owner, "email", template="t", category="account", context={}, region=None, now=NOW
    ).to_doc()
    assert list(doc["recipient"]) == ["key", "kind", "id", "role", "address", "name"]


def delivered() -> dict[str, Any]:
    """A document as the delivery worker leaves it: sent after a failed attempt."""
    doc = queued().to_doc()
    doc["recipient"] = {**doc["recipient"], "address": "jane.doe@example.org"}
    doc.update(
        attempts=2,
        claim=None,
        claimed_until=None,
        language="fr",
        subject="Alerte",
        history=[
            {"at": NOW, "outcome": "transient", "error": "SMTP 451 jane.doe@example.org busy"},
            {"at": NOW + timedelta(minutes=1), "outcome": "sent", "error": None},
        ],
        status="sent",
        sent_at=NOW + timedelta(minutes=1),
        last_error=None,
        payload=None,
    )
    return doc


def test_a_delivered_document_reads_back_as_stored() -> None:
    doc = delivered()
    assert Notification.from_doc(doc).to_doc() == doc


def test_the_log_view_lists_its_fields_in_the_answers_order() -> None:
    view = show(NotificationView.of(Notification.from_doc(delivered())))
    assert list(view) == [
        "notification_id",
        "event_id",
        "event_type",
        "channel",
        "template",
        "category",
        "recipient",
        "language",
        "subject",
        "region",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "sent_at",
        "history",
    ]
    assert view["recipient"] == {
        "role": "volunteer",
        "kind": "person",
        "id": "vol-1",
        "address": "jane.doe@example.org",
    }
    assert view["next_attempt_at"] is None  # shown only while pending
    assert view["sent_at"] == "2026-05-01T12:01:00Z"
    assert "context" not in view and "payload" not in view
    json.dumps(view)  # plain JSON


def test_a_pending_webhook_shows_when_it_is_tried_next_and_no_template() -> None:
    webhook = Notification.queue(
        CAUSE,
        Addressee.of("subscription", "s-1", "subscriber"),
        "webhook",
        template="",
        category="webhook",
        context={},
        region=None,
        now=NOW,
        payload="{}",
    )
    view = show(NotificationView.of(webhook))
    assert view["template"] is None and view["next_attempt_at"] == "2026-05-01T12:00:00Z"
    assert view["attempts"] == 0 and view["history"] == []


def test_a_branch_sees_addresses_masked_except_its_offices() -> None:
    view = show(NotificationView.of(Notification.from_doc(delivered()), masked=True))
    assert view["recipient"]["address"] == "j***@example.org"
    assert view["history"][0]["error"] == "SMTP 451 j***@example.org busy"
    office = delivered()
    office["recipient"] = {"key": "centre:SN", "kind": "centre", "id": "SN", "role": "centre", "address": "c@x.org"}
    assert show(NotificationView.of(Notification.from_doc(office), masked=True))["recipient"]["address"] == "c@x.org"
