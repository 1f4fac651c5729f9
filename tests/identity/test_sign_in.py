"""Signing in through Keycloak's real login form (authorization code + PKCE), then calling an API."""

from __future__ import annotations

import base64
import json

import httpx
import jwt
import pytest

from vies_dev.testing.helpers import ServiceHarness
from vies_shared.keycloak import DEMO_USERS, KeycloakEndpoints

from .browser import REDIRECT_URI, Browser

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tampered(token: str, **changes: object) -> str:
    """The same signature over changed claims."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


async def test_portal_sign_in_with_pkce_then_the_api_accepts_the_token(
    vies_keycloak: KeycloakEndpoints, recruitment: ServiceHarness
) -> None:
    officer = DEMO_USERS["ara.authority"]
    async with Browser(vies_keycloak) as browser:
        page = await browser.open_login()
        assert "kc-form-login" in page.text
        wrong = await browser.submit(page, "kc-form-login", username=officer.username, password="not-the-password")
        assert wrong.status_code == 200  # the form again, with an error, and no code
        assert "location" not in wrong.headers
        answer = await browser.follow(
            await browser.submit(wrong, "kc-form-login", username=officer.username, password=officer.password)
        )
        code = browser.code_from(answer)
        # The code is bound to the PKCE challenge: another verifier gets nothing.
        refused = await browser.exchange(code, verifier="x" * 64)
        assert refused.status_code == 400, refused.text
        # ...and a code is single-use: while the session lasts, the browser gets a new one at once (SSO).
        again = await browser.client.get(vies_keycloak.auth_url, params=browser.auth_params())
        assert browser.code_from(again) != code
    async with Browser(vies_keycloak) as fresh:  # a new browser: the whole flow, form included
        tokens = await fresh.sign_in(officer.username, officer.password)

    access = tokens["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["iss"] == vies_keycloak.issuer
    assert "vies-api" in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
    assert claims["azp"] == "vies-portal"
    assert claims["sub"] == officer.sub
    assert (claims["authority_id"], claims["region"]) == ("aut-demo-ara", "FR-ARA")
    assert "authority" in claims["realm_access"]["roles"]

    c = recruitment.client
    mine = await c.get("/positions", params={"status": "published"}, headers=bearer(access))
    assert mine.status_code == 200, mine.text
    assert mine.json()["items"], "the demo positions are published"

    # Refused (on an endpoint that needs a token; published positions are public): no token,
    # a tampered one, one for another audience, one from another realm.
    assert (await c.get("/applications", headers=bearer(access))).status_code == 200
    assert (await c.get("/applications", headers={})).status_code == 401
    forged = tampered(access, authority_id="aut-demo-lyon")
    assert (await c.get("/applications", headers=bearer(forged))).status_code == 401
    staff = tampered(access, realm_access={"roles": ["staff"]})
    assert (await c.get("/applications", headers=bearer(staff))).status_code == 401
    other_audience = vies_keycloak.service_token()  # aud: realm-management, account
    assert "vies-api" not in jwt.decode(other_audience, options={"verify_signature": False}).get("aud", [])
    r = await c.get("/applications", headers=bearer(other_audience))
    assert r.status_code == 401, r.text
    master = vies_keycloak.admin_token()  # signed by Keycloak, but for the master realm
    assert (await c.get("/applications", headers=bearer(master))).status_code == 401


async def test_portal_requires_pkce_and_a_registered_redirect(vies_keycloak: KeycloakEndpoints) -> None:
    async with Browser(vies_keycloak) as browser:
        params = browser.auth_params()
        del params["code_challenge"], params["code_challenge_method"]
        no_pkce = await browser.client.get(vies_keycloak.auth_url, params=params)
        assert no_pkce.status_code == 302, no_pkce.text[:300]
        assert no_pkce.headers["location"].startswith(REDIRECT_URI)
        assert "error=invalid_request" in no_pkce.headers["location"]
        elsewhere = await browser.client.get(
            vies_keycloak.auth_url, params=browser.auth_params(redirect_uri="https://attacker.example/cb")
        )
        assert elsewhere.status_code == 400  # an error page, never a redirect to an unknown place
        assert "location" not in elsewhere.headers


def test_cli_password_grant_gives_every_demo_user_its_role(vies_keycloak: KeycloakEndpoints) -> None:
    for user in DEMO_USERS.values():
        claims = jwt.decode(vies_keycloak.token(user.username), options={"verify_signature": False})
        assert claims["sub"] == user.sub
        assert user.role in claims["realm_access"]["roles"]
        assert claims["email_verified"] is True
    # The portal (confidential, code flow only) allows no password grant.
    r = httpx.post(
        vies_keycloak.token_url,
        data={
            "grant_type": "password",
            "client_id": "vies-portal",
            "client_secret": "vies-portal-local-secret",
            "username": "staff.agency",
            "password": DEMO_USERS["staff.agency"].password,
        },
    )
    assert r.status_code in (400, 401), r.text
