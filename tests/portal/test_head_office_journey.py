"""Head office in a real browser: the country's indicators with their chart and the regions, the CSV
export downloaded, the sending organisations and the partners awaiting vetting everywhere."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.async_api import BrowserContext, expect

from .conftest import PortalStack
from .journey import Journey, sign_in

pytestmark = pytest.mark.integration


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

    await page.get_by_role("link", name="Organismes d'envoi").first.click()
    await expect(page.locator("#organisations")).to_be_visible()
    await journey.look("sending organisations")
    await page.locator("#organisations tbody a").first.click()
    await expect(page.locator("#approval-valid")).to_be_visible()
    await journey.look("sending organisation")
    await page.get_by_role("link", name="Partenaires en attente de validation").first.click()
    await journey.look("vetting everywhere")

    await journey.revisit_in("en")
    journey.assert_clean()
