"""A minimal service built on the runtime: command → outbox → relay → Kafka → another service's inbox."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter

from vies_dev.testing import KafkaProbe, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import PartnerApproved
from vies_shared.events.topics import events_topic
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.service import RuntimeDep, ServiceDefinition, create_app
from vies_shared.storage import UnitOfWork
from vies_shared.web import CurrentPrincipal

pytestmark = pytest.mark.integration

router = APIRouter()


@router.post("/partners/{partner_id}/approve", status_code=200)
async def approve(partner_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    principal.require_role("centre")

    async def work(uow: UnitOfWork) -> dict[str, Any]:
        await uow["partners"].update_one({"_id": partner_id}, {"$set": {"status": "approved"}}, upsert=True)
        uow.emit(PartnerApproved(partner_id=partner_id), region="FR-ARA")
        return {"partner_id": partner_id, "status": "approved"}

    return await runtime.transactions.run(work)


async def on_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
    # Handlers reach their service's settings through the runtime (a failed assert would dead-letter).
    assert ctx.runtime is not None and ctx.runtime.settings.service == "missions"
    await ctx.uow["approved"].insert_one({"partner_id": event.partner_id})


async def test_command_to_other_service(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    producer = create_app(
        ServiceDefinition(name="partners", title="p", routers=[router], publishes=[PartnerApproved]),
        vies_settings("partners"),
    )
    consumer = create_app(
        ServiceDefinition(name="missions", title="m", handlers=[on_approved]),
        vies_settings("missions"),
    )
    async with running(producer, producer.state.settings) as p, running(consumer, consumer.state.settings) as m:
        assert (await p.client.post("/partners/x1/approve")).status_code == 401
        assert (await p.client.post("/partners/x1/approve", headers=p.auth("volunteer"))).status_code == 403
        r = await p.client.post("/partners/x1/approve", headers=p.auth("centre", country="SN"))
        assert r.status_code == 200, r.text
        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        [event] = await probe.wait_for("partners.PartnerApproved")
        assert event["key"] == "x1" and event["headers"]["ce_region"] == "FR-ARA"
        assert event["headers"]["ce_correlationid"] == r.headers["x-request-id"]
        await wait_until(lambda: m.runtime.db["approved"].count_documents({}), message="handled")
        spec = (await p.client.get("/asyncapi.json")).json()
        assert spec["asyncapi"].startswith("3.")
        metrics = (await p.client.get("/metrics")).text
        assert "vies_events_published_total" in metrics
