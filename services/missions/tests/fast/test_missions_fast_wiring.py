"""The wiring of missions' handlers through the kit's consumer, on FastStream's ``TestKafkaBroker`` (no Kafka).

The kit's consumer is a FastStream batch subscriber (manual acks, its own parser and decoder):
here it is registered on a broker built as the service builds it, FastStream's test broker
hands it the published records, and its transactions run on the in-memory fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from missions_fast_kit import engagement, missions_runtime

from vies_dev.testing.fakes import FakeRuntime
from vies_missions.app import build_definition
from vies_missions.domain.mission import mission_id_for
from vies_missions.settings import MissionsSettings
from vies_shared.events.base import Event
from vies_shared.events.envelope import encode
from vies_shared.events.missions import MissionPlanned
from vies_shared.events.partners import PartnerSuspended
from vies_shared.events.recruitment import PositionClosed, VolunteerEngaged
from vies_shared.events.topics import dlq_topic
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.consumer import InvalidHandler

pytestmark = pytest.mark.fast


class Wired:
    """Missions on fakes with the kit's consumer on a FastStream test broker, and what reached its DLQ."""

    def __init__(self, runtime: FakeRuntime[MissionsSettings], broker: KafkaBroker) -> None:
        self.runtime = runtime
        self.broker = broker
        self.dead_letters: list[dict[str, str]] = []

    async def publish(self, event: Event, *, value: bytes | None = None) -> None:
        """Publish ``event`` as its producer would (``value``: other bytes under the event's headers)."""
        _, encoded = encode(event, time=self.runtime.now())
        await self.broker.publish(
            encoded.value if value is None else value,
            topic=type(event).topic(self.runtime.settings.topic_prefix),
            key=encoded.key.encode(),
            headers=encoded.headers,
        )


@pytest.fixture
async def wired() -> AsyncIterator[Wired]:
    runtime = await missions_runtime()
    broker = create_broker(runtime.settings)
    runtime.event_consumer(broker)
    harness = Wired(runtime, broker)

    async def raw_body(message: KafkaMessage) -> bytes:
        return bytes(message.body)  # a dead letter keeps the bytes it came with, JSON or not

    @broker.subscriber(dlq_topic("missions", runtime.settings.topic_prefix), group_id="dlq-reader", decoder=raw_body)
    async def read_dead_letter(body: bytes, message: KafkaMessage) -> None:
        harness.dead_letters.append(dict(message.headers))

    async with TestKafkaBroker(broker):
        yield harness


async def test_the_handler_annotated_with_an_event_class_is_called_for_that_ce_type(wired: Wired) -> None:
    runtime = wired.runtime
    event = engagement()
    assert VolunteerEngaged.topic() in runtime.consumed_topics()
    await wired.publish(event)
    mission = await runtime.collection("missions").find_one({"_id": mission_id_for(event.engagement_id)})
    assert mission is not None and mission["volunteer_id"] == event.volunteer_id
    [planned] = runtime.events_of(MissionPlanned)
    assert planned.engagement_id == event.engagement_id
    inbox = await runtime.collection("inbox").find_one({"type": VolunteerEngaged.TYPE})
    assert inbox is not None and inbox["consumer"] == "missions"


async def test_a_record_delivered_twice_is_handled_once(wired: Wired) -> None:
    event = engagement()
    _, encoded = encode(event, time=wired.runtime.now())
    for _ in range(2):  # the same ce_id: a redelivery
        await wired.broker.publish(
            encoded.value, topic=VolunteerEngaged.topic(), key=encoded.key.encode(), headers=encoded.headers
        )
    assert await wired.runtime.collection("inbox").count_documents({}) == 1
    assert len(wired.runtime.events_of(MissionPlanned)) == 1
    assert wired.dead_letters == []


async def test_a_type_without_handler_is_skipped_and_an_undecodable_record_is_dead_lettered(wired: Wired) -> None:
    runtime = wired.runtime
    # Recruitment's topic carries events missions does not handle: skipped, not recorded, not parked.
    await wired.publish(PositionClosed(position_id="pos-1", reason="budget", cause="cancelled"))
    assert await runtime.collection("inbox").count_documents({}) == 0
    await wired.publish(PartnerSuspended(partner_id="partner-1", reason="audit"), value=b"{not json")
    [parked] = wired.dead_letters
    assert parked["dlq_topic"] == PartnerSuspended.topic() and parked["dlq_consumer"] == "vies.missions"
    assert parked["dlq_reason"]
    # The consumer goes on with the next record.
    event = engagement(starts_on=date(2026, 2, 2))
    await wired.publish(event)
    assert [e.engagement_id for e in runtime.events_of(MissionPlanned)] == [event.engagement_id]


def test_a_handler_registered_under_no_event_class_stops_the_definition() -> None:
    async def untyped(ctx: Any, event: Any) -> None:
        return None

    settings = MissionsSettings(env="dev")
    with pytest.raises(InvalidHandler, match="not an event class"):
        definition = build_definition(settings)
        type(definition)(name="missions", title="missions", handlers=[*definition.handlers, untyped])
