"""An authority officer in a real browser: partner matching, a partnership, a position, the whole pipeline,
then the mission planned on the dashboard (the events crossing the services through Kafka)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from .conftest import PortalStack
from .journey import Journey, sign_in

pytestmark = pytest.mark.integration


async def _apply_as_candidate(stack: PortalStack, position_id: str) -> None:
    """A demo candidate applies through the API (the candidate's side has its own browser tests)."""
    token = await asyncio.to_thread(stack.keycloak.token, "chloe.volunteer")
    body = {
        "candidate": {
            "name": "Chloé Bernard",
            "email": "chloe@example.org",
            "birth_date": "2003-04-02",
            "nationality": "FR",
            "residence_country": "FR",
            "languages": ["fr"],
        },
        "motivation": "Agronomie et animation.",
    }
    async with httpx.AsyncClient(timeout=10) as http:
        # chloe.volunteer holds the candidate role too; fall back to a demo candidate otherwise.
        r = await http.post(
            f"{stack.api('recruitment')}/positions/{position_id}/applications",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code == 403:
            token = await asyncio.to_thread(stack.keycloak.token, "amina.candidate")
            r = await http.post(
                f"{stack.api('recruitment')}/positions/{position_id}/applications",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "screened", r.json()


async def test_authority_officer_recruits_a_volunteer(portal_stack: PortalStack, context: BrowserContext) -> None:
    page = await context.new_page()
    journey = Journey(page, "authority", portal_stack.url)
    await sign_in(page, portal_stack.url, "ara.authority", "authority-demo-pass", "/authority")
    await expect(page.locator("#journey-title")).to_be_visible()
    await expect(page.get_by_text("Prochaine étape :")).to_be_visible()
    await journey.look("dashboard")

    # Partner matching: the ranked partners with their score and reasons.
    await page.get_by_role("link", name="Trouver un partenaire").click()
    await journey.look("matching form")
    await page.get_by_label("Agriculture et alimentation").check()
    await page.get_by_role("button", name="Trouver des partenaires").click()
    await page.wait_for_url("**/authority/matching/*")
    first = page.locator(".position-item").first
    await expect(first).to_contain_text("score")
    await journey.look("ranked partners")
    partner_name = (await first.locator("h2 a").inner_text()).strip()
    await first.locator("input[type=date]").fill("2027-01-01")
    await first.get_by_role("button").click()
    await page.wait_for_url("**/authority?partnership=1")
    await expect(page.locator("#partnerships-title + p + table")).to_contain_text(partner_name)
    await journey.look("partnership established")
    await page.get_by_role("link", name=partner_name).first.click()
    await journey.look("partner")
    await page.go_back()

    # A draft position in the new partnership, then published.
    await page.get_by_role("link", name="Nouvelle offre").click()
    await journey.look("position form")
    await page.get_by_label("Partenariat").select_option(label=await _option_of(page, partner_name))
    await page.get_by_label("Dispositif").select_option("service_civique")
    await page.fill("#title", "Appui aux coopératives agricoles")
    await page.fill("#description", "Accompagnement des coopératives de femmes.")
    await page.fill("#starts_on", "2027-09-01")
    await page.fill("#duration_months", "8")
    await page.fill("#places", "1")
    await page.fill("#languages", "fr")
    # Recruitment learns of the partnership through Kafka: until then the draft is refused and the form kept.
    deadline = time.monotonic() + 60
    while True:
        await page.get_by_role("button", name="Enregistrer le brouillon").click()
        await page.wait_for_load_state("domcontentloaded")
        if "/authority/positions/new" not in page.url:
            break
        await expect(page.locator("#title")).to_have_value("Appui aux coopératives agricoles")
        assert time.monotonic() < deadline, await page.locator("main").inner_text()
        await asyncio.sleep(1)
    await expect(page.locator("#position-status")).to_have_text("Brouillon")
    await journey.look("draft position")
    # The draft corrected before publishing (recruitment's PATCH): a mistake kept in the form, then saved.
    await page.get_by_role("link", name="Modifier le brouillon").click()
    await expect(page.locator("#title")).to_have_value("Appui aux coopératives agricoles")
    await expect(page.locator("#languages")).to_have_value("fr")
    await page.fill("#title", "Appui aux coopératives agricoles de femmes")
    await page.fill("#places", "0")
    await page.get_by_role("button", name="Enregistrer les modifications").click()
    await expect(page.locator("#error-summary")).to_be_visible()
    await expect(page.locator("#title")).to_have_value("Appui aux coopératives agricoles de femmes")
    await journey.look("draft correction refused")
    await page.fill("#places", "3")
    await page.get_by_role("button", name="Enregistrer les modifications").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Appui aux coopératives agricoles de femmes")
    await expect(page.locator("#position-places")).to_have_text("3")
    await journey.look("draft corrected")
    await page.get_by_role("button", name="Publier").click()
    await expect(page.locator("#position-status")).to_have_text("Publiée")
    await journey.look("published position")
    position_id = page.url.rstrip("/").split("/")[-1]

    await _apply_as_candidate(portal_stack, position_id)
    await page.reload()
    await expect(page.locator("#applications")).to_contain_text("Chloé Bernard")
    await journey.look("ranked applications")

    # The pipeline: shortlist, interview, select, engage, each confirmed.
    await page.get_by_role("link", name="Présélectionner").click()
    await journey.look("confirm shortlist")
    await page.get_by_role("button", name="Confirmer").click()
    await page.get_by_role("link", name="Fixer l'entretien").click()
    await page.fill("#at", "2027-06-10T10:00")
    await journey.look("schedule interview")
    await page.get_by_role("button", name="Confirmer").click()
    await expect(page.locator("#applications")).to_contain_text("Entretien prévu")
    await page.get_by_role("link", name="Retenir").click()
    await expect(page.get_by_text("Cette étape est définitive.")).to_be_visible()
    await journey.look("confirm selection")
    await page.get_by_role("button", name="Confirmer").click()
    await page.get_by_role("link", name="Engager").click()
    await page.fill("#starts_on", "2027-09-01")
    await page.fill("#ends_on", "2028-04-30")
    await journey.look("engage with contract dates")
    await page.get_by_role("button", name="Confirmer").click()
    await expect(page.locator("#applications")).to_contain_text("Engagement signé")
    await journey.look("engaged")

    # Missions plans the mission from the engagement event: the dashboard shows it.
    deadline = time.monotonic() + 60
    while True:
        await page.goto(portal_stack.url + "/authority")
        rows = page.locator("#missions tbody tr", has_text="1 septembre 2027")
        if await rows.count():
            break
        assert time.monotonic() < deadline, "the mission never appeared on the dashboard"
        await asyncio.sleep(1)
    await expect(rows.first.locator(".mission-status")).to_have_text("Prévue")
    await journey.look("dashboard with the planned mission")

    await journey.revisit_in("en")
    journey.assert_clean()


async def _option_of(page: object, partner_name: str) -> str:
    """The label of the partnership option naming ``partner_name``."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    labels = await page.locator("#partnership_id option").all_inner_texts()
    return next(label for label in labels if label.startswith(partner_name))
