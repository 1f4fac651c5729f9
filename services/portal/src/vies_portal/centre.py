"""The Volunteering Centre coordinator's pages: partner vetting, missions, incidents, follow-ups and safety checks.

A coordinator (realm role ``centre``) works for one country (the token's ``country``): every
list asks the APIs for that country only, and the APIs refuse anything else. The live
safety-check board is a page whose table part is fetched again every two seconds by htmx
(``/centre/safety/{id}/board``) until the check is closed.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal import i18n
from vies_portal.account import require
from vies_portal.apis import ApiError, ApiUnavailable, together
from vies_portal.forms import countries, country_name, parse_date
from vies_portal.web import _, api, checked_form, error_message, now, render, session_of, state_reason

router = APIRouter(prefix="/centre")
PAGE_SIZE = 20
BOARD_PAGE_SIZE = 100
MISSION_LIST_SIZE = 5  # incidents and check-ins per page on a mission's page, beside its other sections
PARTNER_STATUSES = ("pending", "approved", "rejected", "suspended")
VETTING = ("approve", "reject", "suspend")
MISSION_STATUSES = ("planned", "started", "extended", "ended", "interrupted")
MISSION_ACTIONS = ("start", "extend", "end", "interrupt")
INTERRUPT_REASONS = ("health", "security", "personal", "host_partner", "other")
SEVERITIES = ("low", "medium", "high", "critical")
INCIDENT_ACTIONS = ("acknowledge", "resolve")
ALERT_LEVELS = ("info", "vigilance", "crisis")
BOARD_FILTERS = ("all", "unaccounted", "need_help", "safe")
# Checklist items the centre certifies; the volunteer's own items can be ticked here too when
# the coordinator checked them with the volunteer (the API allows the centre every item).
CHECKLIST_ITEMS = (
    "training",
    "insurance",
    "visa",
    "travel_registration",
    "emergency_contact",
    "housing",
    "tutor",
    "french_classes",
    "return_commitment",
)


def _coordinator(request: Request) -> dict[str, Any]:
    """The signed-in centre coordinator; a centre account without a country sees nothing."""
    person = require(request, "centre")
    if not person.get("country"):
        raise ApiError(403)
    return person


def _page_number(value: str | int | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def _paging(found: dict[str, Any], page: int, size: int = PAGE_SIZE, **filters: str) -> dict[str, Any]:
    """Where a list is: this page, how many pages, how many items in all, and the filters to keep."""
    total = int(found.get("total") or 0)
    query = urlencode({k: v for k, v in filters.items() if v})
    return {"page": page, "pages": max(1, math.ceil(total / size)), "total": total, "query": query}


def _kept(page: int) -> str:
    """Another list's page number to keep in a pager's links ("" for the first page)."""
    return str(page) if page > 1 else ""


async def _partner_names(request: Request, partner_ids: list[str]) -> dict[str, str]:
    """Partners' names by id, fetched together (the id itself when the partner cannot be read)."""
    ids = sorted({p for p in partner_ids if p})

    async def one(partner_id: str) -> str:
        try:
            found = await api(request, "partners", "GET", f"/partners/{partner_id}")
        except ApiError:
            return partner_id
        return str(found.get("name") or partner_id)

    names = await together(*(one(p) for p in ids))
    return dict(zip(ids, names, strict=True))


# --- overview ------------------------------------------------------------------------------


@router.get("")
async def overview(request: Request) -> Response:
    """What waits for the centre: partners to vet, missions under way, open incidents, interviews due, open checks."""
    person = _coordinator(request)
    country = person["country"]
    soon = (now(request).date() + timedelta(days=14)).isoformat()
    pending, started, incidents, follow_ups, checks = await together(
        api(request, "partners", "GET", "/partners", params={"country": country, "status": "pending", "limit": 1}),
        api(request, "missions", "GET", "/missions", params={"country": country, "status": "started", "limit": 1}),
        api(request, "missions", "GET", "/incidents", params={"country": country, "open": "true", "limit": 1}),
        api(request, "missions", "GET", "/follow-ups", params={"country": country, "due_before": soon, "limit": 1}),
        api(request, "missions", "GET", "/security-alerts", params={"country": country, "status": "open", "limit": 50}),
    )
    return render(
        request,
        "centre_overview.html",
        _(request, "My Volunteering Centre"),
        counts={
            "pending": pending.get("total", 0),
            "started": started.get("total", 0),
            "incidents": incidents.get("total", 0),
            "follow_ups": follow_ups.get("total", 0),
        },
        country_label=country_name(country, i18n.pick(session_of(request).lang)),
        open_checks=checks.get("items", []),
    )


