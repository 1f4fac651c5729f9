"""The OpenID Connect provider, seen from a confidential client: code flow with PKCE, refresh, logout.

Authlib builds the authorization request (S256 challenge) and talks to the token endpoint;
the ID token's signature, issuer, audience and nonce are checked against the provider's JWKS.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from authlib.integrations.httpx_client import AsyncOAuth2Client

from vies_portal.settings import PortalSettings
from vies_shared.tokens import ROLE_PRECEDENCE

Document = dict[str, Any]
SCOPE = "openid email profile"


class ProviderError(RuntimeError):
    """The provider could not be reached or refused; the person is asked to sign in again."""


class Provider:
    """One issuer: its metadata (discovered once), its signing keys and the portal's client."""

    def __init__(self, settings: PortalSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._metadata: Document | None = None
        self._jwks: Document | None = None
        self._lock = asyncio.Lock()
        # Loading the trusted certificates takes tens of milliseconds of CPU, which would stall every page
        # under way: loaded once here, not for each client made for a sign-in or a refresh.
        self._tls = httpx.create_ssl_context()

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            verify=self._tls,
            client_id=self.settings.portal_client_id,
            client_secret=self.settings.portal_client_secret,
            scope=SCOPE,
            redirect_uri=self.settings.redirect_uri,
            code_challenge_method="S256",
            timeout=self.settings.api_timeout_seconds,
        )

    async def metadata(self) -> Document:
        """The issuer's discovery document (cached after the first success)."""
        if self._metadata is None:
            async with self._lock:
                if self._metadata is None:
                    url = f"{self.settings.oidc_issuer.rstrip('/')}/.well-known/openid-configuration"
                    try:
                        response = await self.http.get(url)
                        response.raise_for_status()
                    except httpx.HTTPError as exc:
                        raise ProviderError(f"provider unreachable ({type(exc).__name__})") from exc
                    self._metadata = response.json()
        return self._metadata

    async def reachable(self) -> bool:
        """Whether the issuer answers its discovery document now (readiness)."""
        url = f"{self.settings.oidc_issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            return (await self.http.get(url, timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def authorization_request(self, *, register: bool = False) -> tuple[str, Document]:
        """The URL to send the person to, and what to keep until they come back (state, verifier, nonce)."""
        meta = await self.metadata()
        pending = {
            "state": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48),
            "nonce": secrets.token_urlsafe(24),
        }
        # Keycloak's registration page has its own endpoint beside the authorization one.
        endpoint = meta["authorization_endpoint"]
        if register:
            endpoint = endpoint.rsplit("/auth", 1)[0] + "/registrations"
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                endpoint, state=pending["state"], code_verifier=pending["verifier"], nonce=pending["nonce"]
            )
        return str(url), pending

    async def exchange(self, code: str, pending: Mapping[str, str]) -> Document:
        """Tokens for an authorization code; the ID token is verified (signature, issuer, audience, nonce)."""
        meta = await self.metadata()
        async with self._client() as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending["verifier"],
                )
            except Exception as exc:  # Authlib raises OAuthError or transport errors
                raise ProviderError(f"code exchange refused ({type(exc).__name__})") from exc
        claims = await self.verify_id_token(str(token.get("id_token", "")), pending["nonce"])
        return {"tokens": _stored(token), "id_claims": claims}

    async def refresh(self, tokens: Mapping[str, Any]) -> Document:
        """New tokens from the refresh token; ProviderError when the provider says no (session ended)."""
        meta = await self.metadata()
        async with self._client() as client:
            try:
                token = await client.refresh_token(meta["token_endpoint"], refresh_token=tokens["refresh_token"])
            except Exception as exc:
                raise ProviderError(f"refresh refused ({type(exc).__name__})") from exc
        stored = _stored(token)
        stored["id_token"] = stored.get("id_token") or tokens.get("id_token", "")
        return stored

    async def _keys(self, refresh: bool = False) -> Document:
        if self._jwks is None or refresh:
            meta = await self.metadata()
            response = await self.http.get(meta["jwks_uri"])
            response.raise_for_status()
            self._jwks = response.json()
        return self._jwks

    async def verify_id_token(self, id_token: str, nonce: str) -> Document:
        """The ID token's claims once its signature, issuer, audience, expiry and nonce hold."""
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            jwks = await self._keys()
            if not any(k.get("kid") == kid for k in jwks.get("keys", [])):
                jwks = await self._keys(refresh=True)  # the provider rotated its keys
            jwk = next(k for k in jwks["keys"] if k.get("kid") == kid)
            key = jwt.PyJWK(jwk)
            claims: Document = jwt.decode(
                id_token,
                key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=self.settings.portal_client_id,
                issuer=self.settings.oidc_issuer,
                leeway=30,
            )
        except (jwt.PyJWTError, StopIteration, KeyError, httpx.HTTPError) as exc:
            raise ProviderError(f"ID token refused ({type(exc).__name__})") from exc
        if claims.get("nonce") != nonce:
            raise ProviderError("ID token refused (nonce)")
        return claims

    async def logout_url(self, id_token: str, after: str) -> str:
        """RP-initiated logout: the provider ends its session, then sends the person to ``after``."""
        meta = await self.metadata()
        params = {"client_id": self.settings.portal_client_id, "post_logout_redirect_uri": after}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{meta['end_session_endpoint']}?{urlencode(params)}"


def _stored(token: Mapping[str, Any]) -> Document:
    expires_in = int(token.get("expires_in") or 300)
    return {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token", ""),
        "id_token": token.get("id_token", ""),
        "expires_at": int(time.time()) + expires_in,
    }


def person_from(access_token: str, id_claims: Mapping[str, Any]) -> Document:
    """Who signed in, for the pages: name, email and role; the APIs decide what they may do.

    The access token came straight from the token endpoint over the back channel; its claims
    are read only to choose menus, never to authorise anything.
    """
    claims: Document = jwt.decode(access_token, options={"verify_signature": False})
    roles = (claims.get("realm_access") or {}).get("roles") or []
    role = next((r for r in ROLE_PRECEDENCE if r in roles), "")
    name = id_claims.get("name") or id_claims.get("preferred_username") or ""
    person: Document = {
        "sub": str(id_claims.get("sub") or claims.get("sub")),
        "name": str(name),
        "email": str(id_claims.get("email") or ""),
        "role": role,
    }
    for scope in ("authority_id", "region", "country", "partner_id"):
        if isinstance(claims.get(scope), str):
            person[scope] = claims[scope]
    return person
