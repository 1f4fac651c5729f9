"""The authority officer's pages: dashboard and journey, partner matching, partnerships, positions, pipeline."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal import i18n
from vies_portal.account import require
from vies_portal.apis import ApiError, ApiUnavailable, together
from vies_portal.forms import SCHEMES, countries, words
from vies_portal.web import _, api, checked_form, error_message, render, session_of, state_reason

router = APIRouter(prefix="/authority")
THEMES = (
    "education",
    "health",
    "agriculture_food",
    "water_sanitation",
    "environment_climate",
    "culture_heritage",
    "youth_sport",
    "local_governance",
    "economic_development",
    "digital",
    "gender_equality",
    "other",
)
# Pipeline steps that cannot be undone: a confirmation page comes first.
IRREVERSIBLE = ("select", "reject", "engage")
ACTIONS = ("shortlist", "interview", "select", "reject", "engage")


def _officer(request: Request) -> dict[str, Any]:
    person = require(request, "authority")
    if not person.get("authority_id"):
        raise ApiError(403)
    return person


async def _or_empty(request: Request, service: str, path: str, **params: Any) -> dict[str, Any]:
    """A list for the dashboard; a refusal shows as an empty list (the page still opens)."""
    try:
        return await api(request, service, "GET", path, params=params)
    except ApiError:
        return {"items": []}


async def _partnerships(request: Request, authority_id: str) -> list[dict[str, Any]]:
    """The authority's partnerships with their partners' names (fetched together)."""
    found = await _or_empty(request, "partners", "/partnerships", authority_id=authority_id, limit=100)
    links: list[dict[str, Any]] = found.get("items", [])
    partner_ids = sorted({str(p["partner_id"]) for p in links})
    partners = await together(*(_partner(request, pid) for pid in partner_ids))
    names = {pid: str(p.get("name") or pid) for pid, p in zip(partner_ids, partners, strict=True)}
    for link in links:
        link["partner_name"] = names.get(str(link["partner_id"]), link["partner_id"])
    return links


@router.get("")
async def dashboard(request: Request) -> Response:
    """The journey and its next step, partnerships, positions and the volunteers' missions, fetched together."""
    person = _officer(request)
    authority_id = person["authority_id"]
    # Typed per call (gather keeps each result's type), and still all at once.
    journey, links, positions, missions = await asyncio.gather(
        api(request, "partners", "GET", f"/authorities/{authority_id}/journey"),
        _partnerships(request, authority_id),
        _or_empty(request, "recruitment", "/positions", authority_id=authority_id, limit=100),
        _or_empty(request, "missions", "/missions", authority_id=authority_id, limit=100),
    )
    return render(
        request,
        "authority_dashboard.html",
        _(request, "My authority"),
        journey=journey,
        partnerships=links,
        positions=positions.get("items", []),
        missions=missions.get("items", []),
    )


# --- partners ------------------------------------------------------------------------------


@router.get("/matching")
async def matching_form(request: Request) -> Response:
    """What the authority looks for: countries, themes, languages, scheme, how many volunteers."""
    _officer(request)
    return _matching_page(request, {}, {}, "")


def _matching_page(
    request: Request, values: dict[str, str], errors: dict[str, str], problem: str, status: int = 200
) -> Response:
    return render(
        request,
        "authority_matching.html",
        _(request, "Find a partner"),
        status=status,
        values=values,
        errors=errors,
        problem=problem,
        themes=THEMES,
        schemes=SCHEMES,
        countries=countries(i18n.pick(session_of(request).lang)),
    )


