"""The volunteer's pages: my mission and whom to call, check-ins, incidents, safety checks, my contact data.

Everything comes from the missions and recruitment APIs with the volunteer's own token; the
APIs decide what a volunteer may see (their own missions only). Every step that cannot be taken
back (a check-in sent, an incident reported, a safety answer, a checklist item ticked) shows what
will be sent and asks for a confirmation first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal import i18n
from vies_portal.account import require
from vies_portal.apis import ApiError, ApiUnavailable
from vies_portal.web import _, api, checked_form, error_message, now, render, state_reason

router = APIRouter(prefix="/volunteer")
Document = dict[str, Any]
PAGE_SIZE = 10
MISSION_STATUSES = ("planned", "started", "extended", "ended", "interrupted")
CHECK_IN_STATUSES = ("ok", "concern", "urgent")
CATEGORIES = ("health", "security", "legal", "host_relationship", "other")
SEVERITIES = ("low", "medium", "high", "critical")
ANSWERS = ("safe", "need_help")
# Checklist items the volunteer ticks; insurance and visa are certified by the centre.
OWN_ITEMS = ("training", "travel_registration", "emergency_contact")
CONFIRMED = "yes"


def _volunteer(request: Request) -> Document:
    return require(request, "volunteer")


def _pages(total: Any) -> int:
    return max(1, -(-int(total or 0) // PAGE_SIZE))


def _offset(page: int) -> int:
    return (page - 1) * PAGE_SIZE


async def _mission(request: Request, mission_id: str) -> Document:
    return await api(request, "missions", "GET", f"/missions/{mission_id}")


def _base(mission_id: str) -> str:
    return f"/volunteer/missions/{mission_id}"


def _confirm(
    request: Request,
    title: str,
    *,
    action: str,
    facts: list[tuple[str, str]],
    values: dict[str, str],
    warning: str,
    back: str,
) -> Response:
    """What is about to be sent, with the values carried on, before the person confirms it."""
    return render(
        request, "volunteer_confirm.html", title, action=action, facts=facts, values=values, warning=warning, back=back
    )


# --- my missions ---------------------------------------------------------------------------


@router.get("")
async def my_missions(
    request: Request, page: int = Query(default=1, ge=1, le=500), status: str = Query(default="", max_length=20)
) -> Response:
    """The volunteer's missions (usually one), filtered by status, a page at a time."""
    _volunteer(request)
    wanted = status if status in MISSION_STATUSES else ""
    found = await api(
        request,
        "missions",
        "GET",
        "/missions",
        params={"status": wanted, "limit": PAGE_SIZE, "offset": _offset(page)},
    )
    return render(
        request,
        "volunteer_missions.html",
        _(request, "My missions"),
        items=found.get("items", []),
        total=int(found.get("total", 0)),
        page=page,
        pages=_pages(found.get("total")),
        wanted=wanted,
        statuses=MISSION_STATUSES,
    )


@router.get("/missions/{mission_id}")
async def mission_page(request: Request, mission_id: str, sent: str = "") -> Response:
    """Dates, whom to call (centre and its emergency number, host partner, authority), the checklist and
    what is left of it, the follow-up interviews, the next check-in and the safety checks to answer."""
    _volunteer(request)
    mission, contacts, checks = await asyncio.gather(
        _mission(request, mission_id),
        api(request, "missions", "GET", f"/missions/{mission_id}/contacts"),
        api(request, "missions", "GET", f"/missions/{mission_id}/safety-checks"),
    )
    to_answer = [c for c in checks.get("items", []) if c.get("status") == "open"]
    return render(
        request,
        "volunteer_mission.html",
        _(request, "My mission"),
        mission=mission,
        contacts=contacts,
        to_answer=to_answer,
        own_items=OWN_ITEMS,
        sent=sent,
    )


# --- checklist -----------------------------------------------------------------------------


@router.get("/missions/{mission_id}/checklist/{item}")
async def tick_form(request: Request, mission_id: str, item: str) -> Response:
    """Confirm a checklist item done, with its date (it cannot be unticked)."""
    _volunteer(request)
    if item not in OWN_ITEMS:
        raise ApiError(404)
    mission = await _mission(request, mission_id)
    # Today where the volunteer is, as the date field's default.
    values = {"done_on": now(request).astimezone(i18n.zone_of(mission.get("country"))).date().isoformat()}
    return render(
        request,
        "volunteer_tick.html",
        _(request, "Tick a checklist item"),
        mission=mission,
        item=item,
        values=values,
        errors={},
    )


