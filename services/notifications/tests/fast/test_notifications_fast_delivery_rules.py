"""The delivery worker's rules and updates on the typed notification: what it reads, and the fields it writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from vies_notifications.domain.delivery import (
    SENT_OUTCOME,
    WAITING_FOR_CONTACT,
    Outcome,
    deferred,
    permanent,
    transient,
)
from vies_notifications.domain.notification import Addressee, Cause, Notification

pytestmark = pytest.mark.fast

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CAUSE = Cause("ev-1", "missions.SecurityAlertIssued", NOW - timedelta(minutes=2), "corr-1")


def queued(category: str = "account", channel: str = "email", **overrides: Any) -> Notification:
    """A message to a volunteer, queued now unless ``due`` says later."""
    arguments: dict[str, Any] = {"template": "t", "category": category, "context": {}, "region": None, "now": NOW}
    recipient = Addressee.of("person", "vol-1", "volunteer")
    return Notification.queue(CAUSE, recipient, channel, **{**arguments, **overrides})


def stored(**fields: Any) -> Notification:
    """A stored notification read back as the worker reads its claims."""
    return Notification.read({**queued().to_doc(), **fields})


def _stored_paths(model: type[BaseModel] = Notification) -> set[str]:
    """Every field path of a stored notification (``recipient.address``), by its stored name."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        stored_name = info.alias or name
        paths.add(stored_name)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            paths |= {f"{stored_name}.{inner}" for inner in _stored_paths(info.annotation)}
    return paths


def _written(update: dict[str, Any]) -> set[str]:
    return {path for fields in update.values() for path in fields}


OUTCOMES: list[Outcome] = [SENT_OUTCOME, deferred(WAITING_FOR_CONTACT), transient("timeout"), permanent("550")]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda outcome: outcome.kind)
def test_every_field_the_worker_writes_is_a_field_of_the_model(outcome: Outcome) -> None:
    # A field renamed in the model fails here, not in production: the worker writes only these updates.
    notification = stored(waiting_for="contact", attempts=2)
    updates = [
        Notification.claim_update("token", NOW, 60),
        Notification.renewal(NOW),
        Notification.acceptance(NOW),
        Notification.release(NOW),
        Notification.contact_arrived(NOW),
        notification.handed_back(NOW),
        notification.tried(outcome, NOW, NOW, address="a@example.org", language="fr", subject="S"),
        notification.tried(outcome, NOW, None),
    ]
    kept: dict[str, Any] = {"$set": {}}
    Notification.keeping_event_seq(kept, 7)
    unknown = set().union(*(_written(update) for update in [*updates, kept])) - _stored_paths()
    assert unknown == set()


def test_every_field_the_worker_queries_is_a_field_of_the_model() -> None:
    queries = [
        Notification.due("email", NOW),
        Notification.stale({"$in": ["email", "sms"]}, NOW),
        Notification.not_to(["sub-1"]),
        Notification.held("token"),
        Notification.held("token", "n-1"),
        Notification.held("token", ["n-1", "n-2"]),
        Notification.sending("token"),
        Notification.waiting_for_contact_of(),
        Notification.waiting_for_contact_of(["vol-1"]),
        Notification.queued_to_endpoint("sub-1", NOW),
        {Notification.RECIPIENT_ID: "vol-1"},
    ]
    unknown = {path for query in queries for path in query} - _stored_paths()
    assert unknown == set()
    assert Notification.held("token", "n-1") == {"_id": "n-1", "claim": "token"}
    assert Notification.held("token", ["n-1"]) == {"_id": {"$in": ["n-1"]}, "claim": "token"}
    assert _written(Notification.postponed(NOW)) <= _stored_paths()


def test_a_claim_marks_the_notification_as_its_update_does_and_the_document_written_holds_it() -> None:
    notification = queued()
    notification.claimed_by("token", NOW, 60)
    update = Notification.claim_update("token", NOW, 60)
    doc = notification.to_doc()
    assert {name: doc[name] for name in update["$set"]} == update["$set"]
    assert doc["attempts"] == update["$inc"]["attempts"] == 1
    assert (notification.status, notification.claim, notification.attempts) == ("sending", "token", 1)


def test_a_message_goes_at_once_unless_delayed() -> None:
    assert queued().due_now(NOW)
    assert not queued(due=NOW + timedelta(days=3)).due_now(NOW)
    assert not queued().due_now(NOW - timedelta(seconds=1))
    naive = stored(next_attempt_at=NOW.replace(tzinfo=None))  # as a client without tz_aware reads it
    assert naive.due_now(NOW)


def test_an_email_accepted_before_its_worker_stopped_is_not_sent_again() -> None:
    assert stored(accepted_at=NOW).already_accepted
    assert not stored().already_accepted
    assert not Notification.read({**queued(channel="sms").to_doc(), "accepted_at": NOW}).already_accepted


def test_a_notification_taken_over_too_often_is_given_up_unless_a_safety_message() -> None:
    assert stored(attempts=6).out_of_claims(5)
    assert not stored(attempts=5).out_of_claims(5)
    assert not Notification.read({**queued("security").to_doc(), "attempts": 9}).out_of_claims(5)


def test_the_wait_for_contact_data_counts_from_the_due_date_and_never_ends_for_safety() -> None:
    later = NOW + timedelta(hours=2)
    assert queued().keeps_waiting_for_contact(later, 3 * 3600)
    assert not queued().keeps_waiting_for_contact(later, 3600)
    assert queued("security").keeps_waiting_for_contact(later, 3600)
    delayed = queued(due=NOW + timedelta(hours=1, minutes=30))
    assert delayed.keeps_waiting_for_contact(later, 3600)  # half an hour since it was due


def test_a_deferral_gives_back_the_attempt_its_claim_counted() -> None:
    notification = stored(attempts=3)
    assert notification.attempts_after(deferred("owner's rights unknown")) == 2
    assert notification.attempts_after(transient("timeout")) == 3
    assert stored(attempts=0).attempts_after(deferred("x")) == 0


def test_a_notification_redriven_before_it_kept_its_event_seq_orders_its_events_by_outbox_keys() -> None:
    assert stored(redriven_at=NOW).events_keyed_by_outbox
    assert not stored(redriven_at=NOW, event_seq=4).events_keyed_by_outbox
    assert not stored().events_keyed_by_outbox
