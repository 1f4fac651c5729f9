"""Idempotent consumer, dead letters and their replay against the real broker and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from vies_dev.testing import KafkaProbe, ServiceHarness, publish_event, publish_raw, wait_until
from vies_dev.testing.helpers import running
from vies_shared.cli import app as cli
from vies_shared.events.envelope import encode
from vies_shared.events.missions import MissionStarted
from vies_shared.events.partners import PartnerApproved, PartnerSuspended
from vies_shared.events.topics import dlq_topic, events_topic
from vies_shared.messaging.consumer import HandlerContext, order_safe
from vies_shared.service import ServiceDefinition, create_app

pytestmark = pytest.mark.integration


async def on_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
    """Counts approvals and emits an event of its own: both must happen once per ce_id."""
    await ctx.uow["counters"].update_one({"_id": event.partner_id}, {"$inc": {"approved": 1}}, upsert=True)
    ctx.emit(MissionStarted(mission_id=f"m-{event.partner_id}", departed_on="2026-01-01"))  # type: ignore[arg-type]


@order_safe  # it records a fact: a replay older than a later suspension of the same partner is harmless
async def on_suspended(ctx: HandlerContext, event: PartnerSuspended) -> None:
    """Fails for reason 'boom' (a bug), works otherwise."""
    if event.reason == "boom":
        raise ValueError("handler bug")
    await ctx.uow["suspended"].insert_one({"partner_id": event.partner_id})


DEFINITION = ServiceDefinition(
    name="missions",
    title="test consumer",
    handlers=[on_approved, on_suspended],
)


@pytest_asyncio.fixture
async def service(vies_settings: Any) -> AsyncIterator[ServiceHarness]:
    settings = vies_settings("missions", handler_attempts=2)
    async with running(create_app(DEFINITION, settings), settings) as harness:
        yield harness


def headers_of(event: Any, **override: str) -> list[tuple[str, bytes]]:
    _, message = encode(event)
    return [(k, v.encode()) for k, v in {**message.headers, **override}.items()]


async def test_same_event_twice_is_processed_once(service: ServiceHarness, vies_stack: Any, topic_prefix: str) -> None:
    topic = events_topic("partners", topic_prefix)
    await publish_event(vies_stack.kafka_bootstrap, topic, PartnerApproved(partner_id="p1"), times=2)
    await publish_event(vies_stack.kafka_bootstrap, topic, PartnerApproved(partner_id="p1"))  # a new ce_id counts
    db = service.runtime.db
    await wait_until(lambda: db["inbox"].count_documents({}), message="inbox")
    await wait_until(
        lambda: _count(db, "counters", {"approved": 2}), message="both distinct events handled", timeout=20
    )
    probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("missions", topic_prefix)])
    emitted = await probe.wait_for("missions.MissionStarted", 2)
    assert await db["inbox"].count_documents({}) == 2
    assert (await db["counters"].find_one({"_id": "p1"}))["approved"] == 2  # type: ignore[index]
    assert len(emitted) == 2
    # The emitted events carry the causation of the event that caused them.
    assert {e["headers"]["ce_causationid"] for e in emitted} <= {
        d["_id"] async for d in db["inbox"].find({}, {"_id": 1})
    }


async def _count(db: Any, collection: str, query: dict[str, Any]) -> int:
    n: int = await db[collection].count_documents(query)
    return n


async def test_bad_messages_go_to_dlq_and_the_partition_moves_on(
    service: ServiceHarness, vies_stack: Any, topic_prefix: str, tmp_path: Any
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    topic = events_topic("partners", topic_prefix)
    key = b"same-partition"
    valid = PartnerSuspended(partner_id="same-partition", reason="late reports")
    # 1. garbage: not a CloudEvent at all
    await publish_raw(bootstrap, topic, key=key, value=b"\x00\xffnot json", headers=[("x", b"\xff\xfe")])
    # 2. unknown ce_type
    await publish_raw(
        bootstrap, topic, key=key, value=b'{"a": 1}', headers=headers_of(valid, ce_type="partners.Unheard")
    )
    # 3. a known type with an invalid payload (reason missing)
    invalid_headers = headers_of(valid)
    await publish_raw(bootstrap, topic, key=key, value=b'{"partner_id": "same-partition"}', headers=invalid_headers)
    # 4. unknown schema version
    await publish_raw(
        bootstrap,
        topic,
        key=key,
        value=valid.model_dump_json().encode(),
        headers=headers_of(valid, ce_schemaversion="9"),
    )
    # 5. a handler that keeps failing
    await publish_event(bootstrap, topic, PartnerSuspended(partner_id="same-partition", reason="boom"))
    # 6. the next valid message on the same partition
    await publish_event(bootstrap, topic, valid)

    db = service.runtime.db
    await wait_until(lambda: _count(db, "suspended", {}), message="valid message after the bad ones", timeout=30)
    dlq = KafkaProbe(bootstrap, [dlq_topic("missions", topic_prefix)])
    letters = await wait_until(lambda: _all_records(dlq, 5), message="5 dead letters", timeout=30)
    reasons = [dict((k, v.decode(errors="replace")) for k, v in r.headers)["dlq_reason"] for r in letters]
    assert reasons == ["not_cloudevent", "unknown_type", "invalid_data", "unknown_schema_version", "handler_failed"]
    for record in letters:
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        assert record.key == key
        assert headers["dlq_topic"] == topic
        assert headers["dlq_consumer"] == f"{topic_prefix}vies.missions"
        assert {"dlq_error", "dlq_partition", "dlq_offset"} <= headers.keys()
    assert letters[2].value == b'{"partner_id": "same-partition"}'  # original value kept

    # An operator lists them, fixes the invalid payload and replays it.
    env = {
        "VIES_KAFKA_BOOTSTRAP": bootstrap,
        "VIES_TOPIC_PREFIX": topic_prefix,
    }
    runner = CliRunner()
    listed = await asyncio.to_thread(runner.invoke, cli, ["dlq", "list", "--service", "missions", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    summaries = json.loads(listed.output)
    invalid = next(s for s in summaries if s["reason"] == "invalid_data")
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({"partner_id": "same-partition", "reason": "fixed by operator"}))
    replayed = await asyncio.to_thread(
        runner.invoke,
        cli,
        ["dlq", "replay", "--service", "missions", "--ref", invalid["ref"], "--value-file", str(fixed)],
        env=env,
    )
    assert replayed.exit_code == 0, replayed.output
    await wait_until(lambda: _count(db, "suspended", {}), message="first valid", timeout=5)
    await wait_until(lambda: _count_is(db, "suspended", 2), message="replayed message processed", timeout=30)
    bad_ref = await asyncio.to_thread(
        runner.invoke, cli, ["dlq", "replay", "--service", "missions", "--ref", "0:99999"], env=env
    )
    assert bad_ref.exit_code == 2


async def _count_is(db: Any, collection: str, n: int) -> bool:
    return bool(await db[collection].count_documents({}) == n)


async def _all_records(probe: KafkaProbe, n: int) -> list[Any] | None:
    records = sorted(await probe.read(), key=lambda r: r.offset)
    return records if len(records) >= n else None
