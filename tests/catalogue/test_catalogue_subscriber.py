"""The subscriber guide's example, run as a program against the real Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path

import pytest

from vies_dev.testing.helpers import publish_event
from vies_shared.events.envelope import new_event_id
from vies_shared.events.missions import MissionEnded, MissionStarted
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "docs/examples/subscriber.py"


async def run_example(bootstrap: str, topics: list[str], group: str) -> list[dict[str, object]]:
    """Run the example as an outside subscriber would, until it has been idle for a moment."""
    env = {
        **os.environ,
        "VIES_KAFKA_BOOTSTRAP": bootstrap,
        "VIES_TOPICS": ",".join(topics),
        "VIES_GROUP": group,
        "VIES_STOP_WHEN_IDLE": "2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_example_prints_each_event_once_even_when_delivered_twice(vies_stack, topic_prefix) -> None:
    topic = events_topic("missions", topic_prefix)
    bootstrap = vies_stack.kafka_bootstrap
    started = MissionStarted(mission_id="mission-123", departed_on=date(2026, 9, 1))
    started_id = await publish_event(bootstrap, topic, started, region="FR-ARA", event_id=new_event_id(), times=2)
    ended_id = await publish_event(
        bootstrap, topic, MissionEnded(mission_id="mission-123", ended_on=date(2027, 8, 31)), region="FR-ARA"
    )

    printed = await run_example(bootstrap, [topic], f"{topic_prefix}example-org.audit")

    assert [(p["ce_id"], p["ce_type"]) for p in printed] == [
        (started_id, "missions.MissionStarted"),
        (ended_id, "missions.MissionEnded"),
    ]
    assert printed[0]["key"] == "mission-123"
    assert printed[0]["version"] == "1"
    assert printed[0]["data"] == started.model_dump(mode="json")

    # It committed what it handled: the same group, run again, prints only what came since.
    later = await publish_event(
        bootstrap, topic, MissionStarted(mission_id="mission-456", departed_on=date(2026, 10, 1))
    )
    again = await run_example(bootstrap, [topic], f"{topic_prefix}example-org.audit")
    assert [p["ce_id"] for p in again] == [later]
