"""The staff-only dead-letter API against the real broker: list, show, replay with the CLI's rules.

A poison message of aggregate p1 is dead-lettered and a later event of p1 applied; replayed through
HTTP with a fix, it is parked again as ``stale_replay`` (the handler is not order-safe), exactly as
``vies dlq replay`` does; ``force_stale`` applies it.
"""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import ServiceHarness, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import PartnerApproved, PartnerSuspended
from vies_shared.events.topics import events_topic
from vies_shared.messaging import dead_letter_api
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.service import ServiceDefinition, create_app

pytestmark = pytest.mark.integration


async def on_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
    await ctx.uow["log"].insert_one({"partner": event.partner_id, "what": "approved"})


async def on_suspended(ctx: HandlerContext, event: PartnerSuspended) -> None:
    """Not order-safe; fails for reason 'boom' (the poison message)."""
    if event.reason == "boom":
        raise ValueError("handler bug")
    await ctx.uow["log"].insert_one({"partner": event.partner_id, "what": "suspended"})


DEFINITION = ServiceDefinition(
    name="missions",
    title="t",
    routers=[dead_letter_api.router],
    handlers=[on_approved, on_suspended],
)


async def _letters(svc: ServiceHarness, n: int) -> list[dict[str, Any]] | None:
    r = await svc.client.get("/dead-letters", headers=svc.auth("staff", "duty-officer"))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items if r.json()["total"] >= n else None


async def _logged(svc: ServiceHarness, n: int) -> bool:
    return bool(await svc.runtime.db["log"].count_documents({}) >= n)


async def test_staff_lists_shows_and_replays_dead_letters_with_the_order_rule(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("missions", handler_attempts=1)
    bootstrap = vies_stack.kafka_bootstrap
    topic = events_topic("partners", topic_prefix)
    async with running(create_app(DEFINITION, settings), settings) as svc:
        staff = svc.auth("staff", "duty-officer")
        # Staff only: no token is a 401, every other role a 403, before any broker is read.
        assert (await svc.client.get("/dead-letters")).status_code == 401
        for role in ("branch", "centre", "authority"):
            r = await svc.client.get("/dead-letters", headers=svc.auth(role, region="FR-ARA", country="SN"))
            assert r.status_code == 403, (role, r.text)
        r = await svc.client.post("/dead-letters/replay", json={"all": True}, headers=svc.auth("centre", country="SN"))
        assert r.status_code == 403

        await publish_event(bootstrap, topic, PartnerSuspended(partner_id="p1", reason="boom"))
        await publish_event(bootstrap, topic, PartnerApproved(partner_id="p1"))  # later, same key: applied
        first = await wait_until(lambda: _letters(svc, 1), timeout=30, message="the poison message dead-lettered")
        await wait_until(lambda: _logged(svc, 1), timeout=30, message="the later approval applied")
        poison = first[0]
        assert poison["reason"] == "handler_failed" and poison["ce_type"] == "partners.PartnerSuspended"

        shown = await svc.client.get(f"/dead-letters/{poison['ref']}", headers=staff)
        assert shown.status_code == 200
        assert shown.json()["headers"]["dlq_topic"] == topic and '"boom"' in shown.json()["value"]
        assert (await svc.client.get("/dead-letters/0:999999", headers=staff)).status_code == 404
        assert (await svc.client.get("/dead-letters/nonsense", headers=staff)).status_code == 422

        # The CLI's refusals: refs or all, a fix with exactly one ref, unknown refs named.
        for body, status in (
            ({}, 422),
            ({"refs": [poison["ref"]], "all": True}, 422),
            ({"all": True, "value": {"partner_id": "p1"}}, 422),
            ({"refs": ["0:999999"]}, 404),
        ):
            r = await svc.client.post("/dead-letters/replay", json=body, headers=staff)
            assert r.status_code == status, (body, r.text)

        # Replayed with a fix: older than the approval applied since, and not order-safe, so parked again.
        fixed = {"partner_id": "p1", "reason": "fixed by the duty officer"}
        r = await svc.client.post("/dead-letters/replay", json={"refs": [poison["ref"]], "value": fixed}, headers=staff)
        assert r.status_code == 200 and r.json()["replayed"] == [poison["ref"]] and r.json()["corrected"]
        parked = await wait_until(lambda: _letters(svc, 2), timeout=30, message="the stale replay parked")
        stale = parked[-1]
        assert stale["reason"] == "stale_replay" and stale["ce_id"] == poison["ce_id"]
        assert "reason" in stale["value"] and "fixed by the duty officer" in stale["value"]
        assert await svc.runtime.db["log"].count_documents({"what": "suspended"}) == 0

        # The operator decides it is harmless: force_stale applies it, once.
        r = await svc.client.post(
            "/dead-letters/replay", json={"refs": [stale["ref"]], "force_stale": True}, headers=staff
        )
        assert r.status_code == 200 and r.json()["force_stale"]
        await wait_until(lambda: _logged(svc, 2), timeout=30, message="the forced replay applied")
        assert await svc.runtime.db["log"].count_documents({"partner": "p1", "what": "suspended"}) == 1
