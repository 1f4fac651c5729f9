"""Prometheus metrics of the notifications service (exposed on ``/metrics`` with the kit's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
