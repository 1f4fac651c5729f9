"""Keyboard-only application, session expiry and refresh, CSRF refusal and an API outage, in a real browser."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, expect

from vies_dev.service_process import ServiceProcess
from vies_dev.testing.helpers import free_port, wait_until
from vies_shared.storage import create_mongo_client

from .conftest import PortalStack
from .journey import Journey, session_id, sign_in

pytestmark = pytest.mark.integration


async def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element ``selector`` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        if await page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus with Tab")


async def type_date(page: Page, selector: str, iso: str) -> None:
    """Type a date into a focused date field, in whichever order the browser's field shows (keys only)."""
    year, month, day = iso.split("-")
    for order in (month + day + year, day + month + year):
        await page.keyboard.type(order)
        if await page.input_value(selector) == iso:
            return
        for _ in range(2):  # back to the first segment of the field
            await page.keyboard.press("Shift+Tab")
        await tab_to(page, selector)
    raise AssertionError(f"could not type {iso} into {selector}")


async def test_anonymous_visitors_browse_published_positions(
    portal_stack: PortalStack, context: BrowserContext
) -> None:
    """Without signing in: the positions, a search and a position's page; applying asks to sign in."""
    page = await context.new_page()
    journey = Journey(page, "anonymous", portal_stack.url)
    await page.goto(portal_stack.url + "/positions")
    await expect(page.locator("#results-count")).to_be_visible()
    await expect(page.get_by_role("link", name="Coordinateur·rice santé communautaire")).to_be_visible()
    await journey.look("positions, anonymous")
    await page.fill("#q", "santé")
    await page.get_by_role("button", name="Rechercher").click()
    await expect(page.locator("#results-count")).to_have_text("1 offre")
    await page.get_by_role("link", name="Coordinateur·rice santé communautaire").click()
    await expect(page.locator("h1")).to_have_text("Coordinateur·rice santé communautaire")
    await expect(page.locator("main a[href^='/sign-in']")).to_be_visible()
    await journey.look("position, anonymous")


async def test_application_with_the_keyboard_only(portal_stack: PortalStack, context: BrowserContext) -> None:
    page = await context.new_page()
    journey = Journey(page, "keyboard", portal_stack.url)
    await page.goto(portal_stack.url + "/positions/pos-demo-sc-majunga")
    await journey.look("position")
    # The skip link comes first and is visible once focused.
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip-link")).to_be_focused()
    await journey.look("skip link focused", audit=False)
    await tab_to(page, "main a[href^='/sign-in']")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/protocol/openid-connect/auth**")
    await tab_to(page, "#username")
    await page.keyboard.type("amina.candidate")
    await tab_to(page, "#password")
    await page.keyboard.type("candidate-demo-pass")
    await page.keyboard.press("Enter")
    await page.wait_for_url(portal_stack.url + "/positions/pos-demo-sc-majunga**")
    if not page.url.endswith("/apply"):
        await journey.look("position, signed in")
        await tab_to(page, "main a[href$='/apply']")
        await page.keyboard.press("Enter")
        await page.wait_for_url(portal_stack.url + "/positions/pos-demo-sc-majunga/apply")
    await journey.look("application form")

    await tab_to(page, "#name")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("Amina Diallo")
    await tab_to(page, "#birth_date")
    await type_date(page, "#birth_date", "2004-03-15")
    await tab_to(page, "#nationality")
    await page.keyboard.type("France")
    await tab_to(page, "#residence_country")
    await page.keyboard.type("France")
    await tab_to(page, "#motivation")
    await page.keyboard.type("J'anime déjà des ateliers sur l'environnement.")
    await expect(page.locator("#birth_date")).to_have_value("2004-03-15")
    await expect(page.locator("#nationality")).to_have_value("FR")
    await journey.look("application form filled with the keyboard")
    await tab_to(page, "form[action$='/apply'] button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/my/applications/*")
    await expect(page.locator(".current-status")).to_contain_text("Examinée : éligible")
    await journey.look("application sent")
    journey.assert_clean()


