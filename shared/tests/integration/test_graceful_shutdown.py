"""SIGTERM drains: the batch in flight finishes, its events are flushed, nothing is handled twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, ServiceHarness, publish_event, wait_until
from vies_shared.events.missions import MissionStarted
from vies_shared.events.partners import PartnerApproved
from vies_shared.events.topics import events_topic
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.service import ServiceDefinition, create_app
from vies_shared.storage import create_mongo_client

pytestmark = pytest.mark.integration

handler_started = asyncio.Event()


async def slow_handler(ctx: HandlerContext, event: PartnerApproved) -> None:
    handler_started.set()
    await asyncio.sleep(1.5)  # the shutdown arrives while this batch is in flight
    await ctx.uow["handled"].insert_one({"partner_id": event.partner_id})
    ctx.emit(MissionStarted(mission_id=f"m-{event.partner_id}", departed_on="2026-03-01"))  # type: ignore[arg-type]


DEFINITION = ServiceDefinition(name="missions", title="t", handlers=[slow_handler])


async def test_shutdown_finishes_the_batch_in_flight(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = vies_settings("missions")
    first = ServiceHarness(create_app(DEFINITION, settings), settings)
    await first.start()
    await publish_event(
        vies_stack.kafka_bootstrap, events_topic("partners", topic_prefix), PartnerApproved(partner_id="p")
    )
    await asyncio.wait_for(handler_started.wait(), timeout=30)
    await first.stop()  # what uvicorn does on SIGTERM

    client = create_mongo_client(settings.mongodb_uri)
    db = client[settings.mongodb_db]
    try:
        assert await db["handled"].count_documents({}) == 1
        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("missions", topic_prefix)])
        assert len(await probe.events("missions.MissionStarted")) == 1  # flushed before exit
        # A new process resumes after the committed offset: nothing is handled again.
        second = ServiceHarness(create_app(DEFINITION, settings), settings)
        await second.start()
        try:
            await publish_event(
                vies_stack.kafka_bootstrap, events_topic("partners", topic_prefix), PartnerApproved(partner_id="q")
            )
            await wait_until(lambda: _count(db, 2), timeout=30, message="second event")
            assert await db["inbox"].count_documents({}) == 2
        finally:
            await second.stop()
    finally:
        await client.close()


async def _count(db: Any, n: int) -> bool:
    return bool(await db["handled"].count_documents({}) == n)
