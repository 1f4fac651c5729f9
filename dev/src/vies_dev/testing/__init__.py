"""Test helpers: the real local stack as pytest fixtures, polling waits, plain Kafka readers."""

from vies_dev.testing.helpers import (
    KafkaProbe,
    ServiceHarness,
    free_port,
    publish_event,
    publish_raw,
    wait_until,
)

__all__ = ["KafkaProbe", "ServiceHarness", "free_port", "publish_event", "publish_raw", "wait_until"]
