"""The portal in front of the four services, all as processes, signing in at the session's Keycloak.

The services run as in production (tokens only from the provider); the portal runs on a free
port, registered with the realm's ``vies-portal`` client as a redirect URI for this run.
Chromium is Debian's (``make chromium``); axe-core comes from npm (``make portal-assets``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from playwright.async_api import Browser, BrowserContext, async_playwright

from vies_dev.service_process import ServiceProcess, stop_all, wait_all_ready
from vies_dev.testing.helpers import free_port, wait_until
from vies_dev.testing.notifications import HttpRecorder
from vies_shared.events.topics import all_topics
from vies_shared.keycloak import PORTAL_CLIENT, PORTAL_SECRET, KeycloakEndpoints
from vies_shared.storage import create_mongo_client

SERVICES = ("recruitment", "partners", "missions", "notifications")
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("VIES_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / ".stack" / "npm" / "axe.min.js"
ARTEFACTS = Path(os.environ.get("VIES_TEST_ARTEFACTS", ROOT / ".artefacts" / "portal"))
SAFETY_LINK_KEY = "portal-tests-safety-link-key-0123456789abcdef"


@dataclass
class PortalStack:
    """Where everything listens for one test session."""

    url: str
    keycloak: KeycloakEndpoints
    mailpit_url: str
    services: dict[str, ServiceProcess]
    portal: ServiceProcess
    mongodb_uri: str
    portal_db: str
    sms: HttpRecorder | None = None
    """The local SMS provider: every SMS the notifications service sent (``sms.on("/sms")``)."""

    def api(self, service: str) -> str:
        """Base URL of one of the four APIs."""
        return self.services[service].url


async def _topics(bootstrap: str, prefix: str, *, create: bool) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(admin.start(), timeout=20)
        specs = all_topics(prefix)
        if create:
            await admin.create_topics(
                [
                    NewTopic(
                        s.name,
                        num_partitions=3,
                        replication_factor=1,
                        topic_configs={"cleanup.policy": "compact"} if s.compacted else {},
                    )
                    for s in specs
                ]
            )
        else:
            await asyncio.wait_for(admin.delete_topics([s.name for s in specs]), timeout=10)
    with contextlib.suppress(Exception):
        await admin.close()


async def _allow_redirects(keycloak: KeycloakEndpoints, portal_url: str) -> None:
    """Add this run's portal address to the ``vies-portal`` client (redirect and post-logout URIs)."""
    base = keycloak.url.rstrip("/")
    headers = {"Authorization": f"Bearer {await asyncio.to_thread(keycloak.admin_token)}"}
    async with httpx.AsyncClient(timeout=30) as http:
        found = (
            await http.get(f"{base}/admin/realms/vies/clients", params={"clientId": PORTAL_CLIENT}, headers=headers)
        ).json()
        client = found[0]
        client["redirectUris"] = sorted({*client.get("redirectUris", []), f"{portal_url}/*"})
        client["webOrigins"] = sorted({*client.get("webOrigins", []), portal_url})
        attributes = client.setdefault("attributes", {})
        logout = [u for u in attributes.get("post.logout.redirect.uris", "").split("##") if u]
        attributes["post.logout.redirect.uris"] = "##".join(sorted({*logout, f"{portal_url}/*"}))
        r = await http.put(f"{base}/admin/realms/vies/clients/{client['id']}", json=client, headers=headers)
        r.raise_for_status()


