"""Masked addresses, the owner-rights rules, the Keycloak directory's protocol and cache, sealed secrets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from vies_notifications import owners, sealing
from vies_notifications.domain import privacy
from vies_notifications.domain.subscription import WebhookSubscription
from vies_notifications.owners import GONE, KeycloakOwnerDirectory, OwnerRights, OwnerRightsUnavailable
from vies_notifications.settings import NotificationsSettings
from vies_shared.tokens import InsecureSettings

# ---- masking -------------------------------------------------------------------------------------


def test_addresses_are_masked() -> None:
    assert privacy.mask_email("jane-42@x.org") == "j***@x.org"
    assert privacy.mask_phone("+33612345612") == "+33 6** ** ** 12"
    assert privacy.mask_phone("+33 6 12 34 56 12") == "+33 6** ** ** 12"
    assert privacy.mask_phone("+221771234567") == "+22********67"
    assert privacy.mask_url("https://hooks.example.org:8443/secret/path?token=1") == "https://hooks.example.org:8443/…"
    assert privacy.mask_address("jane@x.org", "email") == "j***@x.org"
    assert privacy.mask_address("+33612345612", "sms") == "+33 6** ** ** 12"
    assert privacy.mask_address("https://h.example.org/a", "webhook") == "https://h.example.org/…"
    assert privacy.mask_address(None, "email") is None


def test_error_texts_are_scrubbed_of_addresses_but_keep_their_codes() -> None:
    smtp = "SMTP 550 5.1.1 <jane.doe@x.org>: Recipient address rejected"
    assert privacy.scrub(smtp) == "SMTP 550 5.1.1 <j***@x.org>: Recipient address rejected"
    assert privacy.scrub("provider refused +33612345612 (HTTP 400)") == "provider refused +33 6** ** ** 12 (HTTP 400)"
    assert privacy.scrub("HTTP 503") == "HTTP 503"
    assert privacy.scrub(None) is None


# ---- who may still receive a subscription ---------------------------------------------------------


def _branch(region: str | None = "FR-BRE", *, enabled: bool = True, roles: tuple[str, ...] = ("branch",)) -> Any:
    return OwnerRights(exists=True, enabled=enabled, roles=frozenset(roles), region=region)


def _subscription(owner: str, owner_role: str, scope_region: str | None) -> WebhookSubscription:
    return WebhookSubscription(
        subscription_id=f"sub-{owner}",
        url="https://hooks.example.org/x",
        event_types=["partners.PartnerApproved"],
        status="active",
        owner=owner,
        owner_role=owner_role,
        scope_region=scope_region,
    )


BRANCH_SUBSCRIPTION = _subscription("u1", "branch", "FR-BRE")
STAFF_SUBSCRIPTION = _subscription("s1", "staff", None)


def test_a_branch_subscription_holds_only_while_its_owner_is_an_enabled_branch_user_of_its_region() -> None:
    assert owners.refusal(BRANCH_SUBSCRIPTION, _branch()) is None
    # Realm roles every user has (default roles, candidate) do not change the role the token carries.
    assert owners.refusal(BRANCH_SUBSCRIPTION, _branch(roles=("branch", "candidate", "offline_access"))) is None
    assert owners.refusal(BRANCH_SUBSCRIPTION, GONE) == "the owner's account no longer exists"
    assert owners.refusal(BRANCH_SUBSCRIPTION, _branch(enabled=False)) == "the owner's account is disabled"
    assert owners.refusal(BRANCH_SUBSCRIPTION, _branch(roles=("candidate",))) == (
        "the owner no longer holds the branch role"
    )
    assert owners.refusal(BRANCH_SUBSCRIPTION, _branch("FR-NOR")) == "the owner is no longer a branch user of FR-BRE"
    assert owners.refusal(BRANCH_SUBSCRIPTION, _branch(None)) == "the owner is no longer a branch user of FR-BRE"
    # Promoted to staff: staff receive everything.
    assert owners.refusal(BRANCH_SUBSCRIPTION, _branch(None, roles=("staff",))) is None


def test_a_staff_subscription_needs_a_staff_owner() -> None:
    assert owners.refusal(STAFF_SUBSCRIPTION, _branch(None, roles=("staff",))) is None
    assert owners.refusal(STAFF_SUBSCRIPTION, _branch()) == "the owner no longer holds the staff role"


# ---- the Keycloak directory, against a scripted admin API ------------------------------------------

ISSUER = "https://auth.example.org/realms/vies"


class AdminApi:
    """Keycloak's token endpoint and the two admin calls the directory makes, answered from a dict."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, list[str]] = {}
        self.down = False
        self.requests: list[str] = []
        self.tokens = 0
        self.reject_token: str | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/realms/vies/protocol/openid-connect/token":
            assert request.headers["authorization"].startswith("Basic ")
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"t{self.tokens}", "expires_in": 300})
        if request.headers.get("authorization") == f"Bearer {self.reject_token}":
            return httpx.Response(401)
        prefix = "/admin/realms/vies/users/"
        assert request.url.path.startswith(prefix)
        sub, _, rest = request.url.path[len(prefix) :].partition("/")
        if sub not in self.users:
            return httpx.Response(404, json={"error": "User not found"})
        if rest == "role-mappings/realm/composite":
            return httpx.Response(200, json=[{"name": name} for name in self.roles.get(sub, [])])
        return httpx.Response(200, content=json.dumps(self.users[sub]))

    def directory(self, **options: Any) -> KeycloakOwnerDirectory:
        return KeycloakOwnerDirectory(
            issuer=ISSUER,
            client_id="vies-notifications",
            client_secret="s3cret",
            transport=httpx.MockTransport(self.handler),
            **options,
        )


