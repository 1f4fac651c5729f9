"""Signing in and out, and the candidate's own pages: apply, my applications, my personal data."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal import facts, i18n
from vies_portal.apis import ApiError, ApiUnavailable, together
from vies_portal.forms import countries, words
from vies_portal.oidc import ProviderError, person_from
from vies_portal.web import (
    SignInRequired,
    _,
    api,
    checked_form,
    error_message,
    local_path,
    portal_of,
    render,
    session_of,
    state_reason,
)

router = APIRouter()
log = structlog.get_logger()
# The application's steps in order, for the timeline; rejected and withdrawn end it anywhere.
STEPS = ("submitted", "screened", "shortlisted", "interview_scheduled", "selected", "engaged")
REACHED = {
    "ineligible": 1,
    "screened": 1,
    "shortlisted": 2,
    "interview_scheduled": 3,
    "selected": 4,
    "engaged": 5,
}


# --- sign-in -------------------------------------------------------------------------------


async def _start(request: Request, next_page: str, *, register: bool) -> Response:
    session = session_of(request)
    try:
        url, pending = await portal_of(request).provider.authorization_request(register=register)
    except ProviderError as exc:
        log.warning("provider unreachable", error=str(exc))
        return render(
            request,
            "error.html",
            _(request, "Sign-in unavailable"),
            status=503,
            message=_(request, "The sign-in service is not answering right now. Try again in a moment."),
        )
    pending["next"] = local_path(next_page)
    session.pending = pending
    # The provider's own page adds ui_locales: it then speaks the person's language.
    return RedirectResponse(f"{url}&ui_locales={i18n.pick(session.lang)}", status_code=303)


@router.get("/sign-in")
async def sign_in(request: Request, next: str = "/", expired: str = "") -> Response:
    """Off to the provider's login page (code flow with PKCE); when the session ended, say so first."""
    if expired:
        return render(
            request,
            "session_expired.html",
            _(request, "Session ended"),
            status=401,
            next_page=local_path(next),
        )
    return await _start(request, next, register=False)


@router.get("/register")
async def register(request: Request, next: str = "/my/applications") -> Response:
    """Off to the provider's registration page (the address is verified by email before any application)."""
    return await _start(request, next, register=True)


@router.get("/auth/callback")
async def callback(
    request: Request,
    code: str = Query(default="", max_length=4096),
    state: str = Query(default="", max_length=200),
    error: str = Query(default="", max_length=200),
) -> Response:
    """The provider sends the person back with a code: exchange it (verifier, client secret), keep the tokens."""
    session = session_of(request)
    pending = session.pending
    session.pending = None
    if error or not pending or not code or state != pending.get("state"):
        return render(
            request,
            "error.html",
            _(request, "Sign-in failed"),
            status=400,
            message=_(request, "The sign-in could not be completed. Start again from the sign-in link."),
        )
    try:
        result = await portal_of(request).provider.exchange(code, pending)
    except ProviderError as exc:
        log.warning("code exchange failed", error=str(exc))
        return render(
            request,
            "error.html",
            _(request, "Sign-in failed"),
            status=400,
            message=_(request, "The sign-in could not be completed. Start again from the sign-in link."),
        )
    # A new session id once signed in: a session id seen before sign-in is worth nothing after.
    fresh = portal_of(request).sessions.new(session.lang)
    await portal_of(request).sessions.delete(session.id)
    fresh.tokens = result["tokens"]
    fresh.person = person_from(result["tokens"]["access_token"], result["id_claims"])
    request.state.session = fresh
    log.info("signed in", role=fresh.role)
    return RedirectResponse(local_path(pending.get("next")), status_code=303)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """Forget the session here and end it at the provider (RP-initiated logout)."""
    await checked_form(request)
    # The session ends, and its language with it: the landing page's path says it again.
    return await _end_session(request, f"/signed-out/{i18n.pick(session_of(request).lang)}")


