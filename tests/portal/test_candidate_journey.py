"""A new candidate in a real browser: registers, verifies the address from Mailpit, searches, applies."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from vies_dev.testing.helpers import wait_until

from .conftest import PortalStack
from .journey import Journey, sign_in

pytestmark = pytest.mark.integration


async def verification_link(mailpit_url: str, email: str) -> str:
    """The link of the verification mail the provider sent to ``email``."""
    async with httpx.AsyncClient(base_url=mailpit_url, timeout=10) as mailpit:

        async def found() -> Any:
            r = await mailpit.get("/api/v1/search", params={"query": f'to:"{email}"'})
            return r.json().get("messages") if r.status_code == 200 else None

        messages = await wait_until(found, timeout=30, message=f"verification mail to {email}")
        message = (await mailpit.get(f"/api/v1/message/{messages[0]['ID']}")).json()
    links = re.findall(r"https?://\S+/login-actions/action-token\?[^\s\"'<>]+", message["Text"] or message["HTML"])
    assert links, message["Text"]
    return str(links[0].replace("&amp;", "&"))


async def test_candidate_registers_verifies_searches_and_applies(
    portal_stack: PortalStack, context: BrowserContext
) -> None:
    page = await context.new_page()
    journey = Journey(page, "candidate", portal_stack.url)
    username = f"cand-{uuid.uuid4().hex[:8]}"
    email = f"{username}@example.org"
    password = "a-long-local-Passw0rd"

    await page.goto(portal_stack.url + "/")
    await journey.look("home")
    # The pre-check first: a French-Senegalese dual national who served 70 months of VSI elsewhere.
    await page.get_by_role("link", name="Suis-je éligible ?").first.click()
    await page.fill("#birth_date", "1990-04-02")
    await page.select_option("#nationality", "FR")
    await page.select_option("#other_nationality_1", "SN")
    await page.select_option("#residence_country", "FR")
    await page.get_by_text("VSI : j'ai déjà été volontaire de solidarité internationale").click()
    await page.fill("#vsi_months_served_elsewhere", "70")
    await page.select_option("#destination_country", "SN")
    await page.fill("#starts_on", "2027-09-01")
    await page.fill("#duration_months", "12")
    await page.select_option("#scheme", "vsi")
    await page.get_by_role("button", name="Vérifier mon éligibilité").click()
    result = page.locator(".result-list li.no")
    await expect(result).to_contain_text("un pays dont vous avez la nationalité")
    await expect(result).to_contain_text("ne peut dépasser 72 mois")
    await expect(result.locator(".source").first).to_contain_text("Loi n° 2005-159")
    await expect(page.locator("#other_nationality_1")).to_have_value("SN")
    await journey.look("eligibility of a dual national, with the rules' sources")
    await page.get_by_role("link", name="Créer un compte").first.click()
    await page.wait_for_url("**/registration**")
    await journey.look("provider registration", audit=False)
    await page.fill("#username", username)
    await page.fill("#email", email)
    await page.fill("#firstName", "Awa")
    await page.fill("#lastName", "Ndiaye")
    if await page.locator("#password").count():
        await page.fill("#password", password)
        await page.fill("#password-confirm", password)
    await page.locator("#kc-register-form [type=submit]").click()
    await journey.look("provider asks to verify the address", audit=False)

    await page.goto(await verification_link(portal_stack.mailpit_url, email))
    for _ in range(4):
        if page.url.startswith(portal_stack.url):
            break
        if await page.locator("#kc-passwd-update-form").count():
            await journey.look("provider sets the password", audit=False)
            await page.fill("#password-new", password)
            await page.fill("#password-confirm", password)
            await page.locator("#kc-passwd-update-form [type=submit]").click()
        elif await page.locator("a[href*='login-actions']").count():
            await page.locator("a[href*='login-actions']").first.click()
        await page.wait_for_load_state("domcontentloaded")
    await page.wait_for_url(portal_stack.url + "/my/applications")
    await expect(page.get_by_text("Vous n'avez pas encore candidaté.")).to_be_visible()
    await journey.look("my applications, none yet")

    # Search: a theme word, a country and a start date; htmx replaces the results.
    await page.get_by_role("link", name="Parcourir les offres").click()
    await journey.look("positions")
    await page.fill("#q", "santé")
    await page.select_option("#country", "SN")
    # the recruitment API filters the start date (it starts on 2027-01-04), so the count follows it too
    await page.fill("#starts_after", "2027-01-05")
    await page.get_by_role("button", name="Rechercher").click()
    await expect(page.locator("#results-count")).to_have_text("0 offre")
    await page.fill("#starts_after", "2027-01-04")
    await page.get_by_role("button", name="Rechercher").click()
    await expect(page.locator("#results-count")).to_have_text("1 offre")
    await journey.look("positions found")
    await page.get_by_role("link", name="Coordinateur·rice santé communautaire").click()
    await journey.look("position")
    await page.get_by_role("link", name="Candidater à cette offre").click()
    await journey.look("application form")

    # A mistake first: the form comes back with what was typed and the errors beside the fields.
    await page.fill("#name", "Awa Ndiaye")
    await page.fill("#birth_date", "")
    await page.fill("#motivation", "Je veux m'engager pour la santé communautaire.")
    await page.get_by_role("button", name="Envoyer ma candidature").click()
    await expect(page.locator("#error-summary")).to_be_visible()
    await expect(page.locator("#birth_date-error")).to_contain_text("obligatoire")
    await expect(page.locator("#name")).to_have_value("Awa Ndiaye")
    await expect(page.locator("#motivation")).to_have_value("Je veux m'engager pour la santé communautaire.")
    await journey.look("application form with errors")

    await page.fill("#birth_date", "1996-05-20")
    await page.select_option("#nationality", "FR")
    await page.select_option("#residence_country", "FR")
    await page.fill("#languages", "fr, wo")
    await page.fill("#skills", "public health")
    await page.get_by_role("button", name="Envoyer ma candidature").click()
    await page.wait_for_url("**/my/applications/*")
    await expect(page.locator(".current-status")).to_contain_text("Examinée : éligible")
    await journey.look("application sent, screened eligible")
    await page.get_by_role("link", name="Toutes mes candidatures").click()
    await expect(page.get_by_text("Examinée : éligible")).to_be_visible()
    await journey.look("my applications")
    # Withdraw, after a confirmation.
    await page.get_by_role("link", name="Coordinateur·rice santé communautaire").click()
    await page.get_by_role("link", name="Retirer ma candidature").click()
    await journey.look("withdraw confirmation")
    await page.get_by_role("button", name="Oui, retirer ma candidature").click()
    await expect(page.locator(".current-status")).to_contain_text("Retirée")
    await journey.look("withdrawn")
    await page.get_by_role("link", name="Mes données personnelles").click()
    await expect(page.locator("#name")).to_have_value("Awa Ndiaye")
    await journey.look("my personal data")
    await page.get_by_role("link", name="Demander l'effacement de mes données").click()
    await journey.look("erasure confirmation")
    await page.get_by_role("link", name="Non, garder mes données").click()

    await journey.revisit_in("en")
    await page.goto(portal_stack.url + "/my/data")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My personal data")
    # Erasure, confirmed: the data goes through recruitment, the session ends here and at the provider.
    await page.get_by_role("link", name="Ask for my data to be erased").click()
    await page.get_by_role("button", name="Yes, erase my personal data").click()
    await page.wait_for_url(portal_stack.url + "/my/data/erased/en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your personal data has been erased")
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    await journey.look("data erased, signed out")
    await page.goto(portal_stack.url + "/my/data/erased/fr")
    await journey.look("fr data erased")
    await sign_in(page, portal_stack.url, username, password, "/my/data")
    await expect(page.get_by_text("Vos données personnelles ont été effacées le")).to_be_visible()
    await expect(page.locator("#name")).to_have_count(0)  # nothing held, nothing to correct
    await journey.look("my personal data, erased")
    journey.assert_clean()


async def test_an_ineligible_candidate_sees_the_reason(portal_stack: PortalStack, context: BrowserContext) -> None:
    page = await context.new_page()
    journey = Journey(page, "candidate-ineligible", portal_stack.url)
    await sign_in(page, portal_stack.url, "thomas.candidate", "candidate-demo-pass", "/positions/pos-demo-sc-majunga")
    await page.get_by_role("link", name="Candidater à cette offre").click()
    await page.fill("#name", "Thomas Martin")
    # Service Civique abroad is for 16-25 year olds (30 with a disability).
    await page.fill("#birth_date", "1980-01-15")
    await page.select_option("#nationality", "FR")
    await page.select_option("#residence_country", "FR")
    await page.get_by_role("button", name="Envoyer ma candidature").click()
    await page.wait_for_url("**/my/applications/*")
    await expect(page.locator(".current-status")).to_contain_text("Examinée : non éligible")
    await expect(page.locator(".reasons li").first).to_be_visible()
    await expect(page.locator(".reasons .source").first).to_contain_text("Code du service national")
    await journey.look("ineligible with the reason")
    # An ineligible application is closed: nothing to withdraw.
    await expect(page.get_by_role("link", name="Retirer ma candidature")).to_have_count(0)
    journey.assert_clean()
