"""Whom a volunteer turns to: the centre and its emergency number, the host partner and
the sending authority, read by those who may read the mission - the volunteer first, never another one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for
from test_missions_certificate import known_parties

from vies_dev.testing.helpers import running

pytestmark = pytest.mark.integration


async def test_the_volunteer_reads_the_centre_partner_and_authority_of_their_mission(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    async with running(app_for(settings), settings) as svc:
        c, bootstrap, tid = svc.client, vies_stack.kafka_bootstrap, uuid.uuid4().hex[:6]
        event = engagement(country="SN", authority_id=f"auth-{tid}", partner_id=f"partner-{tid}")
        await known_parties(svc, bootstrap, topic_prefix, tid, event.volunteer_id, "Awa Diop")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        url = f"/missions/{mission_id}/contacts"

        r = await c.get(url, headers=svc.auth("volunteer", event.volunteer_id))
        assert r.status_code == 200, r.text
        assert r.json() == {
            "mission_id": mission_id,
            "centre": {
                "centre_id": "ev-sn",
                "city": "Dakar",
                "email": "centre.sn@vies.example.org",
                "phone": "+221300000001",
            },
            "partner": {"partner_id": f"partner-{tid}", "name": f"Association Jokkoo {tid}", "city": "Thiès"},
            "authority": {
                "authority_id": f"auth-{tid}",
                "name": f"Commune de Plœmeur {tid}",
                "contact_email": "international@commune.example",
            },
        }
        for reader in (
            svc.auth("centre", country="SN"),
            svc.auth("authority", authority_id=f"auth-{tid}"),
            svc.auth("staff"),
        ):
            assert (await c.get(url, headers=reader)).status_code == 200
        for outsider in (
            svc.auth("volunteer", "someone-else"),
            svc.auth("centre", country="BF"),
            svc.auth("authority", authority_id="auth-elsewhere"),
            svc.auth("candidate", event.volunteer_id),
        ):
            assert (await c.get(url, headers=outsider)).status_code == 403
        assert (await c.get("/missions/no-such-mission/contacts", headers=svc.auth("staff"))).status_code == 404
