"""Mission lifecycle through the HTTP API: checklist, departure, extension, interviews, end — and the 409s."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from missions_testkit import ALL_ITEMS, app_for, engagement, plan, settings_for, start

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_missions import scheduler
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def test_lifecycle_with_its_conflicts(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        event = engagement(country="SN", scheme="vsi", starts_on=date(2026, 1, 5), months=12)
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        centre = svc.auth("centre", country="SN")
        volunteer = svc.auth("volunteer", sub=event.volunteer_id)
        base = f"/missions/{mission_id}"

        # Departure refused while the checklist is incomplete, listing what is missing.
        r = await svc.client.post(f"{base}/start", json={"departed_on": "2026-01-10"}, headers=centre)
        assert r.status_code == 409, r.text
        assert r.json()["details"]["missing"] == list(ALL_ITEMS)
        # The volunteer ticks their own items; insurance and visa are certified by the centre.
        for item, who in (("training", volunteer), ("insurance", centre), ("visa", centre)):
            r = await svc.client.post(f"{base}/checklist", json={"item": item, "done_on": "2026-01-02"}, headers=who)
            assert r.status_code == 200, r.text
        r = await svc.client.post(f"{base}/start", json={"departed_on": "2026-01-10"}, headers=centre)
        assert r.status_code == 409
        assert r.json()["details"]["missing"] == ["travel_registration", "emergency_contact"]
        assert "travel_registration" in r.json()["detail"]
        r = await svc.client.post(
            f"{base}/checklist", json={"item": "passport", "done_on": "2026-01-02"}, headers=centre
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "item"
        # Not allowed before departure.
        assert (
            await svc.client.post(f"{base}/extend", json={"ends_on": "2027-01-01"}, headers=centre)
        ).status_code == 409
        r = await svc.client.post(f"{base}/end", json={"ended_on": "2026-02-01", "debrief": "x"}, headers=centre)
        assert r.status_code == 409
        r = await svc.client.post(f"{base}/follow-ups/start/done", json={"done_on": "2026-01-11"}, headers=centre)
        assert r.status_code == 409
        for item in ("travel_registration", "emergency_contact"):
            r = await svc.client.post(f"{base}/checklist", json={"item": item, "done_on": "2026-01-03"}, headers=centre)
            assert r.status_code == 200

        # A volunteer may not record their own departure; the centre of another country neither.
        r = await svc.client.post(f"{base}/start", json={"departed_on": "2026-01-10"}, headers=volunteer)
        assert r.status_code == 403
        other = svc.auth("centre", country="BF")
        assert (
            await svc.client.post(f"{base}/start", json={"departed_on": "2026-01-10"}, headers=other)
        ).status_code == 403
        assert (await svc.client.post(f"{base}/start", json={"departed_on": "soon"}, headers=centre)).status_code == 422
        r = await svc.client.post(f"{base}/start", json={"departed_on": "2026-01-10"}, headers=centre)
        assert r.status_code == 200, r.text
        mission = r.json()
        assert mission["status"] == "started" and mission["departed_on"] == "2026-01-10"
        assert mission["check_ins"]["next_due_at"].startswith("2026-01-24")  # 14 days after departure
        follow_ups = {f["stage"]: f["due_on"] for f in mission["follow_ups"]}
        assert follow_ups["start"] == "2026-02-09" and follow_ups["end"] == "2026-12-01"
        assert (
            await svc.client.post(f"{base}/start", json={"departed_on": "2026-01-10"}, headers=centre)
        ).status_code == 409
        r = await svc.client.post(f"{base}/checklist", json={"item": "visa", "done_on": "2026-01-12"}, headers=centre)
        assert r.status_code == 409

        # Extension within the VSI limit (24 months from the contract start, law 2005-159 art. 4).
        r = await svc.client.post(f"{base}/extend", json={"ends_on": "2027-06-30"}, headers=centre)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "extended" and r.json()["ends_on"] == "2027-06-30"
        r = await svc.client.post(f"{base}/extend", json={"ends_on": "2028-01-05"}, headers=centre)
        assert r.status_code == 409
        assert r.json()["details"]["latest_ends_on"] == "2028-01-04"
        r = await svc.client.post(f"{base}/extend", json={"ends_on": "2028-01-04"}, headers=centre)
        assert r.status_code == 200
        r = await svc.client.post(f"{base}/extend", json={"ends_on": "2027-01-01"}, headers=centre)
        assert r.status_code == 422  # earlier than the current end date

        # Follow-up interviews: marked done by centre staff only, once per stage.
        r = await svc.client.post(
            f"{base}/follow-ups/start/done", json={"done_on": "2026-02-10", "notes": "settled"}, headers=volunteer
        )
        assert r.status_code == 403
        r = await svc.client.post(
            f"{base}/follow-ups/start/done", json={"done_on": "2026-02-10", "notes": "settled"}, headers=centre
        )
        assert r.status_code == 200, r.text
        start_item = next(f for f in r.json()["items"] if f["stage"] == "start")
        assert start_item["done_on"] == "2026-02-10"
        r = await svc.client.post(f"{base}/follow-ups/start/done", json={"done_on": "2026-02-11"}, headers=centre)
        assert r.status_code == 409
        r = await svc.client.post(f"{base}/follow-ups/later/done", json={"done_on": "2026-02-11"}, headers=centre)
        assert r.status_code == 422
        r = await svc.client.get(f"{base}/follow-ups", headers=volunteer)
        assert r.status_code == 200
        assert {f["stage"]: f["due_on"] for f in r.json()["items"]}["end"] == "2027-12-05"  # moved with the extension
        r = await svc.client.get("/follow-ups", params={"due_before": "2027-12-31"}, headers=centre)
        assert [f["stage"] for f in r.json()["items"] if f["mission_id"] == mission_id] == ["mid", "end"]

        # Interruption needs a known reason; the end closes the mission.
        r = await svc.client.post(f"{base}/interrupt", json={"reason": "boredom"}, headers=centre)
        assert r.status_code == 422
        r = await svc.client.post(
            f"{base}/end", json={"ended_on": "2027-12-20", "debrief": "Good year."}, headers=centre
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ended" and r.json()["check_ins"]["next_due_at"] is None
        r = await svc.client.post(f"{base}/end", json={"ended_on": "2027-12-20", "debrief": "again"}, headers=centre)
        assert r.status_code == 409
        assert (
            await svc.client.post(f"{base}/interrupt", json={"reason": "health"}, headers=centre)
        ).status_code == 409
        r = await svc.client.post(f"{base}/check-ins", json={"status": "ok"}, headers=volunteer)
        assert r.status_code == 409

        # A Service Civique mission is at most 12 months; an interruption records its reason.
        sc_event = engagement(country="SN", scheme="service_civique", starts_on=date(2026, 3, 1), months=9)
        sc = await plan(svc, bootstrap, topic_prefix, sc_event)
        for item in ALL_ITEMS:
            await svc.client.post(
                f"/missions/{sc}/checklist", json={"item": item, "done_on": "2026-02-20"}, headers=centre
            )
        assert (
            await svc.client.post(f"/missions/{sc}/start", json={"departed_on": "2026-03-02"}, headers=centre)
        ).status_code == 200
        r = await svc.client.post(f"/missions/{sc}/extend", json={"ends_on": "2027-03-01"}, headers=centre)
        assert r.status_code == 409 and r.json()["details"]["max_months"] == 12
        r = await svc.client.post(
            f"/missions/{sc}/interrupt",
            json={"reason": "security", "note": "evacuated", "interrupted_on": "2026-05-01"},
            headers=centre,
        )
        assert r.status_code == 200 and r.json()["interruption"]["reason"] == "security"

        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        [started] = await probe.wait_for("missions.MissionStarted", where=lambda e: e["key"] == mission_id)
        assert started["value"]["departed_on"] == "2026-01-10"
        extended = await probe.wait_for("missions.MissionExtended", 2)
        assert [e["value"]["ends_on"] for e in extended] == ["2027-06-30", "2028-01-04"]
        [done] = await probe.wait_for("missions.FollowUpInterviewDone")
        assert done["value"] == {"mission_id": mission_id, "stage": "start", "done_on": "2026-02-10"}
        [ended] = await probe.wait_for("missions.MissionEnded")
        assert ended["value"]["ended_on"] == "2027-12-20"
        [interrupted] = await probe.wait_for("missions.MissionInterrupted")
        assert interrupted["value"]["reason"] == "security" and interrupted["key"] == sc


async def test_overdue_follow_up_interview_reported_once(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings, follow_up_scan_seconds=0.2)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        today = datetime.now(UTC).date()
        event = engagement(country="SN", starts_on=today - timedelta(days=60), months=12)
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        await start(svc, mission_id, today - timedelta(days=60))
        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        [overdue] = await probe.wait_for("missions.FollowUpInterviewOverdue")
        assert overdue["value"] == {
            "mission_id": mission_id,
            "stage": "start",
            "due_on": (today - timedelta(days=30)).isoformat(),
            "centre_id": "ev-sn",
        }
        assert await scheduler.report_overdue_follow_ups(svc.runtime) == 0
        r = await svc.client.post(
            f"/missions/{mission_id}/follow-ups/start/done",
            json={"done_on": today.isoformat()},
            headers=svc.auth("centre", country="SN"),
        )
        assert r.status_code == 200
        assert await scheduler.report_overdue_follow_ups(svc.runtime) == 0
        assert len(await probe.events("missions.FollowUpInterviewOverdue")) == 1