@router.post("/matching")
async def request_match(request: Request) -> Response:
    """Ask for ranked partners; the answer is its own page (it can be shared and reloaded)."""
    person = _officer(request)
    values = await checked_form(request)
    form = await request.form()
    body: dict[str, Any] = {
        "authority_id": person["authority_id"],
        "countries": [values["country"]] if values.get("country") else [],
        "themes": [t for t in form.getlist("themes") if isinstance(t, str) and t in THEMES],
        "languages": [w.lower() for w in words(values.get("languages"))],
        "volunteers": values.get("volunteers") or 1,
    }
    if values.get("scheme"):
        body["scheme"] = values["scheme"]
    try:
        found = await api(request, "partners", "POST", "/match-requests", json=body)
    except (ApiError, ApiUnavailable) as exc:
        fields = exc.fields if isinstance(exc, ApiError) else {}
        return _matching_page(request, values, fields, error_message(request, exc), status=422 if fields else 503)
    return RedirectResponse(f"/authority/matching/{found['request_id']}", status_code=303)


@router.get("/matching/{request_id}")
async def match_results(request: Request, request_id: str) -> Response:
    """The ranked partners with their score and reasons, and the partner records, fetched together."""
    _officer(request)
    found = await api(request, "partners", "GET", f"/match-requests/{request_id}")
    suggestions = found.get("suggestions", [])
    partners = await together(*(_partner(request, s["partner_id"]) for s in suggestions))
    rows = [{**s, "partner": p} for s, p in zip(suggestions, partners, strict=True)]
    return render(
        request, "authority_matches.html", _(request, "Suggested partners"), rows=rows, match=found, themes=THEMES
    )


async def _partner(request: Request, partner_id: str) -> dict[str, Any]:
    try:
        return await api(request, "partners", "GET", f"/partners/{partner_id}")
    except ApiError:
        return {"partner_id": partner_id}


@router.get("/partners/{partner_id}")
async def partner_page(request: Request, partner_id: str) -> Response:
    """One partner: where, what themes, languages, hosting capacity."""
    _officer(request)
    found = await api(request, "partners", "GET", f"/partners/{partner_id}")
    return render(request, "authority_partner.html", str(found.get("name", partner_id)), partner=found, themes=THEMES)


@router.post("/partnerships")
async def establish_partnership(request: Request) -> Response:
    """Establish a partnership with a suggested partner."""
    person = _officer(request)
    values = await checked_form(request)
    form = await request.form()
    body = {
        "authority_id": person["authority_id"],
        "partner_id": values.get("partner_id", ""),
        "themes": [t for t in form.getlist("themes") if isinstance(t, str) and t in THEMES] or ["other"],
        "starts_on": values.get("starts_on") or None,
    }
    await api(request, "partners", "POST", "/partnerships", json=body)
    return RedirectResponse("/authority?partnership=1", status_code=303)


@router.get("/partnerships/{partnership_id}/end")
async def end_partnership_confirm(request: Request, partnership_id: str) -> Response:
    """Ask before ending a partnership."""
    _officer(request)
    found = await api(request, "partners", "GET", f"/partnerships/{partnership_id}")
    return render(
        request,
        "authority_confirm.html",
        _(request, "End the partnership"),
        action=f"/authority/partnerships/{partnership_id}/end",
        question=_(
            request, "End this partnership? Its positions stay as they are, but no new one can be opened in it."
        ),
        needs_reason=True,
        record=found,
    )


@router.post("/partnerships/{partnership_id}/end")
async def end_partnership(request: Request, partnership_id: str) -> Response:
    """End a partnership with a reason."""
    _officer(request)
    values = await checked_form(request)
    await api(
        request, "partners", "POST", f"/partnerships/{partnership_id}/end", json={"reason": values.get("reason", "")}
    )
    return RedirectResponse("/authority", status_code=303)


# --- positions -----------------------------------------------------------------------------


def _draft_fields(values: dict[str, str]) -> dict[str, Any]:
    """What the form says of a draft, as the recruitment API takes it (new or corrected)."""
    return {
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "starts_on": values.get("starts_on") or None,
        "duration_months": values.get("duration_months") or None,
        "places": values.get("places") or None,
        "languages": [w.lower() for w in words(values.get("languages"))],
        "skills": words(values.get("skills")),
    }


