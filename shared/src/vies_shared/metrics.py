"""Prometheus metrics of the platform (served on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("vies_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("vies_http_request_seconds", "HTTP request latency", ["service", "method", "route"])
EVENTS_CONSUMED = Counter("vies_events_consumed_total", "Events consumed, by outcome", ["service", "type", "outcome"])
EVENTS_PUBLISHED = Counter("vies_events_published_total", "Events published by the outbox relay", ["service", "type"])
EVENTS_DEAD_LETTERED = Counter(
    "vies_events_dead_lettered_total", "Messages sent to the dead-letter topic", ["service", "reason"]
)
OUTBOX_BACKLOG = Gauge("vies_outbox_backlog", "Events waiting in the outbox", ["service"])
HANDLER_LATENCY = Histogram(
    "vies_handler_seconds", "Time to handle one event (transaction included)", ["service", "type"]
)
HANDLER_RETRIES = Counter("vies_handler_retries_total", "Transient failures retried in place", ["service"])
CONSUMER_BLOCKED = Gauge(
    "vies_consumer_blocked",
    "1 while a consumer cannot move on: its dead-letter topic refuses records (alert on it)",
    ["service", "consumer"],
)
CONSUMER_LAG = Gauge("vies_consumer_lag", "Records not yet committed, per partition", ["service", "topic", "partition"])
CONSUMER_STALLED = Gauge(
    "vies_consumer_stalled_partitions", "Partitions with lag whose committed offset has not moved", ["service"]
)
OUTBOX_STUCK = Gauge("vies_outbox_stuck", "Pending outbox records the relay cannot publish", ["service"])
RELAY_PRODUCER_REPLACED = Counter(
    "vies_relay_producer_replaced_total",
    "Kafka producers the outbox relay replaced because their idempotent sequence could not recover",
    ["service", "reason"],
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "vies_outbox_oldest_pending_seconds", "Age of the oldest pending outbox event", ["service"]
)
MONGODB_COMMANDS = Counter(
    "vies_mongodb_commands_total",
    "MongoDB commands sent by this process (PyMongo command monitoring), by command name",
    ["service", "command"],
)
