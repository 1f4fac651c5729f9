"""Prometheus metrics of the notifications service (exposed on ``/metrics`` with the kit's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "vies_notifications_deliveries_total", "Delivery attempts by channel and outcome", ["service", "channel", "outcome"]
)
SMTP_CONNECTIONS = Counter("vies_notifications_smtp_connections_total", "SMTP connections opened", ["service"])
QUEUE = Gauge("vies_notifications_due", "Notifications claimed in the last delivery pass", ["service"])
SUBSCRIPTIONS_SUSPENDED = Counter(
    "vies_notifications_subscriptions_suspended_total",
    "Webhook subscriptions suspended because their owner lost the rights to receive them",
    ["service"],
)
PROVIDER_AUTH_FAILURES = Counter(
    "vies_notifications_provider_auth_failures_total",
    "Delivery attempts refused because a provider rejected the platform's credentials (SMTP 530/535, SMS 401/403)",
    ["service", "channel"],
)
SAFETY_BEYOND_BUDGET = Counter(
    "vies_notifications_safety_retries_beyond_budget_total",
    "Failed attempts of safety messages that have used up the ordinary retry budget and keep retrying",
    ["service", "channel"],
)
SAFETY_FAILED = Counter(
    "vies_notifications_safety_failed_total",
    "Safety messages that failed for good (permanent failure: no address, address refused)",
    ["service", "channel"],
)
DELIVERY_SECONDS = Histogram(
    "vies_notifications_delivery_seconds",
    "From a notification being queued (or due) to its channel accepting it",
    ["service", "channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
CLAIM_RENEWALS = Counter(
    "vies_notifications_claim_renewals_total",
    "Claims renewed because their delivery pass was still running",
    ["service"],
)
RESENDS_AVOIDED = Counter(
    "vies_notifications_resends_avoided_total",
    "Emails taken over after a stop or crash that the SMTP server had already accepted: recorded, not sent again",
    ["service"],
)
RELEASED_ON_CONTACT = Counter(
    "vies_notifications_released_on_contact_total",
    "Messages waiting for their recipient's contact data, released the moment the data were stored",
    ["service"],
)
