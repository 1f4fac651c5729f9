"""HTTP routes of the missions service: parse → authorise (in the use case) → use case → answer.

Each route declares the view it answers (``vies_missions.views``), so ``/docs`` shows what comes back.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from vies_missions import use_cases
from vies_missions.settings import MissionsSettings
from vies_missions.views import (
    AlertView,
    CheckInView,
    DueFollowUp,
    EndOfMission,
    Entry,
    FollowUps,
    IncidentView,
    MissionContacts,
    MissionSafetyChecks,
    MissionView,
    PageOf,
    PartnerMissionView,
    SafetyCheckStatus,
)
from vies_shared.service import RuntimeDep as ServiceRuntimeDep
from vies_shared.web import MAX_OFFSET, CurrentPrincipal, Page, Pagination

router = APIRouter()
Json = dict[str, Any]
RuntimeDep = ServiceRuntimeDep[MissionsSettings]  # settings typed, no downcast

# Every free string from the caller is bounded: ids as long as the platform's (tokens cap scope
# claims at 100 characters), ISO country and region codes by their shape. Longer input is a 422.
MAX_ID = 100
MissionId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
IncidentId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
AlertId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
IdFilter = Annotated[str | None, Query(min_length=1, max_length=MAX_ID)]
CountryFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")]
RegionFilter = Annotated[str | None, Query(pattern=r"^FR-[A-Z0-9]{2,3}$")]

MAX_STATUS_PAGE = 1000
"""A safety check lists up to this many volunteers per answer (a country's whole list in one page)."""


def status_page(
    limit: Annotated[int, Query(ge=1, le=MAX_STATUS_PAGE)] = MAX_STATUS_PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page:
    """``?limit=`` (1..1000, default 1000) and ``?offset=`` of a safety check's live lists."""
    return Page(limit=limit, offset=offset)


class Body(BaseModel):
    """Request bodies refuse unknown fields so typos come back as 422."""

    model_config = ConfigDict(extra="forbid")


class ChecklistTick(Body):
    item: Literal[
        "training",
        "insurance",
        "visa",
        "travel_registration",
        "emergency_contact",
        # reciprocity: the stay in France, prepared by the hosting authority
        "housing",
        "tutor",
        "french_classes",
        "return_commitment",
    ]
    done_on: date


class StartRequest(Body):
    departed_on: date


class CheckInRequest(Body):
    status: Literal["ok", "concern", "urgent"]
    note: str | None = Field(default=None, max_length=2000)


class IncidentRequest(Body):
    category: Literal["health", "security", "legal", "host_relationship", "other"]
    severity: Literal["low", "medium", "high", "critical"]
    description: str = Field(min_length=1, max_length=5000)


class ResolveRequest(Body):
    resolution: str = Field(min_length=1, max_length=5000)


class ExtendRequest(Body):
    ends_on: date


class EndRequest(Body):
    ended_on: date
    debrief: str = Field(min_length=1, max_length=20000)


class InterruptRequest(Body):
    reason: Literal["health", "security", "personal", "host_partner", "other"]
    note: str | None = Field(default=None, max_length=5000)
    interrupted_on: date | None = None


class FollowUpDoneRequest(Body):
    done_on: date
    notes: str | None = Field(default=None, max_length=5000)


class VolunteerReportRequest(Body):
    text: str = Field(min_length=1, max_length=20_000)


class EvaluationRequest(Body):
    objectives_met: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    host_partner: int = Field(ge=1, le=5)
    volunteer_support: int = Field(ge=1, le=5)
    would_host_again: bool
    comment: str | None = Field(default=None, max_length=5000)


class CheckInIntervalRequest(Body):
    days: float = Field(gt=0, le=90)


class AlertRequest(Body):
    country: str = Field(pattern=r"^[A-Za-z]{2}$")
    level: Literal["info", "vigilance", "crisis"]
    message: str = Field(min_length=1, max_length=5000)
    respond_within_hours: float = Field(gt=0, le=720)
    # Only these parts of the country (ISO 3166-2, e.g. SN-DK); absent: the whole country.
    subdivisions: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}-[A-Za-z0-9]{1,3}$")]] | None = Field(
        default=None, max_length=100
    )


