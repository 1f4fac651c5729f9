"""Token rules: what is accepted, what is refused, and which settings may not start."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from vies_shared.settings import DEV_JWT_SECRET, ServiceSettings
from vies_shared.tokens import (
    InsecureSettings,
    TokenVerifier,
    Unauthorized,
    check_token_settings,
    issue_token,
    principal_from_claims,
)

ISSUER = "http://127.0.0.1:1/realms/vies"


class _Jwks:
    """A JWKS endpoint on loopback serving whatever keys the test puts in it."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, key: rsa.RSAPrivateKey, kid: str) -> None:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        self.keys.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})


@pytest.fixture
def jwks() -> Iterator[_Jwks]:
    server = _Jwks()
    yield server
    server.server.shutdown()


_KEYS = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]
_next_key = iter(_KEYS * 100)


def _key() -> rsa.RSAPrivateKey:
    # Key generation is slow; three keys are enough for "this key" versus "another key".
    return next(_next_key)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "user-1",
        "iss": ISSUER,
        "aud": "vies-api",
        "exp": now + 300,
        "iat": now,
        "realm_access": {"roles": ["default-roles-vies", "candidate", "authority"]},
        "authority_id": "aut-lyon",
        "region": "FR-ARA",
        "email": "officer@lyon.example.fr",
        "email_verified": True,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _production(jwks_url: str, **overrides: Any) -> ServiceSettings:
    return ServiceSettings(service="partners", oidc_issuer=ISSUER, oidc_jwks_url=jwks_url, **overrides)


def _verify(settings: ServiceSettings, token: str) -> Any:
    return asyncio.run(TokenVerifier(settings).verify(token))


def test_provider_token_gives_the_most_specific_role_and_scope(jwks: _Jwks) -> None:
    key = _key()
    jwks.add(key, "k1")
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"})
    principal = _verify(_production(jwks.url), token)
    assert (principal.role, principal.authority_id, principal.region) == ("authority", "aut-lyon", "FR-ARA")
    assert principal.email_verified is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": None},
        pytest.param({"exp": int(time.time()) - 120}, id="exp=two-minutes-ago"),  # same id in every worker
        {"iss": "http://evil.example/realms/vies"},
        {"iss": None},
        {"aud": "another-api"},
        {"aud": None},
        {"authority_id": {"$ne": None}},
        {"region": ["FR-ARA"]},
        {"country": "France"},
        {"role": "root"},
        {"realm_access": {"roles": ["default-roles-vies"]}},
        {"email_verified": "true"},
    ],
    ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()),
)
def test_bad_provider_tokens_are_refused(jwks: _Jwks, overrides: dict[str, Any]) -> None:
    key = _key()
    jwks.add(key, "k1")
    claims = _claims()
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized) as refused:
        _verify(_production(jwks.url), token)
    # The caller learns nothing of the library's reason.
    assert str(refused.value) in {"invalid token", "token expired", "the token carries no platform role"}


def test_leeway_accepts_a_token_expired_seconds_ago(jwks: _Jwks) -> None:
    key = _key()
    jwks.add(key, "k1")
    token = jwt.encode(_claims(exp=int(time.time()) - 10), key, algorithm="RS256", headers={"kid": "k1"})
    assert _verify(_production(jwks.url), token).sub == "user-1"


def test_alg_none_and_dev_secret_tokens_are_refused_outside_dev(jwks: _Jwks) -> None:
    jwks.add(_key(), "k1")
    settings = _production(jwks.url)
    unsigned = jwt.encode(_claims(role="staff"), None, algorithm="none")
    forged = jwt.encode(_claims(role="staff"), DEV_JWT_SECRET, algorithm="HS256")
    for token in (unsigned, forged):
        with pytest.raises(Unauthorized):
            _verify(settings, token)


def test_a_foreign_key_is_refused_even_with_a_known_kid(jwks: _Jwks) -> None:
    jwks.add(_key(), "k1")
    token = jwt.encode(_claims(), _key(), algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized):
        _verify(_production(jwks.url), token)


def test_keys_are_fetched_once_and_again_for_an_unknown_kid(jwks: _Jwks) -> None:
    old, new = _key(), _key()
    jwks.add(old, "old")
    verifier = TokenVerifier(_production(jwks.url))

    async def run() -> None:
        for _ in range(5):
            await verifier.verify(jwt.encode(_claims(), old, algorithm="RS256", headers={"kid": "old"}))
        assert jwks.hits == 1
        # The provider rotates its keys: the next unknown kid triggers one more fetch.
        jwks.add(new, "new")
        verifier.jwks._fetched_at -= 60  # type: ignore[union-attr]
        await verifier.verify(jwt.encode(_claims(), new, algorithm="RS256", headers={"kid": "new"}))
        assert jwks.hits == 2
        # A flood of made-up key ids does not become a flood of fetches.
        for n in range(5):
            with pytest.raises(Unauthorized):
                await verifier.verify(jwt.encode(_claims(), new, algorithm="RS256", headers={"kid": f"x{n}"}))
        assert jwks.hits == 2

    asyncio.run(run())


def test_dev_tokens_need_dev_mode_and_an_expiry() -> None:
    dev = ServiceSettings(service="partners", env="dev")
    token = issue_token(dev, sub="s", role="staff")
    assert _verify(dev, token).is_staff
    no_exp = jwt.encode({"sub": "s", "role": "staff"}, DEV_JWT_SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        _verify(dev, no_exp)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jwt_secret": DEV_JWT_SECRET, "oidc_issuer": ISSUER}, "published development secret"),
        ({"jwt_secret": "short-secret", "oidc_issuer": ISSUER}, "shorter than 32 bytes"),
        ({}, "no token issuer configured"),
    ],
)
def test_unsafe_settings_refuse_to_start(values: dict[str, Any], message: str) -> None:
    with pytest.raises(InsecureSettings, match=message):
        check_token_settings(ServiceSettings(service="partners", **values))


def test_safe_settings_start_and_workers_need_no_token_settings() -> None:
    check_token_settings(ServiceSettings(service="partners", oidc_issuer=ISSUER))
    check_token_settings(ServiceSettings(service="partners", role="worker"))
    check_token_settings(ServiceSettings(service="partners", env="dev"))


def test_claims_shape() -> None:
    principal = principal_from_claims({"sub": "u", "role": "partner", "partner_id": "par-demo-sn"})
    assert principal.partner_id == "par-demo-sn"
    with pytest.raises(Unauthorized):
        principal_from_claims({"sub": "u", "role": "partner", "partner_id": "x" * 200})
