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