def _position_body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "partnership_id": values.get("partnership_id", ""),
        "scheme": values.get("scheme") or None,
        **_draft_fields(values),
    }
    if values.get("sending_organisation_id"):
        body["sending_organisation_id"] = values["sending_organisation_id"]
    return body


def _draft_values(position: dict[str, Any]) -> dict[str, str]:
    """A draft's fields as the form shows them."""
    return {
        "title": str(position.get("title") or ""),
        "description": str(position.get("description") or ""),
        "starts_on": str(position.get("starts_on") or ""),
        "duration_months": str(position.get("duration_months") or ""),
        "places": str(position.get("places") or ""),
        "languages": ", ".join(position.get("languages") or []),
        "skills": ", ".join(position.get("skills") or []),
        "sending_organisation_id": str(position.get("sending_organisation_id") or ""),
    }


async def _position_form(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    problem: str,
    status: int = 200,
    *,
    draft: dict[str, Any] | None = None,
) -> Response:
    """The position form: a new draft, or ``draft`` being corrected (its partnership and scheme stay)."""
    person = _officer(request)
    partnerships = [] if draft else await _partnerships(request, person["authority_id"])
    return render(
        request,
        "authority_position_form.html",
        _(request, "Edit the draft") if draft else _(request, "New position"),
        status=status,
        values=values,
        errors=errors,
        problem=problem,
        partnerships=[p for p in partnerships if p.get("status", "active") == "active"],
        schemes=SCHEMES,
        draft=draft,
    )


async def _refused_form(
    request: Request, values: dict[str, str], exc: ApiError | ApiUnavailable, *, draft: dict[str, Any] | None = None
) -> Response:
    """The form again with what was typed and why the API refused it, each field's error beside it."""
    if isinstance(exc, ApiUnavailable):
        return await _position_form(request, values, {}, error_message(request, exc), status=503, draft=draft)
    errors = {name.split(".")[0]: _(request, "This value is not valid.") for name in exc.fields}
    problem = error_message(request, exc) + " " + state_reason(exc)
    return await _position_form(request, values, errors, problem, status=exc.status, draft=draft)


@router.get("/positions/new")
async def new_position(request: Request) -> Response:
    """The form of a new draft position, in one of the authority's active partnerships."""
    return await _position_form(request, {}, {}, "")


@router.post("/positions/new")
async def create_position(request: Request) -> Response:
    """Create the draft; the form keeps its input on any error."""
    _officer(request)
    values = await checked_form(request)
    try:
        created = await api(request, "recruitment", "POST", "/positions", json=_position_body(values))
    except (ApiError, ApiUnavailable) as exc:
        return await _refused_form(request, values, exc)
    return RedirectResponse(f"/authority/positions/{created['position_id']}", status_code=303)


@router.get("/positions/{position_id}/edit")
async def edit_position(request: Request, position_id: str) -> Response:
    """The draft's form, filled in; a position already published goes back to its page."""
    _officer(request)
    position = await api(request, "recruitment", "GET", f"/positions/{position_id}")
    if position.get("status") != "draft":
        return RedirectResponse(f"/authority/positions/{position_id}", status_code=303)
    return await _position_form(request, _draft_values(position), {}, "", draft=position)


@router.post("/positions/{position_id}/edit")
async def save_position(request: Request, position_id: str) -> Response:
    """Save the corrected draft (PATCH); the form keeps its input on any error."""
    _officer(request)
    values = await checked_form(request)
    # An emptied sending organisation clears it (null), as the API's PATCH reads it.
    changes = {**_draft_fields(values), "sending_organisation_id": values.get("sending_organisation_id") or None}
    try:
        await api(request, "recruitment", "PATCH", f"/positions/{position_id}", json=changes)
    except (ApiError, ApiUnavailable) as exc:
        position = await api(request, "recruitment", "GET", f"/positions/{position_id}")
        return await _refused_form(request, values, exc, draft=position)
    return RedirectResponse(f"/authority/positions/{position_id}", status_code=303)


