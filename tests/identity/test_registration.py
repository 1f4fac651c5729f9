"""A candidate registers, verifies the address through the mail in Mailpit, and only then applies."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import jwt
import pytest

from vies_dev.testing.helpers import ServiceHarness, wait_until
from vies_shared.keycloak import KeycloakEndpoints, KeycloakError, password_grant

from .browser import REDIRECT_URI, Browser, form, parse_page

pytestmark = pytest.mark.integration

POSITION = "pos-demo-vsi-ziguinchor"  # published by recruitment's demo data


async def verification_link(mailpit_url: str, email: str) -> str:
    """The link of the verification mail Keycloak sent to ``email`` (read through Mailpit's API)."""
    async with httpx.AsyncClient(base_url=mailpit_url, timeout=10) as mailpit:

        async def found() -> Any:
            r = await mailpit.get("/api/v1/search", params={"query": f'to:"{email}"'})
            return r.json().get("messages") if r.status_code == 200 else None

        messages = await wait_until(found, timeout=30, message=f"verification mail to {email}")
        message = (await mailpit.get(f"/api/v1/message/{messages[0]['ID']}")).json()
    links = re.findall(r"https?://\S+/login-actions/action-token\?[^\s\"'<>]+", message["Text"] or message["HTML"])
    assert links, message["Text"]
    return links[0].replace("&amp;", "&")


async def test_self_registered_candidate_applies_only_after_verifying_the_email(
    vies_keycloak: KeycloakEndpoints, vies_stack: Any, recruitment: ServiceHarness
) -> None:
    username = f"cand-{uuid.uuid4().hex[:8]}"
    email = f"{username}@example.org"
    password = "a-long-local-Passw0rd"
    async with Browser(vies_keycloak) as browser:
        login = await browser.open_login()
        _, links = parse_page(login.text)
        register = [link for link in links if "/login-actions/registration" in link]
        assert register, "the login page offers self-registration"
        page = await browser.client.get(httpx.URL(str(login.url)).join(register[0]))
        assert page.status_code == 200
        fields = form(page, "kc-register-form").inputs
        assert {"username", "email", "firstName", "lastName"} <= set(fields)
        # The scope attributes are the agency's to set: the form has none, and posting one changes nothing.
        assert not {"authority_id", "region", "country", "partner_id"} & set(fields)
        posted = await browser.submit(
            page,
            "kc-register-form",
            username=username,
            email=email,
            firstName="Awa",
            lastName="Ndiaye",
            # Keycloak 26.7 asks for the password only once the address is verified; a password
            # posted now (and the scope attributes) must be ignored.
            password=password,
            **{"password-confirm": password, "authority_id": "aut-demo-ara", "region": "FR-ARA"},
        )
        registered = await browser.follow(posted)
        # No code for the portal: the account must verify its address first.
        assert not registered.headers.get("location", "").startswith(REDIRECT_URI)
        assert registered.status_code == 200, registered.text[:500]
        assert "verify" in registered.text.lower()

        # No token either, by any grant, before the address is verified.
        with pytest.raises(KeycloakError, match="invalid_grant"):
            await asyncio.to_thread(password_grant, vies_keycloak.issuer, username, password)

        # The link of the mail, opened in the same browser, verifies the address, then asks for
        # a password, then hands the portal its code.
        link = await verification_link(vies_stack.mailpit_url, email)
        step = await browser.follow(await browser.client.get(link))
        for _ in range(4):
            if step.status_code in (302, 303):
                break
            forms, links = parse_page(step.text)
            ids = {f.id for f in forms}
            if "kc-passwd-update-form" in ids:
                step = await browser.submit(
                    step, "kc-passwd-update-form", **{"password-new": password, "password-confirm": password}
                )
            else:  # an "email verified, continue" page
                onward = [link for link in links if "login-actions" in link]
                assert onward, step.text[:1000]
                step = await browser.client.get(httpx.URL(str(step.url)).join(onward[0]))
            step = await browser.follow(step)
        code = browser.code_from(step)
        first = await browser.exchange(code)
        assert first.status_code == 200, first.text
    # Signing in again works through the login form, with the password chosen after verification.
    async with Browser(vies_keycloak) as fresh:
        tokens = await fresh.sign_in(username, password)
    access = tokens["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["email"] == email and claims["email_verified"] is True
    assert claims["realm_access"]["roles"] and "candidate" in claims["realm_access"]["roles"]
    assert not {"staff", "authority", "centre", "branch", "partner", "volunteer"} & set(claims["realm_access"]["roles"])
    assert "authority_id" not in claims and "region" not in claims

    body = {
        "candidate": {
            "name": "Awa Ndiaye",
            "email": email,
            "birth_date": "1998-03-14",
            "nationality": "FR",
            "residence_country": "FR",
        },
        "motivation": "Je souhaite m'engager.",
    }
    r = await recruitment.client.post(
        f"/positions/{POSITION}/applications", json=body, headers={"Authorization": f"Bearer {access}"}
    )
    assert r.status_code == 201, r.text
    application = r.json()
    stored = await recruitment.runtime.db["applications"].find_one({"_id": application["application_id"]})
    assert stored is not None and stored["candidate_id"] == claims["sub"]
