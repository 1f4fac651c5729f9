"""Check-ins and missed check-ins, with two service instances (two schedulers) on one database."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from missions_testkit import app_for, count_is, engagement, plan, settings_for, start

from vies_dev.testing import KafkaProbe, wait_until
from vies_dev.testing.helpers import ServiceHarness, running
from vies_missions import scheduler
from vies_missions.domain.mission import midnight
from vies_shared.events.recruitment import VolunteerEngaged
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def two_instances(
    vies_settings: Any, bootstrap: str, prefix: str, test_id: str, event: VolunteerEngaged, **overrides: Any
) -> AsyncIterator[tuple[ServiceHarness, ServiceHarness, str]]:
    """Two replicas on one database, both running the scheduler without its lease; the mission planned first.

    The second replica starts once the engagement is handled, so no consumer-group rebalance delays it.
    """
    db = f"t{test_id}_missions"
    settings_a = settings_for(vies_settings, mongodb_db=db, check_in_scan_exclusive=False, **overrides)
    settings_b = settings_for(vies_settings, mongodb_db=db, check_in_scan_exclusive=False, **overrides)
    async with running(app_for(settings_a), settings_a) as a:
        mission_id = await plan(a, bootstrap, prefix, event)
        async with running(app_for(settings_b), settings_b) as b:
            yield a, b, mission_id


async def _drained(svc: ServiceHarness) -> bool:
    return await svc.runtime.db["outbox"].count_documents({"published_at": None}) == 0


async def test_one_missed_check_in_per_due_date_with_two_schedulers(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    event = engagement(country="SN", starts_on=date(2026, 1, 5), months=12)
    async with two_instances(vies_settings, bootstrap, topic_prefix, test_id, event, check_in_scan_seconds=0.05) as (
        a,
        b,
        mission_id,
    ):
        # Departed six weeks and a bit ago with the default 14-day interval: three due dates passed.
        departed = datetime.now(UTC).date() - timedelta(days=45)
        await start(a, mission_id, departed)
        # Both replicas' schedulers run every 50 ms; add concurrent direct runs on both for good measure.
        runs = await asyncio.gather(*[scheduler.emit_missed_check_ins(svc.runtime) for svc in (a, b) * 4])
        expected = [midnight(departed) + timedelta(days=14 * k) for k in (1, 2, 3)]

        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        await probe.wait_for("missions.CheckInMissed", 3)
        await wait_until(
            lambda: count_is(a.runtime.db["missed_check_ins"], {"mission_id": mission_id}, 3), message="3 keys"
        )
        # Let both schedulers run many more times, then check nothing more came out.
        for _ in range(3):
            assert sum(await asyncio.gather(*[scheduler.emit_missed_check_ins(s.runtime) for s in (a, b, a, b)])) == 0
        await wait_until(lambda: _drained(a), message="outbox drained")
        missed = await probe.events("missions.CheckInMissed")
        assert sum(runs) <= 3
        assert len(missed) == 3, [m["value"] for m in missed]
        assert [m["value"]["due_on"] for m in missed] == [d.date().isoformat() for d in expected]
        assert [m["value"]["missed_in_a_row"] for m in missed] == [1, 2, 3]
        assert {m["key"] for m in missed} == {mission_id}

        # A check-in: the next one is due an interval later, and the count of misses resets.
        r = await a.client.post(
            f"/missions/{mission_id}/check-ins",
            json={"status": "concern", "note": "road blocked"},
            headers=a.auth("volunteer", sub=event.volunteer_id),
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "concern" and "incident_id" not in r.json()
        mission = (await b.client.get(f"/missions/{mission_id}", headers=b.auth("staff"))).json()
        assert mission["check_ins"]["missed_in_a_row"] == 0
        assert mission["check_ins"]["next_due_at"] > (datetime.now(UTC) + timedelta(days=13)).isoformat()
        # The centre shortens this mission's interval in a tense period; volunteers may not.
        path = f"/missions/{mission_id}/check-in-interval"
        r = await a.client.post(path, json={"days": 2}, headers=a.auth("volunteer", sub=event.volunteer_id))
        assert r.status_code == 403
        assert (await a.client.post(path, json={"days": 0}, headers=a.auth("centre", country="SN"))).status_code == 422
        r = await a.client.post(path, json={"days": 2}, headers=a.auth("centre", country="SN"))
        assert r.status_code == 200 and r.json()["check_ins"]["interval_seconds"] == 2 * 86400
        assert r.json()["check_ins"]["next_due_at"] < (datetime.now(UTC) + timedelta(days=2, minutes=1)).isoformat()
        [received] = await probe.wait_for("missions.CheckInReceived")
        assert received["value"] == {"mission_id": mission_id, "status": "concern"}
        r = await a.client.get(f"/missions/{mission_id}/check-ins", headers=a.auth("centre", country="SN"))
        assert r.json()["total"] == 1 and r.json()["items"][0]["note"] == "road blocked"
        # Only the volunteer of the mission (or its centre, staff) may check in.
        r = await a.client.post(
            f"/missions/{mission_id}/check-ins", json={"status": "ok"}, headers=a.auth("volunteer", sub="someone")
        )
        assert r.status_code == 403
        r = await a.client.post(
            f"/missions/{mission_id}/check-ins",
            json={"status": "fine"},
            headers=a.auth("volunteer", sub=event.volunteer_id),
        )
        assert r.status_code == 422

        # The safety-check deadline raced by both replicas: closed once, one SafetyCheckClosed.
        alert = {"country": "SN", "level": "crisis", "message": "m", "respond_within_hours": 1}
        alert_id = (await a.client.post("/security-alerts", json=alert, headers=a.auth("staff"))).json()["alert_id"]
        for svc in (a, b):
            svc.runtime.extras["clock"] = lambda: datetime.now(UTC) + timedelta(hours=2)
        closes = await asyncio.gather(*[scheduler.close_due_safety_checks(s.runtime) for s in (a, b, a, b)])
        assert sum(closes) <= 1
        [closed] = await probe.wait_for("missions.SafetyCheckClosed")
        assert closed["key"] == alert_id and closed["value"]["unaccounted_mission_ids"] == [mission_id]
        await wait_until(lambda: _drained(a), message="outbox drained")
        assert len(await probe.events("missions.SafetyCheckClosed")) == 1


async def test_short_interval_live_misses_are_each_emitted_once(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    event = engagement(country="BF")
    overrides = {"check_in_interval_seconds": 0.5, "check_in_scan_seconds": 0.05}
    async with two_instances(vies_settings, bootstrap, topic_prefix, test_id, event, **overrides) as (a, _, mission_id):
        await start(a, mission_id, datetime.now(UTC).date(), country="BF")
        keys = a.runtime.db["missed_check_ins"]
        await wait_until(lambda: keys.count_documents({"mission_id": mission_id}), message="first miss", timeout=10)
        # Three more due dates, each raced by two schedulers.
        await wait_until(lambda: count_is(keys, {"mission_id": mission_id}, 4), message="4 misses", timeout=10)
        r = await a.client.post(
            f"/missions/{mission_id}/interrupt", json={"reason": "personal"}, headers=a.auth("centre", country="BF")
        )
        assert r.status_code == 200
        await wait_until(lambda: _drained(a), message="outbox drained")
        recorded = [doc async for doc in keys.find({"mission_id": mission_id}).sort("due_at", 1)]
        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        missed = await probe.events("missions.CheckInMissed")
        due_ats = [m["value"]["due_at"] for m in missed]
        assert len(missed) >= 3
        assert len(due_ats) == len(set(due_ats)) == len(recorded)
        # Consecutive due dates, half a second apart: none skipped, none twice.
        moments = sorted(datetime.fromisoformat(d.replace("Z", "+00:00")) for d in due_ats)
        assert all(later - earlier == timedelta(seconds=0.5) for earlier, later in itertools.pairwise(moments))


async def test_a_due_date_already_recorded_is_not_emitted_again(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    # Scheduler effectively off (one run per hour): the test drives it by hand.
    settings = settings_for(vies_settings, check_in_scan_seconds=3600)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        event = engagement(country="SN")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        departed = datetime.now(UTC).date() - timedelta(days=30)
        await start(svc, mission_id, departed)
        first_due = midnight(departed) + timedelta(days=14)
        # As if a replica had recorded the first due date (its event is on the topic already).
        await svc.runtime.db["missed_check_ins"].insert_one(
            {"_id": scheduler.missed_key(mission_id, first_due), "mission_id": mission_id, "due_at": first_due}
        )
        assert await scheduler.emit_missed_check_ins(svc.runtime) == 1
        assert await scheduler.emit_missed_check_ins(svc.runtime) == 0
        mission = (await svc.client.get(f"/missions/{mission_id}", headers=svc.auth("staff"))).json()
        assert mission["check_ins"]["next_due_at"].startswith((first_due + timedelta(days=28)).date().isoformat())
        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        [missed] = await probe.wait_for("missions.CheckInMissed")
        assert missed["value"]["due_on"] == (first_due + timedelta(days=14)).date().isoformat()