# --- partner vetting -----------------------------------------------------------------------


@router.get("/partners")
async def vetting_queue(request: Request, status: str = "pending", q: str = "", page: str = "1") -> Response:
    """The partners of the centre's country, pending ones first by default; filter by status and name."""
    person = _coordinator(request)
    status = status if status in PARTNER_STATUSES else ""
    number = _page_number(page)
    params = {
        "country": person["country"],
        "status": status,
        "q": q.strip()[:200],
        "limit": PAGE_SIZE,
        "offset": (number - 1) * PAGE_SIZE,
    }
    found = await api(request, "partners", "GET", "/partners", params=params)
    return render(
        request,
        "centre_partners.html",
        _(request, "Partner vetting"),
        partners=found.get("items", []),
        values={"status": status, "q": q},
        statuses=PARTNER_STATUSES,
        paging=_paging(found, number, status=status or "all", q=q),
    )


async def _own_partner(request: Request, partner_id: str) -> dict[str, Any]:
    person = _coordinator(request)
    found = await api(request, "partners", "GET", f"/partners/{partner_id}")
    found["vettable"] = str(found.get("country", "")).upper() == person["country"].upper()
    return found


@router.get("/partners/{partner_id}")
async def partner_page(request: Request, partner_id: str) -> Response:
    """One partner, its vetting history and what can be decided now."""
    partner = await _own_partner(request, partner_id)
    return render(request, "centre_partner.html", str(partner.get("name", partner_id)), partner=partner)


@router.get("/partners/{partner_id}/{action}")
async def confirm_vetting(request: Request, partner_id: str, action: str) -> Response:
    """The confirmation (and the reason it needs) before approving, rejecting or suspending."""
    if action not in VETTING:
        raise ApiError(404)
    partner = await _own_partner(request, partner_id)
    return _vetting_page(request, partner, action, {}, {}, "")


def _vetting_page(
    request: Request,
    partner: dict[str, Any],
    action: str,
    values: dict[str, str],
    errors: dict[str, str],
    problem: str,
    reason: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "centre_vetting.html",
        _(request, "Confirm"),
        status=status,
        partner=partner,
        action=action,
        values=values,
        errors=errors,
        problem=problem,
        reason=reason,
    )


@router.post("/partners/{partner_id}/{action}")
async def vet(request: Request, partner_id: str, action: str) -> Response:
    """Approve (with an optional note), reject or suspend (with the reason)."""
    _coordinator(request)
    if action not in VETTING:
        raise ApiError(404)
    values = await checked_form(request)
    text = values.get("reason", "").strip()
    if action == "approve":
        body: dict[str, Any] | None = {"notes": text} if text else None
    else:
        body = {"reason": text}
        if not text:
            partner = await _own_partner(request, partner_id)
            errors = {"reason": _(request, "This field is required.")}
            return _vetting_page(request, partner, action, values, errors, "", status=422)
    try:
        await api(request, "partners", "POST", f"/partners/{partner_id}/{action}", json=body)
    except (ApiError, ApiUnavailable) as exc:
        partner = await _own_partner(request, partner_id)
        reason = state_reason(exc) if isinstance(exc, ApiError) else ""
        status = exc.status if isinstance(exc, ApiError) else 503
        return _vetting_page(request, partner, action, values, {}, error_message(request, exc), reason, status)
    return RedirectResponse(f"/centre/partners/{partner_id}?done={action}", status_code=303)


# --- missions ------------------------------------------------------------------------------


@router.get("/missions")
async def missions(request: Request, status: str = "", page: str = "1") -> Response:
    """The missions of the centre's country, by status."""
    person = _coordinator(request)
    status = status if status in MISSION_STATUSES else ""
    number = _page_number(page)
    params = {"country": person["country"], "status": status, "limit": PAGE_SIZE, "offset": (number - 1) * PAGE_SIZE}
    found = await api(request, "missions", "GET", "/missions", params=params)
    items = found.get("items", [])
    names = await _partner_names(request, [m.get("partner_id") or "" for m in items])
    return render(
        request,
        "centre_missions.html",
        _(request, "Missions"),
        missions=items,
        partner_names=names,
        values={"status": status},
        statuses=MISSION_STATUSES,
        paging=_paging(found, number, status=status),
    )


