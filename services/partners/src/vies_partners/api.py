"""HTTP routes of the partners service: parse → authorise → use case → answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from vies_partners import use_cases
from vies_partners.domain.directory import COUNTRY_PATTERN, LANGUAGE_PATTERN, Theme
from vies_partners.domain.indicators import Indicators
from vies_partners.domain.journey import Journey, StalledJourneys
from vies_partners.domain.vetting import PartnerStatus
from vies_partners.schemas import (
    MAX_ID,
    ApprovalIn,
    AuthorityIn,
    AuthorityPatch,
    AuthorityView,
    MatchAnswer,
    MatchRequestIn,
    MatchRequestView,
    Paged,
    PartnerIn,
    PartnerPatch,
    PartnershipIn,
    PartnershipView,
    PartnerView,
    ReasonIn,
    SendingOrganisationIn,
    SendingOrganisationView,
    VettingNote,
)
from vies_partners.settings import PartnersSettings
from vies_shared.service import RuntimeDep as ServiceRuntimeDep
from vies_shared.web import MAX_OFFSET, CurrentPrincipal, Page, Pagination

router = APIRouter()
Answer = dict[str, Any]
RuntimeDep = ServiceRuntimeDep[PartnersSettings]  # settings typed, no downcast
RegionQuery = Annotated[str | None, Query(pattern=r"^FR-[0-9A-Z]{2,3}$")]
# Ids in paths and query strings are bounded like the platform's ids: longer is a 422.
PathId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=MAX_ID)]
MAX_STALLED_PAGE = 200


# --- authorities -----------------------------------------------------------------------------


@router.post(
    "/authorities",
    status_code=201,
    tags=["authorities"],
    response_model=AuthorityView,
    response_model_exclude_unset=True,
)
async def register_authority(body: AuthorityIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """Register a French local or regional authority."""
    return await use_cases.register_authority(runtime, principal, body)


@router.get(
    "/authorities", tags=["authorities"], response_model=Paged[AuthorityView], response_model_exclude_unset=True
)
async def list_authorities(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    region: RegionQuery = None,
    territoires_volontaires: bool | None = None,
) -> Answer:
    """Authorities within your scope."""
    return await use_cases.list_authorities(
        runtime, principal, region=region, territoires_volontaires=territoires_volontaires, page=page
    )


@router.get(
    "/authorities/{authority_id}", tags=["authorities"], response_model=AuthorityView, response_model_exclude_unset=True
)
async def get_authority(authority_id: PathId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """One authority."""
    return await use_cases.get_authority(runtime, principal, authority_id)


@router.patch(
    "/authorities/{authority_id}", tags=["authorities"], response_model=AuthorityView, response_model_exclude_unset=True
)
async def update_authority(
    authority_id: PathId, body: AuthorityPatch, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Answer:
    """Correct an authority's contact, Territoires Volontaires enrolment (and its date) or new-to-cooperation flag."""
    return await use_cases.update_authority(runtime, principal, authority_id, body)


@router.get("/authorities/{authority_id}/journey", tags=["journey"], response_model=Journey)
async def get_journey(authority_id: PathId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """The authority's Territoires Volontaires journey: each step's date or ``pending``, and what to do next."""
    return await use_cases.get_journey(runtime, principal, authority_id)


@router.get("/journeys/stalled", tags=["journey"], response_model=StalledJourneys)
async def stalled_journeys(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    region: RegionQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_STALLED_PAGE)] = MAX_STALLED_PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Answer:
    """Enrolled authorities that have not moved forward for 30 days (setting), for their regional branch.

    Paged over the enrolled authorities examined (``limit`` 1..200, default 200; ``enrolled`` counts them all).
    """
    page = Page(limit=limit, offset=offset)
    return await use_cases.stalled_journeys(runtime, principal, region, page)


@router.get("/programme/indicators", tags=["journey"], response_model=Indicators)
async def programme_indicators(principal: CurrentPrincipal, runtime: RuntimeDep, region: RegionQuery = None) -> Answer:
    """Territoires Volontaires indicators against the programme's targets."""
    return await use_cases.programme_indicators(runtime, principal, region)


# --- partners --------------------------------------------------------------------------------


