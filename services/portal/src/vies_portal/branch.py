"""The regional branch's pages: its region's authorities and their journeys, positions, missions,
indicators against the programme's targets, its digest and its webhook subscriptions.

Every call names the branch's own region; the APIs refuse another one anyway.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal import charts
from vies_portal.apis import ApiError, ApiUnavailable, together
from vies_portal.forms import SCHEMES
from vies_portal.network import PAGE_SIZE, branch_adviser, listed, page_number, pager
from vies_portal.web import _, api, checked_form, error_message, render
from vies_shared.reference import regions

router = APIRouter(prefix="/branch")
# The events a branch most often wants pushed to its own systems (all of its region only).
WEBHOOK_EVENTS = (
    "missions.MissionStarted",
    "missions.MissionEnded",
    "missions.IncidentEscalated",
    "missions.SecurityAlertIssued",
    "missions.SafetyCheckClosedInRegion",
    "recruitment.PositionPublished",
    "recruitment.VolunteerEngaged",
    "partners.AuthorityRegistered",
    "partners.PartnershipEstablished",
)
POSITION_STATUSES = ("published", "closed")
MISSION_STATUSES = ("planned", "started", "extended", "ended", "interrupted")


def indicator_labels(request: Request) -> dict[str, str]:
    """The chart's bar names in the reader's language."""
    return {
        "authorities": _(request, "Authorities enrolled in Territoires Volontaires"),
        "missions": _(request, "Missions of enrolled authorities"),
        "new_share": _(request, "Share new to cooperation (%)"),
    }


def scheme_labels(request: Request) -> dict[str, str]:
    """The schemes' names for the chart of missions per scheme (as the other pages name them)."""
    return {
        "vsi": _(request, "International solidarity volunteering (VSI)"),
        "service_civique": _(request, "Service Civique abroad"),
        "vec": _(request, "Exchange and skills volunteering (VEC)"),
        "jsi_vvvsi": _(request, "Youth solidarity projects (JSI / VVV-SI)"),
        "reciprocity": _(request, "Hosting in France in reciprocity"),
    }


def region_name(code: str) -> str:
    """The region's name from the shared reference data (the code when unknown)."""
    return regions().get(code, code)


@router.get("")
async def overview(request: Request, page: str = "1") -> Response:
    """Indicators with their chart and the stalled journeys of the region, fetched together."""
    person = branch_adviser(request)
    region = person["region"]
    number = page_number(page)
    indicators, stalled = await asyncio.gather(
        api(request, "partners", "GET", "/programme/indicators", params={"region": region}),
        listed(
            request, "partners", "/journeys/stalled", region=region, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
        ),
    )
    progress = charts.progress(indicators)
    schemes = charts.by_scheme(indicators)
    return render(
        request,
        "branch_overview.html",
        _(request, "My region") + f" — {region_name(region)}",
        region=region,
        region_name=region_name(region),
        indicators=indicators,
        progress=progress,
        progress_height=charts.chart_height(len(progress)),
        schemes=schemes,
        schemes_height=charts.chart_height(len(schemes)),
        labels=indicator_labels(request),
        scheme_labels=scheme_labels(request),
        stalled=stalled.get("items", []),
        stalled_unavailable=stalled.get("unavailable", False),
        pager=pager(request, int(stalled.get("enrolled", 0)), number),
    )


async def _journey(request: Request, authority: dict[str, Any]) -> dict[str, Any]:
    if not authority.get("territoires_volontaires"):
        return {**authority, "journey": None}
    try:
        journey = await api(request, "partners", "GET", f"/authorities/{authority['authority_id']}/journey")
    except (ApiError, ApiUnavailable):
        journey = None
    return {**authority, "journey": journey}


@router.get("/authorities")
async def authorities(request: Request, tv: str = "", page: str = "1") -> Response:
    """The region's authorities; enrolled ones with their Territoires Volontaires next step."""
    person = branch_adviser(request)
    number = page_number(page)
    enrolled = {"yes": "true", "no": "false"}.get(tv)
    found = await api(
        request,
        "partners",
        "GET",
        "/authorities",
        params={
            "region": person["region"],
            "territoires_volontaires": enrolled,
            "limit": PAGE_SIZE,
            "offset": (number - 1) * PAGE_SIZE,
        },
    )
    rows = await together(*(_journey(request, a) for a in found.get("items", [])))
    return render(
        request,
        "branch_authorities.html",
        _(request, "Authorities of the region"),
        region=person["region"],
        rows=rows,
        tv=tv if enrolled else "",
        pager=pager(request, int(found.get("total", 0)), number),
    )


@router.get("/positions")
async def positions(request: Request, status: str = "", scheme: str = "", page: str = "1") -> Response:
    """The region's positions, filtered by status and scheme."""
    person = branch_adviser(request)
    number = page_number(page)
    status = status if status in POSITION_STATUSES else ""
    scheme = scheme if scheme in SCHEMES else ""
    found = await api(
        request,
        "recruitment",
        "GET",
        "/positions",
        params={
            "region": person["region"],
            "status": status,
            "scheme": scheme,
            "limit": PAGE_SIZE,
            "offset": (number - 1) * PAGE_SIZE,
        },
    )
    return render(
        request,
        "branch_positions.html",
        _(request, "Positions of the region"),
        items=found.get("items", []),
        chosen_status=status,
        scheme=scheme,
        statuses=POSITION_STATUSES,
        schemes=SCHEMES,
        pager=pager(request, int(found.get("total", 0)), number),
    )