async def _mission_page(
    request: Request, mission_id: str, problem: str = "", reason: str = "", status: int = 200
) -> Response:
    _coordinator(request)
    # Each list pages on its own (the other's page kept in its links); newest first, as the API gives them.
    incidents_page = _page_number(request.query_params.get("incidents_page"))
    check_ins_page = _page_number(request.query_params.get("check_ins_page"))

    def page_of(number: int) -> dict[str, int]:
        return {"limit": MISSION_LIST_SIZE, "offset": (number - 1) * MISSION_LIST_SIZE}

    mission, incidents, check_ins = await together(
        api(request, "missions", "GET", f"/missions/{mission_id}"),
        api(request, "missions", "GET", f"/missions/{mission_id}/incidents", params=page_of(incidents_page)),
        api(request, "missions", "GET", f"/missions/{mission_id}/check-ins", params=page_of(check_ins_page)),
    )
    names = await _partner_names(request, [mission.get("partner_id") or ""])
    return render(
        request,
        "centre_mission.html",
        _(request, "Mission") + " " + mission_id,
        status=status,
        mission=mission,
        partner_name=names.get(mission.get("partner_id") or "", ""),
        incidents=incidents.get("items", []),
        incidents_paging=_paging(incidents, incidents_page, MISSION_LIST_SIZE, check_ins_page=_kept(check_ins_page)),
        check_ins=check_ins.get("items", []),
        check_ins_paging=_paging(check_ins, check_ins_page, MISSION_LIST_SIZE, incidents_page=_kept(incidents_page)),
        problem=problem,
        reason=reason,
        today=now(request).date().isoformat(),
    )


@router.get("/missions/{mission_id}")
async def mission_page(request: Request, mission_id: str) -> Response:
    """One mission: checklist, what can be done at its stage, follow-up interviews, incidents, check-ins."""
    return await _mission_page(request, mission_id)


@router.post("/missions/{mission_id}/checklist")
async def tick(request: Request, mission_id: str) -> Response:
    """Tick a pre-departure checklist item with the day it was done."""
    _coordinator(request)
    values = await checked_form(request)
    item = values.get("item", "")
    done_on = parse_date(values.get("done_on"))
    if item not in CHECKLIST_ITEMS or done_on is None:
        return await _mission_page(request, mission_id, _(request, "Enter a date as day, month and year."), status=422)
    try:
        body = {"item": item, "done_on": done_on.isoformat()}
        await api(request, "missions", "POST", f"/missions/{mission_id}/checklist", json=body)
    except ApiError as exc:
        return await _mission_page(request, mission_id, error_message(request, exc), state_reason(exc), exc.status)
    return RedirectResponse(f"/centre/missions/{mission_id}#checklist", status_code=303)


@router.post("/missions/{mission_id}/follow-ups/{stage}")
async def follow_up_held(request: Request, mission_id: str, stage: str) -> Response:
    """Mark a follow-up interview held, with the day and notes."""
    _coordinator(request)
    if stage not in ("start", "mid", "end"):
        raise ApiError(404)
    values = await checked_form(request)
    done_on = parse_date(values.get("done_on"))
    if done_on is None:
        return await _mission_page(request, mission_id, _(request, "Enter a date as day, month and year."), status=422)
    body = {"done_on": done_on.isoformat(), "notes": values.get("notes") or None}
    try:
        await api(request, "missions", "POST", f"/missions/{mission_id}/follow-ups/{stage}/done", json=body)
    except ApiError as exc:
        return await _mission_page(request, mission_id, error_message(request, exc), state_reason(exc), exc.status)
    return RedirectResponse(f"/centre/missions/{mission_id}#follow-ups", status_code=303)


def _mission_step_page(
    request: Request,
    mission: dict[str, Any],
    action: str,
    values: dict[str, str],
    errors: dict[str, str],
    problem: str = "",
    reason: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "centre_mission_step.html",
        _(request, "Confirm"),
        status=status,
        mission=mission,
        action=action,
        values=values,
        errors=errors,
        problem=problem,
        reason=reason,
        reasons=INTERRUPT_REASONS,
    )


