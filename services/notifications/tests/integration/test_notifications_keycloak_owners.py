"""The Keycloak owner directory against a real Keycloak: the ``vies`` realm and its ``vies-notifications`` client.

Keycloak comes from the shared plugin's ``vies_keycloak`` fixture (started once per session
with ``deploy/local/realm-vies.json``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder
from vies_notifications.app import create
from vies_notifications.domain.subscription import WebhookSubscription
from vies_notifications.owners import GONE, KeycloakOwnerDirectory, OwnerRightsUnavailable, refusal
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.partners import PartnerApproved
from vies_shared.events.topics import events_topic
from vies_shared.keycloak import KeycloakEndpoints

pytestmark = pytest.mark.integration

CLIENT_ID = "vies-notifications"
CLIENT_SECRET = "vies-notifications-local-secret"  # the local realm's, published on purpose


async def _admin(http: httpx.AsyncClient, keycloak: KeycloakEndpoints) -> dict[str, str]:
    r = await http.post(
        f"{keycloak.url.rstrip('/')}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": keycloak.admin_user,
            "password": keycloak.admin_password,
        },
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _branch_user(http: httpx.AsyncClient, keycloak: KeycloakEndpoints, admin: Any, name: str) -> tuple[str, Any]:
    """A new enabled user of the ``vies`` realm with the branch role in FR-BRE: (id, the role)."""
    base = keycloak.url.rstrip("/")
    r = await http.post(
        f"{base}/admin/realms/vies/users",
        json={"username": name, "enabled": True, "attributes": {"region": ["FR-BRE"]}},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    user_id = r.headers["Location"].rsplit("/", 1)[1]
    branch_role = (await http.get(f"{base}/admin/realms/vies/roles/branch", headers=admin)).json()
    r = await http.post(
        f"{base}/admin/realms/vies/users/{user_id}/role-mappings/realm", json=[branch_role], headers=admin
    )
    assert r.status_code == 204, r.text
    return user_id, branch_role


async def test_the_directory_follows_a_real_user_from_branch_to_disabled_moved_and_deleted(
    vies_keycloak: KeycloakEndpoints, test_id: str
) -> None:
    keycloak = vies_keycloak
    base = keycloak.url.rstrip("/")
    users = f"{base}/admin/realms/vies/users"
    directory = KeycloakOwnerDirectory(
        issuer=keycloak.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, cache_seconds=0
    )
    subscription = WebhookSubscription(
        subscription_id=f"sub-{test_id}",
        url="https://hooks.example.org/x",
        event_types=["partners.PartnerApproved"],
        status="active",
        owner_role="branch",
        scope_region="FR-BRE",
    )
    async with httpx.AsyncClient(timeout=30) as http:
        admin = await _admin(http, keycloak)
        user_id, branch_role = await _branch_user(http, keycloak, admin, f"owner-{test_id}")
        try:
            rights = await directory.rights(user_id)
            assert rights.exists and rights.enabled and rights.region == "FR-BRE"
            assert "branch" in rights.roles and rights.role == "branch"
            assert refusal(subscription, rights) is None

            user = (await http.get(f"{users}/{user_id}", headers=admin)).json()
            r = await http.put(f"{users}/{user_id}", json={**user, "attributes": {"region": ["FR-NOR"]}}, headers=admin)
            assert r.status_code == 204, r.text
            moved = await directory.rights(user_id)
            assert moved.region == "FR-NOR"
            assert refusal(subscription, moved) == "the owner is no longer a branch user of FR-BRE"

            r = await http.put(f"{users}/{user_id}", json={**user, "enabled": False}, headers=admin)
            assert r.status_code == 204, r.text
            assert refusal(subscription, await directory.rights(user_id)) == "the owner's account is disabled"

            r = await http.request(
                "DELETE", f"{users}/{user_id}/role-mappings/realm", json=[branch_role], headers=admin
            )
            assert r.status_code == 204, r.text
            r = await http.put(f"{users}/{user_id}", json={**user, "enabled": True}, headers=admin)
            assert r.status_code == 204, r.text
            assert refusal(subscription, await directory.rights(user_id)) == (
                "the owner no longer holds the branch role"
            )
        finally:
            await http.delete(f"{users}/{user_id}", headers=admin)
        assert await directory.rights(user_id) == GONE

    wrong = KeycloakOwnerDirectory(issuer=keycloak.issuer, client_id=CLIENT_ID, client_secret="not-the-secret")
    with pytest.raises(OwnerRightsUnavailable, match="token endpoint answered HTTP 401"):
        await wrong.rights(user_id)


async def test_the_service_configured_for_keycloak_suspends_a_deleted_owners_subscription(
    vies_keycloak: KeycloakEndpoints, vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    partners = events_topic("partners", topic_prefix)
    async with httpx.AsyncClient(timeout=30) as http, HttpRecorder() as hooks:
        admin = await _admin(http, vies_keycloak)
        user_id, _ = await _branch_user(http, vies_keycloak, admin, f"hook-owner-{test_id}")
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            webhook_allowlist="127.0.0.1",
            delivery_poll_seconds=0.1,
            owner_directory_realm_url=vies_keycloak.issuer,
            owner_directory_client_secret=CLIENT_SECRET,
            owner_rights_cache_seconds=0,
        )
        async with running(create(settings), settings) as svc:
            assert isinstance(svc.runtime.extras["owner_directory"], KeycloakOwnerDirectory)
            r = await svc.client.post(
                "/subscriptions",
                json={"url": f"{hooks.url}/hook", "event_types": ["partners.PartnerApproved"]},
                headers=svc.auth("branch", sub=user_id, region="FR-BRE"),
            )
            assert r.status_code == 201, r.text
            subscription_id = r.json()["subscription_id"]
            await publish_event(
                vies_stack.kafka_bootstrap, partners, PartnerApproved(partner_id=f"p1-{test_id}"), region="FR-BRE"
            )
            await wait_until(lambda: len(hooks.on("/hook")) == 1, timeout=30, message="delivered while the owner is")

            r = await http.delete(f"{vies_keycloak.url}/admin/realms/vies/users/{user_id}", headers=admin)
            assert r.status_code == 204, r.text
            await publish_event(
                vies_stack.kafka_bootstrap, partners, PartnerApproved(partner_id=f"p2-{test_id}"), region="FR-BRE"
            )

            async def suspended() -> Any:
                doc = await svc.runtime.db["subscriptions"].find_one({"_id": subscription_id})
                return doc if doc and doc["status"] == "suspended" else None

            doc = await wait_until(suspended, timeout=30, message="subscription suspended")
            assert doc["suspended_reason"] == "the owner's account no longer exists"
            assert len(hooks.on("/hook")) == 1