@router.get("/positions/{position_id}")
async def position_page(request: Request, position_id: str, problem: str = "") -> Response:
    """A position, its state, and its applications ranked (eligible first, best match), fetched together."""
    _officer(request)
    position, ranked = await together(
        api(request, "recruitment", "GET", f"/positions/{position_id}"),
        _or_empty(request, "recruitment", f"/positions/{position_id}/applications", limit=100),
    )
    return render(
        request,
        "authority_position.html",
        str(position.get("title", position_id)),
        position=position,
        applications=ranked.get("items", []),
        reasons=[],
    )


@router.post("/positions/{position_id}/publish")
async def publish_position(request: Request, position_id: str) -> Response:
    """Open the draft for applications; when a scheme rule blocks it, the page explains each reason."""
    _officer(request)
    await checked_form(request)
    try:
        await api(request, "recruitment", "POST", f"/positions/{position_id}/publish")
    except ApiError as exc:
        if exc.status != 409:
            raise
        position = await api(request, "recruitment", "GET", f"/positions/{position_id}")
        reasons = (exc.details or {}).get("reasons", []) if isinstance(exc.details, dict) else []
        return render(
            request,
            "authority_position.html",
            str(position.get("title", position_id)),
            status=409,
            position=position,
            applications=[],
            reasons=reasons,
            problem=error_message(request, exc),
            reason=exc.detail,
        )
    return RedirectResponse(f"/authority/positions/{position_id}", status_code=303)


@router.post("/positions/{position_id}/close")
async def close_position(request: Request, position_id: str) -> Response:
    """Close a position with a reason (its open applications are rejected)."""
    _officer(request)
    values = await checked_form(request)
    await api(
        request, "recruitment", "POST", f"/positions/{position_id}/close", json={"reason": values.get("reason", "")}
    )
    return RedirectResponse(f"/authority/positions/{position_id}", status_code=303)


# --- pipeline ------------------------------------------------------------------------------


def _paris_time(value: str) -> str | None:
    """A ``datetime-local`` typed by an officer in France, as an ISO time with the Paris offset."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=i18n.PARIS)).isoformat()


@router.get("/applications/{application_id}/{action}")
async def confirm_step(request: Request, application_id: str, action: str) -> Response:
    """The confirmation (and the date or reason it needs) before a step of the pipeline."""
    _officer(request)
    if action not in ACTIONS:
        raise ApiError(404)
    application = await api(request, "recruitment", "GET", f"/applications/{application_id}")
    return render(
        request,
        "authority_step.html",
        _(request, "Confirm"),
        application=application,
        action=action,
        irreversible=action in IRREVERSIBLE,
        values={},
        errors={},
    )


@router.post("/applications/{application_id}/{action}")
async def take_step(request: Request, application_id: str, action: str) -> Response:
    """Shortlist, schedule the interview, select, reject with a reason, engage with contract dates."""
    _officer(request)
    if action not in ACTIONS:
        raise ApiError(404)
    values = await checked_form(request)
    body: dict[str, Any] | None = None
    if action == "interview":
        body = {"at": _paris_time(values.get("at", ""))}
    elif action == "reject":
        body = {"reason": values.get("reason", "")}
    elif action == "engage":
        body = {"starts_on": values.get("starts_on") or None, "ends_on": values.get("ends_on") or None}
    try:
        done = await api(request, "recruitment", "POST", f"/applications/{application_id}/{action}", json=body)
    except ApiError as exc:
        application = await api(request, "recruitment", "GET", f"/applications/{application_id}")
        return render(
            request,
            "authority_step.html",
            _(request, "Confirm"),
            status=exc.status,
            application=application,
            action=action,
            irreversible=action in IRREVERSIBLE,
            values=values,
            errors={name: _(request, "This value is not valid.") for name in exc.fields},
            problem=error_message(request, exc),
            reason=state_reason(exc),
        )
    position_id = done.get("position_id") or values.get("position_id", "")
    return RedirectResponse(f"/authority/positions/{position_id}", status_code=303)
