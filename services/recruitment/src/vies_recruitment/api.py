"""HTTP routes of the recruitment service: parse → authorise → use case → answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vies_recruitment import use_cases
from vies_recruitment.domain.eligibility import catalogue
from vies_recruitment.schemas import (
    MAX_ID,
    AnyPositionView,
    ApplicationIn,
    ApplicationView,
    ContactIn,
    ContactView,
    DeclarationsConfirmedIn,
    EligibilityAnswer,
    EligibilityCheckIn,
    EngagementIn,
    ErasureView,
    InterviewIn,
    Paged,
    PersonView,
    PositionIn,
    PositionPatch,
    PositionView,
    RankedApplicationView,
    ReasonIn,
    SchemesView,
)
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.recruitment import Scheme
from vies_shared.ratelimit import RateLimiter, TooManyRequests, client_ip
from vies_shared.service import RuntimeDep as ServiceRuntimeDep
from vies_shared.web import CurrentPrincipal, Pagination, Principal, current_principal, error_body, trusted_networks

router = APIRouter()
Json = dict[str, Any]
RuntimeDep = ServiceRuntimeDep[RecruitmentSettings]  # settings typed, no downcast

# Every id and filter from the caller is bounded: longer input is a 422.
PositionId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
ApplicationId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
PersonId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
IdFilter = Annotated[str | None, Query(min_length=1, max_length=MAX_ID)]
CountryFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")]
RegionFilter = Annotated[str | None, Query(pattern=r"^FR-[0-9A-Z]{2,3}$")]
LanguageFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")]
ApplicationStatus = Annotated[str | None, Query(pattern=r"^[a-z_]{1,30}$")]
StartsFrom = Annotated[date | None, Query(description="starting on or after this day (YYYY-MM-DD)")]
StartsUntil = Annotated[date | None, Query(description="starting on or before this day (YYYY-MM-DD)")]

_bearer = HTTPBearer(auto_error=False)


async def optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """The caller's principal, or None without an ``Authorization`` header; a bad token is still a 401."""
    if credentials is None and not request.headers.get("authorization"):
        return None
    return await current_principal(request, credentials)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


# --- positions -----------------------------------------------------------------------------


