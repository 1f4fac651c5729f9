"""Where the volunteer is: a mission's place, and an alert for part of a country."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_shared.events.recruitment import Place
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def test_an_alert_for_one_subdivision_asks_only_the_volunteers_there(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        events = [engagement(country="SN") for _ in range(3)]
        # The fourth's position named its place: the mission starts with it.
        events.append(engagement(country="SN", place=Place(city="Ziguinchor", subdivision="SN-ZG")))
        dakar, thies, unknown, ziguinchor = [await plan(svc, bootstrap, topic_prefix, e) for e in events]
        centre = svc.auth("centre", country="SN")
        r = await svc.client.get(f"/missions/{ziguinchor}", headers=centre)
        assert r.json()["place"] == {"city": "Ziguinchor", "subdivision": "SN-ZG"}
        for mission_id in (dakar, thies, unknown, ziguinchor):
            await start(svc, mission_id, datetime.now(UTC).date() - timedelta(days=10))
        r = await svc.client.put(
            f"/missions/{dakar}/place", json={"city": "Dakar", "subdivision": "sn-dk"}, headers=centre
        )
        assert r.status_code == 200 and r.json()["place"] == {"city": "Dakar", "subdivision": "SN-DK"}
        # The volunteer records their own move; a code of another country or of no country is refused.
        volunteer = svc.auth("volunteer", sub=events[1].volunteer_id)
        r = await svc.client.put(
            f"/missions/{thies}/place", json={"city": "Thiès", "subdivision": "SN-TH"}, headers=volunteer
        )
        assert r.status_code == 200, r.text
        r = await svc.client.put(
            f"/missions/{thies}/place", json={"city": "Bamako", "subdivision": "ML-BKO"}, headers=volunteer
        )
        assert r.status_code == 422
        r = await svc.client.put(
            f"/missions/{thies}/place", json={"city": "x", "subdivision": "Thiès"}, headers=volunteer
        )
        assert r.status_code == 422
        r = await svc.client.put(
            f"/missions/{dakar}/place", json={"city": "x", "subdivision": "SN-DK"}, headers=volunteer
        )
        assert r.status_code == 403  # not their mission

        alert = {
            "country": "SN",
            "level": "crisis",
            "message": "Unrest in Dakar: stay home.",
            "respond_within_hours": 4,
            "subdivisions": ["SN-DK"],
        }
        r = await svc.client.post("/security-alerts", json=alert, headers=centre)
        assert r.status_code == 201, r.text
        alert_id = r.json()["alert_id"]
        assert r.json()["subdivisions"] == ["SN-DK"] and r.json()["mission_count"] == 2  # Dakar and not known
        status = (await svc.client.get(f"/security-alerts/{alert_id}", headers=centre)).json()
        assert sorted(e["mission_id"] for e in status["unaccounted"]) == sorted([dakar, unknown])
        r = await svc.client.post("/security-alerts", json={**alert, "subdivisions": ["ML-BKO"]}, headers=centre)
        assert r.status_code == 422

        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        [issued] = await probe.wait_for("missions.SecurityAlertIssued", where=lambda e: e["key"] == alert_id)
        assert issued["value"]["subdivisions"] == ["SN-DK"]
        assert sorted(issued["value"]["mission_ids"]) == sorted([dakar, unknown])