@router.post("/missions/{mission_id}/checklist/{item}")
async def tick(request: Request, mission_id: str, item: str) -> Response:
    """Tick the item; a refusal comes back on the same page with what was typed."""
    _volunteer(request)
    if item not in OWN_ITEMS:
        raise ApiError(404)
    values = await checked_form(request)
    body = {"item": item, "done_on": values.get("done_on") or None}
    try:
        await api(request, "missions", "POST", f"/missions/{mission_id}/checklist", json=body)
    except (ApiError, ApiUnavailable) as exc:
        mission = await _mission(request, mission_id)
        fields = {"done_on": _(request, "Enter a date as day, month and year.")} if _invalid(exc) else {}
        return render(
            request,
            "volunteer_tick.html",
            _(request, "Tick a checklist item"),
            status=_status(exc),
            mission=mission,
            item=item,
            values=values,
            errors=fields,
            problem=error_message(request, exc),
            reason=state_reason(exc) if isinstance(exc, ApiError) else "",
        )
    return RedirectResponse(f"{_base(mission_id)}?sent=checklist", status_code=303)


def _invalid(exc: ApiError | ApiUnavailable) -> bool:
    return isinstance(exc, ApiError) and exc.status == 422


def _status(exc: ApiError | ApiUnavailable) -> int:
    return exc.status if isinstance(exc, ApiError) else 503


# --- check-ins -----------------------------------------------------------------------------


def _check_in_errors(request: Request, values: dict[str, str]) -> dict[str, str]:
    errors = {}
    if values.get("status") not in CHECK_IN_STATUSES:
        errors["status"] = _(request, "Choose how you are.")
    if len(values.get("note", "")) > 2000:
        errors["note"] = _(request, "At most 2,000 characters.")
    return errors


def _check_in_form(
    request: Request, mission: Document, values: dict[str, str], errors: dict[str, str], problem: str, status: int
) -> Response:
    return render(
        request,
        "volunteer_check_in.html",
        _(request, "Check in"),
        status=status,
        mission=mission,
        values=values,
        errors=errors,
        problem=problem,
        statuses=CHECK_IN_STATUSES,
    )


@router.get("/missions/{mission_id}/check-in")
async def check_in_form(request: Request, mission_id: str) -> Response:
    """How are you: all is well, a concern, or urgent (which opens an incident at once), with a note."""
    _volunteer(request)
    return _check_in_form(request, await _mission(request, mission_id), {}, {}, "", 200)


@router.post("/missions/{mission_id}/check-in")
async def check_in(request: Request, mission_id: str) -> Response:
    """First the confirmation of what will be sent, then the check-in itself."""
    _volunteer(request)
    values = await checked_form(request)
    errors = _check_in_errors(request, values)
    if errors or values.get("change"):
        mission = await _mission(request, mission_id)
        problem = _(request, "Some fields are not valid: see the messages beside them.") if errors else ""
        return _check_in_form(request, mission, values, errors, problem, 422 if errors else 200)
    kept = {"status": values["status"], "note": values.get("note", "")}
    if values.get("confirmed") != CONFIRMED:
        labels = {
            "ok": _(request, "All is well"),
            "concern": _(request, "I have a concern"),
            "urgent": _(request, "Urgent: I need help now"),
        }
        return _confirm(
            request,
            _(request, "Send this check-in?"),
            action=f"{_base(mission_id)}/check-in",
            facts=[(_(request, "How are you?"), labels[kept["status"]]), (_(request, "Note"), kept["note"] or "—")],
            values=kept,
            warning=_(request, "An urgent check-in opens an incident at once: the Volunteering Centre is alerted.")
            if kept["status"] == "urgent"
            else _(request, "A check-in cannot be taken back once sent."),
            back=_base(mission_id),
        )
    body = {"status": kept["status"], "note": kept["note"] or None}
    try:
        await api(request, "missions", "POST", f"/missions/{mission_id}/check-ins", json=body)
    except (ApiError, ApiUnavailable) as exc:
        mission = await _mission(request, mission_id)
        return _check_in_form(request, mission, kept, {}, error_message(request, exc), _status(exc))
    return RedirectResponse(f"{_base(mission_id)}/check-ins?sent=1", status_code=303)


