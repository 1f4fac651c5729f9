"""Who owns a webhook subscription, and whether they still may receive what it delivers.

A subscription is created with its owner's token (staff, or a branch for its region). Tokens
expire but subscriptions do not, so every delivery checks the owner's *current* rights with
the identity provider: a removed or disabled account, a lost role or a branch user moved to
another region suspends the subscription (``status: suspended`` with ``suspended_reason``)
and nothing more goes out. A provider that cannot answer delays the delivery (it is retried
without using up an attempt): it never drops it and never delivers without the check.

The port is ``OwnerDirectory``. In production ``KeycloakOwnerDirectory`` asks Keycloak's
admin REST API with a service-account token (client credentials): ``GET
{base}/admin/realms/{realm}/users/{sub}`` and ``GET .../users/{sub}/role-mappings/realm/composite``
(the effective realm roles, through groups and composite roles too); answers are cached for
``owner_rights_cache_seconds``; after a failure, lookups fail at once for a few seconds so a
pass of deliveries does not wait on a timeout per subscription. Tests use
``vies_dev.testing.notifications.FakeOwnerDirectory``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from vies_notifications.domain.subscription import WebhookSubscription
from vies_notifications.settings import NotificationsSettings
from vies_shared.logging import get_logger
from vies_shared.tokens import ROLE_PRECEDENCE, InsecureSettings

log = get_logger(component="owners")

# The roles that may own a subscription (the API lets staff and branches create them).
OWNER_ROLES = ("staff", "branch")


@dataclass(frozen=True)
class OwnerRights:
    """What the identity provider says about a subscription's owner right now."""

    exists: bool
    enabled: bool = True
    roles: frozenset[str] = field(default_factory=frozenset)
    region: str | None = None

    @property
    def role(self) -> str | None:
        """The platform role their token would carry now (the most specific realm role)."""
        return next((role for role in ROLE_PRECEDENCE if role in self.roles), None)


GONE = OwnerRights(exists=False, enabled=False)


class OwnerRightsUnavailable(Exception):
    """The identity provider could not answer (outage, misconfiguration): try again later."""


class OwnerDirectory(Protocol):
    """Port: the current rights of a person, by their ``sub`` (the provider's user id)."""

    async def rights(self, sub: str) -> OwnerRights:
        """Their rights now; raises ``OwnerRightsUnavailable`` when the provider cannot tell."""
        ...


def refusal(subscription: WebhookSubscription, rights: OwnerRights) -> str | None:
    """Why the owner may no longer receive this subscription's deliveries, or None when they may.

    Staff receive everything; a branch user receives their region's events, so they must
    still be a branch (by the role their token would carry) in the subscription's region.
    """
    if not rights.exists:
        return "the owner's account no longer exists"
    if not rights.enabled:
        return "the owner's account is disabled"
    role = rights.role
    if role == "staff":
        return None
    wanted = subscription.owner_role or "staff"
    if role != wanted or role not in OWNER_ROLES:
        return f"the owner no longer holds the {wanted} role"
    scope = subscription.scope_region
    if scope and rights.region != scope:
        return f"the owner is no longer a branch user of {scope}"
    return None


def realm_of(issuer: str) -> tuple[str, str]:
    """``(base URL, realm)`` of a Keycloak issuer such as ``https://auth.example.org/realms/vies``."""
    base, separator, realm = issuer.rstrip("/").rpartition("/realms/")
    if not separator or not base or not realm:
        raise ValueError(f"not a Keycloak realm issuer: {issuer!r}")
    return base, realm


