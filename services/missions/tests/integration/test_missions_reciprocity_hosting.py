"""Reciprocity hosting: the authority hosting a volunteer in France prepares the stay
(visa, housing, tutor, French classes, return commitment), records check-ins and holds the follow-up
interviews; it cannot do what stays with the centre and staff, nor act on another authority's volunteer."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for

from vies_dev.testing.helpers import running

pytestmark = pytest.mark.integration

FRANCE_SIDE = ("visa", "housing", "tutor", "french_classes", "return_commitment")


async def test_the_hosting_authority_prepares_the_stay_and_follows_the_volunteer(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    async with running(app_for(settings), settings) as svc:
        c, bootstrap = svc.client, vies_stack.kafka_bootstrap
        event = engagement(country="TN", scheme="service_civique_reciprocity", authority_id="auth-host", months=10)
        hosted = await plan(svc, bootstrap, topic_prefix, event)
        sending = await plan(svc, bootstrap, topic_prefix, engagement(country="SN", authority_id="auth-host"))
        host = svc.auth("authority", authority_id="auth-host")
        other = svc.auth("authority", authority_id="auth-other")
        staff = svc.auth("staff")
        volunteer = svc.auth("volunteer", event.volunteer_id)

        mission = (await c.get(f"/missions/{hosted}", headers=host)).json()
        assert mission["country"] == "FR" and mission["origin_country"] == "TN"
        assert mission["checklist"]["required"] == ["insurance", "visa", "emergency_contact", *FRANCE_SIDE[1:]]

        def tick(item: str) -> dict[str, str]:
            return {"item": item, "done_on": "2026-01-02"}

        # the host's items in France; not another authority's, not the insurance, not a sending mission's visa
        for item in FRANCE_SIDE:
            assert (await c.post(f"/missions/{hosted}/checklist", json=tick(item), headers=other)).status_code == 403
            r = await c.post(f"/missions/{hosted}/checklist", json=tick(item), headers=host)
            assert r.status_code == 200, r.text
        assert (await c.post(f"/missions/{hosted}/checklist", json=tick("insurance"), headers=host)).status_code == 403
        assert (await c.post(f"/missions/{sending}/checklist", json=tick("visa"), headers=host)).status_code == 403

        # departure waits for the rest: insurance (staff) and the emergency contact (the volunteer)
        r = await c.post(f"/missions/{hosted}/start", json={"departed_on": "2026-01-05"}, headers=staff)
        assert r.status_code == 409 and r.json()["details"]["missing"] == ["insurance", "emergency_contact"]
        assert (await c.post(f"/missions/{hosted}/checklist", json=tick("insurance"), headers=staff)).status_code == 200
        r = await c.post(f"/missions/{hosted}/checklist", json=tick("emergency_contact"), headers=volunteer)
        assert r.status_code == 200, r.text
        # starting stays with the centre and staff
        assert (
            await c.post(f"/missions/{hosted}/start", json={"departed_on": "2026-01-05"}, headers=host)
        ).status_code == 403
        r = await c.post(f"/missions/{hosted}/start", json={"departed_on": "2026-01-05"}, headers=staff)
        assert r.status_code == 200, r.text

        # check-ins and follow-up interviews by the host; extension still the centre's and staff's
        r = await c.post(f"/missions/{hosted}/check-ins", json={"status": "ok", "note": "settled in"}, headers=host)
        assert r.status_code == 201, r.text
        assert (
            await c.post(f"/missions/{hosted}/check-ins", json={"status": "ok", "note": "x"}, headers=other)
        ).status_code == 403
        done = {"done_on": date(2026, 2, 1).isoformat(), "notes": "first month went well"}
        r = await c.post(f"/missions/{hosted}/follow-ups/start/done", json=done, headers=host)
        assert r.status_code == 200, r.text
        assert (await c.post(f"/missions/{hosted}/follow-ups/mid/done", json=done, headers=other)).status_code == 403
        assert (await c.post(f"/missions/{sending}/follow-ups/start/done", json=done, headers=host)).status_code == 403
        r = await c.post(f"/missions/{hosted}/extend", json={"ends_on": "2026-12-01"}, headers=host)
        assert r.status_code == 403
