"""The authorization matrix: every endpoint of every service × every role × (own scope, foreign scope).

The endpoints come from the services' own OpenAPI documents; the expectations come
from one reviewed table (``authz_table.py``). An endpoint with no row fails, and so
does a row with no endpoint. Every endpoint is also called with no token and with
each kind of defective token, which must all be a 401 (without a token, a public
endpoint's row says what it answers: ``Row.anonymous``).

"Allowed" means the call got past authorization: a 2xx, or a 409/422 about the
record's state or a business rule (the matrix mutates the demo data as it goes).
Requests carry valid bodies, so a refusal can only come from authorization.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import jwt
import pytest

from vies_shared.settings import DEV_JWT_SECRET

from . import authz_table as table
from .conftest import SERVICES, SecuredPlatform

pytestmark = pytest.mark.integration

METHOD_ORDER = {"get": 0, "put": 1, "patch": 1, "post": 1, "delete": 2}


async def _operations(platform: SecuredPlatform) -> list[tuple[str, str, str]]:
    operations = []
    async with httpx.AsyncClient(timeout=10) as http:
        for service in SERVICES:
            spec = (await http.get(f"{platform.url(service)}/openapi.json")).json()
            for path, methods in spec["paths"].items():
                operations.extend((service, method.upper(), path) for method in methods)
    return operations


def test_every_row_of_the_table_is_well_formed() -> None:
    for key, row in table.ROWS.items():
        assert set(row.expect) <= set(table.ROLES), key
        missing = set(table.ROLES) - set(row.expect) - {"staff"}
        assert not missing, f"{key}: no expectation for {sorted(missing)}"


async def test_every_endpoint_has_a_row_and_every_row_an_endpoint(secured_platform: SecuredPlatform) -> None:
    operations = set(await _operations(secured_platform))
    rows = set(table.ROWS)
    assert not operations - rows, f"endpoints with no row in authz_table.py: {sorted(operations - rows)}"
    assert not rows - operations, f"rows for endpoints that do not exist: {sorted(rows - operations)}"


def _defective_tokens(platform: SecuredPlatform) -> dict[str, str]:
    issuer = platform.issuer
    good = issuer.claims("staff", "matrix-staff")
    now = int(time.time())

    def variant(**changes: Any) -> str:
        claims = {**good, **changes}
        return issuer.sign({k: v for k, v in claims.items() if v is not None})

    return {
        "expired": variant(exp=now - 3600, iat=now - 7200),
        "no exp": variant(exp=None),
        "wrong issuer": variant(iss="https://auth.example.org/realms/vies"),
        "wrong audience": variant(aud="another-api"),
        "alg none": jwt.encode(good, None, algorithm="none"),
        "published dev secret": jwt.encode({**good, "role": "staff"}, DEV_JWT_SECRET, algorithm="HS256"),
        "claim as object": variant(authority_id={"$ne": None}),
        "garbage": "not-a-token",
    }


async def test_no_token_and_defective_tokens_are_401_everywhere(secured_platform: SecuredPlatform) -> None:
    context = await table.prepare(secured_platform)
    defective = _defective_tokens(secured_platform)
    failures = []
    calls = 0
    async with httpx.AsyncClient(timeout=30) as http:
        for (service, method, path), row in sorted(table.ROWS.items()):
            url = secured_platform.url(service) + row.path_for(path, context)
            body = row.body_for(context)
            for name, token in [("no token", None), *defective.items()]:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                r = await http.request(method, url, json=body, headers=headers, params=row.query)
                calls += 1
                if token is None and row.anonymous != 401:
                    # A public endpoint: no token is allowed; a defective one is still a 401.
                    if _classify(r) != row.anonymous:
                        failures.append(f"{method} {path} [{name}]: want {row.anonymous}, got {r.status_code}")
                    continue
                if r.status_code != 401:
                    failures.append(f"{method} {path} [{name}]: {r.status_code} {r.text[:200]}")
                elif "jwt" in r.text.lower() or "signature" in r.text.lower():
                    failures.append(f"{method} {path} [{name}]: the answer echoes the token library: {r.text}")
    assert calls >= len(table.ROWS) * 9
    assert not failures, f"{len(failures)} of {calls}:\n" + "\n".join(failures[:40])


def _classify(response: httpx.Response) -> Any:
    status = response.status_code
    if status < 300:
        return table.OK
    if status in (409, 422):
        body = response.json()
        # A 422 listing invalid fields means the matrix sent a bad body, not a business refusal.
        return table.OK if not body.get("errors") else f"422 invalid body {body['errors']}"
    return status


async def test_authorization_matrix(secured_platform: SecuredPlatform) -> None:
    context = await table.prepare(secured_platform)
    discover = os.environ.get("VIES_AUTHZ_DISCOVER") == "1"
    failures: list[str] = []
    observed: list[str] = []
    calls = 0

    def order(item: tuple[tuple[str, str, str], table.Row]) -> tuple[int, int, str, str]:
        (service, method, path), row = item
        return (METHOD_ORDER[method.lower()], row.late, service, path)

    async with httpx.AsyncClient(timeout=30) as http:
        for (service, method, path), row in sorted(table.ROWS.items(), key=order):
            cells: list[str] = []
            # Refusals first, staff last: an allowed call may change the record's state.
            cases = [(role, scope) for role in table.ROLES if role != "staff" for scope in ("foreign", "own")]
            cases.append(("staff", "own"))
            for role, scope in cases:
                claims = table.scope_claims(role, scope, service)
                url = secured_platform.url(service) + row.path_for(path, context)
                headers = {"Authorization": f"Bearer {secured_platform.issuer.token(role, **claims)}"}
                r = await http.request(method, url, json=row.body_for(context), headers=headers, params=row.query)
                calls += 1
                got = _classify(r)
                want = row.expected(role, scope)
                cells.append(f"{role}/{scope}={got}")
                if got != want:
                    failures.append(
                        f"{method} {service}{path} as {role} ({scope} scope): want {want}, got {got}"
                        f" {r.text[:160] if got != table.OK else ''}"
                    )
            observed.append(f"{method} {service}{path}: " + " ".join(cells))
    if discover:
        print("\n".join(observed))
    assert calls >= len(table.ROWS) * 13
    assert not failures, f"{len(failures)} of {calls} cells differ from the table:\n" + "\n".join(failures)
