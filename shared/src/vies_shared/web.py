"""HTTP plumbing shared by the services: JWT principals, error bodies, request context, metrics.

Use cases receive a ``Principal`` and check data-level scope themselves
(an authority only its own records, a branch its region, a centre its country).
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from vies_shared import context, metrics
from vies_shared.errors import DomainError, InvalidInput
from vies_shared.logging import get_logger
from vies_shared.tokens import ROLES, Principal, TokenVerifier, Unauthorized, issue_token

Role = Literal["staff", "authority", "candidate", "volunteer", "partner", "centre", "branch"]

__all__ = ["ROLES", "Principal", "Unauthorized", "issue_token"]


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """FastAPI dependency: the authenticated principal, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    structlog.contextvars.bind_contextvars(principal=principal.sub, role=principal.role)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def error_body(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    """The one shape of every error answer: ``{"error": code, "detail": text, ...}``."""
    return JSONResponse(status_code=status, content={"error": code, "detail": detail, **extra})


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: a stable code, a sentence for people, and the invalid fields on a 422."""

    error: str
    detail: str
    errors: list[FieldError] | None = None
    details: Any | None = None


_ERROR_STATUSES = {
    "401": "missing, expired or invalid token",
    "403": "the action or the record is outside the caller's role or scope",
    "404": "unknown id",
    "409": "not allowed in the current state, or a duplicate",
    "422": "invalid input, with the invalid fields",
    "503": "a backing service is unreachable; retry after the Retry-After delay",
}


def document_error_bodies(app: FastAPI) -> None:
    """Make ``/openapi.json`` tell the truth about errors: the platform's error body, not FastAPI's default."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(components["ErrorBody"].pop("$defs", {}))
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in _ERROR_STATUSES.items():
                    responses[status] = {"description": description, "content": ref}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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
        get_logger(component="http").warning("backing_service_unreachable", error=type(exc).__name__)
        response = error_body(503, "unavailable", "a backing service is unreachable, retry later")
        response.headers["Retry-After"] = "5"
        return response

    from pymongo.errors import ConnectionFailure

    app.add_exception_handler(ConnectionFailure, on_unavailable)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(Unauthorized, on_unauthorized)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


# A correlation id travels into events and logs: keep it short and plain.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def trusted_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse a comma-separated list of CIDRs (``VIES_TRUSTED_REQUEST_ID_FROM``)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def _is_trusted_peer(request: Request, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    host = request.client.host if request.client else None
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def install_request_context(app: FastAPI, service: str, trusted_from: str = "") -> None:
    """Give each request an id (``X-Request-ID``) that becomes the correlation id of its events; count it.

    A caller's ``X-Request-ID`` is kept only from trusted peers (the Ingress, the portal):
    anyone else could otherwise forge the correlation ids of audit and tracing chains.
    """
    networks = trusted_networks(trusted_from)

    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        sent = request.headers.get("x-request-id")
        trusted = bool(sent) and _is_trusted_peer(request, networks) and bool(_REQUEST_ID.fullmatch(sent or ""))
        request_id = sent if trusted and sent else str(uuid.uuid4())
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


MAX_OFFSET = 1_000_000
"""Deeper pages are refused: no list is that long, and a huge offset must be a 422, not a database error."""


def page_params(limit: int = 50, offset: int = 0) -> Page:
    """FastAPI dependency: ``?limit=`` (1..200) and ``?offset=`` (0..1,000,000)."""
    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be between 1 and 200")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")
    return Page(limit=limit, offset=offset)


Pagination = Annotated[Page, Depends(page_params)]


def paged(items: Iterable[Any], total: int, page: Page) -> dict[str, Any]:
    """A list answer: ``{"items": [...], "total": n, "limit": l, "offset": o}``."""
    return {"items": list(items), "total": total, "limit": page.limit, "offset": page.offset}