class PlaceRequest(Body):
    city: str = Field(min_length=1, max_length=200)
    subdivision: str = Field(pattern=r"^[A-Za-z]{2}-[A-Za-z0-9]{1,3}$")


class SafetyResponseRequest(Body):
    mission_id: str = Field(min_length=1, max_length=MAX_ID)
    status: Literal["safe", "need_help"]


# --- missions ------------------------------------------------------------------------------------


@router.get("/missions", response_model=PageOf[MissionView | PartnerMissionView])
async def list_missions(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    *,
    country: CountryFilter = None,
    status: Literal["planned", "started", "extended", "ended", "interrupted"] | None = None,
    region: RegionFilter = None,
    authority_id: IdFilter = None,
    partner_id: IdFilter = None,
    flagged: bool | None = None,
) -> Json:
    """Missions the caller may read (``?country=&status=&region=&authority_id=&partner_id=&flagged=``).

    The host partner (``partner`` token with ``partner_id``) gets its missions in the partner view.
    """
    return await use_cases.list_missions(
        runtime,
        principal,
        page,
        country=country,
        status=status,
        region=region,
        authority_id=authority_id,
        partner_id=partner_id,
        flagged=flagged,
    )


@router.get("/missions/{mission_id}", response_model=MissionView | PartnerMissionView)
async def get_mission(mission_id: MissionId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """One mission with its checklist, follow-ups and check-in schedule (the host partner: the partner view)."""
    return await use_cases.get_mission(runtime, principal, mission_id)


@router.get("/missions/{mission_id}/contacts", response_model=MissionContacts)
async def mission_contacts(mission_id: MissionId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Whom the volunteer turns to: ``centre`` {centre_id, city, email, phone: the emergency number},
    ``partner`` {partner_id, name, city}, ``authority`` {authority_id, name, contact_email}."""
    return await use_cases.mission_contacts(runtime, principal, mission_id)


@router.post("/missions/{mission_id}/checklist", response_model=MissionView)
async def tick_checklist(
    mission_id: MissionId, body: ChecklistTick, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Tick a pre-departure checklist item with the date it was done.

    The volunteer ticks training, travel registration and emergency contact; insurance and visa
    are certified by the centre of the country (or staff).
    """
    return await use_cases.tick_checklist(runtime, principal, mission_id, body.item, body.done_on)


@router.put("/missions/{mission_id}/place", response_model=MissionView)
async def move_volunteer(
    mission_id: MissionId, body: PlaceRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Where the volunteer is (city, ISO 3166-2 subdivision): set by the centre, staff or the volunteer on moving."""
    return await use_cases.move_volunteer(runtime, principal, mission_id, city=body.city, subdivision=body.subdivision)


@router.post("/missions/{mission_id}/start", response_model=MissionView)
async def start_mission(
    mission_id: MissionId, body: StartRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Departure (409 listing missing checklist items)."""
    return await use_cases.start_mission(runtime, principal, mission_id, body.departed_on)


@router.post("/missions/{mission_id}/extend", response_model=MissionView)
async def extend_mission(
    mission_id: MissionId, body: ExtendRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """New end date within the scheme's limit (409 beyond it)."""
    return await use_cases.extend_mission(runtime, principal, mission_id, body.ends_on)


@router.post("/missions/{mission_id}/end", response_model=MissionView)
async def end_mission(
    mission_id: MissionId, body: EndRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Normal end with the debrief."""
    return await use_cases.end_mission(runtime, principal, mission_id, ended_on=body.ended_on, debrief=body.debrief)


@router.post("/missions/{mission_id}/interrupt", response_model=MissionView)
async def interrupt_mission(
    mission_id: MissionId, body: InterruptRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Early return with its reason."""
    return await use_cases.interrupt_mission(
        runtime, principal, mission_id, reason=body.reason, note=body.note, interrupted_on=body.interrupted_on
    )


@router.get("/missions/{mission_id}/follow-ups", response_model=FollowUps)
async def list_follow_ups(mission_id: MissionId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Start, mid-point and end interviews with their due dates."""
    return await use_cases.list_follow_ups(runtime, principal, mission_id)


@router.post("/missions/{mission_id}/follow-ups/{stage}/done", response_model=FollowUps)
async def follow_up_done(
    mission_id: MissionId,
    stage: Literal["start", "mid", "end"],
    body: FollowUpDoneRequest,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> Json:
    """Centre staff mark an interview held."""
    return await use_cases.mark_follow_up_done(
        runtime, principal, mission_id, stage=stage, done_on=body.done_on, notes=body.notes
    )


@router.get("/follow-ups", response_model=PageOf[DueFollowUp], response_model_exclude_unset=True)
async def due_follow_ups(
    principal: CurrentPrincipal, runtime: RuntimeDep, page: Pagination, due_before: date, country: CountryFilter = None
) -> Json:
    """Interviews not yet held and due by ``due_before`` (a centre's agenda), by due date, paginated."""
    return await use_cases.due_follow_ups(runtime, principal, due_before, country, page)


# --- check-ins and incidents ----------------------------------------------------------------------


@router.post(
    "/missions/{mission_id}/check-ins", status_code=201, response_model=CheckInView, response_model_exclude_unset=True
)
async def send_check_in(
    mission_id: MissionId, body: CheckInRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """A check-in (urgent opens an incident)."""
    return await use_cases.send_check_in(runtime, principal, mission_id, status=body.status, note=body.note)


@router.post("/missions/{mission_id}/check-in-interval", response_model=MissionView)
async def change_check_in_interval(
    mission_id: MissionId, body: CheckInIntervalRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Set the mission's own check-in interval, in days (default from the settings: 14)."""
    return await use_cases.change_check_in_interval(runtime, principal, mission_id, body.days)


@router.get("/missions/{mission_id}/check-ins", response_model=PageOf[CheckInView], response_model_exclude_unset=True)
async def list_check_ins(
    mission_id: MissionId, principal: CurrentPrincipal, runtime: RuntimeDep, page: Pagination
) -> Json:
    """A mission's check-ins, newest first."""
    return await use_cases.list_check_ins(runtime, principal, mission_id, page)


@router.post("/missions/{mission_id}/incidents", status_code=201, response_model=IncidentView)
async def report_incident(
    mission_id: MissionId, body: IncidentRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Report an incident (high and critical ones are escalated)."""
    return await use_cases.report_incident(
        runtime, principal, mission_id, category=body.category, severity=body.severity, description=body.description
    )


@router.get("/missions/{mission_id}/incidents", response_model=PageOf[IncidentView])
async def mission_incidents(
    mission_id: MissionId, principal: CurrentPrincipal, runtime: RuntimeDep, page: Pagination, open: bool = False
) -> Json:
    """A mission's incidents."""
    return await use_cases.list_incidents(runtime, principal, page, mission_id=mission_id, open_only=open)


@router.get("/incidents", response_model=PageOf[IncidentView])
async def list_incidents(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    *,
    mission_id: IdFilter = None,
    country: CountryFilter = None,
    open: bool = False,
    severity: Literal["low", "medium", "high", "critical"] | None = None,
    escalated: bool = False,
) -> Json:
    """Incidents per mission, per country, open only, escalated only
    (``?mission_id=&country=&open=true&severity=&escalated=true``)."""
    return await use_cases.list_incidents(
        runtime,
        principal,
        page,
        mission_id=mission_id,
        country=country,
        open_only=open,
        severity=severity,
        escalated_only=escalated,
    )


@router.get("/incidents/{incident_id}", response_model=IncidentView)
async def get_incident(incident_id: IncidentId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """One incident with its escalation history."""
    return await use_cases.get_incident(runtime, principal, incident_id)


@router.post("/incidents/{incident_id}/acknowledge", response_model=IncidentView)
async def acknowledge_incident(incident_id: IncidentId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Take charge of an incident (stops its escalation)."""
    return await use_cases.acknowledge_incident(runtime, principal, incident_id)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentView)
async def resolve_incident(
    incident_id: IncidentId, body: ResolveRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Resolve an incident with a resolution note."""
    return await use_cases.resolve_incident(runtime, principal, incident_id, body.resolution)


# --- security alerts and safety checks ---------------------------------------------------------------


@router.post("/security-alerts", status_code=201, response_model=AlertView)
async def issue_security_alert(body: AlertRequest, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Alert a country: every volunteer on a mission under way there must confirm their safety."""
    return await use_cases.issue_security_alert(
        runtime,
        principal,
        country=body.country,
        level=body.level,
        message=body.message,
        respond_within_hours=body.respond_within_hours,
        subdivisions=body.subdivisions,
    )


@router.get("/security-alerts", response_model=PageOf[AlertView])
async def list_security_alerts(
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    page: Pagination,
    country: CountryFilter = None,
    status: Literal["open", "closed"] | None = None,
) -> Json:
    """Alerts, newest first."""
    return await use_cases.list_security_alerts(runtime, principal, page, country=country, status=status)


@router.get("/security-alerts/{alert_id}", response_model=SafetyCheckStatus, response_model_exclude_unset=True)
async def safety_check_status(
    alert_id: AlertId, principal: CurrentPrincipal, runtime: RuntimeDep, page: Annotated[Page, Depends(status_page)]
) -> Json:
    """Live status: ``counts``, and ``accounted[]`` / ``unaccounted[]`` with names, phones, partner and authority names
    (``?limit=&offset=``)."""
    return await use_cases.safety_check_status(runtime, principal, alert_id, page)


@router.post(
    "/security-alerts/{alert_id}/responses", status_code=201, response_model=Entry, response_model_exclude_unset=True
)
async def respond(
    alert_id: AlertId, body: SafetyResponseRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """Answer a safety check: safe or need_help (need_help opens a critical incident)."""
    return await use_cases.respond_to_safety_check(runtime, principal, alert_id, body.mission_id, body.status)


@router.get(
    "/missions/{mission_id}/safety-checks", response_model=MissionSafetyChecks, response_model_exclude_unset=True
)
async def mission_safety_checks(mission_id: MissionId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """The safety checks this mission is part of and its answers (what a volunteer has to answer)."""
    return await use_cases.mission_safety_checks(runtime, principal, mission_id)


@router.post("/security-alerts/{alert_id}/close", response_model=AlertView)
async def close(alert_id: AlertId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """Close a safety check by hand; ``SafetyCheckClosed`` lists the unaccounted missions."""
    return await use_cases.close_safety_check(runtime, principal, alert_id)


# --- end of mission ------------------------------------------------------------------------------


@router.put("/missions/{mission_id}/volunteer-report", response_model=EndOfMission)
async def file_volunteer_report(
    mission_id: MissionId, body: VolunteerReportRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """The volunteer's own end-of-mission report (free text; a new one replaces the last)."""
    return await use_cases.file_volunteer_report(runtime, principal, mission_id, body.text)


@router.put("/missions/{mission_id}/evaluation", response_model=EndOfMission)
async def evaluate_mission(
    mission_id: MissionId, body: EvaluationRequest, principal: CurrentPrincipal, runtime: RuntimeDep
) -> Json:
    """The authority's evaluation of its mission once it is over (409 before)."""
    scores = {"objectives_met": body.objectives_met, "host_partner": body.host_partner}
    scores["volunteer_support"] = body.volunteer_support
    return await use_cases.evaluate_mission(
        runtime, principal, mission_id, scores=scores, would_host_again=body.would_host_again, comment=body.comment
    )


@router.get("/missions/{mission_id}/end-of-mission", response_model=EndOfMission)
async def end_of_mission(mission_id: MissionId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Json:
    """The volunteer's report (for the volunteer, centre, branch, staff) and the authority's evaluation
    (for the authority, centre, branch, staff)."""
    return await use_cases.get_end_of_mission(runtime, principal, mission_id)


@router.get(
    "/missions/{mission_id}/certificate",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The certificate as a PDF."}},
)
async def mission_certificate(mission_id: MissionId, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    """The end-of-mission certificate (PDF) for the volunteer, the mission's authority and staff; 409 before the end."""
    pdf = await use_cases.get_certificate(runtime, principal, mission_id)
    headers = {"Content-Disposition": f'attachment; filename="attestation-{mission_id}.pdf"'}
    return Response(content=pdf, media_type="application/pdf", headers=headers)
