"""The duty officer's pages (staff on call): escalations, open safety checks, failed messages, dead letters.

Dead letters are read and replayed through each service's own staff-only API
(``/dead-letters``), never by reading Kafka from the portal.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal.apis import SERVICES, ApiError, ApiUnavailable, together
from vies_portal.network import PAGE_SIZE, listed, page_number, pager, staff_member
from vies_portal.web import _, api, checked_form, error_message, render

router = APIRouter(prefix="/duty")
REF_CHARACTERS = frozenset("0123456789:")


def _service(name: str) -> str:
    if name not in SERVICES:
        raise ApiError(404)
    return name


def _ref(ref: str) -> str:
    if not ref or not set(ref) <= REF_CHARACTERS or ref.count(":") != 1:
        raise ApiError(404)
    return ref


async def _unaccounted(request: Request, alert: dict[str, Any]) -> dict[str, Any]:
    """An open safety check with its counts (the live status, first entry only)."""
    try:
        status = await api(request, "missions", "GET", f"/security-alerts/{alert['alert_id']}", params={"limit": 1})
    except (ApiError, ApiUnavailable):
        return {**alert, "counts": None}
    return {**alert, "counts": status.get("counts")}


async def _dead_letter_total(request: Request, service: str) -> int | None:
    try:
        found = await api(request, service, "GET", "/dead-letters", params={"limit": 1})
    except (ApiError, ApiUnavailable):
        return None
    return int(found.get("total", 0))


@router.get("")
async def duty_board(request: Request, country: str = "", status: str = "failed", page: str = "1") -> Response:
    """Everything that needs the duty officer now, fetched together; filters by country and message status."""
    staff_member(request)
    country = country.strip().upper()[:2]
    status = status if status in ("failed", "retrying") else "failed"
    number = page_number(page)
    incidents, alerts, messages, *totals = await asyncio.gather(
        # Escalated ones only, chosen by the API: a crisis with hundreds of open incidents hides none.
        listed(request, "missions", "/incidents", open="true", escalated="true", country=country or None, limit=200),
        listed(request, "missions", "/security-alerts", status="open", country=country or None, limit=50),
        _messages(request, status, number),
        *(_dead_letter_total(request, s) for s in SERVICES),
    )
    escalated = incidents.get("items", [])
    checks = await together(*(_unaccounted(request, a) for a in alerts.get("items", [])))
    return render(
        request,
        "duty_board.html",
        _(request, "Duty officer"),
        country=country,
        message_state=status,
        escalated=escalated,
        incidents_unavailable=incidents.get("unavailable", False),
        checks=checks,
        messages=messages["items"],
        messages_unavailable=messages.get("unavailable", False),
        pager=pager(request, int(messages.get("total", 0)), number),
        dead_letters=dict(zip(SERVICES, totals, strict=True)),
    )


async def _messages(request: Request, status: str, number: int) -> dict[str, Any]:
    """One page of the failed messages, or of those waiting for another attempt, chosen by the API."""
    # "retrying" is not a status of the log: the API's filter (pending after a failed attempt) picks them.
    filters = {"status": "failed"} if status == "failed" else {"retrying": "true"}
    return await listed(
        request, "notifications", "/notifications", **filters, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )


@router.get("/dead-letters/{service}")
async def dead_letters(request: Request, service: str, page: str = "1", replayed: str = "") -> Response:
    """A service's dead letters, oldest first per partition."""
    staff_member(request)
    service = _service(service)
    number = page_number(page)
    found = await api(
        request, service, "GET", "/dead-letters", params={"limit": PAGE_SIZE, "offset": (number - 1) * PAGE_SIZE}
    )
    return render(
        request,
        "duty_dead_letters.html",
        _(request, "Dead letters") + f" — {service}",
        service=service,
        items=found.get("items", []),
        pager=pager(request, int(found.get("total", 0)), number),
        replayed=replayed if set(replayed) <= REF_CHARACTERS | {","} else "",
    )


@router.get("/dead-letters/{service}/{ref}")
async def dead_letter(request: Request, service: str, ref: str) -> Response:
    """One dead letter: why it was parked, where from, its headers and value; the replay form."""
    staff_member(request)
    service, ref = _service(service), _ref(ref)
    found = await api(request, service, "GET", f"/dead-letters/{ref}")
    return _replay_page(request, service, found, {"value": ""}, "")


def _replay_page(
    request: Request, service: str, letter: dict[str, Any], values: dict[str, str], problem: str, status: int = 200
) -> Response:
    return render(
        request,
        "duty_dead_letter.html",
        _(request, "Dead letter") + f" {letter.get('ref', '')}",
        status=status,
        service=service,
        letter=letter,
        values=values,
        problem=problem,
    )


@router.post("/dead-letters/{service}/{ref}/replay")
async def replay(request: Request, service: str, ref: str) -> Response:
    """Publish the dead letter back to its topic (after the confirmation box was ticked), optionally corrected."""
    staff_member(request)
    service, ref = _service(service), _ref(ref)
    values = await checked_form(request)
    body: dict[str, Any] = {"refs": [ref], "force_stale": values.get("force_stale") == "on"}
    problem = ""
    if values.get("confirm") != "on":
        problem = _(request, "Tick the confirmation box to replay this dead letter.")
    elif values.get("value", "").strip():
        try:
            corrected = json.loads(values["value"])
        except ValueError:
            corrected = None
        if not isinstance(corrected, dict):
            problem = _(request, "The corrected value must be a JSON object.")
        else:
            body["value"] = corrected
    if not problem:
        try:
            await api(request, service, "POST", "/dead-letters/replay", json=body)
        except (ApiError, ApiUnavailable) as exc:
            problem = error_message(request, exc)
    if problem:
        letter = await api(request, service, "GET", f"/dead-letters/{ref}")
        return _replay_page(request, service, letter, values, problem, status=422)
    return RedirectResponse(f"/duty/dead-letters/{service}?replayed={ref}", status_code=303)