@router.get("/missions/{mission_id}/check-ins")
async def check_ins(
    request: Request, mission_id: str, page: int = Query(default=1, ge=1, le=500), sent: str = ""
) -> Response:
    """The volunteer's check-ins, newest first, a page at a time."""
    _volunteer(request)
    mission, found = await asyncio.gather(
        _mission(request, mission_id),
        api(
            request,
            "missions",
            "GET",
            f"/missions/{mission_id}/check-ins",
            params={"limit": PAGE_SIZE, "offset": _offset(page)},
        ),
    )
    return render(
        request,
        "volunteer_check_ins.html",
        _(request, "My check-ins"),
        mission=mission,
        items=found.get("items", []),
        total=int(found.get("total", 0)),
        page=page,
        pages=_pages(found.get("total")),
        sent=bool(sent),
    )


# --- incidents -----------------------------------------------------------------------------


def _incident_errors(request: Request, values: dict[str, str]) -> dict[str, str]:
    errors = {}
    if values.get("category") not in CATEGORIES:
        errors["category"] = _(request, "Choose a value from the list.")
    if values.get("severity") not in SEVERITIES:
        errors["severity"] = _(request, "Choose a value from the list.")
    description = values.get("description", "").strip()
    if not description:
        errors["description"] = _(request, "This field is required.")
    elif len(description) > 5000:
        errors["description"] = _(request, "At most 5,000 characters.")
    return errors


def _category(request: Request, code: str) -> str:
    names = {
        "health": _(request, "Health"),
        "security": _(request, "Security"),
        "legal": _(request, "Legal"),
        "host_relationship": _(request, "Relationship with the host partner"),
        "other": _(request, "Other"),
    }
    return names.get(code, code)


def _severity(request: Request, code: str) -> str:
    names = {
        "low": _(request, "Low"),
        "medium": _(request, "Medium"),
        "high": _(request, "High"),
        "critical": _(request, "Critical"),
    }
    return names.get(code, code)


def _incident_form(
    request: Request, mission: Document, values: dict[str, str], errors: dict[str, str], problem: str, status: int
) -> Response:
    return render(
        request,
        "volunteer_incident.html",
        _(request, "Report an incident"),
        status=status,
        mission=mission,
        values=values,
        errors=errors,
        problem=problem,
        categories=CATEGORIES,
        severities=SEVERITIES,
    )


@router.get("/missions/{mission_id}/incidents/new")
async def incident_form(request: Request, mission_id: str) -> Response:
    """What happened, of what kind, how serious (high and critical reach the centre at once)."""
    _volunteer(request)
    return _incident_form(request, await _mission(request, mission_id), {}, {}, "", 200)


@router.post("/missions/{mission_id}/incidents/new")
async def report_incident(request: Request, mission_id: str) -> Response:
    """First the confirmation of the report, then the report itself."""
    _volunteer(request)
    values = await checked_form(request)
    errors = _incident_errors(request, values)
    if errors or values.get("change"):
        mission = await _mission(request, mission_id)
        problem = _(request, "Some fields are not valid: see the messages beside them.") if errors else ""
        return _incident_form(request, mission, values, errors, problem, 422 if errors else 200)
    kept = {k: values[k].strip() for k in ("category", "severity", "description")}
    if values.get("confirmed") != CONFIRMED:
        severe = kept["severity"] in ("high", "critical")
        return _confirm(
            request,
            _(request, "Report this incident?"),
            action=f"{_base(mission_id)}/incidents/new",
            facts=[
                (_(request, "Kind"), _category(request, kept["category"])),
                (_(request, "Severity"), _severity(request, kept["severity"])),
                (_(request, "What happened"), kept["description"]),
            ],
            values=kept,
            warning=_(request, "A high or critical incident alerts the Volunteering Centre at once.")
            if severe
            else _(request, "A report cannot be taken back once sent; the centre follows it up."),
            back=_base(mission_id),
        )
    try:
        await api(request, "missions", "POST", f"/missions/{mission_id}/incidents", json=kept)
    except (ApiError, ApiUnavailable) as exc:
        mission = await _mission(request, mission_id)
        return _incident_form(request, mission, kept, {}, error_message(request, exc), _status(exc))
    return RedirectResponse(f"{_base(mission_id)}/incidents?sent=1", status_code=303)