@router.post(
    "/partners", status_code=201, tags=["partners"], response_model=PartnerView, response_model_exclude_unset=True
)
async def register_partner(body: PartnerIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """Register an international partner (starts pending)."""
    return await use_cases.register_partner(runtime, principal, body)


@router.get("/partners", tags=["partners"], response_model=Paged[PartnerView], response_model_exclude_unset=True)
async def list_partners(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    country: Annotated[str | None, Query(pattern=COUNTRY_PATTERN)] = None,
    theme: Theme | None = None,
    status: PartnerStatus | None = None,
    language: Annotated[str | None, Query(pattern=LANGUAGE_PATTERN)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Answer:
    """Search the partner directory."""
    return await use_cases.list_partners(
        runtime, principal, country=country, theme=theme, status=status, language=language, q=q, page=page
    )


@router.get("/partners/{partner_id}", tags=["partners"], response_model=PartnerView, response_model_exclude_unset=True)
async def get_partner(partner_id: PathId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """One partner with its vetting history."""
    return await use_cases.get_partner(runtime, principal, partner_id)


@router.patch(
    "/partners/{partner_id}", tags=["partners"], response_model=PartnerView, response_model_exclude_unset=True
)
async def update_partner(
    partner_id: PathId, body: PartnerPatch, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Answer:
    """Keep a partner's entry up to date (the partner itself, the centre of its country, staff)."""
    return await use_cases.update_partner(runtime, principal, partner_id, body)


@router.post(
    "/partners/{partner_id}/approve", tags=["vetting"], response_model=PartnerView, response_model_exclude_unset=True
)
async def approve_partner(
    partner_id: PathId, principal: CurrentPrincipal, runtime: RuntimeDep, body: VettingNote | None = None
) -> Answer:
    """Approve a pending partner (centre of its country, or staff)."""
    return await use_cases.vet_partner(runtime, principal, partner_id, "approve", body.notes if body else None)


@router.post(
    "/partners/{partner_id}/reject", tags=["vetting"], response_model=PartnerView, response_model_exclude_unset=True
)
async def reject_partner(
    partner_id: PathId, body: ReasonIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Answer:
    """Reject a pending partner, with the reason."""
    return await use_cases.vet_partner(runtime, principal, partner_id, "reject", body.reason)


@router.post(
    "/partners/{partner_id}/suspend", tags=["vetting"], response_model=PartnerView, response_model_exclude_unset=True
)
async def suspend_partner(
    partner_id: PathId, body: ReasonIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Answer:
    """Suspend an approved partner, with the reason; its partnerships are flagged for review."""
    return await use_cases.vet_partner(runtime, principal, partner_id, "suspend", body.reason)


@router.post(
    "/partners/{partner_id}/reinstate", tags=["vetting"], response_model=PartnerView, response_model_exclude_unset=True
)
async def reinstate_partner(
    partner_id: PathId, principal: CurrentPrincipal, runtime: RuntimeDep, body: VettingNote | None = None
) -> Answer:
    """Reinstate a suspended partner (staff only)."""
    return await use_cases.vet_partner(runtime, principal, partner_id, "reinstate", body.notes if body else None)


# --- matching --------------------------------------------------------------------------------


@router.post(
    "/match-requests", status_code=201, tags=["matching"], response_model=MatchAnswer, response_model_exclude_unset=True
)
async def request_match(body: MatchRequestIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """Rank approved partners for an authority, with a score in 0..1 and the reasons."""
    return await use_cases.request_match(runtime, principal, body)


@router.get(
    "/match-requests/{request_id}",
    tags=["matching"],
    response_model=MatchRequestView,
    response_model_exclude_unset=True,
)
async def get_match_request(request_id: PathId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """A past match request and its suggestions."""
    return await use_cases.get_match_request(runtime, principal, request_id)


# --- partnerships ----------------------------------------------------------------------------


@router.post(
    "/partnerships",
    status_code=201,
    tags=["partnerships"],
    response_model=PartnershipView,
    response_model_exclude_unset=True,
)
async def establish_partnership(body: PartnershipIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """Establish a partnership between an authority and an approved partner."""
    return await use_cases.establish_partnership(runtime, principal, body)


@router.get(
    "/partnerships", tags=["partnerships"], response_model=Paged[PartnershipView], response_model_exclude_unset=True
)
async def list_partnerships(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    authority_id: IdQuery = None,
    partner_id: IdQuery = None,
) -> Answer:
    """Partnerships within your scope."""
    return await use_cases.list_partnerships(
        runtime, principal, authority_id=authority_id, partner_id=partner_id, page=page
    )


@router.get(
    "/partnerships/{partnership_id}",
    tags=["partnerships"],
    response_model=PartnershipView,
    response_model_exclude_unset=True,
)
async def get_partnership(partnership_id: PathId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """One partnership (``needs_review`` when its partner is suspended)."""
    return await use_cases.get_partnership(runtime, principal, partnership_id)


@router.post(
    "/partnerships/{partnership_id}/end",
    tags=["partnerships"],
    response_model=PartnershipView,
    response_model_exclude_unset=True,
)
async def end_partnership(
    partnership_id: PathId, body: ReasonIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Answer:
    """End a partnership, with the reason."""
    return await use_cases.end_partnership(runtime, principal, partnership_id, body.reason)


# --- sending organisations -------------------------------------------------------------------


@router.post(
    "/sending-organisations",
    status_code=201,
    tags=["sending organisations"],
    response_model=SendingOrganisationView,
    response_model_exclude_unset=True,
)
async def register_sending_organisation(
    body: SendingOrganisationIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Answer:
    """Add a VSI sending organisation and its ministry approval (staff)."""
    return await use_cases.register_sending_organisation(runtime, principal, body)


@router.get(
    "/sending-organisations",
    tags=["sending organisations"],
    response_model=Paged[SendingOrganisationView],
    response_model_exclude_unset=True,
)
async def list_sending_organisations(
    principal: CurrentPrincipal, runtime: RuntimeDep, page: Pagination, approval_valid: bool | None = None
) -> Answer:
    """The network's sending organisations and whether their approval is valid today
    (``?approval_valid=true``: only those it covers today; ``false``: missing, expired or not yet begun)."""
    return await use_cases.list_sending_organisations(runtime, principal, page, approval_valid=approval_valid)


@router.get(
    "/sending-organisations/{organisation_id}",
    tags=["sending organisations"],
    response_model=SendingOrganisationView,
    response_model_exclude_unset=True,
)
async def get_sending_organisation(organisation_id: PathId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Answer:
    """One sending organisation."""
    return await use_cases.get_sending_organisation(runtime, principal, organisation_id)


@router.post(
    "/sending-organisations/{organisation_id}/approval",
    tags=["sending organisations"],
    response_model=SendingOrganisationView,
    response_model_exclude_unset=True,
)
async def change_sending_approval(
    organisation_id: PathId, body: ApprovalIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Answer:
    """Record a renewed, changed or withdrawn approval (staff)."""
    return await use_cases.change_sending_approval(
        runtime,
        principal,
        organisation_id,
        approval_number=body.approval_number,
        approved_from=body.approved_from,
        approved_until=body.approved_until,
    )