@router.get("/missions/{mission_id}/{action}")
async def confirm_mission_step(request: Request, mission_id: str, action: str) -> Response:
    """The confirmation, with the dates or texts it needs, before start, extend, end or interrupt."""
    _coordinator(request)
    if action not in MISSION_ACTIONS:
        raise ApiError(404)
    mission = await api(request, "missions", "GET", f"/missions/{mission_id}")
    today = now(request).date().isoformat()
    values = {"departed_on": today, "ended_on": today, "interrupted_on": today}
    return _mission_step_page(request, mission, action, values, {})


def _mission_step_body(action: str, values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body of a step and the fields left empty or wrong (by field name)."""
    wrong: dict[str, str] = {}

    def day_of(name: str, required: bool = True) -> str | None:
        moment: date | None = parse_date(values.get(name))
        if moment is None and (required or values.get(name)):
            wrong[name] = "date"
        return moment.isoformat() if moment else None

    body: dict[str, Any]
    if action == "start":
        body = {"departed_on": day_of("departed_on")}
    elif action == "extend":
        body = {"ends_on": day_of("ends_on")}
    elif action == "end":
        body = {"ended_on": day_of("ended_on"), "debrief": values.get("debrief", "").strip()}
        if not body["debrief"]:
            wrong["debrief"] = "required"
    else:
        body = {
            "reason": values.get("reason", ""),
            "note": values.get("note") or None,
            "interrupted_on": day_of("interrupted_on", required=False),
        }
        if body["reason"] not in INTERRUPT_REASONS:
            wrong["reason"] = "required"
    return body, wrong


@router.post("/missions/{mission_id}/{action}")
async def take_mission_step(request: Request, mission_id: str, action: str) -> Response:
    """Start (departure), extend, end with the debrief, or interrupt with the reason."""
    _coordinator(request)
    if action not in MISSION_ACTIONS:
        raise ApiError(404)
    values = await checked_form(request)
    body, wrong = _mission_step_body(action, values)
    messages = {
        "date": _(request, "Enter a date as day, month and year."),
        "required": _(request, "This field is required."),
    }
    errors = {name: messages[kind] for name, kind in wrong.items()}
    problem, reason, status = "", "", 422
    if not errors:
        try:
            await api(request, "missions", "POST", f"/missions/{mission_id}/{action}", json=body)
        except (ApiError, ApiUnavailable) as exc:
            problem = error_message(request, exc)
            if isinstance(exc, ApiError):
                reason, status = state_reason(exc), exc.status
                errors = {name: _(request, "This value is not valid.") for name in exc.fields}
            else:
                status = 503
        else:
            return RedirectResponse(f"/centre/missions/{mission_id}", status_code=303)
    mission = await api(request, "missions", "GET", f"/missions/{mission_id}")
    return _mission_step_page(request, mission, action, values, errors, problem, reason, status)


# --- incidents -----------------------------------------------------------------------------


@router.get("/incidents")
async def incidents(request: Request, state: str = "open", severity: str = "", page: str = "1") -> Response:
    """Incidents of the country with their escalation state; open ones by default."""
    person = _coordinator(request)
    severity = severity if severity in SEVERITIES else ""
    state = "all" if state == "all" else "open"
    number = _page_number(page)
    params = {
        "country": person["country"],
        "open": "true" if state == "open" else "",
        "severity": severity,
        "limit": PAGE_SIZE,
        "offset": (number - 1) * PAGE_SIZE,
    }
    found = await api(request, "missions", "GET", "/incidents", params=params)
    return render(
        request,
        "centre_incidents.html",
        _(request, "Incidents"),
        incidents=found.get("items", []),
        values={"state": state, "severity": severity},
        severities=SEVERITIES,
        paging=_paging(found, number, state=state, severity=severity),
    )


@router.get("/incidents/{incident_id}")
async def incident_page(request: Request, incident_id: str) -> Response:
    """One incident: what happened, its escalation history, acknowledge or resolve."""
    _coordinator(request)
    incident = await api(request, "missions", "GET", f"/incidents/{incident_id}")
    return render(request, "centre_incident.html", _(request, "Incident"), incident=incident)


@router.get("/incidents/{incident_id}/{action}")
async def confirm_incident_step(request: Request, incident_id: str, action: str) -> Response:
    """The confirmation before taking charge of an incident or resolving it (with the resolution)."""
    _coordinator(request)
    if action not in INCIDENT_ACTIONS:
        raise ApiError(404)
    incident = await api(request, "missions", "GET", f"/incidents/{incident_id}")
    return render(
        request,
        "centre_incident_step.html",
        _(request, "Confirm"),
        incident=incident,
        action=action,
        values={},
        errors={},
    )


@router.post("/incidents/{incident_id}/{action}")
async def take_incident_step(request: Request, incident_id: str, action: str) -> Response:
    """Acknowledge (stops the escalation) or resolve with a resolution note."""
    _coordinator(request)
    if action not in INCIDENT_ACTIONS:
        raise ApiError(404)
    values = await checked_form(request)
    body = {"resolution": values.get("resolution", "").strip()} if action == "resolve" else None
    errors: dict[str, str] = {}
    problem, reason, status = "", "", 422
    if body is not None and not body["resolution"]:
        errors["resolution"] = _(request, "This field is required.")
    else:
        try:
            await api(request, "missions", "POST", f"/incidents/{incident_id}/{action}", json=body)
        except ApiError as exc:
            problem, reason, status = error_message(request, exc), state_reason(exc), exc.status
        else:
            return RedirectResponse(f"/centre/incidents/{incident_id}", status_code=303)
    incident = await api(request, "missions", "GET", f"/incidents/{incident_id}")
    return render(
        request,
        "centre_incident_step.html",
        _(request, "Confirm"),
        status=status,
        incident=incident,
        action=action,
        values=values,
        errors=errors,
        problem=problem,
        reason=reason,
    )


# --- follow-up agenda ----------------------------------------------------------------------


@router.get("/follow-ups")
async def agenda(request: Request, due_before: str = "", page: str = "1") -> Response:
    """Follow-up interviews not yet held, due by a date (in 30 days by default), soonest first."""
    person = _coordinator(request)
    until = parse_date(due_before) or now(request).date() + timedelta(days=30)
    number = _page_number(page)
    params = {
        "country": person["country"],
        "due_before": until.isoformat(),
        "limit": PAGE_SIZE,
        "offset": (number - 1) * PAGE_SIZE,
    }
    found = await api(request, "missions", "GET", "/follow-ups", params=params)
    return render(
        request,
        "centre_follow_ups.html",
        _(request, "Follow-up agenda"),
        items=found.get("items", []),
        values={"due_before": until.isoformat()},
        paging=_paging(found, number, due_before=until.isoformat()),
    )


# --- security alerts and the live safety-check board ---------------------------------------


async def _alerts_page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    problem: str = "",
    status: int = 200,
    state: str = "",
    page: int = 1,
) -> Response:
    person = _coordinator(request)
    params = {
        "country": person["country"],
        "status": state,
        "limit": PAGE_SIZE,
        "offset": (page - 1) * PAGE_SIZE,
    }
    found = await api(request, "missions", "GET", "/security-alerts", params=params)
    return render(
        request,
        "centre_alerts.html",
        _(request, "Safety checks"),
        status=status,
        alerts=found.get("items", []),
        values={"country": person["country"], "respond_within_hours": "24", **values},
        errors=errors,
        problem=problem,
        state=state,
        levels=ALERT_LEVELS,
        countries=countries(i18n.pick(session_of(request).lang)),
        paging=_paging(found, page, state=state),
    )


@router.get("/safety")
async def alerts(request: Request, state: str = "", page: str = "1") -> Response:
    """The country's safety checks (open or closed) and the form to issue a security alert."""
    state = state if state in ("open", "closed") else ""
    return await _alerts_page(request, {}, {}, state=state, page=_page_number(page))


def _alert_errors(request: Request, values: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if len(values.get("country", "")) != 2:
        errors["country"] = _(request, "Choose a value from the list.")
    if values.get("level") not in ALERT_LEVELS:
        errors["level"] = _(request, "Choose a value from the list.")
    if not values.get("message", "").strip():
        errors["message"] = _(request, "This field is required.")
    try:
        hours = float(values.get("respond_within_hours", ""))
    except ValueError:
        hours = 0
    if not 0 < hours <= 720:
        errors["respond_within_hours"] = _(request, "Enter a number of hours between 1 and 720.")
    return errors


@router.post("/safety")
async def confirm_alert(request: Request) -> Response:
    """Check the alert, then ask for confirmation: it reaches every volunteer at once by email and SMS."""
    _coordinator(request)
    values = await checked_form(request)
    errors = _alert_errors(request, values)
    if errors:
        return await _alerts_page(request, values, errors, status=422)
    return render(request, "centre_alert_confirm.html", _(request, "Confirm the security alert"), values=values)


@router.post("/safety/issue")
async def issue_alert(request: Request) -> Response:
    """Issue the confirmed alert and open its live board."""
    _coordinator(request)
    values = await checked_form(request)
    errors = _alert_errors(request, values)
    if errors:
        return await _alerts_page(request, values, errors, status=422)
    body = {
        "country": values["country"].upper(),
        "level": values["level"],
        "message": values["message"].strip(),
        "respond_within_hours": float(values["respond_within_hours"]),
    }
    try:
        issued = await api(request, "missions", "POST", "/security-alerts", json=body)
    except (ApiError, ApiUnavailable) as exc:
        status = exc.status if isinstance(exc, ApiError) else 503
        problem = error_message(request, exc)
        if isinstance(exc, ApiError) and exc.status == 409:
            problem += " " + exc.detail
        return await _alerts_page(request, values, {}, problem, status=status)
    return RedirectResponse(f"/centre/safety/{issued['alert_id']}", status_code=303)


async def _board(request: Request, alert_id: str, show: str, page: int, live: bool) -> dict[str, Any]:
    """What the board shows: the check, its counts, and one page of each list, filtered by answer."""
    _coordinator(request)
    params = {"limit": BOARD_PAGE_SIZE, "offset": (page - 1) * BOARD_PAGE_SIZE}
    check = await api(request, "missions", "GET", f"/security-alerts/{alert_id}", params=params)
    accounted = check.get("accounted", [])
    unaccounted = check.get("unaccounted", [])
    if show == "unaccounted":
        accounted = []
    elif show in ("need_help", "safe"):
        accounted, unaccounted = [e for e in accounted if e.get("status") == show], []
    total = int((check.get("page") or {}).get("total") or 0)
    counts = check.get("counts") or {}
    return {
        "check": check,
        # What the board says now, sent back by the next poll: news is announced only when it changed.
        "said": "{}:{}-{}-{}".format(
            check.get("status"), counts.get("accounted"), counts.get("need_help"), counts.get("unaccounted")
        ),
        "accounted": accounted,
        "unaccounted": unaccounted,
        "show": show,
        "filters": BOARD_FILTERS,
        "paging": _paging({"total": total}, page, BOARD_PAGE_SIZE, show=show, live="" if live else "0"),
        # Updating by itself can be paused (WCAG 2.2.2): the board is then fetched only on request.
        "live": live,
        "refreshed_at": now(request).isoformat(),
    }


@router.get("/safety/{alert_id}")
async def board_page(request: Request, alert_id: str, show: str = "all", page: str = "1", live: str = "1") -> Response:
    """The live safety-check board: it updates itself every two seconds while the check is open (``live=0``: paused)."""
    show = show if show in BOARD_FILTERS else "all"
    board = await _board(request, alert_id, show, _page_number(page), live != "0")
    return render(request, "centre_board.html", _(request, "Safety check"), announce=False, **board)


@router.get("/safety/{alert_id}/board")
async def board_part(request: Request, alert_id: str, show: str = "all", page: str = "1", heard: str = "") -> Response:
    """The board's live part, fetched again by htmx; once the check is closed it stops asking.

    ``heard``: what the previous part said; when the counts (or the check's state) differ, the part
    also fills the page's polite live region, so a screen reader tells the news once.
    """
    show = show if show in BOARD_FILTERS else "all"
    board = await _board(request, alert_id, show, _page_number(page), live=True)
    announce = bool(heard) and heard != board["said"]
    return render(request, "centre_board_part.html", _(request, "Safety check"), announce=announce, **board)


@router.get("/safety/{alert_id}/close")
async def confirm_close(request: Request, alert_id: str) -> Response:
    """Ask before closing a safety check (those who have not answered are then reported unaccounted)."""
    _coordinator(request)
    check = await api(request, "missions", "GET", f"/security-alerts/{alert_id}", params={"limit": 1})
    return render(request, "centre_close.html", _(request, "Close the safety check"), check=check)


@router.post("/safety/{alert_id}/close")
async def close_check(request: Request, alert_id: str) -> Response:
    """Close the safety check; the board then shows the final lists."""
    _coordinator(request)
    await checked_form(request)
    await api(request, "missions", "POST", f"/security-alerts/{alert_id}/close")
    return RedirectResponse(f"/centre/safety/{alert_id}", status_code=303)
