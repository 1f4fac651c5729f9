"""Which failures the kit retries as transient (``storage.is_transient``) and which it reports."""

from __future__ import annotations

import pytest
from aiokafka import errors as kafka_errors
from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure

from vies_shared.storage import RaceLost, is_transient


@pytest.mark.parametrize(
    "error",
    [
        kafka_errors.KafkaConnectionError(),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NodeNotReadyError(),
        kafka_errors.RequestTimedOutError(),
        # Retriable to aiokafka: a broker just restarted or electing leaders answers these for a while.
        kafka_errors.NotLeaderForPartitionError(),
        kafka_errors.LeaderNotAvailableError(),
        kafka_errors.NotEnoughReplicasError(),
        kafka_errors.NotEnoughReplicasAfterAppendError(),
        kafka_errors.CoordinatorLoadInProgressError(),
        kafka_errors.KafkaStorageError(),
        AutoReconnect("primary gone"),
        RaceLost("guarded update matched nothing"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_failures_that_go_away_by_themselves_are_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        # Retriable to aiokafka, but Kafka refusing a topic it does not know is reported, not retried silently.
        kafka_errors.UnknownTopicOrPartitionError(),
        kafka_errors.TopicAuthorizationFailedError(),
        kafka_errors.MessageSizeTooLargeError(),
        kafka_errors.OutOfOrderSequenceNumber(),
        kafka_errors.KafkaError("not marked retriable"),
        DuplicateKeyError("E11000"),
        OperationFailure("bad query"),
        ValueError("a bug"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_refusals_and_bugs_are_not_transient(error: BaseException) -> None:
    assert not is_transient(error)