@router.get("/missions/{mission_id}/incidents")
async def incidents(
    request: Request,
    mission_id: str,
    page: int = Query(default=1, ge=1, le=500),
    open: str = "",
    sent: str = "",
) -> Response:
    """The incidents of the mission (all, or open ones only), newest first, a page at a time."""
    _volunteer(request)
    only_open = open == "1"
    mission, found = await asyncio.gather(
        _mission(request, mission_id),
        api(
            request,
            "missions",
            "GET",
            f"/missions/{mission_id}/incidents",
            params={"open": "true" if only_open else None, "limit": PAGE_SIZE, "offset": _offset(page)},
        ),
    )
    return render(
        request,
        "volunteer_incidents.html",
        _(request, "My incidents"),
        mission=mission,
        items=found.get("items", []),
        total=int(found.get("total", 0)),
        page=page,
        pages=_pages(found.get("total")),
        only_open=only_open,
        sent=bool(sent),
    )


# --- safety checks -------------------------------------------------------------------------


@router.get("/missions/{mission_id}/safety-checks")
async def safety_checks(
    request: Request,
    mission_id: str,
    page: int = Query(default=1, ge=1, le=500),
    status: str = Query(default="", max_length=10),
    sent: str = "",
) -> Response:
    """The safety checks the mission is part of and the volunteer's answers, open or closed, a page at a time."""
    _volunteer(request)
    mission, found = await asyncio.gather(
        _mission(request, mission_id), api(request, "missions", "GET", f"/missions/{mission_id}/safety-checks")
    )
    wanted = status if status in ("open", "closed") else ""
    items = [c for c in found.get("items", []) if not wanted or c.get("status") == wanted]
    return render(
        request,
        "volunteer_safety_checks.html",
        _(request, "My safety checks"),
        mission=mission,
        items=items[_offset(page) : _offset(page) + PAGE_SIZE],
        total=len(items),
        page=page,
        pages=_pages(len(items)),
        wanted=wanted,
        sent=bool(sent),
    )


async def _safety_check(request: Request, mission_id: str, alert_id: str) -> tuple[Document, Document]:
    mission, found = await asyncio.gather(
        _mission(request, mission_id), api(request, "missions", "GET", f"/missions/{mission_id}/safety-checks")
    )
    check = next((c for c in found.get("items", []) if c.get("alert_id") == alert_id), None)
    if check is None:
        raise ApiError(404)
    return mission, check


def _answer_form(
    request: Request, mission: Document, check: Document, values: dict[str, str], problem: str, status: int
) -> Response:
    errors = {"status": _(request, "Choose your answer.")} if problem and not values.get("status") else {}
    return render(
        request,
        "volunteer_safety_answer.html",
        _(request, "Answer the safety check"),
        status=status,
        mission=mission,
        check=check,
        values=values,
        errors=errors,
        problem=problem,
    )


@router.get("/missions/{mission_id}/safety-checks/{alert_id}")
async def answer_form(request: Request, mission_id: str, alert_id: str) -> Response:
    """The alert's message, when to answer by (the mission country's time) and the answer: safe or need help."""
    _volunteer(request)
    mission, check = await _safety_check(request, mission_id, alert_id)
    return _answer_form(request, mission, check, {}, "", 200)


