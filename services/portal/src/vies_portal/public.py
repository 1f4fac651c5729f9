"""Pages anyone can read: what VIES is, the schemes, the eligibility pre-check, published positions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal import i18n
from vies_portal.apis import ApiError, ApiUnavailable
from vies_portal.forms import SCHEMES, countries, parse_date
from vies_portal.web import _, api, checked_form, local_path, render, session_of

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


def _check_body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "birth_date": values.get("birth_date") or None,
        "nationality": values.get("nationality") or None,
        "residence_country": values.get("residence_country") or None,
        "destination_country": values.get("destination_country") or None,
        "starts_on": values.get("starts_on") or None,
        "duration_months": values.get("duration_months") or None,
        "disability": values.get("disability") == "on",
    }
    if values.get("scheme"):
        body["scheme"] = values["scheme"]
    return body


@router.get("/eligibility")
async def eligibility_form(request: Request) -> Response:
    """The pre-check form: a situation and a planned mission, before any position."""
    return _eligibility_page(request, {}, {}, None, "")


@router.post("/eligibility")
async def eligibility_check(request: Request) -> Response:
    """Eligible or not for each scheme, with every reason (public, rate-limited by the API)."""
    values = await checked_form(request)
    try:
        result = await api(
            request, "recruitment", "POST", "/eligibility-checks", signed=False, json=_check_body(values)
        )
    except ApiError as exc:
        return _eligibility_page(request, values, exc.fields, None, _error(request, exc), status=exc.status)
    except ApiUnavailable as exc:
        return _eligibility_page(request, values, {}, None, _error(request, exc), status=503)
    return _eligibility_page(request, values, {}, result, "")


def _error(request: Request, exc: ApiError | ApiUnavailable) -> str:
    from vies_portal.web import error_message

    return error_message(request, exc)


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