async def _end_session(request: Request, landing: str) -> Response:
    """Forget the session here, then off to the provider's logout, which comes back to ``landing``."""
    session = session_of(request)
    id_token = str((session.tokens or {}).get("id_token", ""))
    request.state.drop_session = True
    settings = portal_of(request).settings
    after = f"{settings.public_url.rstrip('/')}{landing}"
    try:
        url = await portal_of(request).provider.logout_url(id_token, after)
    except ProviderError:
        url = landing
    return RedirectResponse(url, status_code=303)


@router.get("/signed-out")
@router.get("/signed-out/{lang}")
async def signed_out(request: Request, lang: str | None = None) -> Response:
    """Confirmation that the person is signed out, here and at the provider, in the language they used."""
    if lang is not None:
        session_of(request).lang = i18n.pick(lang)
    return render(request, "signed_out.html", _(request, "Signed out"))


def require(request: Request, *roles: str) -> dict[str, Any]:
    """The signed-in person, when they hold one of ``roles``; SignInRequired otherwise."""
    session = session_of(request)
    if not session.signed_in:
        raise SignInRequired()
    if roles and session.role not in roles:
        raise ApiError(403)
    return session.person or {}


# --- apply ---------------------------------------------------------------------------------


def _application_body(values: dict[str, str]) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "name": values.get("name", ""),
        "birth_date": values.get("birth_date") or None,
        "nationality": values.get("nationality") or None,
        "residence_country": values.get("residence_country") or None,
        "language": values.get("language") or "fr",
        "disability": values.get("disability") == "on",
        "languages": words(values.get("languages")),
        "skills": words(values.get("skills")),
        **facts.application_facts(values),
    }
    if values.get("phone"):
        candidate["phone"] = values["phone"]
    return {"candidate": candidate, "motivation": values.get("motivation", "")}


def _field_errors(request: Request, exc: ApiError, values: dict[str, str] | None = None) -> dict[str, str]:
    """API field errors keyed by form field, in the person's words."""
    return facts.field_errors(request, exc.fields, values or {})


APPLY_REQUIRED = ("name", "birth_date", "nationality", "residence_country")


def _required(request: Request, values: dict[str, str]) -> dict[str, str]:
    """Errors the portal sees before asking the API (the same messages as the API's).

    A VEC candidate must say whether they go as an employee or a retiree: unanswered, screening
    would close the application as ineligible for a missing fact.
    """
    required = APPLY_REQUIRED + (("employment",) if values.get("position_scheme") == "vec" else ())
    return facts.missing(request, values, required)


CARRIED = ("title", "scheme", "places", "duration_days", "action_days", "sponsor")
"""What the apply form carries of its position in hidden ``position_<name>`` fields: a page sent back
on an error shows the same position, a JSI / VVV-SI group's size, days and sponsor included, without
an API call (which an outage would refuse)."""


def position_carried(position_id: str, values: dict[str, str]) -> dict[str, Any]:
    """The position as the apply form carried it back (see ``CARRIED``)."""
    return {"position_id": position_id, **{name: values.get(f"position_{name}", "") for name in CARRIED}}


@router.get("/positions/{position_id}/apply")
async def apply_form(request: Request, position_id: str) -> Response:
    """The application form, filled with the person's last profile when there is one."""
    person = require(request, "candidate")
    found, profile = await together(
        api(request, "recruitment", "GET", f"/positions/{position_id}"), _profile(request, person["sub"])
    )
    values = {
        "name": profile.get("name") or person.get("name", ""),
        "birth_date": str(profile.get("birth_date") or ""),
        "nationality": profile.get("nationality", ""),
        "residence_country": profile.get("residence_country", ""),
        "phone": profile.get("phone") or "",
        "language": profile.get("language") or i18n.pick(session_of(request).lang),
        "languages": ", ".join(profile.get("languages") or []),
        "skills": ", ".join(profile.get("skills") or []),
        **facts.from_profile(profile),
    }
    return _apply_page(request, found, values, {}, "")


async def _profile(request: Request, person_id: str) -> dict[str, Any]:
    try:
        return await api(request, "recruitment", "GET", f"/persons/{person_id}")
    except ApiError:
        return {}  # no record before the first application


