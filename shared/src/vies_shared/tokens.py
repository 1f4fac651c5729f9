"""Bearer tokens: who may call the APIs, checked without a network call per request.

Outside development, tokens come from the OpenID Connect provider and are
verified (RS256/ES256) against the issuer's JWKS, fetched once, cached and
fetched again only when a token names a key id we do not know (the provider
rotated its keys). ``exp``, ``iss`` and ``aud`` are required, with a small
leeway for clock skew. With ``VIES_ENV=dev`` (the local stack, the tests and
``vies token``) tokens may instead be HS256-signed with ``VIES_JWT_SECRET``.

Scope claims are checked for type and shape before a use case sees them: a
claim given as an object (``{"$ne": null}``) would otherwise flow into a
database filter.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import jwt
import structlog

from vies_shared.settings import DEV_JWT_SECRET, ServiceSettings

ROLES: Final[tuple[str, ...]] = ("staff", "authority", "candidate", "volunteer", "partner", "centre", "branch")
# A provider's token lists every realm role of the person (a volunteer keeps the default
# ``candidate`` role): the most specific one is the role the platform acts on.
ROLE_PRECEDENCE: Final[tuple[str, ...]] = (
    "staff",
    "centre",
    "branch",
    "authority",
    "partner",
    "volunteer",
    "candidate",
)
LEEWAY_SECONDS: Final = 30
MIN_SECRET_BYTES: Final = 32
ASYMMETRIC_ALGORITHMS: Final = ["RS256", "ES256"]
# Shapes of the scope claims; anything else is refused (401) rather than trusted.
CLAIM_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "sub": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@|-]{0,199}$"),
    "authority_id": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"),
    "partner_id": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"),
    "region": re.compile(r"^FR-[A-Z0-9]{2,3}$"),
    "country": re.compile(r"^[A-Z]{2}$"),
    "email": re.compile(r"^[^\s@]{1,64}@[^\s@]{1,255}$"),
}
# A failed JWKS fetch is not retried more often than this (a flood of tokens with
# made-up key ids must not turn into a flood of calls to the provider).
JWKS_REFRESH_MIN_SECONDS: Final = 10.0

_log = structlog.get_logger("vies.tokens")


class Unauthorized(Exception):
    """Missing or invalid token (401). The message is safe to show the caller."""


class InsecureSettings(RuntimeError):
    """The service would accept forged tokens with these settings: it must not start."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, from the token: subject, role and the scope claims that apply."""

    sub: str
    role: str
    authority_id: str | None = None
    region: str | None = None
    country: str | None = None
    partner_id: str | None = None
    email: str | None = None
    email_verified: bool = False

    @property
    def is_staff(self) -> bool:
        """Agency staff may do everything."""
        return self.role == "staff"

    def require_role(self, *roles: str) -> None:
        """Raise ``Forbidden`` unless the principal has one of ``roles`` (staff always passes)."""
        from vies_shared.errors import Forbidden

        if not self.is_staff and self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this")


def dev_secret(settings: ServiceSettings) -> str:
    """The HS256 secret in development: the configured one, else the published default."""
    return settings.jwt_secret or DEV_JWT_SECRET


def check_token_settings(settings: ServiceSettings) -> None:
    """Refuse settings under which anyone could mint a valid token; raises ``InsecureSettings``.

    Only processes that serve the API need a way to check tokens; workers need none.
    """
    if settings.env == "dev" or not settings.runs_api:
        return
    secret = settings.jwt_secret
    if secret == DEV_JWT_SECRET:
        raise InsecureSettings(
            "VIES_JWT_SECRET is the published development secret: anyone could sign a staff token. "
            "Remove it and set VIES_OIDC_ISSUER (tokens from the identity provider), or set VIES_ENV=dev "
            "on a development machine."
        )
    if secret and len(secret.encode()) < MIN_SECRET_BYTES:
        raise InsecureSettings(
            f"VIES_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes. HS256 tokens are for development only "
            "(VIES_ENV=dev); in production remove it and set VIES_OIDC_ISSUER."
        )
    if not settings.oidc_issuer and not (settings.jwt_algorithm == "RS256" and settings.jwt_public_key):
        raise InsecureSettings(
            "no token issuer configured: set VIES_OIDC_ISSUER (and VIES_OIDC_AUDIENCE) to the identity "
            "provider, or VIES_ENV=dev on a development machine."
        )


