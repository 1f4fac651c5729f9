"""A plain HTTP client walking Keycloak's pages as a browser would: forms, links, PKCE, the code exchange."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx

from vies_shared.keycloak import PORTAL_CLIENT, PORTAL_SECRET, KeycloakEndpoints

REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"  # nothing listens there: we read the Location header


@dataclass
class Form:
    """One ``<form>`` of a page: its id, action and the inputs' default values."""

    id: str
    action: str
    inputs: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(id=a.get("id", ""), action=a.get("action", "")))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].inputs[a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])


def parse_page(text: str) -> tuple[list[Form], list[str]]:
    """The forms and link targets of an HTML page (entities decoded)."""
    parser = _PageParser()
    parser.feed(text)
    return parser.forms, [html.unescape(link) for link in parser.links]


def form(page: httpx.Response, form_id: str) -> Form:
    """The form ``form_id`` of a page, its action made absolute."""
    forms, _ = parse_page(page.text)
    for found in forms:
        if found.id == form_id:
            found.action = urljoin(str(page.url), html.unescape(found.action))
            return found
    raise AssertionError(f"no form {form_id!r} on {page.url} (forms: {[f.id for f in forms]})")


@dataclass
class Pkce:
    """A PKCE verifier and its S256 challenge."""

    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Browser:
    """Cookies kept, redirects not followed: each step is looked at.

    Keycloak marks its cookies ``Secure``; browsers send such cookies to http://127.0.0.1
    (a trustworthy origin), httpx does not, so the flag is dropped once they are stored.
    """

    def __init__(self, keycloak: KeycloakEndpoints) -> None:
        self.keycloak = keycloak
        self.client = httpx.AsyncClient(
            follow_redirects=False, timeout=30.0, event_hooks={"response": [self._keep_cookies]}
        )
        self.pkce = Pkce()
        self.state = secrets.token_urlsafe(16)

    async def _keep_cookies(self, response: httpx.Response) -> None:
        for cookie in self.client.cookies.jar:  # already stored by httpx, flagged secure
            cookie.secure = False

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    def auth_params(self, **overrides: str) -> dict[str, str]:
        """Authorization request of the portal: code flow with PKCE S256."""
        params = {
            "client_id": PORTAL_CLIENT,
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": REDIRECT_URI,
            "state": self.state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": self.pkce.challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return params

    async def open_login(self) -> httpx.Response:
        """The login page the portal would send the person to."""
        page = await self.client.get(self.keycloak.auth_url, params=self.auth_params())
        assert page.status_code == 200, (page.status_code, page.text[:500])
        return page

    async def submit(self, page: httpx.Response, form_id: str, **values: str) -> httpx.Response:
        """Fill in and post a form of ``page``."""
        found = form(page, form_id)
        return await self.client.post(found.action, data={**found.inputs, **values})

    async def follow(self, response: httpx.Response, limit: int = 5) -> httpx.Response:
        """Follow redirects, but never to the portal's redirect URI (nothing listens there)."""
        for _ in range(limit):
            location = response.headers.get("location", "")
            if response.status_code not in (302, 303) or location.startswith(REDIRECT_URI):
                return response
            response = await self.client.get(urljoin(str(response.url), location))
        return response

    def code_from(self, response: httpx.Response) -> str:
        """The authorization code of a redirect to the portal; checks the state."""
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI), location
        query = parse_qs(urlparse(location).query)
        assert query.get("state") == [self.state], query
        assert "code" in query, query
        return query["code"][0]

    async def exchange(self, code: str, *, verifier: str | None = None) -> httpx.Response:
        """The portal's back-channel call: code + PKCE verifier + client secret for tokens."""
        return await self.client.post(
            self.keycloak.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": PORTAL_CLIENT,
                "client_secret": PORTAL_SECRET,
                "code_verifier": verifier if verifier is not None else self.pkce.verifier,
            },
        )

    async def sign_in(self, username: str, password: str) -> dict[str, Any]:
        """The whole flow through the login form; returns the token response."""
        page = await self.open_login()
        answer = await self.follow(await self.submit(page, "kc-form-login", username=username, password=password))
        tokens = await self.exchange(self.code_from(answer))
        assert tokens.status_code == 200, tokens.text
        result: dict[str, Any] = tokens.json()
        return result