def _apply_page(
    request: Request,
    position: dict[str, Any],
    values: dict[str, str],
    errors: dict[str, str],
    problem: str,
    **extra: Any,
) -> Response:
    lang = i18n.pick(session_of(request).lang)
    return render(
        request,
        "apply.html",
        _(request, "Apply") + " — " + str(position.get("title", "")),
        status=extra.pop("status", 200),
        position=position,
        values=values,
        errors=errors,
        problem=problem,
        countries=countries(lang),
        permits=facts.RESIDENCE_PERMITS,
        employments=facts.EMPLOYMENTS,
        **extra,
    )


@router.post("/positions/{position_id}/apply")
async def apply(request: Request, position_id: str) -> Response:
    """Send the application; on any error the form comes back with what was typed."""
    require(request, "candidate")
    values = await checked_form(request)
    position = position_carried(position_id, values)
    errors = _required(request, values)
    if errors:
        message = _(request, "Some fields are not valid: see the messages beside them.")
        return _apply_page(request, position, values, errors, message, status=422)
    try:
        created = await api(
            request, "recruitment", "POST", f"/positions/{position_id}/applications", json=_application_body(values)
        )
    except ApiUnavailable as exc:
        return _apply_page(request, position, values, {}, error_message(request, exc), status=503)
    except ApiError as exc:
        return _apply_page(
            request,
            position,
            values,
            _field_errors(request, exc, values),
            error_message(request, exc),
            status=exc.status,
            reason=state_reason(exc),
        )
    return RedirectResponse(f"/my/applications/{created['application_id']}?new=1", status_code=303)


# --- my applications -----------------------------------------------------------------------


@router.get("/my/applications")
async def my_applications(request: Request) -> Response:
    """The candidate's applications and where each stands."""
    require(request, "candidate")
    found = await api(request, "recruitment", "GET", "/applications", params={"limit": 100})
    items = found.get("items", [])
    ids = sorted({str(a["position_id"]) for a in items})
    # The positions' titles, fetched together rather than one after another.
    positions = await together(*(_position_or_none(request, pid) for pid in ids))
    titles = {pid: str(p.get("title", pid)) for pid, p in zip(ids, positions, strict=True)}
    return render(request, "my_applications.html", _(request, "My applications"), items=items, titles=titles)


async def _position_or_none(request: Request, position_id: str) -> dict[str, Any]:
    try:
        return await api(request, "recruitment", "GET", f"/positions/{position_id}")
    except ApiError:
        return {}


