"""The regional consumer keeps the records it could not apply, and replays them.

A rule that fails for two missions skips their ``MissionStarted`` (kept whole in ``skipped``); a later
``MissionEnded`` of one of them is applied. Once the rule is fixed, ``vies regional replay-skipped``
applies the one whose aggregate moved on in the meantime only when forced (it would be older than
what the view shows), the other at once.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.missions import MissionEnded, MissionStarted
from vies_shared.events.topics import events_topic
from vies_shared.regional import consumer as regional_consumer
from vies_shared.regional.app import create
from vies_shared.regional.cli import regional_app
from vies_shared.regional.settings import RegionalSettings

pytestmark = pytest.mark.integration


async def test_skipped_records_are_kept_and_replayed_in_order_where_it_matters(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = {"m-alone", "m-later"}
    real_rules = regional_consumer.changes_for

    def rules(meta: Any, event: Any) -> Any:
        if getattr(event, "mission_id", None) in broken and isinstance(event, MissionStarted):
            raise RuntimeError("a bug in a regional rule")
        return real_rules(meta, event)

    monkeypatch.setattr(regional_consumer, "changes_for", rules)
    settings: RegionalSettings = vies_settings(
        "regional",
        RegionalSettings,
        region="FR-ARA",
        mongodb_db=f"{topic_prefix.strip('.')}_regional",
        handler_attempts=1,
    )
    topic = events_topic("missions", topic_prefix)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(create(settings), settings) as svc:
        db = svc.runtime.db
        alone = await publish_event(
            bootstrap, topic, MissionStarted(mission_id="m-alone", departed_on=date(2026, 3, 1)), region="FR-ARA"
        )
        later = await publish_event(
            bootstrap, topic, MissionStarted(mission_id="m-later", departed_on=date(2026, 3, 1)), region="FR-ARA"
        )
        ended = await publish_event(
            bootstrap, topic, MissionEnded(mission_id="m-later", ended_on=date(2026, 9, 1)), region="FR-ARA"
        )

        async def settled() -> bool:
            return bool(
                await db["skipped"].count_documents({}) == 2 and await db["events"].find_one({"_id": ended}) is not None
            )

        await wait_until(settled, timeout=30, message="two skipped, the later event applied")
        kept = {d["_id"]: d async for d in db["skipped"].find()}
        assert set(kept) == {alone, later}
        assert all(d["reason"] == "handler_failed" and d["value"] and d["key"] for d in kept.values())

        broken.clear()  # the rule is fixed
        env = {
            "VIES_REGION": "FR-ARA",
            "VIES_MONGODB_URI": vies_stack.mongodb_uri,
            "VIES_MONGODB_DB": settings.mongodb_db,
            "VIES_KAFKA_BOOTSTRAP": bootstrap,
            "VIES_TOPIC_PREFIX": topic_prefix,
        }
        runner = CliRunner()
        first = await asyncio.to_thread(runner.invoke, regional_app, ["replay-skipped"], env=env)
        assert first.exit_code == 0, first.output
        assert "applied 1; still skipped 1" in first.output
        assert await db["events"].find_one({"_id": alone}) is not None
        stale = await db["skipped"].find_one({"_id": later})
        assert stale is not None and stale["reason"] == "stale_replay"
        assert "missions.MissionEnded" in stale["error"] and ended in stale["error"]

        forced = await asyncio.to_thread(runner.invoke, regional_app, ["replay-skipped", "--force-stale"], env=env)
        assert forced.exit_code == 0, forced.output
        assert "applied 1; still skipped 0" in forced.output
        assert await db["events"].find_one({"_id": later}) is not None
