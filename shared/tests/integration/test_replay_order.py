"""DLQ replay keeps the order of an aggregate where it matters.

An event of aggregate p1 fails and is dead-lettered; a later event of p1 is applied meanwhile. When
the operator replays the first one, it is older than what the service already applied for p1:
* a handler that is not order-safe does not see it: it is parked in the DLQ again, reason
  ``stale_replay``, naming the later event; ``--force-stale`` applies it when the operator says so;
* an ``@order_safe`` handler gets it at once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.cli import app as cli
from vies_shared.events.partners import PartnerApproved, PartnerRejected, PartnerSuspended
from vies_shared.events.topics import events_topic
from vies_shared.messaging.consumer import HandlerContext, order_safe
from vies_shared.messaging.dead_letters import list_dead_letters
from vies_shared.service import ServiceDefinition, create_app
from vies_shared.settings import ServiceSettings

pytestmark = pytest.mark.integration


async def on_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
    await ctx.uow["log"].insert_one({"partner": event.partner_id, "what": "approved"})


async def on_suspended(ctx: HandlerContext, event: PartnerSuspended) -> None:
    """Not order-safe: a suspension applied after a later approval would leave the partner suspended."""
    if event.reason == "boom":
        raise ValueError("handler bug")
    await ctx.uow["log"].insert_one({"partner": event.partner_id, "what": "suspended"})


@order_safe
async def on_rejected(ctx: HandlerContext, event: PartnerRejected) -> None:
    """Order-safe: it only records the fact."""
    if event.reason == "boom":
        raise ValueError("handler bug")
    await ctx.uow["log"].insert_one({"partner": event.partner_id, "what": "rejected"})


DEFINITION = ServiceDefinition(
    name="missions",
    title="t",
    handlers=[
        on_approved,
        on_suspended,
        on_rejected,
    ],
)


def invoke(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


async def test_replayed_dead_letter_older_than_the_aggregate_is_parked_unless_order_safe(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("missions", handler_attempts=1)
    bootstrap = vies_stack.kafka_bootstrap
    topic = events_topic("partners", topic_prefix)
    env = {
        "VIES_KAFKA_BOOTSTRAP": bootstrap,
        "VIES_TOPIC_PREFIX": topic_prefix,
    }
    async with running(create_app(DEFINITION, settings), settings) as svc:
        db = svc.runtime.db
        await publish_event(bootstrap, topic, PartnerSuspended(partner_id="p1", reason="boom"))
        await publish_event(bootstrap, topic, PartnerRejected(partner_id="p2", reason="boom"))
        await publish_event(bootstrap, topic, PartnerApproved(partner_id="p1"))  # later, same key: applied
        await publish_event(bootstrap, topic, PartnerApproved(partner_id="p2"))

        async def letters() -> list[dict[str, Any]]:
            found = await list_dead_letters(
                ServiceSettings(**{k.removeprefix("VIES_").lower(): v for k, v in env.items()}), "missions"
            )
            return [d.summary() for d in found]

        first = await wait_until(lambda: _n(letters, 2), timeout=30, message="two dead letters")
        await wait_until(lambda: _logged(db, 2), timeout=30, message="both approvals applied")
        by_type = {d["ce_type"]: d for d in first}

        # Replayed with a fix: the suspension is parked (not order-safe), the rejection applied (order-safe).
        for ce_type, model in (
            ("partners.PartnerSuspended", PartnerSuspended),
            ("partners.PartnerRejected", PartnerRejected),
        ):
            fixed = json.loads(by_type[ce_type]["value"]) | {"reason": "fixed"}
            model.model_validate(fixed)
            value_file = _write(fixed)
            done = await asyncio.to_thread(
                invoke,
                env,
                "dlq",
                "replay",
                "--service",
                "missions",
                "--ref",
                by_type[ce_type]["ref"],
                "--value-file",
                value_file,
            )
            assert done.exit_code == 0, done.output

        await wait_until(lambda: _logged(db, 3), timeout=30, message="the order-safe replay applied")
        parked = await wait_until(lambda: _n(letters, 3), timeout=30, message="the stale replay parked")
        stale = parked[-1]
        assert stale["reason"] == "stale_replay" and stale["ce_type"] == "partners.PartnerSuspended"
        assert "partners.PartnerApproved" in stale["error"] and "not order-safe" in stale["error"]
        assert stale["ce_id"] == by_type["partners.PartnerSuspended"]["ce_id"]
        assert sorted([(d["partner"], d["what"]) async for d in db["log"].find()]) == [
            ("p1", "approved"),
            ("p2", "approved"),
            ("p2", "rejected"),
        ]

        # Replaying the parked one again without force parks it again, still naming its first position.
        again = await asyncio.to_thread(invoke, env, "dlq", "replay", "--service", "missions", "--ref", stale["ref"])
        assert again.exit_code == 0, again.output
        parked_again = await wait_until(lambda: _n(letters, 4), timeout=30, message="parked again")
        assert parked_again[-1]["reason"] == "stale_replay"

        # The operator decides it is harmless: --force-stale applies it.
        forced = await asyncio.to_thread(
            invoke, env, "dlq", "replay", "--service", "missions", "--ref", parked_again[-1]["ref"], "--force-stale"
        )
        assert forced.exit_code == 0, forced.output
        await wait_until(lambda: _logged(db, 4), timeout=30, message="the forced replay applied")
        assert await db["log"].count_documents({"partner": "p1", "what": "suspended"}) == 1


async def _n(letters: Any, n: int) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = await letters()
    return found if len(found) >= n else None


async def _logged(db: Any, n: int) -> bool:
    return bool(await db["log"].count_documents({}) >= n)


def _write(value: dict[str, Any]) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(value, handle)
        return handle.name