def timeline(application: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps of an application: done, current or to come; a rejection or withdrawal ends it."""
    status = str(application.get("status", ""))
    reached = REACHED.get(status, 0)
    if status in ("rejected", "withdrawn"):
        reached = 0 if not application.get("eligible") else 1
        if application.get("interview_at"):
            reached = 3
    steps = []
    for index, step in enumerate(STEPS):
        steps.append({"step": step, "done": index <= reached, "current": index == reached})
    if status == "ineligible":
        steps = steps[:2]
    if status in ("rejected", "withdrawn"):
        steps = [s for s in steps if s["done"]] + [{"step": status, "done": True, "current": True}]
        for s in steps[:-1]:
            s["current"] = False
    return steps


@router.get("/my/applications/{application_id}")
async def my_application(request: Request, application_id: str, new: str = "") -> Response:
    """One application with its status timeline (screening reasons, interview date, rejection reason)."""
    require(request, "candidate")
    found = await api(request, "recruitment", "GET", f"/applications/{application_id}")
    position = await api(request, "recruitment", "GET", f"/positions/{found['position_id']}")
    return render(
        request,
        "my_application.html",
        _(request, "My application") + " — " + str(position.get("title", "")),
        application=found,
        position=position,
        steps=timeline(found),
        new=bool(new),
    )


@router.get("/my/applications/{application_id}/withdraw")
async def withdraw_confirm(request: Request, application_id: str) -> Response:
    """Ask before withdrawing: it cannot be undone."""
    require(request, "candidate")
    found = await api(request, "recruitment", "GET", f"/applications/{application_id}")
    return render(request, "withdraw.html", _(request, "Withdraw my application"), application=found)


@router.post("/my/applications/{application_id}/withdraw")
async def withdraw(request: Request, application_id: str) -> Response:
    """Withdraw (after the confirmation page)."""
    require(request, "candidate")
    await checked_form(request)
    await api(request, "recruitment", "POST", f"/applications/{application_id}/withdraw")
    return RedirectResponse(f"/my/applications/{application_id}", status_code=303)


# --- my personal data ----------------------------------------------------------------------


@router.get("/my/data")
async def my_data(request: Request, saved: str = "") -> Response:
    """What the platform holds about the candidate, a form to correct the contact data, and erasure."""
    person = require(request, "candidate", "volunteer")
    profile = await _profile(request, person["sub"])
    # An erased record keeps only the date of its erasure: nothing personal to show or correct.
    erased_at = profile.get("erased_at")
    held = {} if erased_at else profile
    values = {k: str(held.get(k) or "") for k in ("name", "phone", "language")}
    return render(
        request,
        "my_data.html",
        _(request, "My personal data"),
        profile=held,
        erased_at=erased_at,
        values=values,
        errors={},
        saved=bool(saved),
    )


@router.post("/my/data")
async def correct_data(request: Request) -> Response:
    """Correct name, phone or language (the email is the account's own, changed at the provider)."""
    person = require(request, "candidate", "volunteer")
    values = await checked_form(request)
    body = {k: values.get(k) or None for k in ("name", "phone", "language")}
    try:
        await api(request, "recruitment", "PATCH", f"/persons/{person['sub']}", json=body)
    except (ApiError, ApiUnavailable) as exc:
        profile = await _profile(request, person["sub"]) if isinstance(exc, ApiError) else {}
        fields = _field_errors(request, exc) if isinstance(exc, ApiError) else {}
        return render(
            request,
            "my_data.html",
            _(request, "My personal data"),
            status=exc.status if isinstance(exc, ApiError) else 503,
            profile=profile,
            values=values,
            errors=fields,
            problem=error_message(request, exc),
            saved=False,
        )
    return RedirectResponse("/my/data?saved=1", status_code=303)


# --- erasure -------------------------------------------------------------------------------


@router.get("/my/data/erasure")
async def erasure_confirm(request: Request) -> Response:
    """Ask before erasing: what happens, what is kept, and that it cannot be undone."""
    require(request, "candidate")
    return _erasure_page(request, "", "")


def _erasure_page(request: Request, problem: str, reason: str, status: int = 200) -> Response:
    return render(
        request,
        "my_data_erasure.html",
        _(request, "Erase my personal data"),
        status=status,
        errors={},
        problem=problem,
        reason=reason,
    )


@router.post("/my/data/erasure")
async def erase_my_data(request: Request) -> Response:
    """Erase the candidate's data through recruitment, then end the session: there is no one left to serve."""
    person = require(request, "candidate")
    await checked_form(request)
    try:
        await api(request, "recruitment", "POST", f"/persons/{person['sub']}/erasure-request")
    except ApiUnavailable as exc:
        return _erasure_page(request, error_message(request, exc), "", status=503)
    except ApiError as exc:
        if exc.status == 404:
            message = _(request, "We hold no personal data about you: there is nothing to erase.")
            return _erasure_page(request, message, "", status=404)
        if exc.status == 409:
            message = _(request, "Your data is kept while you are engaged as a volunteer: ask the agency's staff.")
            return _erasure_page(request, message, state_reason(exc), status=409)
        return _erasure_page(request, error_message(request, exc), "", status=exc.status)
    log.info("personal data erased at the person's request")
    # The session ends, and its language with it: the landing page's path says it again.
    return await _end_session(request, f"/my/data/erased/{i18n.pick(session_of(request).lang)}")


@router.get("/my/data/erased/{lang}")
async def data_erased(request: Request, lang: str) -> Response:
    """After the erasure: what was done, and that the person is signed out (no sign-in needed: the session ended)."""
    session_of(request).lang = i18n.pick(lang)
    return render(request, "data_erased.html", _(request, "Your personal data has been erased"))
