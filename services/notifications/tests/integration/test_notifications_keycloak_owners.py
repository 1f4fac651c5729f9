"""The Keycloak owner directory against a real Keycloak: the ``vies`` realm and its ``vies-notifications`` client.

Needs the shared plugin's ``vies_keycloak`` fixture (Keycloak started with
``deploy/local/realm-vies.json``); skipped only when that fixture does not exist.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from vies_notifications.owners import GONE, KeycloakOwnerDirectory, OwnerRightsUnavailable, refusal

pytestmark = pytest.mark.integration

CLIENT_ID = "vies-notifications"
CLIENT_SECRET = "vies-notifications-local-secret"  # the local realm's, published on purpose


@pytest.fixture
def keycloak(request: pytest.FixtureRequest) -> Any:
    try:
        return request.getfixturevalue("vies_keycloak")
    except pytest.FixtureLookupError:
        pytest.skip("no vies_keycloak fixture in the shared test plugin")


async def _admin(http: httpx.AsyncClient, base: str) -> dict[str, str]:
    r = await http.post(
        f"{base}/realms/master/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": "admin-cli", "username": "admin", "password": "admin"},
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_the_directory_follows_a_real_user_from_branch_to_disabled_moved_and_deleted(
    keycloak: Any, test_id: str
) -> None:
    base = keycloak.url.rstrip("/")
    users = f"{base}/admin/realms/vies/users"
    directory = KeycloakOwnerDirectory(
        issuer=keycloak.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, cache_seconds=0
    )
    subscription = {"owner_role": "branch", "scope_region": "FR-BRE"}
    async with httpx.AsyncClient(timeout=30) as http:
        admin = await _admin(http, base)
        r = await http.post(
            users,
            json={"username": f"owner-{test_id}", "enabled": True, "attributes": {"region": ["FR-BRE"]}},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        user_id = r.headers["Location"].rsplit("/", 1)[1]
        try:
            branch_role = (await http.get(f"{base}/admin/realms/vies/roles/branch", headers=admin)).json()
            r = await http.post(f"{users}/{user_id}/role-mappings/realm", json=[branch_role], headers=admin)
            assert r.status_code == 204, r.text

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
            assert refusal(subscription, await directory.rights(user_id)) == (
                "the owner no longer holds the branch role"
            )
        finally:
            await http.delete(f"{users}/{user_id}", headers=admin)
        assert await directory.rights(user_id) == GONE

    wrong = KeycloakOwnerDirectory(issuer=keycloak.issuer, client_id=CLIENT_ID, client_secret="not-the-secret")
    with pytest.raises(OwnerRightsUnavailable, match="token endpoint answered HTTP 401"):
        await wrong.rights(user_id)
