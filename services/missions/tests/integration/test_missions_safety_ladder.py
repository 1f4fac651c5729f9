"""The ladder of a safety check: reminders, the deadline, then the head office, each step once.

Two replicas on one database run the ladder without its lease (and are raced by direct runs), against
the real Kafka broker and MongoDB server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start

from vies_dev.testing import KafkaProbe, wait_until
from vies_dev.testing.helpers import ServiceHarness, running
from vies_missions import scheduler
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration

LADDER_TYPES = (
    "missions.SafetyCheckReminded",
    "missions.SafetyCheckClosed",
    "missions.SafetyCheckEscalated",
)


@asynccontextmanager
async def _two_replicas(vies_settings: Any, test_id: str) -> AsyncIterator[tuple[ServiceHarness, ServiceHarness]]:
    db = f"t{test_id}_missions"
    overrides = {
        "mongodb_db": db,
        "safety_ladder_exclusive": False,
        "safety_reminder_before_deadline_seconds": 3600,
        "safety_head_office_delay_seconds": 1800,
    }
    settings_a, settings_b = settings_for(vies_settings, **overrides), settings_for(vies_settings, **overrides)
    async with running(app_for(settings_a), settings_a) as a, running(app_for(settings_b), settings_b) as b:
        yield a, b


def _at(offset: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + offset


async def _steps(svc: ServiceHarness, alert_id: str) -> list[tuple[str, Any]]:
    """The ladder's events in the outbox, in order: (type, stage or unaccounted list)."""
    cursor = svc.runtime.db["outbox"].find({"key": alert_id, "type": {"$in": list(LADDER_TYPES)}}).sort("seq", 1)
    steps = []
    async for doc in cursor:
        data = json.loads(doc["value"])
        steps.append((doc["type"], data.get("stage") or data.get("unaccounted_mission_ids")))
    return steps


async def test_reminders_deadline_and_head_office_each_once_with_two_schedulers(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    async with _two_replicas(vies_settings, test_id) as (a, b):
        missions = [await plan(a, bootstrap, topic_prefix, engagement(country="ML")) for _ in range(2)]
        for mission_id in missions:
            await start(a, mission_id, datetime.now(UTC).date() - timedelta(days=3), country="ML")
        alert = {"country": "ML", "level": "crisis", "message": "Stay home", "respond_within_hours": 8}
        r = await a.client.post("/security-alerts", json=alert, headers=a.auth("staff"))
        assert r.status_code == 201, r.text
        alert_id = r.json()["alert_id"]

        async def race(offset: timedelta, expected: list[tuple[str, Any]]) -> None:
            # Both replicas' ladders tick every 0.2 s; direct runs on both race them.
            for svc in (a, b):
                svc.runtime.extras["clock"] = _at(offset)
            await asyncio.gather(
                *[scheduler.remind_unanswered_volunteers(s.runtime) for s in (a, b, a, b)],
                *[scheduler.close_due_safety_checks(s.runtime) for s in (a, b)],
                *[scheduler.escalate_unaccounted_to_head_office(s.runtime) for s in (a, b, a, b)],
            )

            async def reached() -> bool:
                return await _steps(a, alert_id) == expected

            await wait_until(reached, timeout=15, message=f"ladder at {offset}: {expected}")

        # Half the window: both reminded.
        await race(timedelta(hours=4, minutes=1), [("missions.SafetyCheckReminded", "half_time")])
        r = await a.client.post(
            f"/security-alerts/{alert_id}/responses",
            json={"mission_id": missions[0], "status": "safe"},
            headers=a.auth("staff"),
        )
        assert r.status_code == 201, r.text
        # An hour before the deadline: only the one who has not answered.
        second = [("missions.SafetyCheckReminded", "half_time"), ("missions.SafetyCheckReminded", "before_deadline")]
        await race(timedelta(hours=7, minutes=1), second)
        # The deadline: the unaccounted list (to the centre and the duty officer).
        closed = [*second, ("missions.SafetyCheckClosed", [missions[1]])]
        await race(timedelta(hours=8, minutes=1), closed)
        # Not yet the head office: the delay runs.
        await race(timedelta(hours=8, minutes=20), closed)
        # After the delay, still unaccounted: the head office.
        await race(timedelta(hours=8, minutes=35), [*closed, ("missions.SafetyCheckEscalated", [missions[1]])])
        await race(timedelta(hours=12), [*closed, ("missions.SafetyCheckEscalated", [missions[1]])])

        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        reminders = await probe.wait_for("missions.SafetyCheckReminded", 2, where=lambda e: e["key"] == alert_id)
        assert [sorted(e["value"]["mission_ids"]) for e in reminders] == [sorted(missions), [missions[1]]]
        assert all(e["value"]["message"] == "Stay home" and e["value"]["country"] == "ML" for e in reminders)
        [escalated] = await probe.wait_for("missions.SafetyCheckEscalated", where=lambda e: e["key"] == alert_id)
        assert escalated["value"]["escalated_to"] == "head_office"
        status = (await a.client.get(f"/security-alerts/{alert_id}", headers=a.auth("staff"))).json()
        assert status["reminders_sent"] == ["half_time", "before_deadline"] and status["escalation"] == "done"
