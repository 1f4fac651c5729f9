"""Pages anyone can read: what VIES is, the schemes, the eligibility pre-check, published positions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal import facts, i18n
from vies_portal.apis import ApiError, ApiUnavailable
from vies_portal.forms import SCHEMES, countries, parse_date
from vies_portal.web import _, api, checked_form, error_message, local_path, render, session_of

router = APIRouter()
PAGE_SIZE = 20


@router.get("/")
async def home(request: Request) -> Response:
    """What VIES is, and where to start."""
    return render(request, "home.html", _(request, "International volunteering for local authorities"))


@router.get("/language/{lang}")
async def switch_language(request: Request, lang: str, next: str = "/") -> Response:
    """Read the portal in another language; back to the same page."""
    session_of(request).lang = i18n.pick(lang)
    return RedirectResponse(local_path(next), status_code=303)


@router.get("/schemes")
async def schemes(request: Request) -> Response:
    """The five schemes, their rules and legal sources (from the recruitment API)."""
    found = await api(request, "recruitment", "GET", "/schemes", signed=False)
    return render(request, "schemes.html", _(request, "Volunteering schemes"), schemes=found.get("schemes", []))


# What the pre-check needs before asking the API (the API would refuse the same, in technical words).
CHECK_REQUIRED = ("birth_date", "nationality", "residence_country", "destination_country", "starts_on")


@router.get("/eligibility")
async def eligibility_form(request: Request) -> Response:
    """The pre-check form: a situation and a planned mission, before any position."""
    return _eligibility_page(request, {}, {}, None, "")


@router.post("/eligibility")
async def eligibility_check(request: Request) -> Response:
    """Eligible or not for each scheme, with every failed rule and its source (public, rate-limited by the API)."""
    values = await checked_form(request)
    errors = facts.missing(request, values, CHECK_REQUIRED)
    if not values.get("duration_months", "").strip() and not values.get("duration_days", "").strip():
        errors["duration_months"] = _(request, "This field is required.")
    if errors:
        problem = _(request, "Some fields are not valid: see the messages beside them.")
        return _eligibility_page(request, values, errors, None, problem, status=422)
    body = facts.eligibility_body(values)
    try:
        result = await api(request, "recruitment", "POST", "/eligibility-checks", signed=False, json=body)
    except ApiError as exc:
        fields = facts.field_errors(request, exc.fields, values)
        return _eligibility_page(request, values, fields, None, error_message(request, exc), status=exc.status)
    except ApiUnavailable as exc:
        return _eligibility_page(request, values, {}, None, error_message(request, exc), status=503)
    return _eligibility_page(request, values, {}, result, "")


def _eligibility_page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    result: dict[str, Any] | None,
    problem: str,
    status: int = 200,
) -> Response:
    lang = i18n.pick(session_of(request).lang)
    return render(
        request,
        "eligibility.html",
        _(request, "Eligibility pre-check"),
        status=status,
        values=values,
        errors=errors,
        result=result,
        problem=problem,
        countries=countries(lang),
        schemes=SCHEMES,
        permits=facts.RESIDENCE_PERMITS,
        employments=facts.EMPLOYMENTS,
        other_nationalities=facts.OTHER_NATIONALITIES,
    )


@router.get("/positions")
async def positions(
    request: Request,
    country: str = Query(default="", max_length=2),
    scheme: str = Query(default="", max_length=30),
    q: str = Query(default="", max_length=200),
    starts_after: str = Query(default="", max_length=10),
    page: int = Query(default=1, ge=1, le=500),
) -> Response:
    """Published positions with filters: country, scheme, theme (words of the title or description), start date."""
    earliest = parse_date(starts_after)
    params: dict[str, Any] = {
        "status": "published",
        "country": country.upper() if len(country) == 2 else None,
        "scheme": scheme if scheme in SCHEMES else None,
        "q": q or None,
        # The API filters by start date, so the count and the pages agree with what is shown.
        "starts_from": earliest.isoformat() if earliest else None,
        "limit": PAGE_SIZE,
        "offset": (page - 1) * PAGE_SIZE,
    }
    found = await api(request, "recruitment", "GET", "/positions", signed=False, params=params)
    items = found.get("items", [])
    lang = i18n.pick(session_of(request).lang)
    values = {"country": country, "scheme": scheme, "q": q, "starts_after": starts_after}
    template = "positions_results.html" if request.headers.get("HX-Request") else "positions.html"
    return render(
        request,
        template,
        _(request, "Volunteer positions"),
        items=items,
        total=found.get("total", len(items)),
        page=page,
        pages=max(1, -(-int(found.get("total", 0)) // PAGE_SIZE)),
        values=values,
        countries=countries(lang),
        schemes=SCHEMES,
    )


@router.get("/positions/{position_id}")
async def position(request: Request, position_id: str) -> Response:
    """One position: what, where, when, for whom."""
    if len(position_id) > 100:
        raise ApiError(404)
    found = await api(request, "recruitment", "GET", f"/positions/{position_id}", signed=False)
    return render(request, "position.html", found.get("title", _(request, "Position")), position=found)
