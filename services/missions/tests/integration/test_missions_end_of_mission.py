"""End of a mission: the volunteer's own report and the authority's
evaluation, each visible to the centre, the region's branch and staff, and erased with the person."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import AuthorityRegistered
from vies_shared.events.recruitment import PersonErased
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration

EVALUATION = {
    "objectives_met": 4,
    "host_partner": 5,
    "volunteer_support": 3,
    "would_host_again": True,
    "comment": "a school year of real progress",
}


async def test_the_volunteer_reports_the_authority_evaluates_and_who_reads_them(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    async with running(app_for(settings), settings) as svc:
        c, bootstrap = svc.client, vies_stack.kafka_bootstrap
        registered = AuthorityRegistered(
            authority_id="auth-eom",
            name="Commune test",
            kind="commune",
            region="FR-BRE",
            contact_email="international@commune.example",
            territoires_volontaires=False,
        )
        await publish_event(bootstrap, events_topic("partners", topic_prefix), registered, region="FR-BRE")
        await wait_until(lambda: svc.runtime.db["authorities"].find_one({"_id": "auth-eom"}), message="authority known")
        event = engagement(country="SN", authority_id="auth-eom", months=6)
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        volunteer = svc.auth("volunteer", event.volunteer_id)
        authority = svc.auth("authority", authority_id="auth-eom")
        centre, staff = svc.auth("centre", country="SN"), svc.auth("staff")
        report = {"text": "Six months with the water board: what worked, what I would change."}

        # nothing to report before departure; nothing to evaluate before the end
        assert (
            await c.put(f"/missions/{mission_id}/volunteer-report", json=report, headers=volunteer)
        ).status_code == 409
        await start(svc, mission_id, date(2026, 1, 5))
        r = await c.put(f"/missions/{mission_id}/volunteer-report", json=report, headers=volunteer)
        assert r.status_code == 200 and r.json()["volunteer_report"]["text"] == report["text"]
        for other in (svc.auth("volunteer", "someone-else"), authority, centre):
            assert (
                await c.put(f"/missions/{mission_id}/volunteer-report", json=report, headers=other)
            ).status_code == 403
        assert (
            await c.put(f"/missions/{mission_id}/evaluation", json=EVALUATION, headers=authority)
        ).status_code == 409
        r = await c.post(
            f"/missions/{mission_id}/end", json={"ended_on": "2026-06-30", "debrief": "done"}, headers=centre
        )
        assert r.status_code == 200, r.text

        bad = {**EVALUATION, "objectives_met": 6}
        assert (await c.put(f"/missions/{mission_id}/evaluation", json=bad, headers=authority)).status_code == 422
        foreign = svc.auth("authority", authority_id="auth-2")
        assert (await c.put(f"/missions/{mission_id}/evaluation", json=EVALUATION, headers=foreign)).status_code == 403
        assert (await c.put(f"/missions/{mission_id}/evaluation", json=EVALUATION, headers=centre)).status_code == 403
        r = await c.put(f"/missions/{mission_id}/evaluation", json=EVALUATION, headers=authority)
        assert r.status_code == 200, r.text
        assert r.json()["evaluation"]["objectives_met"] == 4 and r.json()["evaluation"]["by"] == authority_sub(svc)

        async def seen(headers: dict[str, str]) -> tuple[bool, bool]:
            r = await c.get(f"/missions/{mission_id}/end-of-mission", headers=headers)
            assert r.status_code == 200, r.text
            return r.json()["volunteer_report"] is not None, r.json()["evaluation"] is not None

        assert await seen(centre) == (True, True)
        assert await seen(svc.auth("branch", region="FR-BRE")) == (True, True)
        assert (
            await c.get(f"/missions/{mission_id}/end-of-mission", headers=svc.auth("branch", region="FR-ARA"))
        ).status_code == 403
        assert await seen(staff) == (True, True)
        assert await seen(volunteer) == (True, False)
        assert await seen(authority) == (False, True)
        assert (await c.get(f"/missions/{mission_id}/end-of-mission", headers=foreign)).status_code == 403
        assert (
            await c.get(f"/missions/{mission_id}/end-of-mission", headers=svc.auth("partner", partner_id="partner-1"))
        ).status_code == 403

        # erasure takes the volunteer's report and the evaluation's free text
        await publish_event(
            bootstrap, events_topic("recruitment", topic_prefix), PersonErased(person_id=event.volunteer_id)
        )

        async def erased() -> bool:
            doc = await svc.runtime.db["missions"].find_one({"_id": mission_id})
            return bool(doc and doc.get("erased") and doc["volunteer_report"] is None)

        await wait_until(erased, message="report erased")
        after = (await c.get(f"/missions/{mission_id}/end-of-mission", headers=staff)).json()
        assert after["evaluation"]["comment"] is None and after["evaluation"]["host_partner"] == 5


def authority_sub(svc: Any) -> str:
    """The subject the harness gives an authority token (its default ``sub``)."""
    token = svc.auth("authority", authority_id="auth-eom")["Authorization"].split()[1]
    import jwt

    sub: str = jwt.decode(token, options={"verify_signature": False})["sub"]
    return sub