async def test_the_directory_reads_user_roles_and_region_and_caches_its_answers() -> None:
    api = AdminApi()
    api.users["u1"] = {"id": "u1", "enabled": True, "attributes": {"region": ["FR-BRE"]}}
    api.roles["u1"] = ["branch", "default-roles-vies"]
    directory = api.directory(cache_seconds=0.3)
    rights = await directory.rights("u1")
    assert rights == OwnerRights(True, True, frozenset({"branch", "default-roles-vies"}), "FR-BRE")
    assert rights.role == "branch"
    assert await directory.rights("nobody") == GONE
    assert directory.lookups == 2 and api.tokens == 1  # one service-account token for both
    # Within the cache: no call; the owner is disabled meanwhile, which shows once the entry expires.
    api.users["u1"]["enabled"] = False
    assert (await directory.rights("u1")).enabled and directory.lookups == 2
    await asyncio.sleep(0.35)
    assert not (await directory.rights("u1")).enabled and directory.lookups == 3
    # Deleted: 404 on the user.
    del api.users["u1"]
    await asyncio.sleep(0.35)
    assert await directory.rights("u1") == GONE


async def test_an_unreachable_provider_raises_fails_fast_and_is_not_cached() -> None:
    api = AdminApi()
    api.users["u1"] = {"id": "u1", "enabled": True, "attributes": {}}
    directory = api.directory(cache_seconds=60, failure_seconds=0.2)
    api.down = True
    with pytest.raises(OwnerRightsUnavailable, match="unreachable"):
        await directory.rights("u1")
    calls = len(api.requests)
    with pytest.raises(OwnerRightsUnavailable):
        await directory.rights("u1")
    assert len(api.requests) == calls  # failed fast, no second timeout
    api.down = False
    await asyncio.sleep(0.25)
    assert (await directory.rights("u1")).exists


async def test_a_refused_service_token_is_renewed_once_then_reported() -> None:
    api = AdminApi()
    api.users["u1"] = {"id": "u1", "enabled": True}
    directory = api.directory(cache_seconds=0)
    await directory.rights("u1")
    api.reject_token = "t1"  # the cached token was revoked: a fresh one is fetched
    assert (await directory.rights("u1")).exists and api.tokens == 2


def test_the_realm_of_an_issuer() -> None:
    assert owners.realm_of("https://auth.example.org/realms/vies/") == ("https://auth.example.org", "vies")
    with pytest.raises(ValueError, match="not a Keycloak realm"):
        owners.realm_of("https://auth.example.org/")


# ---- start-up refusals outside dev ----------------------------------------------------------------


def _settings(**values: Any) -> NotificationsSettings:
    base: dict[str, Any] = {"env": "production", "oidc_issuer": ISSUER}
    return NotificationsSettings.model_construct(**{**NotificationsSettings().model_dump(), **base, **values})


def test_outside_dev_a_delivering_process_needs_the_owner_directory() -> None:
    with pytest.raises(InsecureSettings, match="VIES_OWNER_DIRECTORY_CLIENT_SECRET"):
        owners.check_settings(_settings())
    owners.check_settings(_settings(owner_directory_client_secret="x" * 32))
    owners.check_settings(_settings(role="api"))  # an API-only process delivers nothing
    worker = _settings(role="worker", oidc_issuer="", owner_directory_client_secret="x" * 32)
    with pytest.raises(InsecureSettings):
        owners.check_settings(worker)
    owners.check_settings(worker.model_copy(update={"owner_directory_realm_url": ISSUER}))
    with pytest.raises(InsecureSettings, match="not a Keycloak realm URL"):
        owners.check_settings(worker.model_copy(update={"owner_directory_realm_url": "https://auth.example.org"}))
    owners.check_settings(_settings(env="dev", oidc_issuer=""))


def test_outside_dev_secrets_need_a_key_of_our_own() -> None:
    with pytest.raises(InsecureSettings, match="VIES_WEBHOOK_SECRET_KEY is not set"):
        sealing.check_settings(_settings())
    with pytest.raises(InsecureSettings, match="published development key"):
        sealing.check_settings(_settings(webhook_secret_key=sealing.DEV_WEBHOOK_SECRET_KEY))
    with pytest.raises(InsecureSettings, match="at least 32"):
        sealing.check_settings(_settings(webhook_secret_key="short"))
    sealing.check_settings(_settings(webhook_secret_key="k" * 44))
    sealing.check_settings(_settings(env="dev"))  # the development key


def test_sealed_secrets_open_with_every_configured_key_and_reseal_with_the_first() -> None:
    old, new = "o" * 44, "n" * 44
    sealed = sealing.SecretBox([old]).seal("whsec_abc")
    assert "whsec_abc" not in json.dumps(sealed)
    rotated = sealing.SecretBox([new, old])
    assert rotated.open(sealed) == "whsec_abc"
    assert rotated.seal("whsec_abc")["secret_key_id"] != sealed["secret_key_id"]
    assert rotated.open({"secret": "in-clear-from-an-earlier-version"}) == "in-clear-from-an-earlier-version"
    with pytest.raises(sealing.SecretUnreadable):
        sealing.SecretBox([new]).open(sealed)