class KeycloakOwnerDirectory:
    """Owners' rights from Keycloak's admin REST API, with a service-account token (client credentials).

    The service account needs the realm-management role ``view-users`` and nothing else.
    Definite answers (the user, a 404) are cached for ``cache_seconds``; errors are not
    cached and raise ``OwnerRightsUnavailable``, at once for ``failure_seconds`` after one.
    """

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        admin_url: str = "",
        cache_seconds: float = 60.0,
        timeout: float = 5.0,
        failure_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base, self.realm = realm_of(issuer)
        self.base = (admin_url or base).rstrip("/")
        self.token_url = f"{issuer.rstrip('/')}/protocol/openid-connect/token"
        self.client_id = client_id
        self.client_secret = client_secret
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self.failure_seconds = failure_seconds
        self.transport = transport
        self._failed: tuple[float, str] | None = None  # (until, why) after a failed lookup
        self._token: tuple[str, float] | None = None
        self._cache: dict[str, tuple[float, OwnerRights]] = {}
        self._lock = asyncio.Lock()
        self.lookups = 0  # calls that reached the provider (tests, metrics)

    async def rights(self, sub: str) -> OwnerRights:
        """The owner's rights, from the cache or the provider."""
        cached = self._cache.get(sub)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._lock:  # one lookup at a time: a pass of 200 deliveries asks once per owner
            cached = self._cache.get(sub)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            if self._failed is not None and self._failed[0] > time.monotonic():
                raise OwnerRightsUnavailable(self._failed[1])
            try:
                async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as http:
                    found = await self._lookup(http, sub)
            except (httpx.HTTPError, ValueError, KeyError, TypeError, OwnerRightsUnavailable) as exc:
                if isinstance(exc, OwnerRightsUnavailable):
                    why = str(exc)
                else:
                    why = f"identity provider unreachable: {type(exc).__name__}"
                log.warning("owner_rights_unavailable", error=why)
                self._failed = (time.monotonic() + self.failure_seconds, why)
                raise OwnerRightsUnavailable(why) from exc
            self._failed = None
            if self.cache_seconds > 0:
                self._cache[sub] = (time.monotonic() + self.cache_seconds, found)
            return found

    async def _lookup(self, http: httpx.AsyncClient, sub: str) -> OwnerRights:
        self.lookups += 1
        user_url = f"{self.base}/admin/realms/{quote(self.realm, safe='')}/users/{quote(sub, safe='')}"
        user = await self._get(http, user_url)
        if user is None:
            return GONE
        mappings = await self._get(http, f"{user_url}/role-mappings/realm/composite")
        if mappings is None:
            return GONE  # deleted between the two calls
        attributes = user.get("attributes") or {}
        regions = attributes.get("region") or []
        return OwnerRights(
            exists=True,
            enabled=bool(user.get("enabled", False)),
            roles=frozenset(str(m.get("name")) for m in mappings if isinstance(m, dict)),
            region=str(regions[0]) if regions else None,
        )

    async def _get(self, http: httpx.AsyncClient, url: str) -> Any:
        """The JSON at ``url``; None on 404; a fresh token once on 401."""
        for fresh in (False, True):
            token = await self._service_token(http, fresh=fresh)
            response = await http.get(url, headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 401 and not fresh:
                continue
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                log.warning("owner_rights_refused", status=response.status_code)
                raise OwnerRightsUnavailable(f"identity provider answered HTTP {response.status_code}")
            return response.json()
        raise OwnerRightsUnavailable("identity provider refused the service account's token")

    async def _service_token(self, http: httpx.AsyncClient, *, fresh: bool) -> str:
        if self._token is not None and not fresh and self._token[1] > time.monotonic():
            return self._token[0]
        response = await http.post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
        )
        if response.status_code != 200:
            log.warning("owner_rights_token_refused", status=response.status_code)
            raise OwnerRightsUnavailable(f"identity provider's token endpoint answered HTTP {response.status_code}")
        body = response.json()
        lifetime = float(body.get("expires_in", 60))
        self._token = (str(body["access_token"]), time.monotonic() + max(0.0, lifetime - 10))
        return self._token[0]


def realm_url_of(settings: NotificationsSettings) -> str:
    """The realm whose users own subscriptions: ``owner_directory_realm_url``, else the token issuer."""
    return settings.owner_directory_realm_url or settings.oidc_issuer


def directory_from_settings(settings: NotificationsSettings) -> OwnerDirectory | None:
    """The production directory when the admin client is configured; None otherwise (development only)."""
    realm_url = realm_url_of(settings)
    if not (settings.owner_directory_client_id and settings.owner_directory_client_secret and realm_url):
        return None
    return KeycloakOwnerDirectory(
        issuer=realm_url,
        client_id=settings.owner_directory_client_id,
        client_secret=settings.owner_directory_client_secret,
        admin_url=settings.owner_directory_admin_url,
        cache_seconds=settings.owner_rights_cache_seconds,
        failure_seconds=min(5.0, settings.owner_rights_retry_seconds),
    )


def check_settings(settings: NotificationsSettings) -> None:
    """Outside dev a process that delivers must be able to check owners: ``InsecureSettings`` otherwise."""
    if settings.env == "dev" or not settings.runs_workers:
        return
    configured = settings.owner_directory_client_id and settings.owner_directory_client_secret
    if not (configured and realm_url_of(settings)):
        raise InsecureSettings(
            "webhook deliveries check their subscription owner's current rights with the identity provider: "
            "set VIES_OWNER_DIRECTORY_REALM_URL (or VIES_OIDC_ISSUER), VIES_OWNER_DIRECTORY_CLIENT_ID and "
            "VIES_OWNER_DIRECTORY_CLIENT_SECRET (a confidential client whose service account holds "
            "realm-management view-users)."
        )
    try:
        realm_of(realm_url_of(settings))
    except ValueError as exc:
        raise InsecureSettings(f"the owner directory's realm URL is not a Keycloak realm URL: {exc}") from exc
