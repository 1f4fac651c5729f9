"""The VSI lifetime cap on extension, against the real stack: recruitment's engagement says how
many VSI months the volunteer served before; an extension past 72 months answers 409 with the rule's source."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start

from vies_dev.testing.helpers import running

pytestmark = pytest.mark.integration


async def test_an_extension_past_the_lifetime_cap_is_refused_with_its_source(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    async with running(app_for(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        event = engagement(starts_on=date(2026, 1, 5), months=12)
        # 60 months served before (confirmed elsewhere and on the platform); contract of 12 months
        event = event.model_copy(update={"ends_on": date(2027, 1, 4), "vsi_months_served_before": 60.0})
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        assert (await svc.runtime.db["missions"].find_one({"_id": mission_id}))["vsi_months_served_before"] == 60.0
        await start(svc, mission_id, date(2026, 1, 5))
        staff = svc.auth("staff")

        # one more month: 60 + 13 > 72
        r = await svc.client.post(f"/missions/{mission_id}/extend", json={"ends_on": "2027-02-04"}, headers=staff)
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["details"]["rule"] == "vsi.lifetime_cap"
        assert "2005-159" in body["details"]["source"] and "art. 4" in body["details"]["source"]
        assert body["details"]["months_served_before"] == 60.0
        assert body["details"]["months_with_extension"] > 72

        # the same mission without the months before may run to the contract limit: 24 months
        other = engagement(starts_on=date(2026, 1, 5), months=12)
        other_id = await plan(svc, bootstrap, topic_prefix, other)
        await start(svc, other_id, date(2026, 1, 5))
        r = await svc.client.post(f"/missions/{other_id}/extend", json={"ends_on": "2027-02-04"}, headers=staff)
        assert r.status_code == 200, r.text
        too_long = (date(2028, 1, 5) + timedelta(days=1)).isoformat()
        r = await svc.client.post(f"/missions/{other_id}/extend", json={"ends_on": too_long}, headers=staff)
        assert r.status_code == 409 and "art. 4" in r.json()["details"]["source"]
