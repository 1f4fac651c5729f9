"""The duty officer (staff on call) in a real browser: the duty board, then a poison message published
by the test is dead-lettered by notifications and replayed, corrected, from the portal (through the
service's staff-only dead-letter API), and the service then processes it once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from vies_dev.testing import publish_raw, wait_until
from vies_shared.events.envelope import encode
from vies_shared.events.partners import PartnerSuspended
from vies_shared.events.topics import events_topic
from vies_shared.storage import create_mongo_client

from .conftest import PortalStack
from .journey import Journey, sign_in

pytestmark = pytest.mark.integration
POISONED_PARTNER = "par-poison-duty-test"  # no such partner: the fixed event changes nobody's data


async def _publish_poison(stack: PortalStack) -> str:
    """A PartnerSuspended without its reason (invalid data); its ce_id."""
    env = stack.services["notifications"].env
    meta, message = encode(PartnerSuspended(partner_id=POISONED_PARTNER, reason="placeholder"))
    await publish_raw(
        env["VIES_KAFKA_BOOTSTRAP"],
        events_topic("partners", env["VIES_TOPIC_PREFIX"]),
        key=POISONED_PARTNER.encode(),
        value=json.dumps({"partner_id": POISONED_PARTNER}).encode(),
        headers=[(k, v.encode()) for k, v in message.headers.items()],
    )
    return meta.id


async def _dead_letter(stack: PortalStack, ce_id: str) -> dict[str, Any] | None:
    token = await asyncio.to_thread(stack.keycloak.token, "staff.agency")
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(
            f"{stack.api('notifications')}/dead-letters",
            params={"limit": 200},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    return next((d for d in r.json()["items"] if d["ce_id"] == ce_id), None)


async def test_duty_officer_replays_a_dead_letter(portal_stack: PortalStack, context: BrowserContext) -> None:
    page = await context.new_page()
    journey = Journey(page, "duty-officer", portal_stack.url)
    await sign_in(page, portal_stack.url, "staff.agency", "staff-demo-pass", "/duty")
    await expect(page.locator("h1")).to_have_text("Permanence")
    await expect(page.locator("#signed-in-as")).to_contain_text("agence · tout le réseau")
    await expect(page.locator("#escalated-title")).to_be_visible()
    await expect(page.locator("#dead-letter-services")).to_contain_text("notifications")
    await journey.look("duty board")
    await page.select_option("#status", "retrying")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.locator("#messages-title")).to_have_text("Messages en attente d'une nouvelle tentative")
    # Chosen by the notifications API (retrying=true), which answered: no "could not be loaded" notice.
    await expect(page.locator('section[aria-labelledby="messages-title"] .notice')).to_have_count(0)
    await journey.look("messages waiting for a retry")

    ce_id = await _publish_poison(portal_stack)
    letter = await wait_until(lambda: _dead_letter(portal_stack, ce_id), timeout=60, message="poison dead-lettered")
    assert letter["reason"] == "invalid_data"

    await page.goto(f"{portal_stack.url}/duty")
    await page.locator("#dead-letter-services").get_by_role("link", name="notifications").click()
    await expect(page.locator("#dead-letters")).to_contain_text(letter["ref"])
    await journey.look("notifications dead letters")
    await page.get_by_role("link", name=letter["ref"], exact=True).click()
    await expect(page.locator("#letter-reason")).to_have_text("invalid_data")
    await journey.look("dead letter")
    fixed = {"partner_id": POISONED_PARTNER, "reason": "corrected by the duty officer"}
    await page.fill("#value", json.dumps(fixed))
    await page.check("#confirm")
    await page.get_by_role("button", name="Rejouer la lettre morte").click()
    await page.wait_for_url("**/duty/dead-letters/notifications?replayed=*")
    await expect(page.locator("#replayed")).to_contain_text(letter["ref"])
    await journey.look("replayed")

    # The corrected event went back to its topic: notifications processes it once (its inbox has the id).
    env = portal_stack.services["notifications"].env
    client = create_mongo_client(portal_stack.mongodb_uri)
    try:
        inbox = client[env["VIES_MONGODB_DB"]]["inbox"]

        async def processed() -> bool:
            return bool(await inbox.count_documents({"_id": ce_id}) == 1)

        await wait_until(processed, timeout=60, message="the replayed event processed")
    finally:
        await client.close()

    await journey.revisit_in("en")
    journey.assert_clean()
