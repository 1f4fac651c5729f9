"""MongoDB collections of the notifications service, their indexes and small repository helpers.

Projections built from events (never from other services' databases):
``contacts`` (person id → name, email, phone, language; from the compacted
contacts topic), ``authorities``, ``positions``, ``applications``,
``missions``, ``alerts``, ``incidents``, ``partners`` (name, languages,
organisational address), ``partnerships`` (authority and partner). Own state: ``preferences``,
``notifications`` (the delivery log and the send queue at once),
``subscriptions`` (webhooks), ``digest_entries`` and ``digests``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import OperationFailure

if TYPE_CHECKING:
    from vies_shared.service import Runtime

Document = dict[str, Any]

CONTACTS = "contacts"
AUTHORITIES = "authorities"
POSITIONS = "positions"
APPLICATIONS = "applications"
MISSIONS = "missions"
ALERTS = "alerts"
INCIDENTS = "incidents"
PARTNERS = "partners"
PARTNERSHIPS = "partnerships"
PREFERENCES = "preferences"
NOTIFICATIONS = "notifications"
SUBSCRIPTIONS = "subscriptions"
DIGEST_ENTRIES = "digest_entries"
DIGESTS = "digests"

INDEXES: dict[str, list[IndexModel]] = {
    NOTIFICATIONS: [
        # One notification per (event, recipient, channel): a redelivered event never sends twice.
        IndexModel(
            [("event_id", ASCENDING), ("recipient.key", ASCENDING), ("channel", ASCENDING)],
            unique=True,
            name="one_per_event_recipient_channel",
        ),
        # Each delivery lane claims its own channel: what is due, and the claims of a crashed worker.
        IndexModel(
            [("status", ASCENDING), ("channel", ASCENDING), ("next_attempt_at", ASCENDING)], name="due_by_channel"
        ),
        IndexModel(
            [("status", ASCENDING), ("channel", ASCENDING), ("claimed_until", ASCENDING)], name="stale_by_channel"
        ),
        IndexModel([("recipient.id", ASCENDING)], name="by_recipient"),
        IndexModel([("region", ASCENDING), ("created_at", DESCENDING)], name="by_region"),
        IndexModel([("created_at", DESCENDING)], name="recent"),
    ],
    MISSIONS: [
        IndexModel([("country", ASCENDING), ("status", ASCENDING)], name="by_country_status"),
        # A volunteer's missions: the personal answer link of each alert message, erasure.
        IndexModel([("volunteer_id", ASCENDING)], name="by_volunteer"),
    ],
    INCIDENTS: [IndexModel([("region", ASCENDING), ("status", ASCENDING)], name="by_region_status")],
    PARTNERSHIPS: [IndexModel([("partner_id", ASCENDING), ("status", ASCENDING)], name="by_partner_status")],
    SUBSCRIPTIONS: [IndexModel([("status", ASCENDING), ("event_types", ASCENDING)], name="active_by_type")],
    DIGEST_ENTRIES: [IndexModel([("region", ASCENDING), ("at", ASCENDING)], name="by_region_time")],
}

# Indexes of earlier versions, dropped at start-up.
RETIRED_INDEXES = ("due", "stale_claims")


async def ensure_indexes(runtime: Runtime) -> None:
    """Create the service's indexes (idempotent)."""
    for collection, indexes in INDEXES.items():
        await runtime.db[collection].create_indexes(indexes)
    existing = await runtime.db[NOTIFICATIONS].index_information()
    for name in RETIRED_INDEXES:
        if name in existing:  # replaced by the per-channel ones: each index costs every write
            with contextlib.suppress(OperationFailure):  # another replica dropped it first
                await runtime.db[NOTIFICATIONS].drop_index(name)