@pytest_asyncio.fixture(scope="session")
async def portal_stack(
    vies_stack: Any, vies_keycloak: KeycloakEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PortalStack]:
    """The four services and the portal as processes, with demo data, until the end of the session."""
    run_id = uuid.uuid4().hex[:8]
    prefix = f"p{run_id}."
    logs = tmp_path_factory.mktemp("portal-logs")
    sms = await HttpRecorder().__aenter__()
    await _topics(vies_stack.kafka_bootstrap, prefix, create=True)
    common = {
        "VIES_KAFKA_BOOTSTRAP": vies_stack.kafka_bootstrap,
        "VIES_MONGODB_URI": vies_stack.mongodb_uri,
        "VIES_TOPIC_PREFIX": prefix,
        "VIES_SMTP_HOST": vies_stack.smtp_host,
        "VIES_SMTP_PORT": str(vies_stack.smtp_port),
        "VIES_ENV": "production",
        "VIES_JWT_SECRET": "",
        "VIES_OIDC_ISSUER": vies_keycloak.issuer,
        "VIES_OIDC_AUDIENCE": "vies-api",
        "VIES_DEMO_DATA": "true",
        "VIES_LOG_LEVEL": "WARNING",
        "VIES_RELAY_POLL_SECONDS": "0.05",
        "VIES_CONSUMER_BATCH_TIMEOUT_MS": "50",
        "VIES_RETRY_MAX_SECONDS": "2",
        "VIES_DRAIN_SECONDS": "5",
        "VIES_WEBHOOK_SECRET_KEY": "portal-tests-webhook-key-0123456789abcdef",
        "VIES_OWNER_DIRECTORY_CLIENT_ID": "vies-notifications",
        "VIES_OWNER_DIRECTORY_CLIENT_SECRET": "vies-notifications-local-secret",
        "VIES_SMS_PROVIDER_URL": f"{sms.url}/sms",
        # The one-tap safety answer links: minted by notifications, checked by missions (the same keys).
        # Here a link expires as soon as its check closes (production: 7 days), so tests see the expired page.
        "VIES_SAFETY_LINK_KEYS": SAFETY_LINK_KEY,
        "VIES_SAFETY_LINK_VALID_DAYS": "0",
    }
    services = {
        name: ServiceProcess(
            name, free_port(), {**common, "VIES_MONGODB_DB": f"p{run_id}_{name}"}, logs / f"{name}.log"
        )
        for name in SERVICES
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    services["notifications"].env["VIES_SAFETY_CHECK_URL"] = f"{url}/s/{{token}}"
    portal_db = f"p{run_id}_portal"
    portal_env = {
        "VIES_ENV": "production",
        "VIES_PUBLIC_URL": url,
        "VIES_MONGODB_URI": vies_stack.mongodb_uri,
        "VIES_PORTAL_MONGODB_DB": portal_db,
        "VIES_OIDC_ISSUER": vies_keycloak.issuer,
        "VIES_PORTAL_CLIENT_SECRET": PORTAL_SECRET,
        "VIES_LOG_LEVEL": "INFO",
        **{f"VIES_{name.upper()}_URL": process.url for name, process in services.items()},
    }
    portal = ServiceProcess("portal", port, portal_env, logs / "portal.log")
    await _allow_redirects(vies_keycloak, url)
    everything = [*services.values(), portal]
    for process in everything:
        process.start()
    try:
        await asyncio.to_thread(wait_all_ready, everything, 180)
        staff = {"Authorization": f"Bearer {await asyncio.to_thread(vies_keycloak.token, 'staff.agency')}"}
        async with httpx.AsyncClient(timeout=10) as http:

            async def seeded() -> bool:
                r = await http.get(services["missions"].url + "/missions", params={"country": "SN"}, headers=staff)
                p = await http.get(services["recruitment"].url + "/positions/pos-demo-vsi-ziguinchor", headers=staff)
                return r.status_code == 200 and bool(r.json()["items"]) and p.status_code == 200

            await wait_until(seeded, timeout=120, message="demo data seeded")
        yield PortalStack(
            url, vies_keycloak, vies_stack.mailpit_url, services, portal, vies_stack.mongodb_uri, portal_db, sms
        )
    finally:
        await asyncio.to_thread(stop_all, everything, 15)
        await sms.__aexit__()
        client = create_mongo_client(vies_stack.mongodb_uri)
        for name in (*SERVICES, "portal"):
            with contextlib.suppress(Exception):
                await client.drop_database(f"p{run_id}_{name}")
        await client.close()
        await _topics(vies_stack.kafka_bootstrap, prefix, create=False)


@pytest_asyncio.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's chromium driven by Playwright (its own browser download cannot work here)."""
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once per session, before anything runs
        pytest.fail(f"{CHROMIUM} is missing: run 'make chromium' (apt-get install chromium)")
    if not os.path.exists(AXE):  # noqa: ASYNC240
        pytest.fail(f"{AXE} is missing: run 'make portal-assets'")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture
async def context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (no cookies) with axe-core loaded in every page."""
    ctx = await chromium.new_context(locale="fr-FR", viewport={"width": 1200, "height": 900})
    await ctx.add_init_script(path=str(AXE))
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        await ctx.close()
