"""The FastStream Kafka broker every service uses, with safe delivery settings.

aiokafka and FastStream default to acks=1, auto-commit and ``latest`` offsets
(docs/ARCHITECTURE.md 6); here the producer is idempotent with acks=all and the
subscribers created by ``vies_shared.messaging.consumer`` ack manually.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLScram256, SASLScram512

from vies_shared.settings import ServiceSettings


def kafka_security(settings: ServiceSettings) -> BaseSecurity | None:
    """TLS and SCRAM from settings (production), or None for a plaintext local broker."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ca_file or None)
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    scram = SASLScram256 if settings.kafka_sasl_mechanism == "SCRAM-SHA-256" else SASLScram512
    return scram(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        ssl_context=context if protocol == "SASL_SSL" else None,
    )


def aiokafka_security(settings: ServiceSettings) -> dict[str, Any]:
    """The same security as ``kafka_security`` as keyword arguments for plain aiokafka clients (operator tools)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=settings.kafka_ca_file or None)
    if protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return options


def create_broker(settings: ServiceSettings, *, client_id: str | None = None, idempotent: bool = True) -> KafkaBroker:
    """A broker whose producer waits for all in-sync replicas and never duplicates on retry.

    ``idempotent=False`` is for processes that never publish (a regional consumer): an idempotent
    producer asks the broker for a producer id at start-up, which a read-only Kafka user is refused.
    """
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id or f"vies-{settings.service}",
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=5,
        request_timeout_ms=15_000,
        allow_auto_create_topics=False,
        graceful_timeout=settings.drain_seconds,
        security=kafka_security(settings),
        # FastStream's per-message log line costs ~40 % throughput; our consumer logs what matters.
        logger=None,
    )


def is_refused(exc: BaseException) -> bool:
    """True when Kafka refuses a record for a reason that retrying will not cure.

    The topic does not exist (auto-creation is off), the client is not authorised, or the
    record is too large: an operator has to act, so these are reported, never retried silently.
    """
    from aiokafka import errors

    return isinstance(
        exc,
        (
            errors.UnknownTopicOrPartitionError,
            errors.TopicAuthorizationFailedError,
            errors.ClusterAuthorizationFailedError,
            errors.TransactionalIdAuthorizationFailed,
            errors.MessageSizeTooLargeError,
            errors.RecordTooLargeError,
            errors.RecordListTooLargeError,
            errors.InvalidTopicError,
            errors.PolicyViolationError,
        ),
    )
