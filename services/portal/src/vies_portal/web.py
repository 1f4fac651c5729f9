"""What every page shares: the session, the language, CSRF, rendering, API errors in the person's words."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from vies_portal import i18n
from vies_portal.apis import ApiError, Apis, ApiUnavailable
from vies_portal.forms import country_name, country_options
from vies_portal.oidc import Provider, ProviderError
from vies_portal.sessions import Session, SessionStore
from vies_portal.settings import PortalSettings

Document = dict[str, Any]
log = structlog.get_logger()


@dataclass
class Portal:
    """The portal's collaborators, built once by the app factory."""

    settings: PortalSettings
    sessions: SessionStore
    provider: Provider
    apis: Apis
    templates: Environment
    # The portal's clock for what its pages compute (today, deadlines); tests may set it. Sessions keep
    # wall time: the database's TTL monitor ends them by its own clock.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        """The current UTC time as the portal sees it."""
        return self.clock()


def template_environment() -> Environment:
    """Jinja2 with autoescaping and the i18n extension (``_`` and ``{% trans %}`` come per request)."""
    env = Environment(
        loader=PackageLoader("vies_portal", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        enable_async=False,
    )
    env.globals["quote"] = quote
    env.globals["country_options"] = country_options
    return env


def now(request: Request) -> datetime:
    """The current UTC time as the portal sees it (its settable clock)."""
    return portal_of(request).now()


def portal_of(request: Request) -> Portal:
    """The portal bound to the app."""
    portal: Portal = request.app.state.portal
    return portal


def session_of(request: Request) -> Session:
    """The browser's session (loaded or created by the session middleware)."""
    session: Session = request.state.session
    return session


class SignInRequired(Exception):
    """The page needs a signed-in person (or their session ended): off to the provider."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign-in required")
        self.expired = expired


class CsrfRefused(Exception):
    """A form came without this session's CSRF token."""


class Unavailable(Exception):
    """An API is down: the page says so (status 503)."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


def render(request: Request, template: str, title: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A page in the person's language, with the layout's context (session, CSRF token, title)."""
    portal = portal_of(request)
    session = session_of(request)
    lang = i18n.pick(session.lang)
    translations = i18n.translations(lang)
    context = {
        "request": request,
        "session": session,
        "person": session.person or {},
        "csrf_token": session.csrf,
        "lang": lang,
        "other_lang": "en" if lang == "fr" else "fr",
        "title": title,
        "path": request.url.path,
        "here": _here(request),
        "gettext": translations.gettext,
        "ngettext": translations.ngettext,
        "_": translations.gettext,
        "when": lambda value, country=None: i18n.when(value, lang, country),
        "day": lambda value: i18n.day(value, lang),
        "text_of": lambda value: text_in(value, lang),
        "country_name": lambda code: country_name(code, lang),
        **values,
    }
    html = portal.templates.get_template(template).render(context)
    return HTMLResponse(html, status_code=status)


def text_in(value: Any, lang: str) -> str:
    """A text the APIs give in both languages (``{"fr": ..., "en": ...}``) in the reader's; plain text as it is."""
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("en") or value.get("fr") or "")
    return "" if value is None else str(value)


def _(request: Request, message: str) -> str:
    """Translate a message in Python code for the person's language."""
    return i18n.gettext_for(session_of(request).lang)(message)


def _here(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def local_path(target: str | None, default: str = "/") -> str:
    """A redirect target inside the portal only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form once its CSRF token matches the session's; CsrfRefused otherwise."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    sent = values.pop("csrf_token", "")
    if not sent or not secrets.compare_digest(sent, session_of(request).csrf):
        raise CsrfRefused()
    return values


async def access_token(request: Request) -> str:
    """The person's access token, refreshed when about to expire; SignInRequired when the session ended.

    A page's API calls go out together: the first one refreshes the tokens, the others wait for it
    and use the new ones (one refresh per page, not one per call).
    """
    session = session_of(request)
    token = _fresh_token(session)
    if token:
        return token
    lock: asyncio.Lock | None = getattr(request.state, "token_lock", None)
    if lock is None:
        lock = request.state.token_lock = asyncio.Lock()
    async with lock:
        token = _fresh_token(session)
        if token:
            return token
        try:
            session.tokens = await portal_of(request).provider.refresh(session.tokens or {})
        except ProviderError as exc:
            session.tokens = session.person = None
            raise SignInRequired(expired=True) from exc
        log.info("tokens refreshed")
        return str(session.tokens["access_token"])


def _fresh_token(session: Session) -> str:
    """The session's access token while it has more than 30 s to live; empty when it needs a refresh."""
    if not session.signed_in or session.tokens is None:
        raise SignInRequired()
    if session.tokens["expires_at"] - 30 > time.time():
        return str(session.tokens["access_token"])
    return ""


def forwarded_for(request: Request) -> str:
    """The ``X-Forwarded-For`` chain to send on: what reached the portal plus its own peer.

    Behind the Ingress the peer is the controller, which appended the visitor's address; run
    locally the peer is the visitor. The API keeps the last hop it does not trust
    (``VIES_TRUSTED_REQUEST_ID_FROM``, which includes the portal's pods), so a visitor cannot
    pass for another by sending the header.
    """
    peer = request.client.host if request.client else ""
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    return ", ".join([*hops, peer] if peer else hops)


async def api(
    request: Request,
    service: str,
    method: str,
    path: str,
    *,
    signed: bool = True,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
) -> Document:
    """One API call with the person's token (``signed=False``: without one, for public pages when nobody signed in).

    A 401 means the provider's session ended: the person signs in again.
    """
    token: str | None = None
    if signed or session_of(request).signed_in:
        token = await access_token(request)
    try:
        return await portal_of(request).apis.call(
            service,
            method,
            path,
            token=token,
            json=json,
            params=params,
            request_id=request.state.request_id,
            forwarded_for=forwarded_for(request),
        )
    except ApiError as exc:
        if exc.status == 401 and token:
            session = session_of(request)
            session.tokens = session.person = None
            raise SignInRequired(expired=True) from exc
        raise


def error_message(request: Request, error: ApiError | ApiUnavailable) -> str:
    """What an API's refusal means, in the person's language."""
    if isinstance(error, ApiUnavailable):
        return _(
            request, "A part of the platform is not answering right now. What you typed is kept: try again in a moment."
        )
    messages = {
        401: _(request, "Please sign in."),
        403: _(request, "You cannot see or do this with your account."),
        404: _(request, "This record does not exist, or no longer exists."),
        409: _(request, "This is not possible in its current state."),
        422: _(request, "Some fields are not valid: see the messages beside them."),
        429: _(request, "Too many requests from your connection: wait a minute and try again."),
    }
    return messages.get(error.status, _(request, "The request could not be completed."))


def state_reason(error: ApiError) -> str:
    """The API's own sentence about the state that forbids it (409), shown under the translated message."""
    return error.detail if error.status == 409 else ""


def sign_in_redirect(request: Request, expired: bool = False) -> RedirectResponse:
    """Off to the sign-in start, coming back to this page afterwards."""
    target = "/sign-in?next=" + quote(local_path(_here(request)) if request.method == "GET" else "/", safe="")
    if expired:
        target += "&expired=1"
    return RedirectResponse(target, status_code=303)
