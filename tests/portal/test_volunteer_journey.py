"""A volunteer on mission in Senegal, in a real browser: their mission with whom to call and the checklist,
a check-in, an incident report and the answer to a safety check, each confirmed before it is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, expect

from vies_dev.testing.helpers import wait_until
from vies_missions.domain.mission import mission_id_for

from .conftest import PortalStack
from .journey import Journey, sign_in

pytestmark = pytest.mark.integration

MISSION = mission_id_for("demo-eng-sn-1")  # chloe.volunteer's mission (missions demo data)
CENTRE_PHONE = "+221300000001"  # the Dakar Volunteering Centre (reference data)


@pytest_asyncio.fixture
async def alert(portal_stack: PortalStack) -> AsyncIterator[str]:
    """An open security alert in Senegal, issued by its centre through the API; closed afterwards."""
    token = await asyncio.to_thread(portal_stack.keycloak.token, "senegal.centre")
    headers = {"Authorization": f"Bearer {token}"}
    body = {"country": "SN", "level": "vigilance", "message": "Manifestations à Ziguinchor."}
    body["respond_within_hours"] = 12
    async with httpx.AsyncClient(base_url=portal_stack.api("missions"), headers=headers, timeout=10) as http:
        r = await http.post("/security-alerts", json=body)
        assert r.status_code == 201, r.text
        alert_id = str(r.json()["alert_id"])
        yield alert_id
        await http.post(f"/security-alerts/{alert_id}/close")


async def test_volunteer_checks_in_reports_an_incident_and_answers_a_safety_check(
    portal_stack: PortalStack, context: BrowserContext, alert: str
) -> None:
    page = await context.new_page()
    journey = Journey(page, "volunteer", portal_stack.url)
    await sign_in(page, portal_stack.url, "chloe.volunteer", "volunteer-demo-pass", "/volunteer")
    await expect(page.locator(".signed-in-as")).to_contain_text("rôle : volontaire")
    await journey.look("my missions")

    # My mission: dates, whom to call, the checklist and what is left of it.
    await page.locator("#missions a").first.click()
    await page.wait_for_url(f"**/volunteer/missions/{MISSION}")
    await expect(page.locator("#contacts")).to_contain_text(CENTRE_PHONE)
    await expect(page.locator("#contacts")).to_contain_text("Dakar")
    await expect(page.locator("#checklist")).to_contain_text("Inscription sur Ariane")
    await expect(page.locator("#checklist-left")).to_contain_text("la liste est complète")
    await expect(page.locator("#follow-ups")).to_be_visible()
    await journey.look("my mission")

    # The open safety check: I am safe, confirmed, then seen with its time in Dakar's zone.
    await page.get_by_role("link", name="Répondre à la vérification de sécurité").click()
    await journey.look("safety check")
    await page.get_by_role("button", name="Continuer").click()
    await expect(page.locator("#error-summary")).to_be_visible()  # no answer chosen
    await journey.look("safety check without an answer")
    await page.get_by_label("Je suis en sécurité").check()
    await page.get_by_role("button", name="Continuer").click()
    await expect(page.locator("#to-send")).to_contain_text("Je suis en sécurité")
    await journey.look("safety answer to confirm")
    await page.get_by_role("button", name="Confirmer et envoyer").click()
    await page.wait_for_url(f"**/volunteer/missions/{MISSION}/safety-checks?sent=1")
    row = page.locator("#safety-checks tr", has_text="Manifestations à Ziguinchor.")
    await expect(row.locator(".answer")).to_contain_text("Je suis en sécurité")
    await expect(row.locator(".answer")).to_contain_text("(Africa/Dakar)")
    await journey.look("safety checks")

    # A check-in with a concern and a note; "Modifier" goes back to the form with what was typed.
    await page.locator(".subnav").get_by_role("link", name="Ma mission").click()
    await page.get_by_role("link", name="Faire un point de situation").first.click()
    await journey.look("check-in form")
    await page.get_by_label("J'ai une inquiétude").check()
    await page.get_by_label("Note").fill("Coupures d'électricité depuis deux jours.")
    await page.get_by_role("button", name="Continuer").click()
    await journey.look("check-in to confirm")
    await page.get_by_role("button", name="Modifier").click()
    await expect(page.get_by_label("Note")).to_have_value("Coupures d'électricité depuis deux jours.")
    await page.get_by_role("button", name="Continuer").click()
    await page.get_by_role("button", name="Confirmer et envoyer").click()
    await page.wait_for_url(f"**/volunteer/missions/{MISSION}/check-ins?sent=1")
    latest = page.locator("#check-ins tbody tr").first
    await expect(latest).to_contain_text("Coupures d'électricité depuis deux jours.")
    await expect(latest).to_contain_text("J'ai une inquiétude")
    await expect(latest).to_contain_text("(Africa/Dakar)")
    await journey.look("my check-ins")

    # An incident: an empty form is refused beside the fields, then the report is confirmed and listed.
    await page.get_by_role("link", name="Mes incidents").click()
    await page.get_by_role("link", name="Signaler un incident").first.click()
    await page.get_by_role("button", name="Continuer").click()
    await expect(page.locator("#error-summary")).to_contain_text("Ce qui s'est passé")
    await journey.look("incident form with errors")
    await page.get_by_label("Nature").select_option("health")
    await page.get_by_label("Gravité").select_option("medium")
    await page.get_by_label("Ce qui s'est passé").fill("Forte fièvre, consultation au dispensaire.")
    await page.get_by_role("button", name="Continuer").click()
    await expect(page.locator("#to-send")).to_contain_text("Santé")
    await journey.look("incident to confirm")
    await page.get_by_role("button", name="Confirmer et envoyer").click()
    await page.wait_for_url(f"**/volunteer/missions/{MISSION}/incidents?sent=1")
    await expect(page.locator("#incidents")).to_contain_text("Forte fièvre, consultation au dispensaire.")
    await page.get_by_label("Incidents ouverts seulement").check()
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.locator("#incidents")).to_contain_text("Forte fièvre, consultation au dispensaire.")
    await journey.look("my open incidents")

    # My contact data and the emergency contact, whom the centre calls in a crisis.
    await page.get_by_role("link", name="Mes coordonnées").click()
    await expect(page.locator("#held")).to_contain_text("Chloé Garnier")
    await journey.look("my contact data")
    await page.get_by_label("Nom", exact=True).fill("Marie Garnier")
    await page.get_by_label("Son lien avec vous").fill("mère")
    await page.get_by_label("Son téléphone").fill("+33 6 12 34 56 78")
    await page.get_by_role("button", name="Enregistrer").click()
    await page.wait_for_url("**/volunteer/contact?saved=1")
    await expect(page.locator("#held")).to_contain_text("Marie Garnier (mère), +33 6 12 34 56 78")
    await journey.look("my contact data saved")

    # The centre sees what the volunteer sent, through its own API.
    token = await asyncio.to_thread(portal_stack.keycloak.token, "senegal.centre")
    async with httpx.AsyncClient(
        base_url=portal_stack.api("missions"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as http:

        async def answered() -> dict[str, Any] | None:
            # The emergency contact reaches missions through recruitment's contacts topic.
            status = (await http.get(f"/security-alerts/{alert}")).json()
            entry = next((e for e in status["accounted"] if e["mission_id"] == MISSION), None)
            return entry if entry and entry.get("emergency_contact") else None

        entry = await wait_until(answered, timeout=60, message="the answer and the emergency contact on the board")
        assert entry["status"] == "safe" and entry["emergency_contact"]["name"] == "Marie Garnier", entry
        incidents = (await http.get(f"/missions/{MISSION}/incidents", params={"open": "true"})).json()["items"]
        assert any(i["description"] == "Forte fièvre, consultation au dispensaire." for i in incidents)

    await journey.revisit_in("en")
    await expect(page.locator(".signed-in-as")).to_contain_text("role: volunteer")
    journey.assert_clean()
