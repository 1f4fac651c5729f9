"""A broker or database outage delays work, never loses it.

These tests stop and restart components of the stack the plugin started; they
are skipped when the tests run against an external stack.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import APIRouter

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import PartnerApproved, PartnerSuspended
from vies_shared.events.topics import dlq_topic, events_topic
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.service import RuntimeDep, ServiceDefinition, create_app
from vies_shared.storage import UnitOfWork

pytestmark = [pytest.mark.integration, pytest.mark.outage]

router = APIRouter()


@router.post("/partners/{partner_id}/suspend")
async def suspend(partner_id: str, step: int, runtime: RuntimeDep) -> dict[str, Any]:
    async def work(uow: UnitOfWork) -> dict[str, Any]:
        await uow["partners"].update_one({"_id": partner_id}, {"$set": {"step": step}}, upsert=True)
        uow.emit(PartnerSuspended(partner_id=partner_id, reason=f"step {step}"))
        return {"partner_id": partner_id, "step": step}

    return await runtime.transactions.run(work)


def controllable(vies_stack: Any) -> Any:
    if vies_stack.stack is None:
        pytest.skip("needs the stack started by the test plugin")
    return vies_stack.stack


async def test_commands_succeed_while_kafka_is_down_and_events_arrive_in_order(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    stack = controllable(vies_stack)
    settings = vies_settings("partners")
    async with running(
        create_app(ServiceDefinition(name="partners", title="t", routers=[router]), settings), settings
    ) as svc:
        await asyncio.to_thread(stack.stop_kafka)
        try:
            for step in range(10):
                for partner in ("a", "b", "c"):
                    r = await svc.client.post(f"/partners/{partner}/suspend", params={"step": step})
                    assert r.status_code == 200, r.text
            assert await svc.runtime.outbox.backlog() == 30
            assert (await svc.client.get("/readyz")).status_code == 503
        finally:
            await asyncio.to_thread(stack.start_kafka)
        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        events = await probe.wait_for("partners.PartnerSuspended", 30, timeout=90)
        assert len(events) == 30
        for partner in ("a", "b", "c"):
            steps = [int(e["value"]["reason"].split()[1]) for e in events if e["key"] == partner]
            assert steps == list(range(10))

        async def drained() -> bool:
            return bool(await svc.runtime.outbox.backlog() == 0)

        await wait_until(drained, message="outbox drained")


async def on_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
    await ctx.uow["approved"].insert_one({"partner_id": event.partner_id})


async def test_handler_is_retried_while_mongodb_is_down(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    stack = controllable(vies_stack)
    settings = vies_settings("missions", handler_attempts=2)
    definition = ServiceDefinition(name="missions", title="t", handlers=[on_approved])
    async with running(create_app(definition, settings), settings) as svc:
        await asyncio.to_thread(stack.stop_mongodb)
        try:
            await publish_event(
                vies_stack.kafka_bootstrap, events_topic("partners", topic_prefix), PartnerApproved(partner_id="p")
            )
            # Several retry rounds (backoff capped at 1 s in tests) fail while the database is down.
            await wait_until(lambda: _retries() >= 2 or None, timeout=60, message="retries while MongoDB is down")
        finally:
            await asyncio.to_thread(stack.start_mongodb)
        await wait_until(
            lambda: svc.runtime.db["approved"].count_documents({}), timeout=90, message="handled once MongoDB is back"
        )
        dlq = KafkaProbe(vies_stack.kafka_bootstrap, [dlq_topic("missions", topic_prefix)])
        assert await dlq.read() == []
        assert await svc.runtime.db["approved"].count_documents({}) == 1


_baseline: dict[str, float] = {}


def _retries() -> float:
    from vies_shared import metrics

    value = metrics.HANDLER_RETRIES.labels("missions")._value.get()
    start = _baseline.setdefault("missions", value)
    return float(value - start)
