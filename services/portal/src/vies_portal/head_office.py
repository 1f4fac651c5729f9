"""Head office's pages (staff): the programme's indicators for the whole country and per region, with
charts and a CSV export; sending organisations and their approvals; partners awaiting vetting everywhere."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal import charts, i18n
from vies_portal.apis import ApiError, ApiUnavailable, together
from vies_portal.branch import indicator_labels, scheme_labels
from vies_portal.forms import countries, parse_date
from vies_portal.network import PAGE_SIZE, page_number, pager, staff_member
from vies_portal.web import _, api, checked_form, error_message, render, session_of, state_reason
from vies_shared.reference import regions

router = APIRouter(prefix="/head-office")


async def _regional(request: Request, code: str) -> dict[str, Any] | None:
    try:
        return await api(request, "partners", "GET", "/programme/indicators", params={"region": code})
    except (ApiError, ApiUnavailable):
        return None


async def _indicators(request: Request) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
    """The whole country's indicators and each region's, all fetched at once."""
    names = regions()
    codes = sorted(names)
    national, *per_region = await together(
        api(request, "partners", "GET", "/programme/indicators"), *(_regional(request, c) for c in codes)
    )
    assert national is not None  # the national call raises rather than answer None
    rows = [(code, names[code], found) for code, found in zip(codes, per_region, strict=True) if found is not None]
    return national, rows


@router.get("")
async def indicators(request: Request) -> Response:
    """Programme indicators for the country, its charts, and the table of the regions."""
    staff_member(request)
    national, rows = await _indicators(request)
    progress = charts.progress(national)
    schemes = charts.by_scheme(national)
    return render(
        request,
        "head_office_indicators.html",
        _(request, "Head office"),
        indicators=national,
        progress=progress,
        progress_height=charts.chart_height(len(progress)),
        schemes=schemes,
        schemes_height=charts.chart_height(len(schemes)),
        labels=indicator_labels(request),
        scheme_labels=scheme_labels(request),
        rows=rows,
    )


@router.get("/indicators.csv")
async def indicators_csv(request: Request) -> Response:
    """The indicators as CSV: the whole country (scope FR), then one line per region."""
    staff_member(request)
    national, rows = await _indicators(request)
    text = charts.indicators_csv([("FR", national), *((code, found) for code, _name, found in rows)])
    return Response(
        text.encode("utf-8-sig"),  # with a BOM: spreadsheets then read the accents right
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="vies-programme-indicators.csv"'},
    )


# --- sending organisations --------------------------------------------------------------------


@router.get("/sending-organisations")
async def sending_organisations(request: Request, page: str = "1", approval: str = "") -> Response:
    """The sending organisations with whether their approval is valid today, filtered by the API."""
    staff_member(request)
    number = page_number(page)
    approval = approval if approval in ("valid", "invalid") else ""
    found = await api(
        request,
        "partners",
        "GET",
        "/sending-organisations",
        params={
            "approval_valid": {"valid": "true", "invalid": "false"}.get(approval),
            "limit": PAGE_SIZE,
            "offset": (number - 1) * PAGE_SIZE,
        },
    )
    return render(
        request,
        "head_office_organisations.html",
        _(request, "Sending organisations"),
        items=found.get("items", []),
        approval=approval,
        pager=pager(request, int(found.get("total", 0)), number),
    )


def _organisation_page(
    request: Request,
    organisation: dict[str, Any],
    values: dict[str, str],
    errors: dict[str, str],
    problem: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "head_office_organisation.html",
        str(organisation.get("name", "")),
        status=status,
        organisation=organisation,
        values=values,
        errors=errors,
        problem=problem,
    )


@router.get("/sending-organisations/{organisation_id}")
async def organisation(request: Request, organisation_id: str) -> Response:
    """One sending organisation and the form of its approval."""
    staff_member(request)
    found = await api(request, "partners", "GET", f"/sending-organisations/{organisation_id}")
    values = {k: str(found.get(k) or "") for k in ("approval_number", "approved_from", "approved_until")}
    return _organisation_page(request, found, values, {})


@router.post("/sending-organisations/{organisation_id}/approval")
async def record_approval(request: Request, organisation_id: str) -> Response:
    """Record a renewed or changed approval; the form keeps its input on any error."""
    staff_member(request)
    values = await checked_form(request)
    errors = {
        name: _(request, "Give a date as YYYY-MM-DD.")
        for name in ("approved_from", "approved_until")
        if not parse_date(values.get(name))
    }
    if not values.get("approval_number", "").strip():
        errors["approval_number"] = _(request, "Give the approval number.")
    problem = ""
    if not errors:
        body = {k: values[k].strip() for k in ("approval_number", "approved_from", "approved_until")}
        try:
            await api(request, "partners", "POST", f"/sending-organisations/{organisation_id}/approval", json=body)
        except (ApiError, ApiUnavailable) as exc:
            problem = error_message(request, exc)
            if isinstance(exc, ApiError):
                problem = f"{problem} {state_reason(exc) or exc.detail}".strip()
    if errors or problem:
        found = await api(request, "partners", "GET", f"/sending-organisations/{organisation_id}")
        return _organisation_page(request, found, values, errors, problem, status=422)
    return RedirectResponse(f"/head-office/sending-organisations/{organisation_id}?saved=1", status_code=303)


@router.get("/sending-organisations/{organisation_id}/withdraw")
async def confirm_withdrawal(request: Request, organisation_id: str) -> Response:
    """Ask before withdrawing an approval (its VSI positions can no longer be published)."""
    staff_member(request)
    found = await api(request, "partners", "GET", f"/sending-organisations/{organisation_id}")
    return render(
        request,
        "network_confirm.html",
        _(request, "Withdraw the approval"),
        action=f"/head-office/sending-organisations/{organisation_id}/withdraw",
        question=_(request, "Withdraw this approval? The organisation can no longer send VSI volunteers."),
        record=found.get("name", ""),
        back=f"/head-office/sending-organisations/{organisation_id}",
    )


@router.post("/sending-organisations/{organisation_id}/withdraw")
async def withdraw(request: Request, organisation_id: str) -> Response:
    """Withdraw the approval (every field null)."""
    staff_member(request)
    await checked_form(request)
    body = {"approval_number": None, "approved_from": None, "approved_until": None}
    await api(request, "partners", "POST", f"/sending-organisations/{organisation_id}/approval", json=body)
    return RedirectResponse(f"/head-office/sending-organisations/{organisation_id}", status_code=303)


# --- vetting --------------------------------------------------------------------------------


@router.get("/vetting")
async def vetting(request: Request, country: str = "", page: str = "1") -> Response:
    """Partners awaiting vetting in every country (a country to narrow it)."""
    staff_member(request)
    number = page_number(page)
    country = country.strip().upper()[:2]
    found = await api(
        request,
        "partners",
        "GET",
        "/partners",
        params={
            "status": "pending",
            "country": country or None,
            "limit": PAGE_SIZE,
            "offset": (number - 1) * PAGE_SIZE,
        },
    )
    lang = i18n.pick(session_of(request).lang)
    return render(
        request,
        "head_office_vetting.html",
        _(request, "Partners awaiting vetting"),
        items=found.get("items", []),
        values={"country": country},
        countries=countries(lang),
        pager=pager(request, int(found.get("total", 0)), number),
    )
