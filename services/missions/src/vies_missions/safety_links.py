"""The one-tap safety answer link: what its page shows and the answer it records, without signing in.

Notifications puts ``<portal>/s/<token>`` in each volunteer's security-alert and reminder
messages; the token (``vies_shared.safety_link``) is a MAC over the alert id and the mission
id with keys only missions and notifications hold. These two public endpoints are all a
token can do:

- ``GET /safety-links/{token}``: the alert as the page needs it (country, level, message,
  deadline, whether the check is open, the answer already given and when, until when the
  link works); no name, phone or id of a person. Reading records nothing (mail scanners
  open links).
- ``POST /safety-links/{token}/answer`` {status: safe | need_help}: the same effects as the
  volunteer's signed-in answer (a later answer replaces the earlier one with its time;
  need_help opens a critical incident), recorded ``via: link``.

An unknown, tampered or foreign token is 404; past the link's life (``VIES_SAFETY_LINK_VALID_DAYS``
after the check closed) 410. Both endpoints are limited per client address
(``VIES_SAFETY_LINK_PER_MINUTE``); a bearer token is not needed, and a bad one is still a 401.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vies_missions import store
from vies_missions.api import Body
from vies_missions.domain.answer_link import UnknownLink, check_link_usable, link_expires_at
from vies_missions.domain.safety_check import SafetyEntry, SecurityAlert, entry_id
from vies_missions.settings import MissionsSettings
from vies_missions.use_cases import record_safety_answer
from vies_missions.views import SafetyLinkView, show
from vies_shared import safety_link
from vies_shared.ratelimit import RateLimiter, TooManyRequests, client_ip
from vies_shared.service import Runtime
from vies_shared.service import RuntimeDep as ServiceRuntimeDep
from vies_shared.storage import Collections, UnitOfWork, transactional
from vies_shared.web import current_principal, error_body, trusted_networks

router = APIRouter(tags=["safety links"])
log = structlog.get_logger()
Document = dict[str, Any]
RuntimeDep = ServiceRuntimeDep[MissionsSettings]  # settings typed, no downcast
# Any string: whatever is not a token of ours is the same 404 (never a 422 telling shapes apart).
LinkToken = Annotated[str, Path(min_length=1, max_length=400)]
_bearer = HTTPBearer(auto_error=False)


class LinkAnswer(Body):
    status: Literal["safe", "need_help"]


async def no_bad_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Nobody needs a bearer token here, but one that is sent must be valid (401 otherwise), as everywhere."""
    if credentials is not None or request.headers.get("authorization"):
        await current_principal(request, credentials)


def check_settings(settings: MissionsSettings) -> None:
    """At start-up of a process serving the API: refuse a published or short key (``InsecureSettings``); say so
    when links are off."""
    if settings.runs_api and not safety_link.check_keys(settings.safety_link_keys, settings.env):
        log.warning("safety answer links are off: VIES_SAFETY_LINK_KEYS is not set")


def _limited(request: Request, runtime: Runtime[MissionsSettings], name: str) -> JSONResponse | None:
    """A 429 with ``Retry-After`` once this client address used its calls of the minute on ``name``."""
    limiters: dict[str, RateLimiter] | None = getattr(request.app.state, "safety_link_limiters", None)
    if limiters is None:
        limiters = request.app.state.safety_link_limiters = {}
    limiter = limiters.get(name)
    if limiter is None:
        per_minute = runtime.settings.safety_link_per_minute
        limiter = limiters[name] = RateLimiter(per_minute, what="safety link requests")
    try:
        limiter.take(client_ip(request, trusted_networks(runtime.settings.trusted_request_id_from)))
    except TooManyRequests as exc:
        response = error_body(429, exc.code, exc.message, details=exc.details)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return None


async def _resolve(
    collections: Collections, settings: MissionsSettings, token: str
) -> tuple[SecurityAlert, SafetyEntry]:
    """The alert and the mission's entry a token stands for, or ``UnknownLink``.

    ``collections``: the runtime's reads for the page, the unit of work when answering.
    """
    link = safety_link.read(safety_link.keys_from(settings.safety_link_keys, settings.env), token)
    if link is None:
        raise UnknownLink()
    alert_doc = await collections[store.ALERTS].find_one({"_id": link.alert_id})
    entry = await collections[store.ENTRIES].find_one({"_id": entry_id(link.alert_id, link.mission_id)})
    if alert_doc is None or entry is None:
        raise UnknownLink()  # a mission this check does not ask, or an alert of another platform
    return SecurityAlert.from_doc(alert_doc), SafetyEntry.from_doc(entry)


def _view(alert: SecurityAlert, entry: SafetyEntry, valid_for: timedelta) -> Document:
    return show(SafetyLinkView.of(alert, entry, link_expires_at(alert, valid_for)))


@router.get(
    "/safety-links/{token}",
    response_model=SafetyLinkView,
    dependencies=[Depends(no_bad_token)],
    responses={404: {"description": "unknown link"}, 410: {"description": "expired link"}, 429: {}},
)
async def safety_link_page(token: LinkToken, request: Request, runtime: RuntimeDep) -> Any:
    """What the answer page shows: the alert and the answer already given; records nothing."""
    if (refused := _limited(request, runtime, "read")) is not None:
        return refused
    valid_for = timedelta(days=runtime.settings.safety_link_valid_days)
    alert, entry = await _resolve(runtime.reads, runtime.settings, token)
    check_link_usable(alert, runtime.now(), valid_for)
    return _view(alert, entry, valid_for)


@router.post(
    "/safety-links/{token}/answer",
    response_model=SafetyLinkView,
    dependencies=[Depends(no_bad_token)],
    responses={404: {"description": "unknown link"}, 410: {"description": "expired link"}, 429: {}},
)
async def answer_by_link(token: LinkToken, body: LinkAnswer, request: Request, runtime: RuntimeDep) -> Any:
    """Record the volunteer's answer (safe | need_help) as if they had signed in; a new one replaces the last."""
    if (refused := _limited(request, runtime, "answer")) is not None:
        return refused
    return await _answer(runtime, token, body.status)


@transactional
async def _answer(uow: UnitOfWork[MissionsSettings], token: str, status: str) -> Document:
    """The answer of the volunteer a token stands for, recorded in one transaction."""
    valid_for = timedelta(days=uow.settings.safety_link_valid_days)
    alert, entry = await _resolve(uow, uow.settings, token)
    check_link_usable(alert, uow.now(), valid_for)
    mission = await uow.get(store.MISSIONS, entry.mission_id, "mission")
    await record_safety_answer(uow, alert, mission, entry, status, by_role="volunteer", via="link")
    return _view(alert, entry, valid_for)
