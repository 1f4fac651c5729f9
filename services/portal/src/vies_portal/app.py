"""Composition root of the portal: settings → session store, provider, API client → FastAPI app."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pymongo.errors import PyMongoError

from vies_portal import account, authority, centre, public, volunteer
from vies_portal.apis import SERVICES, ApiError, Apis, ApiUnavailable
from vies_portal.network_pages import ROUTERS as NETWORK_ROUTERS
from vies_portal.oidc import Provider
from vies_portal.safety_link import router as safety_link_router
from vies_portal.sessions import COOKIE, SessionStore
from vies_portal.settings import PortalSettings
from vies_portal.web import (
    CsrfRefused,
    Portal,
    SignInRequired,
    error_message,
    render,
    sign_in_redirect,
    template_environment,
)
from vies_portal.web import _ as translate
from vies_shared.logging import configure_logging
from vies_shared.storage import create_mongo_client

STATIC = Path(__file__).parent / "static"
PAGES = Counter("vies_portal_pages_total", "Pages served", ["route", "status"])
# Finer below a second, with the pages' 300 ms target as a bound: how many pages meet it can be read off.
PAGE_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
PAGE_SECONDS = Histogram("vies_portal_page_seconds", "Server time per page", ["route"], buckets=PAGE_BUCKETS)
log = structlog.get_logger()
# Paths that need no session: probes, metrics and static files.
SESSIONLESS = ("/healthz", "/readyz", "/metrics", "/static/")


def content_security_policy(settings: PortalSettings) -> str:
    """No inline script or style; forms post to the portal or, for sign-in pages, to the provider."""
    issuer = urlparse(settings.oidc_issuer)
    provider = f"{issuer.scheme}://{issuer.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self' {provider}; frame-ancestors 'none'; base-uri 'self'; "
        "object-src 'none'"
    )


def create(settings: PortalSettings | None = None) -> FastAPI:
    """The portal's FastAPI app; nothing connects before start-up."""
    settings = settings or PortalSettings()
    app = FastAPI(title="VIES portal", lifespan=_lifespan(settings), docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.middleware("http")(_per_request(settings))
    _install_error_pages(app)
    _add_operator_routes(app, settings)
    app.include_router(public.router)
    app.include_router(safety_link_router)  # /s/{token}: the one-tap safety answer, no sign-in
    app.include_router(account.router)
    app.include_router(authority.router)
    for router in NETWORK_ROUTERS:  # duty officer, regional branch, head office
        app.include_router(router)
    app.include_router(centre.router)
    app.include_router(volunteer.router)
    return app


def _lifespan(settings: PortalSettings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Connect the session store, the provider and the service APIs at start-up; close them at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = create_mongo_client(settings.mongodb_uri)
        # The provider's own pool (discovery, keys); the APIs have theirs.
        http = httpx.AsyncClient(timeout=settings.api_timeout_seconds)
        apis = Apis(settings)
        sessions = SessionStore(client, settings.portal_mongodb_db, timedelta(minutes=settings.session_idle_minutes))
        try:
            await sessions.ensure_indexes()
        except PyMongoError as exc:  # the database may come later: /readyz says so meanwhile
            log.warning("session indexes not created", error=type(exc).__name__)
        app.state.portal = Portal(settings, sessions, Provider(settings, http), apis, template_environment())
        app.state.mongo = client
        try:
            yield
        finally:
            await asyncio.gather(http.aclose(), apis.aclose())
            await client.close()

    return lifespan


PageCall = Callable[[Request], Awaitable[Response]]


def _per_request(settings: PortalSettings) -> Callable[[Request, PageCall], Awaitable[Response]]:
    """The middleware of every page: its session loaded and saved, security headers, metrics and a log line."""
    csp = content_security_policy(settings)

    async def per_request(request: Request, call_next: PageCall) -> Response:
        started = time.perf_counter()
        request.state.request_id = uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request.state.request_id)
        portal: Portal = request.app.state.portal
        uses_session = not request.url.path.startswith(SESSIONLESS)
        if uses_session:
            await _open_session(request, portal)
        response = await call_next(request)
        if uses_session:
            await _close_session(request, response, portal, settings)
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        _count_page(request, response, time.perf_counter() - started)
        structlog.contextvars.unbind_contextvars("request_id")
        return response

    return per_request


async def _open_session(request: Request, portal: Portal) -> None:
    cookie = request.cookies.get(COOKIE, "")
    session = await portal.sessions.load(cookie)
    # A cookie whose session is gone: the session ended (idle too long or signed out elsewhere).
    request.state.session_ended = bool(cookie) and session is None
    request.state.session = session or portal.sessions.new()


async def _close_session(request: Request, response: Response, portal: Portal, settings: PortalSettings) -> None:
    session = request.state.session
    if getattr(request.state, "drop_session", False):
        await portal.sessions.delete(session.id)
        response.delete_cookie(COOKIE, path="/")
    else:
        await portal.sessions.save(session)
        response.set_cookie(COOKIE, session.id, httponly=True, samesite="lax", secure=settings.secure_cookies, path="/")
    response.headers.setdefault("Cache-Control", "no-store")


def _count_page(request: Request, response: Response, elapsed: float) -> None:
    route = request.scope.get("route")
    name = getattr(route, "path", "other")
    PAGES.labels(name, str(response.status_code)).inc()
    PAGE_SECONDS.labels(name).observe(elapsed)
    # The path template, never the real path: ids and queries stay out of the logs.
    log.info("page", route=name, method=request.method, status=response.status_code, ms=round(elapsed * 1000, 1))


def _install_error_pages(app: FastAPI) -> None:
    """The pages shown for a sign-in needed, an expired form, a service down or refusing, a page not found."""

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        ended = exc.expired or getattr(request.state, "session_ended", False)
        return sign_in_redirect(request, expired=ended)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        return render(
            request,
            "error.html",
            translate(request, "Form expired"),
            status=403,
            message=translate(
                request, "This form was sent without a valid security token (it may be too old). Open the page again."
            ),
        )

    @app.exception_handler(ApiUnavailable)
    async def _unavailable(request: Request, exc: ApiUnavailable) -> Response:
        return render(
            request,
            "error.html",
            translate(request, "Service unavailable"),
            status=503,
            message=error_message(request, exc),
        )

    @app.exception_handler(ApiError)
    async def _refused(request: Request, exc: ApiError) -> Response:
        return render(
            request,
            "error.html",
            translate(request, "Not possible"),
            status=exc.status if exc.status in (403, 404, 409, 429) else 400,
            message=error_message(request, exc),
            reason=exc.detail if exc.status == 409 else "",
        )

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        if not hasattr(request.state, "session"):
            return PlainTextResponse("not found", status_code=404)
        return render(
            request,
            "error.html",
            translate(request, "Page not found"),
            status=404,
            message=translate(request, "This page does not exist."),
        )


def _add_operator_routes(app: FastAPI, settings: PortalSettings) -> None:
    """Probes, metrics and the favicon (outside any session)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        portal: Portal = request.app.state.portal

        async def database() -> bool:
            try:
                await request.app.state.mongo[settings.portal_mongodb_db].command("ping")
            except PyMongoError:
                return False
            return True

        names = ["database", "provider", *SERVICES]
        results = await asyncio.gather(
            database(), portal.provider.reachable(), *(portal.apis.ready(s) for s in SERVICES)
        )
        checks = {name: "ok" if ok else "down" for name, ok in zip(names, results, strict=True)}
        return JSONResponse({"checks": checks}, status_code=200 if all(results) else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)


def main() -> None:
    """Console script ``vies-portal``."""
    settings = PortalSettings()
    configure_logging("portal", settings.log_level)
    uvicorn.run(
        create(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.drain_seconds),
    )
