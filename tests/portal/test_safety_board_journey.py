"""The live safety-check board in a real browser.

A Volunteering Centre coordinator of Togo, a country with three missions under way, issues a
security alert from the portal. One volunteer answers through the link of the SMS the local SMS
provider received, one through the link of the email read from Mailpit, one signs in and asks
for help. The coordinator's board, never reloaded, shows each answer within 5 seconds, and the
need-help answer with the critical incident it opened, and its live region tells a screen reader
each change of the counts; the coordinator closes the check, then takes the incident in charge and
resolves it. Every page audited by axe-core, in French and English.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from vies_dev.testing import publish_event, wait_until
from vies_missions.domain.mission import mission_id_for
from vies_shared.events.recruitment import ContactUpdated, EmergencyContact, VolunteerEngaged
from vies_shared.events.topics import contacts_topic, events_topic
from vies_shared.keycloak import KeycloakEndpoints
from vies_shared.storage import create_mongo_client

from .conftest import AXE, PortalStack
from .journey import Journey, sign_in
from .safety_links import link_from_mail, link_from_sms, on_portal

pytestmark = pytest.mark.integration

COUNTRY = "TG"
CHECKLIST = ("training", "insurance", "visa", "travel_registration", "emergency_contact")
MESSAGE = "Manifestations à Lomé : restez chez vous, évitez le quartier administratif."
ANSWER_WITHIN = 5.0  # seconds, from the answer recorded to the row on the coordinator's board


async def _user(keycloak: KeycloakEndpoints, username: str, password: str, role: str, **attributes: str) -> str:
    """A new user of the realm with one realm role and scope attributes; its id (the token's ``sub``)."""
    base = f"{keycloak.url.rstrip('/')}/admin/realms/vies"
    admin = {"Authorization": f"Bearer {await asyncio.to_thread(keycloak.admin_token)}"}
    first, last = username.split(".", maxsplit=1)[0].title(), "Test"
    body = {
        "username": username,
        "enabled": True,
        "email": f"{username}@example.org",
        "emailVerified": True,
        "firstName": first,
        "lastName": last,
        "attributes": {k: [v] for k, v in attributes.items()},
        "credentials": [{"type": "password", "value": password, "temporary": False}],
    }
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{base}/users", json=body, headers=admin)
        assert r.status_code == 201, r.text
        user_id = r.headers["Location"].rsplit("/", 1)[1]
        realm_role = (await http.get(f"{base}/roles/{role}", headers=admin)).json()
        r = await http.post(f"{base}/users/{user_id}/role-mappings/realm", json=[realm_role], headers=admin)
        assert r.status_code == 204, r.text
    return user_id


async def _three_missions(
    stack: PortalStack, centre: dict[str, str], volunteers: list[tuple[str, str, str]], tid: str
) -> list[str]:
    """A host partner in Togo and three volunteers engaged there (contact data on the contacts topic): mission ids."""
    async with httpx.AsyncClient(timeout=30) as http:
        partner = {
            "name": f"Maison des jeunes de Kpalimé {tid}",
            "kind": "association",
            "country": COUNTRY,
            "city": "Kpalimé",
            "themes": ["youth_sport"],
            "languages": ["fr", "ee"],
            "hosting_capacity": 3,
        }
        r = await http.post(f"{stack.api('partners')}/partners", json=partner, headers=centre)
        assert r.status_code == 201, r.text
        partner_id = str(r.json()["partner_id"])
    env = stack.services["missions"].env
    bootstrap, prefix = env["VIES_KAFKA_BOOTSTRAP"], env["VIES_TOPIC_PREFIX"]
    starts = datetime.now(UTC).date() - timedelta(days=20)
    missions = []
    for n, (volunteer_id, name, phone) in enumerate(volunteers):
        contact = ContactUpdated(
            person_id=volunteer_id,
            name=name,
            email=f"{volunteer_id}@example.org",
            phone=phone,
            language="fr",
            emergency_contact=EmergencyContact(name=f"Parent {name}", relation="mère", phone=f"+3361234560{n}"),
        )
        await publish_event(bootstrap, contacts_topic(prefix), contact)
        engaged = VolunteerEngaged(
            engagement_id=f"eng-tg{n}-{tid}",
            application_id=f"app-tg{n}-{tid}",
            volunteer_id=volunteer_id,
            position_id=f"pos-tg-{tid}",
            authority_id="aut-demo-ara",
            partner_id=partner_id,
            country=COUNTRY,
            scheme="vsi",
            starts_on=starts,
            ends_on=starts + timedelta(days=365),
        )
        await publish_event(bootstrap, events_topic("recruitment", prefix), engaged)
        missions.append(mission_id_for(engaged.engagement_id))
    return missions


async def _start(stack: PortalStack, centre: dict[str, str], mission_id: str) -> None:
    """Checklist done and departure recorded through the API (the third mission is started in the browser)."""
    async with httpx.AsyncClient(timeout=30) as http:
        for item in CHECKLIST:
            r = await http.post(
                f"{stack.api('missions')}/missions/{mission_id}/checklist",
                json={"item": item, "done_on": "2026-11-01"},
                headers=centre,
            )
            assert r.status_code == 200, r.text
        r = await http.post(
            f"{stack.api('missions')}/missions/{mission_id}/start", json={"departed_on": "2026-11-10"}, headers=centre
        )
        assert r.status_code == 200, r.text


async def _row_appears(board: Page, mission_id: str, answer: str, since: float) -> float:
    """Seconds between ``since`` and the row of ``mission_id`` showing ``answer`` in the accounted list."""
    row = board.locator(f'#accounted tr[data-mission="{mission_id}"]')
    await expect(row.locator(".answer")).to_contain_text(answer, timeout=ANSWER_WITHIN * 1000)
    return time.monotonic() - since


async def test_the_board_follows_three_answers_live_and_the_coordinator_closes_the_check(
    portal_stack: PortalStack, context: BrowserContext
) -> None:
    stack = portal_stack
    assert stack.sms is not None, "the portal stack has no local SMS provider"
    tid = uuid.uuid4().hex[:6]
    password = f"Board-{tid}-pass"
    centre_user = f"togo.centre{tid}"
    await _user(stack.keycloak, centre_user, password, "centre", country=COUNTRY)
    signed_in_volunteer = await _user(stack.keycloak, f"afi.volunteer{tid}", password, "volunteer")
    centre_token = await asyncio.to_thread(stack.keycloak.token, centre_user, password)
    centre = {"Authorization": f"Bearer {centre_token}"}
    by_sms, by_mail = f"sms-{tid}", f"mail-{tid}"
    volunteers = [
        (by_sms, "Kofi Mensah", "+22890000001"),
        (by_mail, "Ama Dossou", "+22890000002"),
        (signed_in_volunteer, "Afi Lawson", "+22890000003"),
    ]
    missions = await _three_missions(stack, centre, volunteers, tid)

    async def listed(status: str) -> bool:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(
                f"{stack.api('missions')}/missions", params={"country": COUNTRY, "status": status}, headers=centre
            )
        return r.status_code == 200 and sorted(m["mission_id"] for m in r.json()["items"]) == sorted(missions)

    await wait_until(lambda: listed("planned"), timeout=60, message="three missions planned in Togo")
    for mission_id in missions[:2]:
        await _start(stack, centre, mission_id)

    # The coordinator signs in, ticks the third volunteer's checklist and records the departure.
    page = await context.new_page()
    journey = Journey(page, "safety-board", stack.url)
    await sign_in(page, stack.url, centre_user, password, "/centre")
    await expect(page.locator(".signed-in-as")).to_contain_text("pays TG")
    await page.goto(f"{stack.url}/centre/missions/{missions[2]}")
    await expect(page.locator("#mission-status")).to_have_text("Prévue")
    await journey.look("planned mission and its checklist")
    for item in CHECKLIST:
        await page.fill(f"#done-{item}", "2026-11-01")
        await page.locator(f"#done-{item} ~ button").click()
        await expect(page.locator(f"#done-{item}")).to_have_count(0)
    await page.get_by_role("link", name="Enregistrer le départ").click()
    await page.fill("#departed_on", "2026-11-10")
    await journey.look("confirm departure")
    await page.get_by_role("button", name="Confirmer").click()
    await expect(page.locator("#mission-status")).to_have_text("En cours")
    await expect(page.locator("#checklist")).to_be_visible()
    await journey.look("mission under way")
    await wait_until(lambda: listed("started"), timeout=30, message="three missions under way in Togo")

    # Notifications must know the volunteers and their missions before the alert, or nobody is told.
    mongo = create_mongo_client(stack.mongodb_uri)
    notes = mongo[stack.services["notifications"].env["VIES_MONGODB_DB"]]
    ids = [v[0] for v in volunteers]

    async def known() -> bool:
        started = await notes["missions"].count_documents({"_id": {"$in": missions}, "status": "started"})
        return started == 3 and await notes["contacts"].count_documents({"_id": {"$in": ids}}) == 3

    try:
        await wait_until(known, timeout=60, message="notifications knows the three volunteers under way")
    finally:
        await mongo.close()

    # The alert, from the board's page, after a confirmation.
    await page.get_by_role("link", name="Vérifications de sécurité").first.click()
    await expect(page.locator("#country")).to_have_value(COUNTRY)
    await page.get_by_label("Niveau").select_option("crisis")
    await page.fill("#message", MESSAGE)
    await page.fill("#respond_within_hours", "4")
    await journey.look("issue a security alert")
    await page.get_by_role("button", name="Continuer").click()
    await expect(page.get_by_text("Elle ne peut pas être rappelée.")).to_be_visible()
    await journey.look("confirm the alert")
    await page.get_by_role("button", name="Envoyer l'alerte").click()
    await page.wait_for_url("**/centre/safety/*")
    alert_id = page.url.rstrip("/").split("/")[-1]
    await expect(page.locator("#board")).to_have_attribute("data-status", "open")
    await expect(page.locator("#count-unaccounted")).to_have_text("3")
    await expect(page.locator("#unaccounted")).to_contain_text("Kofi Mensah")
    await expect(page.locator("#unaccounted")).to_contain_text("+22890000002")
    await expect(page.locator("#unaccounted")).to_contain_text("Parent Afi Lawson")
    await expect(page.locator("#unaccounted")).to_contain_text(f"Maison des jeunes de Kpalimé {tid}")
    await expect(page.locator("#unaccounted")).to_contain_text("Région Auvergne-Rhône-Alpes")
    await journey.look("board, nobody has answered")
    # The automatic updates can be paused (WCAG 2.2.2), then resumed.
    await page.get_by_role("link", name="Suspendre les mises à jour").click()
    await expect(page.locator("#board")).not_to_have_attribute("hx-trigger", "every 2s")
    await journey.look("board, updates paused")
    await page.get_by_role("link", name="Mettre à jour et reprendre").click()
    await expect(page.locator("#board")).to_have_attribute("hx-trigger", "every 2s")
    # From here on the board is never reloaded: a reload would reset this counter.
    await page.evaluate("window.boardLoads = 1")

    # The volunteers' phone: another browser profile, no cookie shared with the coordinator's.
    assert context.browser is not None
    volunteer_context = await context.browser.new_context(locale="fr-FR", viewport={"width": 420, "height": 900})
    await volunteer_context.add_init_script(path=str(AXE))
    timings: dict[str, float] = {}
    try:
        phone = await volunteer_context.new_page()
        link_journey = Journey(phone, "safety-board-volunteers", stack.url)

        # 1. The SMS received at the local SMS provider.
        sms_link = await link_from_sms(stack.sms, "+22890000001", contains="TG")
        await phone.goto(on_portal(sms_link, stack.url))
        await expect(phone.locator(".alert-message")).to_contain_text("Manifestations à Lomé")
        await link_journey.look("one-tap page from the SMS")
        await phone.locator("#answer-safe").click()
        answered = time.monotonic()
        await expect(phone.locator("#answer-recorded")).to_be_visible()
        timings["sms"] = await _row_appears(page, missions[0], "En sécurité", answered)
        # A screen reader hears the news once, from the page's polite live region.
        news = page.locator("#board-news")
        await expect(news).to_have_attribute("aria-live", "polite")
        await expect(news).to_have_text("Mise à jour : nouvelles de 1 sur 3 (besoin d'aide : 0), sans nouvelles : 2.")

        # 2. The email read from Mailpit.
        mail_link = await link_from_mail(stack.mailpit_url, f"{by_mail}@example.org", contains=alert_id)
        await phone.goto(on_portal(mail_link, stack.url))
        await link_journey.look("one-tap page from the email")
        await phone.locator("#answer-safe").click()
        answered = time.monotonic()
        await expect(phone.locator("#answer-recorded")).to_be_visible()
        timings["mail"] = await _row_appears(page, missions[1], "En sécurité", answered)

        # 3. The third volunteer signs in and asks for help.
        await volunteer_context.clear_cookies()
        await sign_in(phone, stack.url, f"afi.volunteer{tid}", password, "/volunteer")
        await phone.goto(f"{stack.url}/volunteer/missions/{missions[2]}/safety-checks/{alert_id}")
        await phone.get_by_label("J'ai besoin d'aide").check()
        await link_journey.look("signed-in answer form")
        await phone.get_by_role("button", name="Continuer").click()
        await phone.get_by_role("button", name="Confirmer et envoyer").click()
        answered = time.monotonic()
        await phone.wait_for_url("**/safety-checks?sent=1")
        timings["signed_in"] = await _row_appears(page, missions[2], "Besoin d'aide", answered)
        await link_journey.look("answer sent")
        link_journey.assert_clean()
    finally:
        await volunteer_context.close()

    assert await page.evaluate("window.boardLoads") == 1, "the board was reloaded"
    assert all(seconds <= ANSWER_WITHIN for seconds in timings.values()), timings
    helped = page.locator(f'#accounted tr[data-mission="{missions[2]}"]')
    await expect(helped.locator(".incident-link")).to_have_text("Incident critique ouvert (Afi Lawson)")
    await expect(helped.locator(".answered-at")).to_contain_text("Africa/Lome")
    await expect(page.locator("#count-unaccounted")).to_have_text("0")
    await expect(page.locator("#unaccounted")).to_have_count(0)
    await expect(page.locator("#board-news")).to_have_text(
        "Mise à jour : nouvelles de 3 sur 3 (besoin d'aide : 1), sans nouvelles : 0."
    )
    await journey.look("board, everybody has answered")

    # Close the check (after a confirmation): the final lists, nobody unaccounted, no more polling.
    await page.get_by_role("link", name="Clore la vérification de sécurité").click()
    await expect(page.get_by_text("Elle ne pourra pas être rouverte.")).to_be_visible()
    await journey.look("confirm closing")
    await page.get_by_role("button", name="Clore la vérification de sécurité").click()
    await expect(page.locator("#board")).to_have_attribute("data-status", "closed")
    await expect(page.locator("#board")).not_to_have_attribute("hx-trigger", "every 2s")
    await expect(page.locator("#unaccounted-title")).to_have_text("Sans nouvelles (0)")
    await expect(page.locator("#accounted tbody tr")).to_have_count(3)
    await journey.look("closed check")
    await _check_status_is_final(stack, centre, alert_id, missions)

    # The critical incident the need-help answer opened: taken in charge, then resolved.
    await page.locator(f'#accounted tr[data-mission="{missions[2]}"] .incident-link').click()
    await expect(page.locator("#incident-status")).to_have_text("Ouvert")
    await journey.look("critical incident")
    await page.get_by_role("link", name="Prendre en charge").click()
    await page.get_by_role("button", name="Confirmer").click()
    await expect(page.locator("#incident-status")).to_have_text("Pris en charge")
    await page.get_by_role("link", name="Résoudre").click()
    await page.fill("#resolution", "Volontaire jointe par téléphone, mise à l'abri chez son partenaire.")
    await journey.look("resolve the incident")
    await page.get_by_role("button", name="Confirmer").click()
    await expect(page.locator("#incident-status")).to_have_text("Résolu")
    await journey.look("incident resolved")

    await journey.revisit_in("en")
    journey.assert_clean()


async def _check_status_is_final(
    stack: PortalStack, centre: dict[str, str], alert_id: str, missions: list[str]
) -> None:
    """What the board showed is what missions holds: closed, three answers, one asking for help."""
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(f"{stack.api('missions')}/security-alerts/{alert_id}", headers=centre)
    status: dict[str, Any] = r.json()
    assert status["status"] == "closed", status
    assert status["counts"] == {"total": 3, "accounted": 3, "unaccounted": 0, "safe": 2, "need_help": 1}
    assert sorted(e["mission_id"] for e in status["accounted"]) == sorted(missions)