@router.post("/missions/{mission_id}/safety-checks/{alert_id}")
async def answer(request: Request, mission_id: str, alert_id: str) -> Response:
    """First the confirmation (need help opens a critical incident), then the answer; a new one replaces it."""
    _volunteer(request)
    values = await checked_form(request)
    answer = values.get("status", "")
    if answer not in ANSWERS or values.get("change"):
        mission, check = await _safety_check(request, mission_id, alert_id)
        problem = "" if values.get("change") else _(request, "Choose your answer.")
        return _answer_form(request, mission, check, values, problem, 200 if values.get("change") else 422)
    if values.get("confirmed") != CONFIRMED:
        labels = {"safe": _(request, "I am safe"), "need_help": _(request, "I need help")}
        return _confirm(
            request,
            _(request, "Send this answer?"),
            action=f"{_base(mission_id)}/safety-checks/{alert_id}",
            facts=[(_(request, "Your answer"), labels[answer])],
            values={"status": answer},
            warning=_(request, "Asking for help opens a critical incident: the Volunteering Centre calls you.")
            if answer == "need_help"
            else _(request, "Your answer is recorded with its time; a new answer replaces it."),
            back=f"{_base(mission_id)}/safety-checks/{alert_id}",
        )
    body = {"mission_id": mission_id, "status": answer}
    try:
        await api(request, "missions", "POST", f"/security-alerts/{alert_id}/responses", json=body)
    except (ApiError, ApiUnavailable) as exc:
        mission, check = await _safety_check(request, mission_id, alert_id)
        return _answer_form(request, mission, check, values, error_message(request, exc), _status(exc))
    return RedirectResponse(f"{_base(mission_id)}/safety-checks?sent=1", status_code=303)


# --- my contact data and emergency contact -------------------------------------------------

CONTACT_FIELDS = ("name", "phone", "language")
EMERGENCY_FIELDS = ("relation", "phone", "email", "name")


async def _person(request: Request, person_id: str) -> Document:
    try:
        return await api(request, "recruitment", "GET", f"/persons/{person_id}")
    except ApiError as exc:
        if exc.status == 404:
            return {}  # no record kept for this person yet
        raise


def _contact_values(profile: Document) -> dict[str, str]:
    values = {k: str(profile.get(k) or "") for k in CONTACT_FIELDS}
    emergency = profile.get("emergency_contact") or {}
    values |= {f"emergency_{k}": str(emergency.get(k) or "") for k in EMERGENCY_FIELDS}
    return values


def _contact_body(values: dict[str, str]) -> Document:
    body: Document = {k: values.get(k) or None for k in CONTACT_FIELDS}
    emergency = {k: values.get(f"emergency_{k}", "").strip() for k in EMERGENCY_FIELDS}
    if any(emergency.values()):
        # Replaces the whole emergency contact; its email may stay empty.
        body["emergency_contact"] = {**emergency, "email": emergency["email"] or None}
    return body


def _contact_errors(request: Request, exc: ApiError) -> dict[str, str]:
    """API field errors keyed by form field (``emergency_contact.phone`` → ``emergency_phone``)."""
    errors: dict[str, str] = {}
    for name in exc.fields:
        parts = name.split(".")
        field = f"emergency_{parts[1]}" if parts[0] == "emergency_contact" and len(parts) > 1 else parts[0]
        errors[field] = _(request, "This value is not valid.")
    return errors


@router.get("/contact")
async def contact(request: Request, saved: str = "") -> Response:
    """The volunteer's contact data and emergency contact, as the platform holds them, with a form to correct them."""
    person = _volunteer(request)
    profile = await _person(request, person["sub"])
    return render(
        request,
        "volunteer_contact.html",
        _(request, "My contact data"),
        profile=profile,
        values=_contact_values(profile),
        errors={},
        saved=bool(saved),
    )


@router.post("/contact")
async def correct_contact(request: Request) -> Response:
    """Correct name, phone, language and the emergency contact (the Volunteering Centre calls them in a crisis)."""
    person = _volunteer(request)
    values = await checked_form(request)
    try:
        await api(request, "recruitment", "PATCH", f"/persons/{person['sub']}", json=_contact_body(values))
    except (ApiError, ApiUnavailable) as exc:
        profile = await _person(request, person["sub"]) if isinstance(exc, ApiError) else {}
        return render(
            request,
            "volunteer_contact.html",
            _(request, "My contact data"),
            status=_status(exc),
            profile=profile,
            values=values,
            errors=_contact_errors(request, exc) if isinstance(exc, ApiError) else {},
            problem=error_message(request, exc),
            reason=state_reason(exc) if isinstance(exc, ApiError) else "",
        )
    return RedirectResponse("/volunteer/contact?saved=1", status_code=303)