class JwksCache:
    """The issuer's signing keys, fetched once and again only for an unknown key id."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key for ``kid``; fetches the JWKS when it is not known yet (rate-limited)."""
        found = self._lookup(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self._lookup(kid)
            if found is None and time.monotonic() - self._fetched_at >= JWKS_REFRESH_MIN_SECONDS:
                await self._fetch()
                found = self._lookup(kid)
        if found is None:
            raise Unauthorized("invalid token")
        return found

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            # A token without a key id is accepted only when the issuer has one signing key.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                keys: dict[str, jwt.PyJWK] = {}
                for data in response.json().get("keys", []):
                    if data.get("use", "sig") != "sig":
                        continue
                    try:
                        jwk = jwt.PyJWK(data)
                    except jwt.PyJWTError:
                        continue  # a key type or algorithm we do not use
                    keys[str(data.get("kid", ""))] = jwk
        except (httpx.HTTPError, ValueError) as exc:
            _log.warning("jwks_fetch_failed", url=self.url, error=type(exc).__name__)
            return
        self._keys = keys
        _log.info("jwks_fetched", url=self.url, keys=len(keys))


class TokenVerifier:
    """Turns a bearer token into a ``Principal`` according to the service's settings."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.dev = settings.env == "dev"
        jwks_url = settings.oidc_jwks_url or (
            f"{settings.oidc_issuer.rstrip('/')}/protocol/openid-connect/certs" if settings.oidc_issuer else ""
        )
        self.jwks: JwksCache | None = JwksCache(jwks_url) if jwks_url else None

    async def verify(self, token: str) -> Principal:
        """The token's principal; raises ``Unauthorized`` with a message that reveals nothing."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise self._refuse("malformed", exc) from exc
        algorithm = header.get("alg")
        try:
            if algorithm == "HS256" and self.dev:
                claims = jwt.decode(
                    token,
                    dev_secret(self.settings),
                    algorithms=["HS256"],
                    options={"require": ["sub", "exp"], "verify_aud": False},
                    leeway=LEEWAY_SECONDS,
                )
            elif algorithm in ASYMMETRIC_ALGORITHMS and self.jwks is not None:
                key = await self.jwks.key(header.get("kid"))
                claims = self._decode_asymmetric(token, key.key, [algorithm])
            elif algorithm == "RS256" and self.settings.jwt_algorithm == "RS256" and self.settings.jwt_public_key:
                claims = self._decode_asymmetric(token, self.settings.jwt_public_key, ["RS256"])
            else:
                raise Unauthorized("invalid token")
        except jwt.ExpiredSignatureError as exc:
            raise self._refuse("expired", exc) from exc
        except jwt.PyJWTError as exc:
            raise self._refuse("rejected", exc) from exc
        return principal_from_claims(claims)

    def _decode_asymmetric(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        issuer = self.settings.oidc_issuer or None
        audience = self.settings.oidc_audience
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=audience,
            issuer=issuer,
            options={"require": ["sub", "exp", "iss", "aud"], "verify_iss": issuer is not None},
            leeway=LEEWAY_SECONDS,
        )
        return claims

    @staticmethod
    def _refuse(kind: str, exc: Exception) -> Unauthorized:
        # The library's reason goes to the log for operators, never to the caller.
        _log.info("token_refused", kind=kind, reason=str(exc))
        return Unauthorized("token expired" if kind == "expired" else "invalid token")


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Check the claims' types and shapes and build the principal; raises ``Unauthorized``."""
    values: dict[str, str | None] = {}
    for name, pattern in CLAIM_PATTERNS.items():
        value = claims.get(name)
        if value is None or (value == "" and name != "sub"):
            values[name] = None
            continue
        if not isinstance(value, str) or not pattern.fullmatch(value):
            _log.info("token_refused", kind="claim", claim=name)
            raise Unauthorized("invalid token")
        values[name] = value
    sub = values["sub"]
    if sub is None:
        raise Unauthorized("invalid token")
    verified = claims.get("email_verified", False)
    if not isinstance(verified, bool):
        raise Unauthorized("invalid token")
    return Principal(
        sub=sub,
        role=_role(claims),
        authority_id=values["authority_id"],
        region=values["region"],
        country=values["country"],
        partner_id=values["partner_id"],
        email=values["email"],
        email_verified=verified,
    )


def _role(claims: Mapping[str, Any]) -> str:
    role = claims.get("role")
    if role is not None:
        if isinstance(role, str) and role in ROLES:
            return role
        raise Unauthorized("invalid token")
    realm_access = claims.get("realm_access")
    roles = realm_access.get("roles") if isinstance(realm_access, Mapping) else None
    if isinstance(roles, list):
        for candidate in ROLE_PRECEDENCE:
            if candidate in roles:
                return candidate
    raise Unauthorized("the token carries no platform role")


def issue_token(
    settings: ServiceSettings,
    *,
    sub: str,
    role: str,
    authority_id: str | None = None,
    region: str | None = None,
    country: str | None = None,
    partner_id: str | None = None,
    email: str | None = None,
    email_verified: bool | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    """Sign a development token (HS256, ``VIES_JWT_SECRET``): for tests and the ``vies token`` command."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + ttl_seconds}
    optional = {
        "authority_id": authority_id,
        "region": region,
        "country": country,
        "partner_id": partner_id,
        "email": email,
    }
    claims.update({name: value for name, value in optional.items() if value})
    if email_verified is not None:
        claims["email_verified"] = email_verified
    return jwt.encode(claims, dev_secret(settings), algorithm="HS256")
