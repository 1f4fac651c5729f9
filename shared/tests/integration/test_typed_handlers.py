"""Handlers keyed by their event class, on real Kafka: an annotated handler runs for its ``ce_type``.

The service declares ``handlers=[on_engaged, on_contact]`` and nothing else: the kit reads the types
from the annotations, subscribes to the topics their classes name (the recruitment events and the
compacted contacts topic) and gives each handler its service's settings, typed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from vies_dev.testing import wait_until
from vies_dev.testing.helpers import publish_event, running
from vies_shared.events.recruitment import ContactUpdated, PositionClosed, VolunteerEngaged
from vies_shared.events.topics import contacts_topic, events_topic
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.service import ServiceDefinition, create_app
from vies_shared.settings import ServiceSettings

pytestmark = pytest.mark.integration


class EchoSettings(ServiceSettings):
    """A service's own settings, read by its handlers without a downcast."""

    greeting: str = "hello"


async def on_engaged(ctx: HandlerContext[EchoSettings], event: VolunteerEngaged) -> None:
    await ctx.uow["seen"].insert_one(
        {"_id": ctx.meta.id, "type": ctx.meta.type, "about": event.engagement_id, "greeting": ctx.settings.greeting},
    )


async def on_contact(ctx: HandlerContext[EchoSettings], event: ContactUpdated) -> None:
    await ctx.uow["seen"].insert_one(
        {"_id": ctx.meta.id, "type": ctx.meta.type, "about": event.person_id, "greeting": ctx.settings.greeting},
    )


async def test_an_annotated_handler_is_called_for_its_event_type(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("missions", EchoSettings, greeting="bonjour")
    definition = ServiceDefinition(name="missions", title="t", handlers=[on_engaged, on_contact])
    assert definition.handled_types() == ["recruitment.ContactUpdated", "recruitment.VolunteerEngaged"]
    bootstrap = vies_stack.kafka_bootstrap
    async with running(create_app(definition, settings), settings) as svc:
        assert svc.runtime.consumer.topics == tuple(
            sorted([contacts_topic(topic_prefix), events_topic("recruitment", topic_prefix)])
        )
        recruitment_events = events_topic("recruitment", topic_prefix)
        # A type no handler is annotated with, on the same topic and partition (same key), ahead: passed over.
        await publish_event(bootstrap, recruitment_events, PositionClosed(position_id="eng-1", reason="filled"))
        engaged = await publish_event(
            bootstrap,
            recruitment_events,
            VolunteerEngaged(
                engagement_id="eng-1",
                application_id="app-1",
                volunteer_id="vol-1",
                position_id="pos-1",
                authority_id="aut-1",
                partner_id="par-1",
                country="SN",
                scheme="vsi",
                starts_on=date(2026, 9, 1),
                ends_on=date(2027, 8, 31),
            ),
            region="FR-ARA",
        )
        contact = await publish_event(
            bootstrap,
            contacts_topic(topic_prefix),
            ContactUpdated(person_id="vol-1", name="Awa", email="awa@example.org", language="fr"),
        )
        seen = svc.runtime.db["seen"]
        await wait_until(lambda: _count_is(seen, 2), message="both events handled")
        docs = {doc["_id"]: doc async for doc in seen.find({})}
        assert docs == {
            engaged: {"_id": engaged, "type": "recruitment.VolunteerEngaged", "about": "eng-1", "greeting": "bonjour"},
            contact: {"_id": contact, "type": "recruitment.ContactUpdated", "about": "vol-1", "greeting": "bonjour"},
        }
        assert await svc.runtime.db["inbox"].count_documents({"type": "recruitment.PositionClosed"}) == 0


async def _count_is(collection: Any, n: int) -> bool:
    return bool(await collection.count_documents({}) == n)
