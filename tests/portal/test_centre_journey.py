"""A Volunteering Centre coordinator in a real browser: the partner vetting queue of its own country only,
an approval with its confirmation and history, and the centre's other pages (missions, incidents,
follow-up agenda, safety checks), axe-core clean in French and English."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from .conftest import PortalStack
from .journey import Journey, sign_in

pytestmark = pytest.mark.integration

FOREIGN_PENDING = ("par-demo-bj-abomey", "Mairie d'Abomey")  # demo partner awaiting vetting in Benin


async def _pending_partner(stack: PortalStack, name: str) -> str:
    """A partner of Senegal registered by the centre through the API: it waits for vetting."""
    token = await asyncio.to_thread(stack.keycloak.token, "senegal.centre")
    body = {
        "name": name,
        "kind": "ngo",
        "country": "SN",
        "city": "Saint-Louis",
        "themes": ["education"],
        "languages": ["fr", "wo"],
        "hosting_capacity": 2,
    }
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{stack.api('partners')}/partners", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    return str(r.json()["partner_id"])


async def _check_ins(stack: PortalStack, mission_id: str, count: int) -> None:
    """``count`` check-ins recorded by the centre for the volunteer (through the API), oldest first."""
    token = await asyncio.to_thread(stack.keycloak.token, "senegal.centre")
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(1, count + 1):
            r = await http.post(
                f"{stack.api('missions')}/missions/{mission_id}/check-ins",
                json={"status": "ok", "note": f"point {n} du centre"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text


async def test_a_centre_vets_the_partners_of_its_own_country_only(
    portal_stack: PortalStack, context: BrowserContext
) -> None:
    name = f"Association Jàng {uuid.uuid4().hex[:6]}"
    partner_id = await _pending_partner(portal_stack, name)
    page = await context.new_page()
    journey = Journey(page, "centre", portal_stack.url)
    await sign_in(page, portal_stack.url, "senegal.centre", "centre-demo-pass", "/centre")
    # Every page names who is signed in, the role and the scope.
    await expect(page.locator(".signed-in-as")).to_contain_text("Fatou Ndiaye")
    await expect(page.locator(".signed-in-as")).to_contain_text("coordination de l'Espace Volontariats")
    await expect(page.locator(".signed-in-as")).to_contain_text("pays SN")
    await expect(page.locator("#count-pending")).not_to_have_text("0")
    await journey.look("overview")

    # The queue: Senegal's partners awaiting vetting; Benin's pending partner is not there.
    await page.get_by_role("link", name="Validation des partenaires").first.click()
    queue = page.locator("#partners")
    await expect(queue).to_contain_text(name)
    await expect(queue).not_to_contain_text(FOREIGN_PENDING[1])
    await journey.look("vetting queue")
    await page.fill("#q", name.rsplit(maxsplit=1)[-1])
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.locator("#partners tbody tr")).to_have_count(1)

    # Approve, after a confirmation with a note; the history keeps the decision.
    await page.get_by_role("link", name=name).click()
    await expect(page.locator("#partner-status")).to_have_text("En attente de validation")
    await journey.look("partner awaiting vetting")
    await page.get_by_role("link", name="Valider").click()
    await expect(page.get_by_text("Une fois validé")).to_be_visible()
    await page.fill("#reason", "Visite sur place le 12 novembre, statuts vérifiés.")
    await journey.look("confirm approval")
    await page.get_by_role("button", name="Confirmer").click()
    await page.wait_for_url(f"**/centre/partners/{partner_id}?done=approve")
    await expect(page.locator("#partner-status")).to_have_text("Validé")
    await expect(page.locator("#history")).to_contain_text("Visite sur place le 12 novembre")
    await journey.look("partner approved")
    await page.goto(f"{portal_stack.url}/centre/partners?status=approved&q={name.rsplit(maxsplit=1)[-1]}")
    await expect(page.locator("#partners")).to_contain_text(name)

    # Another country's queue stays out of reach: a country in the address is ignored, and
    # Benin's pending partner cannot be opened (the partners API answers 404 to this centre).
    await page.goto(f"{portal_stack.url}/centre/partners?status=pending&country=BJ")
    await expect(page.locator("main")).not_to_contain_text(FOREIGN_PENDING[1])
    response = await page.goto(f"{portal_stack.url}/centre/partners/{FOREIGN_PENDING[0]}")
    assert response is not None and response.status == 404
    await expect(page.locator("main")).to_contain_text("n'existe pas")
    response = await page.goto(f"{portal_stack.url}/centre/partners/{FOREIGN_PENDING[0]}/approve")
    assert response is not None and response.status == 404

    # The centre's other pages: missions by status, a mission, incidents, the agenda, safety checks.
    await page.goto(portal_stack.url + "/centre/missions")
    await page.get_by_label("État").select_option("started")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.locator("#missions")).to_contain_text("Commune de Ziguinchor")
    await expect(page.locator("#missions .mission-status").first).to_have_text("En cours")
    await journey.look("missions under way")
    await page.locator("#missions tbody tr a").first.click()
    await expect(page.locator("#mission-status")).to_have_text("En cours")
    await expect(page.locator("#checklist")).to_be_visible()
    await journey.look("mission")
    await page.get_by_role("link", name="Interrompre").click()
    await expect(page.get_by_text("Cette étape est définitive.")).to_be_visible()
    await journey.look("confirm interruption")
    await page.get_by_role("link", name="Annuler").click()
    await expect(page.locator("#mission-status")).to_have_text("En cours")
    # Check-ins page through the missions API, five at a time, newest first.
    mission_id = page.url.split("#")[0].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    await _check_ins(portal_stack, mission_id, 5)
    await page.reload()
    await page.get_by_role("navigation", name="Pages des points de situation").get_by_role("link").click()
    await page.wait_for_url("**check_ins_page=2*")
    await expect(page.locator("#mission-check-ins li").first).to_be_visible()
    await expect(page.locator("#mission-check-ins")).not_to_contain_text("point 5 du centre")  # the newest: page 1
    await journey.look("mission, older check-ins")
    await page.goto(portal_stack.url + "/centre/incidents")
    await expect(page.locator("#incidents")).to_contain_text("Élevée")
    await journey.look("open incidents")
    await page.locator("#incidents tbody tr a").first.click()
    await expect(page.locator("#incident-escalation")).to_be_visible()
    await journey.look("incident")
    await page.goto(portal_stack.url + "/centre/follow-ups?due_before=2099-12-31")
    await expect(page.locator("#agenda")).to_be_visible()
    await journey.look("follow-up agenda")
    await page.goto(portal_stack.url + "/centre/safety?state=closed")
    await expect(page.locator("#alerts")).to_contain_text("Demonstrations in Dakar.")
    await journey.look("safety checks")
    await page.locator("#alerts tbody tr a").first.click()
    await expect(page.locator("#board")).to_have_attribute("data-status", "closed")
    await journey.look("closed safety check")

    await journey.revisit_in("en")
    await page.goto(portal_stack.url + "/centre")
    await expect(page.locator(".signed-in-as")).to_contain_text("role: Volunteering Centre coordinator")
    journey.assert_clean()
