"""HTTP routes of the recruitment service: parse → authorise → use case → answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from vies_recruitment import use_cases
from vies_recruitment.domain.eligibility import catalogue
from vies_recruitment.schemas import (
    ApplicationIn,
    ContactIn,
    EligibilityCheckIn,
    EngagementIn,
    InterviewIn,
    PositionIn,
    ReasonIn,
)
from vies_shared.events.recruitment import Scheme
from vies_shared.service import RuntimeDep
from vies_shared.web import CurrentPrincipal, Pagination

router = APIRouter()
Json = dict[str, Any]


# --- positions -----------------------------------------------------------------------------


@router.post("/positions", status_code=201, tags=["positions"])
async def create_position(body: PositionIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Draft a position within one of the authority's active partnerships."""
    return await use_cases.create_position(runtime, principal, body)


@router.get("/positions", tags=["positions"])
async def search_positions(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    country: str | None = None,
    scheme: Scheme | None = None,
    status: str | None = Query(default=None, pattern="^(draft|published|closed)$"),
    region: str | None = None,
    language: str | None = None,
    q: str | None = Query(default=None, max_length=200, description="free text in title and description"),
    authority_id: str | None = None,
    partnership_id: str | None = None,
) -> Json:
    """Search positions; drafts only appear to their authority and staff."""
    filters = {
        "country": country.upper() if country else None,
        "scheme": scheme,
        "status": status,
        "region": region,
        "language": language,
        "q": q,
        "authority_id": authority_id,
        "partnership_id": partnership_id,
    }
    return await use_cases.search_positions(runtime, principal, filters, page)


@router.get("/positions/{position_id}", tags=["positions"])
async def get_position(position_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """One position."""
    return await use_cases.get_position(runtime, principal, position_id)


@router.post("/positions/{position_id}/publish", tags=["positions"])
async def publish_position(position_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Open a draft for applications (409 with every reason when it cannot be)."""
    return await use_cases.publish_position(runtime, principal, position_id)


@router.post("/positions/{position_id}/close", tags=["positions"])
async def close_position(position_id: str, body: ReasonIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Cancel a position; its open applications are rejected."""
    return await use_cases.close_position(runtime, principal, position_id, body.reason)


@router.post("/positions/{position_id}/applications", status_code=201, tags=["applications"])
async def apply(position_id: str, body: ApplicationIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Apply to a published position; the answer carries the screening result."""
    return await use_cases.apply(runtime, principal, position_id, body)


@router.get("/positions/{position_id}/applications", tags=["applications"])
async def ranked_applications(
    position_id: str,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    status: str | None = None,
) -> Json:
    """The position's applications, best first (eligible, match score, earliest)."""
    return await use_cases.ranked_applications(runtime, principal, position_id, status, page)


# --- applications --------------------------------------------------------------------------


@router.get("/applications", tags=["applications"])
async def list_applications(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    position_id: str | None = None,
    status: str | None = None,
) -> Json:
    """Applications in the caller's scope (a candidate sees only their own)."""
    return await use_cases.list_applications(runtime, principal, {"position_id": position_id, "status": status}, page)


@router.get("/applications/{application_id}", tags=["applications"])
async def get_application(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """One application."""
    return await use_cases.get_application(runtime, principal, application_id)


@router.post("/applications/{application_id}/shortlist", tags=["applications"])
async def shortlist(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Shortlist an eligible application."""
    return await use_cases.shortlist(runtime, principal, application_id)


@router.post("/applications/{application_id}/interview", tags=["applications"])
async def interview(application_id: str, body: InterviewIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Schedule (or move) the interview."""
    return await use_cases.schedule_interview(runtime, principal, application_id, body.at)


@router.post("/applications/{application_id}/select", tags=["applications"])
async def select(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Select an interviewed candidate."""
    return await use_cases.select(runtime, principal, application_id)


@router.post("/applications/{application_id}/reject", tags=["applications"])
async def reject(application_id: str, body: ReasonIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Reject an open application with a reason."""
    return await use_cases.reject(runtime, principal, application_id, body.reason)


@router.post("/applications/{application_id}/withdraw", tags=["applications"])
async def withdraw(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """The candidate withdraws before engagement."""
    return await use_cases.withdraw(runtime, principal, application_id)


@router.post("/applications/{application_id}/engage", tags=["applications"])
async def engage(application_id: str, body: EngagementIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Engage the selected candidate with contract dates that fit the scheme."""
    return await use_cases.engage(runtime, principal, application_id, body)


# --- persons -------------------------------------------------------------------------------


@router.get("/persons/{person_id}", tags=["persons"])
async def get_person(person_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """A person's profile and VSI time on record (themselves or staff)."""
    return await use_cases.get_person(runtime, principal, person_id)


@router.patch("/persons/{person_id}", tags=["persons"])
async def update_contact(person_id: str, body: ContactIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Change contact data (published on the compacted contacts topic only)."""
    return await use_cases.update_contact(runtime, principal, person_id, body)


@router.delete("/persons/{person_id}", tags=["persons"])
async def erase_person(person_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Staff: erase a person's personal data; emits ``recruitment.PersonErased`` and a contacts tombstone."""
    return await use_cases.erase_person(runtime, principal, person_id)


# --- guidance ------------------------------------------------------------------------------


@router.get("/schemes", tags=["guidance"])
async def schemes(principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """The five schemes: who they are for, ages, durations, where, who sends or hosts, rules and sources."""
    return {"schemes": catalogue(use_cases.policy_of(runtime))}


@router.post("/eligibility-checks", tags=["guidance"])
async def eligibility_check(body: EligibilityCheckIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Eligible or not for each scheme (or the one asked), with every reason, before any position exists."""
    return await use_cases.eligibility_check(runtime, principal, body)
