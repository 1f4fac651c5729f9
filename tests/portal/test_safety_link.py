"""The one-tap safety answer link from a real alert's mail, in a real browser, without signing in.

Two volunteers on mission in Benin (their engagement and contact data published like recruitment
would), a crisis alert issued by staff: the link from the first volunteer's mail answers safe,
then need help (the second answer replaces the first, with its time); it answers nothing for
the other volunteer nor for another alert; a tampered link and a cross-site post record
nothing; once the check closes the link shows that it expired. French and English, axe-core.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from vies_dev.testing import publish_event, wait_until
from vies_missions.domain.mission import mission_id_for
from vies_shared.events.recruitment import ContactUpdated, VolunteerEngaged
from vies_shared.events.topics import contacts_topic, events_topic
from vies_shared.storage import create_mongo_client

from .conftest import PortalStack
from .journey import Journey
from .safety_links import link_from_mail, on_portal, token_of

pytestmark = pytest.mark.integration

CHECKLIST = ("training", "insurance", "visa", "travel_registration", "emergency_contact")
MESSAGE = "Manifestations à Cotonou : restez chez vous, évitez le marché Dantokpa."


async def _volunteers_on_mission(stack: PortalStack, staff: dict[str, str], run: str) -> list[tuple[str, str]]:
    """Two volunteers engaged and started in Benin, with contact data: [(email, mission id)]."""
    env = stack.services["missions"].env
    bootstrap, prefix = env["VIES_KAFKA_BOOTSTRAP"], env["VIES_TOPIC_PREFIX"]
    people = []
    today = datetime.now(UTC).date()
    for n in range(2):
        volunteer = f"link-vol-{n}-{run}"
        email = f"{volunteer}@example.org"
        contact = ContactUpdated(person_id=volunteer, name=f"Volontaire {n}", email=email, language="fr")
        await publish_event(bootstrap, contacts_topic(prefix), contact)
        engaged = VolunteerEngaged(
            engagement_id=f"link-eng-{n}-{run}",
            application_id=f"link-app-{n}-{run}",
            volunteer_id=volunteer,
            position_id=f"link-pos-{run}",
            authority_id="aut-demo-ara",
            partner_id="par-demo-sn-ziguinchor",
            country="BJ",
            scheme="vsi",
            starts_on=today - timedelta(days=10),
            ends_on=today + timedelta(days=300),
        )
        await publish_event(bootstrap, events_topic("recruitment", prefix), engaged)
        people.append((email, mission_id_for(engaged.engagement_id)))
    missions = stack.api("missions")
    async with httpx.AsyncClient(timeout=20) as http:
        for _, mission_id in people:

            async def planned(mission_id: str = mission_id) -> bool:
                return (await http.get(f"{missions}/missions/{mission_id}", headers=staff)).status_code == 200

            await wait_until(planned, timeout=60, message=f"mission {mission_id} planned")
            for item in CHECKLIST:
                body = {"item": item, "done_on": (today - timedelta(days=20)).isoformat()}
                r = await http.post(f"{missions}/missions/{mission_id}/checklist", json=body, headers=staff)
                assert r.status_code == 200, r.text
            r = await http.post(
                f"{missions}/missions/{mission_id}/start", json={"departed_on": date.today().isoformat()}, headers=staff
            )
            assert r.status_code == 200, r.text
    # The notifications service routes the alert to the started missions it knows of.
    client = create_mongo_client(stack.mongodb_uri)
    try:
        projection = client[stack.services["notifications"].env["VIES_MONGODB_DB"]]["missions"]
        ids = [mission_id for _, mission_id in people]

        async def known() -> bool:
            return await projection.count_documents({"_id": {"$in": ids}, "status": "started"}) == len(ids)

        await wait_until(known, timeout=60, message="notifications knows the two started missions")
    finally:
        await client.close()
    return people


async def _entry(http: httpx.AsyncClient, stack: PortalStack, staff: dict[str, str], alert: str, mission: str) -> Any:
    r = await http.get(f"{stack.api('missions')}/security-alerts/{alert}", headers=staff)
    assert r.status_code == 200, r.text
    status = r.json()
    return next(e for e in status["accounted"] + status["unaccounted"] if e["mission_id"] == mission)


async def test_a_link_from_a_real_alert_answers_without_signing_in(
    portal_stack: PortalStack, context: BrowserContext
) -> None:
    stack = portal_stack
    staff = {"Authorization": f"Bearer {await asyncio.to_thread(stack.keycloak.token, 'staff.agency')}"}
    run = uuid.uuid4().hex[:8]
    (mine_email, mine), (other_email, other) = await _volunteers_on_mission(stack, staff, run)
    alert = {"country": "BJ", "level": "crisis", "message": MESSAGE, "respond_within_hours": 6}
    async with httpx.AsyncClient(timeout=20) as http:
        missions = stack.api("missions")
        first = (await http.post(f"{missions}/security-alerts", json=alert, headers=staff)).json()["alert_id"]
        second = (await http.post(f"{missions}/security-alerts", json=alert, headers=staff)).json()["alert_id"]
        link = on_portal(await link_from_mail(stack.mailpit_url, mine_email, contains=first), stack.url)
        other_link = await link_from_mail(stack.mailpit_url, other_email, contains=first)
        assert token_of(link) != token_of(other_link)

        page = await context.new_page()
        journey = Journey(page, "safety-link", stack.url)
        await page.goto(link)
        await expect(page.locator("h1")).to_have_text("Contrôle de sécurité : êtes-vous en sécurité ?")
        await expect(page.locator(".alert-message")).to_have_text(MESSAGE)
        await expect(page.locator("#current-answer")).to_have_text("Pas encore de réponse")
        await journey.look("link opened, nothing recorded")
        assert (await _entry(http, stack, staff, first, mine))["status"] == "pending"  # opening is not answering

        # One tap: safe, recorded with its time.
        await page.get_by_role("button", name="Je suis en sécurité").click()
        await page.wait_for_url("**/s/*?recorded=1")
        await expect(page.locator("#answer-recorded")).to_contain_text(
            "Votre réponse est enregistrée : Je suis en sécurité"
        )
        await journey.look("safe recorded")
        safe = await _entry(http, stack, staff, first, mine)
        assert safe["status"] == "safe" and safe["responded_at"]

        # A second answer replaces the first, with its own time, and opens the critical incident.
        await page.get_by_role("button", name="J'ai besoin d'aide").click()
        await expect(page.locator("#answer-recorded")).to_contain_text("J'ai besoin d'aide")
        await expect(page.locator("#answer-recorded")).to_contain_text("L'Espace Volontariats est alerté")
        await journey.look("need help recorded")
        help_ = await _entry(http, stack, staff, first, mine)
        assert help_["status"] == "need_help" and help_["responded_at"] > safe["responded_at"] and help_["incident_id"]

        # It answers for its own volunteer and alert only.
        assert (await _entry(http, stack, staff, first, other))["status"] == "pending"
        assert (await _entry(http, stack, staff, second, mine))["status"] == "pending"

        # A tampered link shows a clear page and can answer nothing.
        token = token_of(link)
        tampered = f"{stack.url}/s/{token[:10]}{'B' if token[10] == 'A' else 'A'}{token[11:]}"
        await page.goto(tampered)
        await expect(page.locator("h1")).to_have_text("Ce lien de sécurité n'est pas valable")
        await journey.look("tampered link")
        r = await http.post(tampered, data={"status": "safe", "link": tampered.rsplit("/", 1)[1]})
        assert r.status_code == 404
        # A post from another site (a page trying to answer with a link it saw) is refused.
        r = await http.post(link, data={"status": "safe", "link": token}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        r = await http.post(link, data={"status": "safe", "link": token}, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        assert (await _entry(http, stack, staff, first, mine))["status"] == "need_help"

        # The same page in English.
        await page.goto(f"{stack.url}/language/en?next=/s/{token}")
        await expect(page.get_by_role("button", name="I am safe")).to_be_visible()
        await expect(page.locator("#current-answer")).to_contain_text("I need help")
        await journey.look("en link page")
        await page.goto(tampered)
        await expect(page.locator("h1")).to_have_text("This safety link is not valid")
        await journey.look("en tampered link")

        # Closed: here links expire with their check, and the page says so (in English, then French).
        r = await http.post(f"{missions}/security-alerts/{first}/close", headers=staff)
        assert r.status_code == 200, r.text
        await page.goto(link)
        await expect(page.locator("h1")).to_have_text("This safety link has expired")
        await journey.look("en expired link")
        await page.goto(f"{stack.url}/language/fr?next=/s/{token}")
        await expect(page.locator("h1")).to_have_text("Ce lien de sécurité a expiré")
        await expect(page.get_by_role("link", name="Se connecter pour répondre")).to_be_visible()
        await journey.look("expired link")
        r = await http.post(link, data={"status": "safe", "link": token}, headers={"Origin": stack.url})
        assert r.status_code == 410
        assert (await _entry(http, stack, staff, first, mine))["status"] == "need_help"
        await http.post(f"{missions}/security-alerts/{second}/close", headers=staff)
    journey.assert_clean()