@router.post(
    "/positions", status_code=201, tags=["positions"], response_model=PositionView, response_model_exclude_unset=True
)
async def create_position(body: PositionIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Draft a position within one of the authority's active partnerships."""
    return await use_cases.create_position(runtime, principal, body)


@router.get("/positions", tags=["positions"], response_model=Paged[AnyPositionView], response_model_exclude_unset=True)
async def search_positions(
    principal: OptionalPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    country: CountryFilter = None,
    scheme: Scheme | None = None,
    status: str | None = Query(default=None, pattern="^(draft|published|closed)$"),
    region: RegionFilter = None,
    language: LanguageFilter = None,
    q: str | None = Query(default=None, max_length=200, description="free text in title and description"),
    authority_id: IdFilter = None,
    partnership_id: IdFilter = None,
    starts_from: StartsFrom = None,
    starts_until: StartsUntil = None,
) -> Json:
    """Search positions; drafts only appear to their authority and staff.

    Public: without a token (a portal's anonymous visitor) only published positions, without
    the internal fields; a defective token is still a 401."""
    filters = {
        "country": country.upper() if country else None,
        "scheme": scheme,
        "status": status,
        "region": region,
        "language": language,
        "q": q,
        "authority_id": authority_id,
        "partnership_id": partnership_id,
        "starts_from": starts_from,
        "starts_until": starts_until,
    }
    return await use_cases.search_positions(runtime, principal, filters, page)


@router.get(
    "/positions/{position_id}", tags=["positions"], response_model=AnyPositionView, response_model_exclude_unset=True
)
async def get_position(position_id: PositionId, principal: OptionalPrincipal, runtime: RuntimeDep) -> Json:
    """One position. Public: without a token only a published one (404 otherwise), without the internal fields."""
    return await use_cases.get_position(runtime, principal, position_id)


@router.patch(
    "/positions/{position_id}", tags=["positions"], response_model=PositionView, response_model_exclude_unset=True
)
async def update_position(
    position_id: PositionId, body: PositionPatch, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Correct a draft position (its authority, staff); a published or closed one is a 409."""
    return await use_cases.update_position(runtime, principal, position_id, body)


@router.post(
    "/positions/{position_id}/publish",
    tags=["positions"],
    response_model=PositionView,
    response_model_exclude_unset=True,
)
async def publish_position(position_id: PositionId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Open a draft for applications (409 with every reason when it cannot be)."""
    return await use_cases.publish_position(runtime, principal, position_id)


@router.post(
    "/positions/{position_id}/close", tags=["positions"], response_model=PositionView, response_model_exclude_unset=True
)
async def close_position(
    position_id: PositionId, body: ReasonIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Cancel a position; its open applications are rejected."""
    return await use_cases.close_position(runtime, principal, position_id, body.reason)


@router.post(
    "/positions/{position_id}/applications",
    status_code=201,
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def apply(position_id: PositionId, body: ApplicationIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Apply to a published position; the answer carries the screening result."""
    return await use_cases.apply(runtime, principal, position_id, body)


@router.get(
    "/positions/{position_id}/applications",
    tags=["applications"],
    response_model=Paged[RankedApplicationView],
    response_model_exclude_unset=True,
)
async def ranked_applications(
    position_id: PositionId,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    status: ApplicationStatus = None,
) -> Json:
    """The position's applications, best first (eligible, match score, earliest)."""
    return await use_cases.ranked_applications(runtime, principal, position_id, status, page)


# --- applications --------------------------------------------------------------------------


@router.get(
    "/applications", tags=["applications"], response_model=Paged[ApplicationView], response_model_exclude_unset=True
)
async def list_applications(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    position_id: IdFilter = None,
    status: ApplicationStatus = None,
) -> Json:
    """Applications in the caller's scope (a candidate sees only their own)."""
    return await use_cases.list_applications(runtime, principal, {"position_id": position_id, "status": status}, page)


@router.get(
    "/applications/{application_id}",
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def get_application(application_id: ApplicationId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """One application."""
    return await use_cases.get_application(runtime, principal, application_id)


@router.post(
    "/applications/{application_id}/shortlist",
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def shortlist(application_id: ApplicationId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Shortlist an eligible application."""
    return await use_cases.shortlist(runtime, principal, application_id)


@router.post(
    "/applications/{application_id}/interview",
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def interview(
    application_id: ApplicationId, body: InterviewIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Schedule (or move) the interview."""
    return await use_cases.schedule_interview(runtime, principal, application_id, body.at)


@router.post(
    "/applications/{application_id}/select",
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def select(application_id: ApplicationId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Select an interviewed candidate."""
    return await use_cases.select(runtime, principal, application_id)


@router.post(
    "/applications/{application_id}/reject",
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def reject(
    application_id: ApplicationId, body: ReasonIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Reject an open application with a reason."""
    return await use_cases.reject(runtime, principal, application_id, body.reason)


@router.post(
    "/applications/{application_id}/withdraw",
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def withdraw(application_id: ApplicationId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """The candidate withdraws before engagement."""
    return await use_cases.withdraw(runtime, principal, application_id)


@router.post(
    "/applications/{application_id}/declarations/confirm",
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def confirm_declarations(
    application_id: ApplicationId, body: DeclarationsConfirmedIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """The position's authority or staff confirms the candidate's declared facts (VSI months, residence permit)."""
    return await use_cases.confirm_declarations(runtime, principal, application_id, body)


@router.post(
    "/applications/{application_id}/engage",
    tags=["applications"],
    response_model=ApplicationView,
    response_model_exclude_unset=True,
)
async def engage(
    application_id: ApplicationId, body: EngagementIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Engage the selected candidate with contract dates that fit the scheme."""
    return await use_cases.engage(runtime, principal, application_id, body)


# --- persons -------------------------------------------------------------------------------


@router.get("/persons/{person_id}", tags=["persons"], response_model=PersonView, response_model_exclude_unset=True)
async def get_person(person_id: PersonId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """A person's profile and VSI time on record (themselves or staff)."""
    return await use_cases.get_person(runtime, principal, person_id)


@router.patch("/persons/{person_id}", tags=["persons"], response_model=ContactView, response_model_exclude_unset=True)
async def update_contact(
    person_id: PersonId, body: ContactIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Change contact data (published on the compacted contacts topic only)."""
    return await use_cases.update_contact(runtime, principal, person_id, body)


@router.delete("/persons/{person_id}", tags=["persons"], response_model=ErasureView, response_model_exclude_unset=True)
async def erase_person(person_id: PersonId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Staff: erase a person's personal data; emits ``recruitment.PersonErased`` and a contacts tombstone."""
    return await use_cases.erase_person(runtime, principal, person_id)


@router.post(
    "/persons/{person_id}/erasure-request",
    tags=["persons"],
    response_model=ErasureView,
    response_model_exclude_unset=True,
)
async def request_erasure(person_id: PersonId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """A candidate asks for the erasure of their own data: done at once, as ``DELETE`` does for staff.

    Only the candidate whose token's ``sub`` is the id (403 otherwise); 409 once engaged (a
    volunteer's contract is followed up: staff erase then); 404 when nothing is held; idempotent.
    """
    return await use_cases.erase_person(runtime, principal, person_id, asked_by_the_person=True)


# --- guidance ------------------------------------------------------------------------------


@router.get("/schemes", tags=["guidance"], response_model=SchemesView, response_model_exclude_unset=True)
async def schemes(principal: OptionalPrincipal, runtime: RuntimeDep) -> Json:
    """Every scheme: who it is for, ages, durations, where, who sends or hosts, costs, approval, rules, sources.

    Public guidance (a prospective authority choosing a scheme needs no account); a bad token is still a 401.
    """
    return {"schemes": catalogue(use_cases.policy_of(runtime))}


def _limiter(request: Request, runtime: RuntimeDep) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "eligibility_limiter", None)
    if limiter is None:
        settings = runtime.settings
        per_minute = settings.eligibility_anonymous_per_minute if isinstance(settings, RecruitmentSettings) else 30
        limiter = request.app.state.eligibility_limiter = RateLimiter(per_minute, what="eligibility checks")
    return limiter


@router.post(
    "/eligibility-checks",
    tags=["guidance"],
    response_model=EligibilityAnswer,
    response_model_exclude_unset=True,
    responses={
        429: {
            "description": "too many anonymous checks from this address; retry after the Retry-After delay",
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
        }
    },
)
async def eligibility_check(
    body: EligibilityCheckIn, request: Request, principal: OptionalPrincipal, runtime: RuntimeDep
) -> Any:
    """Eligible or not for each scheme (or the one asked), with every reason, before any position exists.

    Public: without a token (a portal's anonymous visitor) it answers the same, limited per client
    address (``VIES_ELIGIBILITY_ANONYMOUS_PER_MINUTE``, 30 a minute: then 429 with ``Retry-After``).
    With a token it is not limited, and a candidate's recorded VSI time is added.
    """
    if principal is None:
        try:
            trusted = trusted_networks(runtime.settings.trusted_request_id_from)
            _limiter(request, runtime).take(client_ip(request, trusted))
        except TooManyRequests as exc:
            response = error_body(429, exc.code, exc.message, details=exc.details)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
    return await use_cases.eligibility_check(runtime, principal, body)
