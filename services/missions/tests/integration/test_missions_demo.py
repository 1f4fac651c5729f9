"""Demo data for ``make run``: seeded through the use cases, once, whatever the number of restarts."""

from __future__ import annotations

from typing import Any

import pytest
from missions_testkit import app_for, settings_for

from vies_dev.testing.helpers import running

pytestmark = pytest.mark.integration


async def test_demo_data_is_seeded_once(vies_settings: Any, test_id: str) -> None:
    db = f"t{test_id}_missions"
    for _ in range(2):
        # API role: seeding happens at start-up whatever the role; no consumer group to join.
        settings = settings_for(vies_settings, demo_data=True, mongodb_db=db, role="api")
        async with running(app_for(settings), settings) as svc:
            staff = svc.auth("staff")
            missions = (await svc.client.get("/missions", params={"limit": 200}, headers=staff)).json()
            assert missions["total"] == 7
            statuses = {m["status"] for m in missions["items"]}
            assert statuses == {"planned", "started", "ended", "interrupted"}
            assert len({m["country"] for m in missions["items"]}) >= 5
            incidents = (await svc.client.get("/incidents", params={"open": "true"}, headers=staff)).json()
            assert incidents["total"] == 1
            alerts = (await svc.client.get("/security-alerts", params={"status": "closed"}, headers=staff)).json()
            assert alerts["total"] == 1
