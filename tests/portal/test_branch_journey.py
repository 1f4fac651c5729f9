"""A regional branch adviser in a real browser: only its region, the stalled journeys and the
indicators chart, and a webhook subscription created (its secret shown once) and deleted."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from vies_shared.storage import create_mongo_client

from .conftest import PortalStack
from .journey import Journey, sign_in

pytestmark = pytest.mark.integration
# A public address (the subscription guard refuses private ones); nothing is asked to listen there.
ENDPOINT = "https://93.184.216.34/hooks/vies-ara"


async def _stalled_authority(stack: PortalStack) -> str:
    """An authority of the region enrolled in Territoires Volontaires, registered 90 days ago, nothing done since."""
    name = f"Commune de Saint-Stalled {uuid.uuid4().hex[:6]}"
    token = await asyncio.to_thread(stack.keycloak.token, "ara.branch")
    body = {
        "name": name,
        "kind": "commune",
        "region": "FR-ARA",
        "contact": {"name": "Élise Martin", "email": "elise.martin@example.org"},
        "territoires_volontaires": True,
        "new_to_cooperation": True,
    }
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(
            f"{stack.api('partners')}/authorities", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 201, r.text
    # Time cannot be waited for: its registration, the only step it reached, is moved back instead.
    client = create_mongo_client(stack.mongodb_uri)
    try:
        authorities = client[stack.services["partners"].env["VIES_MONGODB_DB"]]["authorities"]
        ninety_days_ago = datetime.now(UTC) - timedelta(days=90)
        done = await authorities.update_one(
            {"_id": r.json()["authority_id"]}, {"$set": {"registered_at": ninety_days_ago}}
        )
        assert done.modified_count == 1
    finally:
        await client.close()
    return name


async def test_branch_adviser_sees_its_region_and_subscribes_a_webhook(
    portal_stack: PortalStack, context: BrowserContext
) -> None:
    stalled_name = await _stalled_authority(portal_stack)
    page = await context.new_page()
    journey = Journey(page, "branch", portal_stack.url)
    await sign_in(page, portal_stack.url, "ara.branch", "branch-demo-pass", "/branch")
    await expect(page.locator("#signed-in-as")).to_contain_text("antenne régionale · FR-ARA")
    await expect(page.locator("h1")).to_contain_text("Auvergne")
    # The indicators as a server-rendered chart (bars and targets), with the same figures in a table.
    chart = page.locator("svg#progress-chart")
    await expect(chart).to_be_visible()
    assert await chart.locator("rect").count() == 3 and await chart.locator("line").count() == 3
    await expect(page.locator("#progress-chart-desc")).to_contain_text("objectif")
    await expect(page.locator("#indicators")).to_contain_text("Collectivités engagées dans Territoires Volontaires")
    await expect(page.locator("#stalled")).to_contain_text(stalled_name)
    await journey.look("region overview")

    # Only its region: every authority and mission listed is of FR-ARA.
    region_menu = page.get_by_role("navigation", name="Ma région")
    await region_menu.get_by_role("link", name="Collectivités", exact=True).click()
    regions = await page.locator("#authorities tbody tr td:nth-child(2)").all_inner_texts()
    assert regions and set(regions) == {"FR-ARA"}, regions
    await page.select_option("#tv", "yes")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.locator("#authorities")).to_contain_text("engagée")
    await journey.look("authorities")
    await region_menu.get_by_role("link", name="Missions", exact=True).click()
    await journey.look("missions")
    await region_menu.get_by_role("link", name="Offres", exact=True).click()
    await journey.look("positions")
    refused = await page.goto(f"{portal_stack.url}/head-office")
    assert refused is not None and refused.status == 403
    refused = await page.goto(f"{portal_stack.url}/duty/dead-letters/missions")
    assert refused is not None and refused.status == 403

    # A webhook subscription: the secret shows on the answer, and never again.
    await page.goto(f"{portal_stack.url}/branch/webhooks")
    await journey.look("webhooks")
    await page.fill("#url", ENDPOINT)
    await page.get_by_role("button", name="S'abonner").click()  # no event chosen: the form says so, keeps the address
    await expect(page.locator("#error-summary")).to_contain_text("Choisissez au moins un type d'événement")
    await expect(page.locator("#url")).to_have_value(ENDPOINT)
    await journey.look("webhook form errors")
    await page.get_by_label("missions.MissionStarted").check()
    await page.get_by_label("missions.IncidentEscalated").check()
    await page.get_by_role("button", name="S'abonner").click()
    await expect(page.locator("#created")).to_be_visible()
    secret = await page.locator("#secret").input_value()
    assert secret.startswith("whsec_") and len(secret) > 30
    await expect(page.locator("#subscriptions")).to_contain_text(ENDPOINT)
    await journey.look("subscription created")
    await page.goto(f"{portal_stack.url}/branch/webhooks")
    assert secret not in await page.content()
    await page.get_by_role("link", name=f"Supprimer {ENDPOINT}").click()
    await journey.look("confirm deletion")
    await page.get_by_role("button", name="Confirmer").click()
    await page.wait_for_url("**/branch/webhooks")
    await expect(page.locator("main")).not_to_contain_text(ENDPOINT)

    # The office's daily digest in English from now on.
    await page.get_by_role("navigation", name="Ma région").get_by_role("link", name="Synthèse quotidienne").click()
    await page.get_by_label("English").check()
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.locator("#digest-saved")).to_be_visible()
    await expect(page.get_by_label("English")).to_be_checked()
    await journey.look("digest language")

    await journey.revisit_in("en")
    await page.goto(f"{portal_stack.url}/branch")
    await expect(page.locator("#signed-in-as")).to_contain_text("regional branch · FR-ARA")
    journey.assert_clean()
