"""HTTP plumbing shared by the services: JWT principals, error bodies, request context, metrics.

Use cases receive a ``Principal`` and check data-level scope themselves
(an authority only its own records, a branch its region, a centre its country).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jwt
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from vies_shared import context, metrics
from vies_shared.errors import DomainError, Forbidden
from vies_shared.settings import ServiceSettings

Role = Literal["staff", "authority", "candidate", "volunteer", "partner", "centre", "branch"]
ROLES: tuple[str, ...] = ("staff", "authority", "candidate", "volunteer", "partner", "centre", "branch")


@dataclass(frozen=True)
class Principal:
    """Who is calling, from the JWT: subject, role and the scope claims that apply."""

    sub: str
    role: str
    authority_id: str | None = None
    region: str | None = None
    country: str | None = None

    @property
    def is_staff(self) -> bool:
        """Agency staff may do everything."""
        return self.role == "staff"

    def require_role(self, *roles: str) -> None:
        """Raise ``Forbidden`` unless the principal has one of ``roles`` (staff always passes)."""
        if not self.is_staff and self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this")


class Unauthorized(Exception):
    """Missing or invalid token (401)."""


def issue_token(
    settings: ServiceSettings,
    *,
    sub: str,
    role: str,
    authority_id: str | None = None,
    region: str | None = None,
    country: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    """Sign a token with the configured HS256 secret (development, tests, the ``vies token`` command)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + ttl_seconds}
    for name, value in (("authority_id", authority_id), ("region", region), ("country", country)):
        if value:
            claims[name] = value
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def decode_token(settings: ServiceSettings, token: str) -> Principal:
    """Verify a bearer token and return its principal; raises ``Unauthorized``."""
    key = settings.jwt_public_key if settings.jwt_algorithm == "RS256" else settings.jwt_secret
    try:
        claims = jwt.decode(token, key, algorithms=[settings.jwt_algorithm], options={"require": ["sub", "role"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise Unauthorized(f"unknown role {role!r}")
    return Principal(
        sub=str(claims["sub"]),
        role=str(role),
        authority_id=claims.get("authority_id"),
        region=claims.get("region"),
        country=claims.get("country"),
    )


_bearer = HTTPBearer(auto_error=False)


def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """FastAPI dependency: the authenticated principal, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    settings: ServiceSettings = request.app.state.settings
    principal = decode_token(settings, credentials.credentials)
    structlog.contextvars.bind_contextvars(principal=principal.sub, role=principal.role)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def error_body(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    """The one shape of every error answer: ``{"error": code, "detail": text, ...}``."""
    return JSONResponse(status_code=status, content={"error": code, "detail": detail, **extra})


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and auth failures to the contract's status codes."""

    async def on_domain(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        extra = {"details": exc.details} if exc.details is not None else {}
        return error_body(exc.status, exc.code, exc.message, **extra)

    async def on_unauthorized(_: Request, exc: Exception) -> Response:
        response = error_body(401, "unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "message": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        return error_body(422, "invalid", "the request has invalid fields", errors=errors)

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error"
        )
        return error_body(exc.status_code, code, str(exc.detail))

    async def on_unavailable(_: Request, exc: Exception) -> Response:
        response = error_body(
            503, "unavailable", f"a backing service is unreachable, retry later: {type(exc).__name__}"
        )
        response.headers["Retry-After"] = "5"
        return response

    from pymongo.errors import ConnectionFailure

    app.add_exception_handler(ConnectionFailure, on_unavailable)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(Unauthorized, on_unauthorized)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def install_request_context(app: FastAPI, service: str) -> None:
    """Give each request an id (``X-Request-ID``) that becomes the correlation id of its events; count it."""

    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        token = context.correlation_id.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.HTTP_REQUESTS.labels(service, request.method, path, str(status)).inc()
            metrics.HTTP_LATENCY.labels(service, request.method, path).observe(time.perf_counter() - started)
            context.correlation_id.reset(token)
            structlog.contextvars.unbind_contextvars("request_id", "correlation_id", "principal", "role")


def metrics_response() -> Response:
    """The Prometheus text exposition of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@dataclass(frozen=True)
class Page:
    """Pagination parameters shared by list endpoints."""

    limit: int
    offset: int


def page_params(limit: int = 50, offset: int = 0) -> Page:
    """FastAPI dependency: ``?limit=`` (1..200) and ``?offset=``."""
    from vies_shared.errors import InvalidInput

    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be between 1 and 200")
    if offset < 0:
        raise InvalidInput("offset must not be negative")
    return Page(limit=limit, offset=offset)


Pagination = Annotated[Page, Depends(page_params)]


def paged(items: Iterable[Any], total: int, page: Page) -> dict[str, Any]:
    """A list answer: ``{"items": [...], "total": n, "limit": l, "offset": o}``."""
    return {"items": list(items), "total": total, "limit": page.limit, "offset": page.offset}
