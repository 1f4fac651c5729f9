"""Head office in a real browser: the country's indicators with their chart and the regions, the CSV
export downloaded, the sending organisations (filtered by their approval) and the partners awaiting
vetting everywhere."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from .conftest import PortalStack
from .journey import Journey, sign_in

pytestmark = pytest.mark.integration
APPROVED = "Délégation catholique pour la coopération (demo)"  # demo data: approved until the end of 2027


async def _unapproved_organisation(stack: PortalStack) -> str:
    """A sending organisation registered without an approval (through the API, as staff): its name."""
    name = f"Association sans agrément {uuid.uuid4().hex[:6]}"
    token = await asyncio.to_thread(stack.keycloak.token, "staff.agency")
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{stack.api('partners')}/sending-organisations",
            json={"name": name},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 201, r.text
    return name


async def test_head_office_downloads_the_indicators(portal_stack: PortalStack, context: BrowserContext) -> None:
    page = await context.new_page()
    journey = Journey(page, "head-office", portal_stack.url)
    await sign_in(page, portal_stack.url, "staff.agency", "staff-demo-pass", "/head-office")
    await expect(page.locator("svg#progress-chart")).to_be_visible()
    await expect(page.locator("#regions")).to_contain_text("Auvergne-Rhône-Alpes")
    await journey.look("indicators")

    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Télécharger les indicateurs (CSV)").click()
    download = await waiting.value
    assert download.suggested_filename == "vies-programme-indicators.csv"
    path = await download.path()
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["scope", "enrolled_authorities", "target_authorities"]
    assert rows[1][0] == "FR" and "FR-ARA" in [r[0] for r in rows[2:]]
    # The country's line counts what its regions count.
    assert int(rows[1][1]) == sum(int(r[1]) for r in rows[2:])

    unapproved = await _unapproved_organisation(portal_stack)
    await page.get_by_role("link", name="Organismes d'envoi").first.click()
    await expect(page.locator("#organisations")).to_be_visible()
    await journey.look("sending organisations")
    # The approval filter is the partners API's: each choice lists its own organisations only.
    await page.get_by_label("Agrément").select_option("invalid")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.locator("#organisations")).to_contain_text(unapproved)
    await expect(page.locator("#organisations")).not_to_contain_text(APPROVED)
    await journey.look("sending organisations without a valid approval")
    await page.get_by_label("Agrément").select_option("valid")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.locator("#organisations")).to_contain_text(APPROVED)
    await expect(page.locator("#organisations")).not_to_contain_text(unapproved)
    await page.locator("#organisations tbody a").first.click()
    await expect(page.locator("#approval-valid")).to_be_visible()
    await journey.look("sending organisation")
    await page.get_by_role("link", name="Partenaires en attente de validation").first.click()
    await journey.look("vetting everywhere")

    await journey.revisit_in("en")
    journey.assert_clean()
