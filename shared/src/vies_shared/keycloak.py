"""Tokens from the local Keycloak: password grant for the demo users, admin and service-account tokens.

Used by ``vies token --user``, the pytest plugin (``vies_keycloak``) and tests. The
demo users and their passwords (local only, also in the README and in
``deploy/local/realm-vies.json``) are in :data:`DEMO_USERS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx

REALM: Final = "vies"
CLI_CLIENT: Final = "vies-cli"
PORTAL_CLIENT: Final = "vies-portal"
PORTAL_SECRET: Final = "vies-portal-local-secret"  # noqa: S105 - local only (deploy/local/realm-vies.json)
NOTIFICATIONS_CLIENT: Final = "vies-notifications"
NOTIFICATIONS_SECRET: Final = "vies-notifications-local-secret"  # noqa: S105 - local only
ADMIN_USER: Final = "admin"  # Keycloak's bootstrap admin of the local stack (master realm); local only
ADMIN_PASSWORD: Final = "admin"  # noqa: S105 - local only


@dataclass(frozen=True)
class DemoUser:
    """A demo account of the local realm: its password is for the local stack only."""

    username: str
    password: str
    role: str
    sub: str
    scope: str
    """The scope claims it carries, for humans."""


DEMO_USERS: Final[dict[str, DemoUser]] = {
    u.username: u
    for u in (
        DemoUser("staff.agency", "staff-demo-pass", "staff", "demo-staff-agency", "every record"),
        DemoUser("amina.candidate", "candidate-demo-pass", "candidate", "demo-cand-amina", "her own applications"),
        DemoUser(
            "thomas.candidate", "candidate-demo-pass", "candidate", "cand-demo-5", "demo applicant app-demo-engaged"
        ),
        DemoUser(
            "lyon.authority", "authority-demo-pass", "authority", "demo-aut-lyon-officer", "aut-demo-lyon, FR-ARA"
        ),
        DemoUser("ara.authority", "authority-demo-pass", "authority", "demo-aut-ara-officer", "aut-demo-ara, FR-ARA"),
        DemoUser("ara.branch", "branch-demo-pass", "branch", "demo-branch-ara", "region FR-ARA"),
        DemoUser("senegal.centre", "centre-demo-pass", "centre", "demo-centre-sn", "country SN"),
        DemoUser("chloe.volunteer", "volunteer-demo-pass", "volunteer", "demo-vol-1", "mission demo-eng-sn-1 (SN)"),
        DemoUser(
            "ziguinchor.partner",
            "partner-demo-pass",
            "partner",
            "demo-partner-ziguinchor",
            "par-demo-sn-ziguinchor, SN",
        ),
    )
}


class KeycloakError(RuntimeError):
    """Keycloak refused or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class KeycloakEndpoints:
    """Where a Keycloak with the ``vies`` realm listens, and how to get tokens from it."""

    url: str
    realm: str = REALM
    admin_user: str = ADMIN_USER
    admin_password: str = ADMIN_PASSWORD

    @property
    def issuer(self) -> str:
        """``VIES_OIDC_ISSUER`` for the services."""
        return f"{self.url.rstrip('/')}/realms/{self.realm}"

    @property
    def jwks_url(self) -> str:
        """The realm's signing keys."""
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def token_url(self) -> str:
        """The realm's token endpoint."""
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def auth_url(self) -> str:
        """The realm's authorization endpoint (login and registration pages)."""
        return f"{self.issuer}/protocol/openid-connect/auth"

    def token(self, username: str, password: str | None = None, *, client_id: str = CLI_CLIENT) -> str:
        """An access token for a user by password grant (demo users' passwords are known)."""
        token: str = password_grant(self.issuer, username, password, client_id=client_id)["access_token"]
        return token

    def admin_token(self) -> str:
        """An access token of the master realm's admin (for the admin REST API)."""
        return admin_token(self.url, self.admin_user, self.admin_password)

    def service_token(self, client_id: str = NOTIFICATIONS_CLIENT, client_secret: str = NOTIFICATIONS_SECRET) -> str:
        """An access token of a confidential client's service account (client credentials grant)."""
        token: str = client_credentials(self.issuer, client_id, client_secret)["access_token"]
        return token


def _token_request(url: str, data: dict[str, str], timeout: float) -> dict[str, Any]:
    try:
        response = httpx.post(url, data=data, timeout=timeout)
    except httpx.HTTPError as exc:
        raise KeycloakError(f"Keycloak is not reachable at {url} ({type(exc).__name__}): is the stack up?") from exc
    if response.status_code != 200:
        try:
            body = response.json()
            reason = f"{body.get('error')}: {body.get('error_description', '')}"
        except ValueError:
            reason = response.text[:200]
        raise KeycloakError(f"Keycloak refused the token request ({response.status_code} {reason})")
    result: dict[str, Any] = response.json()
    return result


def password_grant(
    issuer: str,
    username: str,
    password: str | None = None,
    *,
    client_id: str = CLI_CLIENT,
    client_secret: str | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """The token response (``access_token``, ``refresh_token``...) for a user, by password grant.

    ``password`` defaults to the demo password of a demo user.
    """
    if password is None:
        demo = DEMO_USERS.get(username)
        if demo is None:
            raise KeycloakError(f"{username!r} is not a demo user: give its password")
        password = demo.password
    data = {"grant_type": "password", "client_id": client_id, "username": username, "password": password}
    if client_secret:
        data["client_secret"] = client_secret
    return _token_request(f"{issuer.rstrip('/')}/protocol/openid-connect/token", data, timeout)


def client_credentials(issuer: str, client_id: str, client_secret: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The token response of a confidential client's service account."""
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    return _token_request(f"{issuer.rstrip('/')}/protocol/openid-connect/token", data, timeout)


def admin_token(url: str, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD, *, timeout: float = 10.0) -> str:
    """An access token of Keycloak's admin (master realm, client ``admin-cli``) for the admin REST API."""
    issuer = f"{url.rstrip('/')}/realms/master"
    data = {"grant_type": "password", "client_id": "admin-cli", "username": username, "password": password}
    token: str = _token_request(f"{issuer}/protocol/openid-connect/token", data, timeout)["access_token"]
    return token
