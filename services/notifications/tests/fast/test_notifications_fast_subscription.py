"""The webhook subscription: its stored document (as it always was, read back as stored) and its rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import pytest

from vies_notifications.domain.subscription import WebhookSubscription

pytestmark = pytest.mark.fast

NOW = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
SEALED = {"secret_sealed": "gAAAAAB-sealed-token", "secret_key_id": "k-1a2b3c"}


def subscribed(**overrides: Any) -> WebhookSubscription:
    """A branch's new subscription to two event types (given unsorted, once twice)."""
    arguments: dict[str, Any] = {
        "url": "https://hooks.example.org/vies",
        "event_types": ["partners.PartnerApproved", "missions.MissionStarted", "partners.PartnerApproved"],
        "sealed": SEALED,
        "owner": "kc-branch-1",
        "owner_role": "branch",
        "contact_email": "it@branch.example.org",
        "scope_region": "FR-BRE",
        "now": NOW,
        **overrides,
    }
    return WebhookSubscription.subscribe(**arguments)


def stored(secret: dict[str, str] = SEALED, **changes: Any) -> dict[str, Any]:
    """A subscription's document as the service has always written it at creation (then ``changes``).

    ``secret``: the secret's fields, sealed; an early version stored ``{"secret": ...}`` in their place.
    """
    doc: dict[str, Any] = {
        "_id": "3f1c9a52-0d7e-4a8b-9c61-2b5e8f0a7d14",
        "url": "https://hooks.example.org/vies",
        "event_types": ["missions.MissionStarted", "partners.PartnerApproved"],
        **secret,
        "status": "active",
        "owner": "kc-branch-1",
        "owner_role": "branch",
        "contact_email": "it@branch.example.org",
        "scope_region": "FR-BRE",
        "failing_since": None,
        "last_error": None,
        "created_at": NOW,
    }
    doc.update(changes)
    return doc


def test_a_new_subscription_is_stored_as_it_always_was() -> None:
    subscription = subscribed()
    doc = subscription.to_doc()
    doc_id = doc["_id"]
    assert isinstance(doc_id, str) and len(doc_id) == 36  # a fresh uuid
    assert bson.encode(doc) == bson.encode(stored(_id=doc_id))  # same fields, values, types and order
    assert "secret" not in doc  # only sealed
    assert "sealed" not in repr(subscription)


@pytest.mark.parametrize(
    "doc",
    [
        stored(),
        stored(failing_since=NOW + timedelta(hours=1), last_error="HTTP 503"),
        stored(status="disabled", failing_since=NOW, last_error="HTTP 503", disabled_at=NOW + timedelta(days=3)),
        stored(status="suspended", suspended_at=NOW, suspended_reason="the owner's account is disabled"),
        stored(owner="kc-staff-1", owner_role="staff", contact_email=None, scope_region=None),
        stored({"secret": "whsec_early-version-in-clear"}),
    ],
    ids=["new", "failing", "disabled", "suspended", "staff", "early-version"],
)
def test_every_stored_shape_reads_back_as_stored(doc: dict[str, Any]) -> None:
    assert bson.encode(WebhookSubscription.from_doc(doc).to_doc()) == bson.encode(doc)


def test_an_early_version_subscription_sealed_at_start_up_loads_with_its_fields_in_another_order() -> None:
    # Sealing an early document at start-up appends the sealed fields after the others ($set) and drops ``secret``.
    resealed = {k: v for k, v in stored({"secret": "whsec_early-version-in-clear"}).items() if k != "secret"}
    resealed.update(SEALED)
    assert list(resealed)[-2:] == list(SEALED)
    loaded = WebhookSubscription.from_doc(resealed)
    assert loaded.to_doc() == resealed and loaded.secret is None
    assert loaded.changes() == {}  # nothing to write back


def test_a_subscription_receives_its_types_and_a_branch_its_own_region() -> None:
    branch = WebhookSubscription.from_doc(stored())
    assert branch.wants("partners.PartnerApproved", "FR-BRE")
    assert not branch.wants("partners.PartnerApproved", "FR-NOR")
    assert not branch.wants("partners.PartnerApproved", None)
    assert not branch.wants("partners.PartnerSuspended", "FR-BRE")
    staff = WebhookSubscription.from_doc(stored(scope_region=None))
    assert staff.wants("partners.PartnerApproved", "FR-NOR") and staff.wants("partners.PartnerApproved", None)
    assert branch.subscribes_to_any(frozenset({"missions.MissionStarted", "x.Y"}))
    assert not branch.subscribes_to_any(frozenset({"x.Y"}))


def test_why_nothing_goes_to_an_inactive_subscription() -> None:
    assert WebhookSubscription.from_doc(stored()).inactive_because() is None
    assert WebhookSubscription.from_doc(stored(status="disabled")).inactive_because() == "subscription disabled"
    suspended = stored(status="suspended", suspended_reason="the owner's account is disabled")
    assert WebhookSubscription.from_doc(suspended).inactive_because() == (
        "subscription suspended: the owner's account is disabled"
    )


def test_suspending_writes_the_three_fields_it_always_wrote() -> None:
    subscription = WebhookSubscription.from_doc(stored())
    subscription.suspend("the owner's account no longer exists", NOW)
    expected = {"status": "suspended", "suspended_at": NOW, "suspended_reason": "the owner's account no longer exists"}
    assert bson.encode(subscription.changes()) == bson.encode(expected)


def test_an_endpoint_failing_too_long_is_disabled() -> None:
    limit = 3600.0
    failing = WebhookSubscription.from_doc(stored(failing_since=NOW))
    assert not failing.failing_too_long(NOW + timedelta(seconds=limit - 1), limit)
    assert failing.failing_too_long(NOW + timedelta(seconds=limit), limit)
    assert not WebhookSubscription.from_doc(stored()).failing_too_long(NOW + timedelta(days=9), limit)
    suspended = WebhookSubscription.from_doc(stored(status="suspended", failing_since=NOW))
    assert not suspended.failing_too_long(NOW + timedelta(days=9), limit)
    # A moment read without its zone is UTC.
    naive = WebhookSubscription.from_doc(stored(failing_since=NOW.replace(tzinfo=None)))
    assert naive.failing_since_utc == NOW and naive.failing_too_long(NOW + timedelta(seconds=limit), limit)
    failing.disable(NOW + timedelta(hours=2))
    expected = {"status": "disabled", "disabled_at": NOW + timedelta(hours=2)}
    assert bson.encode(failing.changes()) == bson.encode(expected)
