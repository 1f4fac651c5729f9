"""The end-of-mission certificate: a PDF whose text states the mission's facts,
for the volunteer, the mission's authority and staff only, once the mission is over."""

from __future__ import annotations

import uuid
from datetime import date
from io import BytesIO
from typing import Any

import pytest
from missions_testkit import app_for, engagement, plan, settings_for, start
from pypdf import PdfReader

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import AuthorityRegistered, PartnerRegistered
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


def pdf_text(content: bytes) -> str:
    """The PDF's text with line breaks and runs of spaces folded (a name may wrap)."""
    text = " ".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)
    return " ".join(text.split())


async def known_parties(svc: Any, bootstrap: str, prefix: str, tid: str, volunteer_id: str, name: str) -> None:
    """The authority, the host partner and the volunteer's contact, as the other services publish them."""
    partners = events_topic("partners", prefix)
    await publish_event(
        bootstrap,
        partners,
        AuthorityRegistered(
            authority_id=f"auth-{tid}",
            name=f"Commune de Plœmeur {tid}",
            kind="commune",
            region="FR-BRE",
            contact_email="international@commune.example",
            territoires_volontaires=False,
        ),
        region="FR-BRE",
    )
    await publish_event(
        bootstrap,
        partners,
        PartnerRegistered(
            partner_id=f"partner-{tid}",
            name=f"Association Jokkoo {tid}",
            kind="ngo",
            country="SN",
            city="Thiès",
            themes=["agriculture"],
            languages=["fr"],
            hosting_capacity=2,
            reciprocity=False,
        ),
    )
    await publish_event(
        bootstrap,
        contacts_topic(prefix),
        ContactUpdated(person_id=volunteer_id, name=name, email=f"{tid}@example.org", language="fr"),
    )
    db = svc.runtime.db
    await wait_until(lambda: db["authorities"].find_one({"_id": f"auth-{tid}"}), message="authority known")
    await wait_until(lambda: db["partners"].find_one({"_id": f"partner-{tid}"}), message="partner known")
    await wait_until(lambda: db["contacts"].find_one({"_id": volunteer_id}), message="contact known")


async def test_the_certificate_states_the_facts_for_the_volunteer_the_authority_and_staff(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings, certificate_issuer="Agence test du volontariat")
    async with running(app_for(settings), settings) as svc:
        c, bootstrap, tid = svc.client, vies_stack.kafka_bootstrap, uuid.uuid4().hex[:6]
        event = engagement(country="SN", authority_id=f"auth-{tid}", partner_id=f"partner-{tid}", months=6)
        await known_parties(svc, bootstrap, topic_prefix, tid, event.volunteer_id, "Nguyễn Thị Hương")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        other = engagement(country="SN", authority_id=f"auth-{tid}", partner_id=f"partner-{tid}")
        other_mission = await plan(svc, bootstrap, topic_prefix, other)
        url = f"/missions/{mission_id}/certificate"
        volunteer = svc.auth("volunteer", event.volunteer_id)
        authority = svc.auth("authority", authority_id=f"auth-{tid}")
        centre, staff = svc.auth("centre", country="SN"), svc.auth("staff")

        # not before the end: planned, then under way
        assert (await c.get(url, headers=volunteer)).status_code == 409
        await start(svc, mission_id, date(2026, 1, 5))
        assert (await c.get(url, headers=volunteer)).status_code == 409
        r = await c.post(
            f"/missions/{mission_id}/end", json={"ended_on": "2026-06-30", "debrief": "ok"}, headers=centre
        )
        assert r.status_code == 200, r.text

        for who in (volunteer, authority, staff):
            r = await c.get(url, headers=who)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/pdf"
            text = pdf_text(r.content)
            for fact in (
                "Attestation de fin de mission",
                "Nguyễn Thị Hương",  # the embedded font prints any name as written
                "Volontariat de solidarité internationale (VSI)",
                "du 05/01/2026 au 30/06/2026",
                f"Association Jokkoo {tid}",
                f"Commune de Plœmeur {tid}",
                "pays : SN",
                "Pour Agence test du volontariat",
                mission_id,
            ):
                assert fact in text, (fact, text)

        # another volunteer (even of the same authority), another authority, the centre, a partner: 403
        for outsider in (
            svc.auth("volunteer", other.volunteer_id),
            svc.auth("authority", authority_id="auth-elsewhere"),
            centre,
            svc.auth("branch", region="FR-BRE"),
            svc.auth("partner", partner_id=f"partner-{tid}"),
        ):
            assert (await c.get(url, headers=outsider)).status_code == 403
        # ... and the other volunteer's own mission is not over yet
        other_volunteer = svc.auth("volunteer", other.volunteer_id)
        assert (await c.get(f"/missions/{other_mission}/certificate", headers=other_volunteer)).status_code == 409
        assert (await c.get("/missions/no-such-mission/certificate", headers=staff)).status_code == 404


async def test_the_leave_attestation_is_for_the_employer_and_says_when_it_was_cut_short(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    async with running(app_for(settings), settings) as svc:
        c, bootstrap, tid = svc.client, vies_stack.kafka_bootstrap, uuid.uuid4().hex[:6]
        event = engagement(
            country="SN", scheme="vec", authority_id=f"auth-{tid}", partner_id=f"partner-{tid}", months=3
        )
        await known_parties(svc, bootstrap, topic_prefix, tid, event.volunteer_id, "Jean Martin")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        await start(svc, mission_id, date(2026, 1, 10))
        r = await c.post(
            f"/missions/{mission_id}/interrupt",
            json={"reason": "health", "interrupted_on": "2026-02-20"},
            headers=svc.auth("centre", country="SN"),
        )
        assert r.status_code == 200, r.text
        r = await c.get(f"/missions/{mission_id}/certificate", headers=svc.auth("volunteer", event.volunteer_id))
        assert r.status_code == 200, r.text
        text = pdf_text(r.content)
        for fact in (
            "Attestation de congé de solidarité internationale",
            "Jean Martin",
            "du 10/01/2026 au 20/02/2026",
            f"Association Jokkoo {tid}",
            "remise par le salarié à son employeur",
            "fin de manière anticipée le 20/02/2026",
            "Pour France Volontaires",
        ):
            assert fact in text, (fact, text)
        assert "Volontariat de solidarité internationale" not in text