@router.get("/missions")
async def missions(request: Request, status: str = "", page: str = "1") -> Response:
    """The missions of the region's authorities, filtered by status."""
    person = branch_adviser(request)
    number = page_number(page)
    status = status if status in MISSION_STATUSES else ""
    found = await api(
        request,
        "missions",
        "GET",
        "/missions",
        params={"region": person["region"], "status": status, "limit": PAGE_SIZE, "offset": (number - 1) * PAGE_SIZE},
    )
    return render(
        request,
        "branch_missions.html",
        _(request, "Missions of the region"),
        items=found.get("items", []),
        chosen_status=status,
        statuses=MISSION_STATUSES,
        pager=pager(request, int(found.get("total", 0)), number),
    )


# --- webhook subscriptions -------------------------------------------------------------------


async def _webhooks_page(
    request: Request,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    problem: str = "",
    created: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    found = await listed(request, "notifications", "/subscriptions", limit=100)
    return render(
        request,
        "branch_webhooks.html",
        _(request, "Webhook subscriptions"),
        status=status,
        items=found.get("items", []),
        unavailable=found.get("unavailable", False),
        events=WEBHOOK_EVENTS,
        values=values or {"event_types": []},
        errors=errors or {},
        problem=problem,
        created=created,
    )


@router.get("/webhooks")
async def webhooks(request: Request) -> Response:
    """The branch's subscriptions and the form of a new one."""
    branch_adviser(request)
    return await _webhooks_page(request)


@router.post("/webhooks")
async def create_webhook(request: Request) -> Response:
    """Subscribe an endpoint; the signing secret is shown on this answer only, never again."""
    branch_adviser(request)
    values: dict[str, Any] = await checked_form(request)
    form = await request.form()
    chosen = [t for t in form.getlist("event_types") if isinstance(t, str) and t in WEBHOOK_EVENTS]
    values["event_types"] = chosen
    errors: dict[str, str] = {}
    if not values.get("url", "").startswith("https://"):
        errors["url"] = _(request, "Give the address of your endpoint, starting with https://.")
    if not chosen:
        errors["event_types"] = _(request, "Choose at least one kind of event.")
    if errors:
        return await _webhooks_page(request, values=values, errors=errors, status=422)
    try:
        created = await api(
            request, "notifications", "POST", "/subscriptions", json={"url": values["url"], "event_types": chosen}
        )
    except (ApiError, ApiUnavailable) as exc:
        fields = {"url": _(request, "This address cannot receive webhooks (it must be public and reachable).")}
        refused_url = isinstance(exc, ApiError) and exc.status == 422 and "url" in (exc.detail + str(exc.fields))
        return await _webhooks_page(
            request,
            values=values,
            errors=fields if refused_url else {},
            problem=error_message(request, exc),
            status=422 if refused_url else (exc.status if isinstance(exc, ApiError) else 503),
        )
    # No redirect: the secret must not be kept anywhere to show it again.
    return await _webhooks_page(request, created=created, status=201)


@router.get("/webhooks/{subscription_id}/delete")
async def confirm_delete(request: Request, subscription_id: str) -> Response:
    """Ask before deleting a subscription (its endpoint stops receiving at once)."""
    branch_adviser(request)
    found = await listed(request, "notifications", "/subscriptions", limit=100)
    subscription = next((s for s in found.get("items", []) if s.get("subscription_id") == subscription_id), None)
    if subscription is None:
        raise ApiError(404)
    return render(
        request,
        "network_confirm.html",
        _(request, "Delete the subscription"),
        action=f"/branch/webhooks/{subscription_id}/delete",
        question=_(request, "Delete this subscription? Its endpoint receives nothing more; this cannot be undone."),
        record=subscription.get("url", ""),
        back="/branch/webhooks",
    )


@router.post("/webhooks/{subscription_id}/delete")
async def delete_webhook(request: Request, subscription_id: str) -> Response:
    """Delete a subscription."""
    branch_adviser(request)
    await checked_form(request)
    await api(request, "notifications", "DELETE", f"/subscriptions/{subscription_id}")
    return RedirectResponse("/branch/webhooks", status_code=303)


# --- the office's digest --------------------------------------------------------------------


def _digest_page(request: Request, preferences: dict[str, Any], *, saved: bool = False, problem: str = "") -> Response:
    return render(
        request,
        "branch_digest.html",
        _(request, "Daily digest"),
        status=200 if not problem else 503,
        preferences=preferences,
        saved=saved,
        problem=problem,
    )


@router.get("/digest")
async def digest(request: Request, saved: str = "") -> Response:
    """The language of the region's daily digest (and of every message to the branch's office)."""
    person = branch_adviser(request)
    found = await api(request, "notifications", "GET", f"/preferences/{person['region']}")
    return _digest_page(request, found, saved=bool(saved))


@router.post("/digest")
async def save_digest(request: Request) -> Response:
    """Save the digest's language (an office cannot opt out of any message, so the language is all)."""
    person = branch_adviser(request)
    values = await checked_form(request)
    language = values.get("language") if values.get("language") in ("fr", "en") else "fr"
    body: dict[str, Any] = {"language": language, "opt_out_categories": []}
    try:
        await api(request, "notifications", "PUT", f"/preferences/{person['region']}", json=body)
    except ApiUnavailable as exc:
        return _digest_page(request, {"language": language}, problem=error_message(request, exc))
    return RedirectResponse("/branch/digest?saved=1", status_code=303)
