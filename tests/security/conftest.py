"""The four services as processes, configured as in production: tokens only from the identity provider.

The services verify tokens against the issuer's JWKS, as they would against the
production provider. The tests sign their tokens with a key of their own that the
issuer publishes, so they can ask for any role, scope or defect (an expired token,
a wrong audience...) that a real login would never hand out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vies_dev.service_process import ServiceProcess, stop_all, wait_all_ready
from vies_dev.testing.helpers import create_contract_topics, delete_contract_topics, free_port, wait_until
from vies_shared.keycloak import KeycloakEndpoints
from vies_shared.storage import create_mongo_client

SERVICES = ("recruitment", "partners", "missions", "notifications")
AUDIENCE = "vies-api"


class TestIssuer:
    """Signs tokens with a key the identity provider publishes in its JWKS."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, issuer: str, key: rsa.RSAPrivateKey, kid: str) -> None:
        self.issuer = issuer
        self.key = key
        self.kid = kid

    def claims(self, role: str, sub: str, **scope: Any) -> dict[str, Any]:
        """The claims a provider's access token would carry for ``role`` with ``scope``."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [AUDIENCE, "account"],
            "sub": sub,
            "iat": now,
            "exp": now + 600,
            "realm_access": {"roles": ["default-roles-vies", "offline_access", "candidate", role]},
            "email_verified": True,
        }
        claims.update(scope)
        return claims

    def sign(self, claims: dict[str, Any]) -> str:
        """A token for exactly these claims, signed with the published key."""
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def token(self, role: str, sub: str, **scope: Any) -> str:
        """A valid token for ``role`` with ``scope`` claims."""
        return self.sign(self.claims(role, sub, **scope))


def _private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def _publish_key_in_keycloak(keycloak: KeycloakEndpoints, key: rsa.RSAPrivateKey) -> str:
    """Add ``key`` to the realm's signing keys (an ``rsa`` key provider); returns its key id."""
    base = keycloak.url.rstrip("/")
    headers = {"Authorization": f"Bearer {await asyncio.to_thread(keycloak.admin_token)}"}
    async with httpx.AsyncClient(timeout=30) as http:
        realm = (await http.get(f"{base}/admin/realms/vies", headers=headers)).json()
        component = {
            "name": f"test-key-{uuid.uuid4().hex[:8]}",
            "providerId": "rsa",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm["id"],
            # A low priority: Keycloak keeps signing its own tokens with its own key.
            "config": {
                "privateKey": [_private_key_pem(key)],
                "priority": ["1"],
                "active": ["true"],
                "enabled": ["true"],
            },
        }
        r = await http.post(f"{base}/admin/realms/vies/components", json=component, headers=headers)
        r.raise_for_status()
        numbers = key.public_key().public_numbers()
        modulus = jwt.utils.base64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")).decode()
        certs = (await http.get(f"{keycloak.issuer}/protocol/openid-connect/certs")).json()
        for jwk in certs["keys"]:
            if jwk.get("n") == modulus:
                return str(jwk["kid"])
    raise AssertionError("the test key is not in the realm's JWKS")


@pytest.fixture(scope="session")
def test_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest_asyncio.fixture(scope="session")
async def issuer(test_key: rsa.RSAPrivateKey, vies_keycloak: KeycloakEndpoints) -> TestIssuer:
    """The local Keycloak's realm, publishing the tests' key beside its own in its JWKS."""
    kid = await _publish_key_in_keycloak(vies_keycloak, test_key)
    return TestIssuer(vies_keycloak.issuer, test_key, kid)


class SecuredPlatform:
    """The services as processes, in production mode, with the demo data seeded."""

    def __init__(self, stack: Any, issuer: TestIssuer, prefix: str, run_id: str, logs: Path) -> None:
        self.stack = stack
        self.issuer = issuer
        self.prefix = prefix
        self.run_id = run_id
        common = {
            "VIES_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "VIES_MONGODB_URI": stack.mongodb_uri,
            "VIES_TOPIC_PREFIX": prefix,
            "VIES_SMTP_HOST": stack.smtp_host,
            "VIES_SMTP_PORT": str(stack.smtp_port),
            "VIES_ENV": "production",
            "VIES_JWT_SECRET": "",
            "VIES_OIDC_ISSUER": issuer.issuer,
            "VIES_OIDC_AUDIENCE": AUDIENCE,
            "VIES_DEMO_DATA": "true",
            "VIES_LOG_LEVEL": "WARNING",
            "VIES_RELAY_POLL_SECONDS": "0.05",
            "VIES_CONSUMER_BATCH_TIMEOUT_MS": "50",
            "VIES_RETRY_MAX_SECONDS": "2",
            "VIES_DRAIN_SECONDS": "10",
            "VIES_WEBHOOK_ALLOWLIST": "127.0.0.1",
            "VIES_WEBHOOK_SECRET_KEY": "security-tests-webhook-key-0123456789abcdef",
            # Notifications workers check webhook owners with the realm's admin API (client credentials).
            "VIES_OWNER_DIRECTORY_CLIENT_ID": "vies-notifications",
            "VIES_OWNER_DIRECTORY_CLIENT_SECRET": "vies-notifications-local-secret",
            # No SMS provider here: SMS stay pending, which is all these tests need.
            "VIES_SMS_PROVIDER_URL": "http://127.0.0.1:9/sms",
        }
        self.processes = {
            name: ServiceProcess(
                name, free_port(), {**common, "VIES_MONGODB_DB": f"s{run_id}_{name}"}, logs / f"{name}.log"
            )
            for name in SERVICES
        }

    def url(self, service: str) -> str:
        """Base URL of a service's API."""
        return self.processes[service].url

    def auth(self, role: str, sub: str = "security-test", **scope: Any) -> dict[str, str]:
        """An ``Authorization`` header with a provider-signed token."""
        return {"Authorization": f"Bearer {self.issuer.token(role, sub, **scope)}"}


async def _demo_seeded(platform: SecuredPlatform) -> None:
    """Wait until the demo data has flowed between the services (missions come from engagements)."""
    staff = platform.auth("staff")
    async with httpx.AsyncClient(timeout=10) as http:

        async def seeded() -> bool:
            checks = [
                ("recruitment", "/applications/app-demo-engaged"),
                ("partners", "/partners/par-demo-sn-ziguinchor"),
                ("missions", "/missions?country=SN"),
            ]
            for service, path in checks:
                r = await http.get(platform.url(service) + path, headers=staff)
                if r.status_code != 200 or (path.startswith("/missions") and not r.json()["items"]):
                    return False
            return True

        await wait_until(seeded, timeout=120, message="demo data seeded")


@pytest_asyncio.fixture(scope="session")
async def secured_platform(
    vies_stack: Any, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SecuredPlatform]:
    run_id = uuid.uuid4().hex[:8]
    prefix = f"s{run_id}."
    await create_contract_topics(vies_stack.kafka_bootstrap, prefix)
    platform = SecuredPlatform(vies_stack, issuer, prefix, run_id, tmp_path_factory.mktemp("logs"))
    for process in platform.processes.values():
        process.start()
    try:
        await asyncio.to_thread(wait_all_ready, list(platform.processes.values()), 180)
        await _demo_seeded(platform)
        yield platform
    finally:
        await asyncio.to_thread(stop_all, list(platform.processes.values()), 20)
        client = create_mongo_client(vies_stack.mongodb_uri)
        for name in SERVICES:
            with contextlib.suppress(Exception):
                await client.drop_database(f"s{run_id}_{name}")
        await client.close()
        await delete_contract_topics(vies_stack.kafka_bootstrap, prefix)