async def test_session_expiry_refresh_and_sign_in_again(portal_stack: PortalStack, context: BrowserContext) -> None:
    page = await context.new_page()
    journey = Journey(page, "session", portal_stack.url)
    await sign_in(page, portal_stack.url, "thomas.candidate", "candidate-demo-pass", "/my/applications")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mes candidatures")
    sid = await session_id(page)
    client = create_mongo_client(portal_stack.mongodb_uri)
    sessions = client[portal_stack.portal_db]["sessions"]
    try:
        # An access token about to expire is refreshed without the person noticing.
        before = (await sessions.find_one({"_id": sid}))["tokens"]["access_token"]
        await sessions.update_one({"_id": sid}, {"$set": {"tokens.expires_at": int(time.time()) - 5}})
        await page.goto(portal_stack.url + "/my/applications")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Mes candidatures")
        after = (await sessions.find_one({"_id": sid}))["tokens"]
        assert after["access_token"] != before and after["expires_at"] > time.time()

        # An idle session ends: the page says so and offers to sign in again.
        await sessions.update_one({"_id": sid}, {"$currentDate": {"expires_at": True}})
        response = await page.goto(portal_stack.url + "/my/data")
        assert response is not None and response.status == 401
        await expect(page.get_by_role("heading", level=1)).to_have_text("Session terminée")
        await journey.look("session ended")
        await page.get_by_role("link", name="Se reconnecter").click()
        # Still signed in at the provider: straight back to the page asked for.
        await page.wait_for_url(portal_stack.url + "/my/data")
        assert await session_id(page) != sid
        await journey.look("back after signing in again")
    finally:
        await client.close()
    journey.assert_clean()


async def test_a_form_without_its_csrf_token_is_refused(portal_stack: PortalStack, context: BrowserContext) -> None:
    page = await context.new_page()
    journey = Journey(page, "csrf", portal_stack.url)
    await page.goto(portal_stack.url + "/eligibility")
    await journey.look("eligibility form")
    await page.evaluate("document.querySelector('input[name=csrf_token]').value = 'forged'")
    await page.get_by_role("button", name="Vérifier mon éligibilité").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Formulaire expiré")
    await journey.look("csrf refused")
    journey.assert_clean()
    # A cross-site post carries no session and no token: refused too.
    async with httpx.AsyncClient(base_url=portal_stack.url) as http:
        assert (await http.post("/sign-out", data={})).status_code == 403
        assert (
            await http.post("/eligibility", data={"csrf_token": "x", "birth_date": "2000-01-01"})
        ).status_code == 403


@pytest_asyncio.fixture
async def portal_without_recruitment(
    portal_stack: PortalStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A second portal whose recruitment API is down (nothing listens at its address)."""
    env = {**portal_stack.portal.env, "VIES_RECRUITMENT_URL": f"http://127.0.0.1:{free_port()}"}
    port = free_port()
    env["VIES_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    process = ServiceProcess("portal", port, env, tmp_path_factory.mktemp("outage") / "portal.log")
    process.start()
    try:
        async with httpx.AsyncClient() as http:

            async def alive() -> bool:
                try:
                    return (await http.get(f"{process.url}/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(alive, timeout=30, message="second portal up")
        yield process.url
    finally:
        await asyncio.to_thread(process.stop, 10)


async def test_an_api_outage_gives_a_friendly_page_and_keeps_the_form(
    portal_without_recruitment: str, context: BrowserContext
) -> None:
    url = portal_without_recruitment
    page = await context.new_page()
    journey = Journey(page, "outage", url)
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"{url}/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["recruitment"] == "down"
    await page.goto(url + "/eligibility")
    await page.fill("#birth_date", "2001-06-30")
    await page.select_option("#nationality", "SN")
    await page.select_option("#residence_country", "SN")
    await page.select_option("#destination_country", "FR")
    await page.fill("#starts_on", "2027-09-01")
    await page.fill("#duration_months", "10")
    await page.get_by_role("button", name="Vérifier mon éligibilité").click()
    await expect(page.locator("#error-summary")).to_contain_text("ne répond pas pour le moment")
    await expect(page.locator("#birth_date")).to_have_value("2001-06-30")
    await expect(page.locator("#destination_country")).to_have_value("FR")
    await expect(page.locator("#duration_months")).to_have_value("10")
    await journey.look("eligibility while recruitment is down")
    response = await page.goto(url + "/positions")
    assert response is not None and response.status == 503
    await expect(page.get_by_role("heading", level=1)).to_have_text("Service indisponible")
    await journey.look("positions while recruitment is down")
    journey.assert_clean()
