"""Whom a volunteer turns to: the centre and its emergency number, the host partner and
the sending authority, read by those who may read the mission - the volunteer first, never another one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for
from test_missions_certificate import known_parties

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import AuthorityUpdated
from vies_shared.events.topics import events_topic

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


async def test_the_authority_contact_follows_its_corrections_and_its_erasure(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    async with running(app_for(settings), settings) as svc:
        c, bootstrap, tid = svc.client, vies_stack.kafka_bootstrap, uuid.uuid4().hex[:6]
        event = engagement(country="SN", authority_id=f"auth-{tid}", partner_id=f"partner-{tid}")
        await known_parties(svc, bootstrap, topic_prefix, tid, event.volunteer_id, "Awa Diop")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        volunteer = svc.auth("volunteer", event.volunteer_id)

        async def authority() -> dict[str, Any]:
            r = await c.get(f"/missions/{mission_id}/contacts", headers=volunteer)
            assert r.status_code == 200, r.text
            return dict(r.json()["authority"])

        async def updated(contact_email: str | None, changed: list[str], region: str = "FR-BRE") -> None:
            await publish_event(
                bootstrap,
                events_topic("partners", topic_prefix),
                AuthorityUpdated(
                    authority_id=f"auth-{tid}", region=region, changed=changed, contact_email=contact_email
                ),
                region=region,
            )

        async def region_is(expected: str) -> bool:
            r = await c.get(f"/missions/{mission_id}", headers=svc.auth("staff"))
            return bool(r.json()["region"] == expected)

        await updated("relations.internationales@commune.example", ["contact_email"])
        await wait_until(
            lambda: _email_is(authority, "relations.internationales@commune.example"), message="corrected address"
        )
        # Corrections of other fields leave the address alone; the region follows its own.
        await updated(None, ["territoires_volontaires"])
        await updated(None, ["region"], region="FR-NOR")
        await wait_until(lambda: region_is("FR-NOR"), message="the mission follows the authority's region")
        assert (await authority())["contact_email"] == "relations.internationales@commune.example"
        # Erased with the person it named: partners publishes the address as changed to null.
        await updated(None, ["contact_email"], region="FR-NOR")
        await wait_until(lambda: _email_is(authority, None), message="erased address")
        assert (await authority())["name"] == f"Commune de Plœmeur {tid}"


async def _email_is(authority: Any, expected: str | None) -> bool:
    return bool((await authority())["contact_email"] == expected)
