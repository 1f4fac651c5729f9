"""What the API answers: one typed view per resource, built from the aggregate, declared as the routes' response models.

The use cases return a view as JSON (``show(view)``) and each route declares its model, so
``/docs`` and ``/openapi.json`` show what comes back. The fields are in the order the answers have
always had; moments are ``datetime.isoformat()`` (``+00:00``). A view whose keys depend on the caller
(the emergency contact, an urgent check-in's incident) is declared with ``response_model_exclude_unset``.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from vies_missions.domain.check_in import CheckIn
from vies_missions.domain.incident import Incident
from vies_missions.domain.mission import FollowUp, Mission
from vies_missions.domain.safety_check import SafetyEntry, SecurityAlert
from vies_shared.aggregate import IsoDate, Moment

Document = dict[str, Any]
T = TypeVar("T")


class View(BaseModel):
    """A resource as the API shows it (fields by name, ``from`` and such by alias)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)


def show(view: BaseModel) -> Document:
    """A view as the JSON the route answers (and validates again against its response model).

    A field left unset is left out (the keys that depend on the caller); views are built from
    documents or with every field given, so nothing else is.
    """
    return view.model_dump(mode="json", by_alias=True, exclude_unset=True)


class PageOf(View, Generic[T]):
    """One page of a list: ``items``, the ``total`` count and the page asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


# --- missions ------------------------------------------------------------------------------------------


class Extension(View):
    """One move of the end date."""

    from_: IsoDate = Field(alias="from")
    to: IsoDate


class Interruption(View):
    """An early return: why, a note (erased with the person), and the day."""

    reason: str
    note: str | None
    on: IsoDate


class Checklist(View):
    """The pre-departure checklist: what this scheme requires, what is done (with the day), what is missing."""

    required: list[str]
    done: dict[str, IsoDate]
    missing: list[str]


class CheckInSchedule(View):
    """The mission's check-in rhythm."""

    interval_seconds: float
    next_due_at: Moment | None
    last_at: Moment | None
    missed_in_a_row: int


class Review(View):
    """Why the mission is flagged for review (e.g. its host partner was suspended)."""

    reason: str
    partner_id: str | None
    flagged_at: Moment | None


class Place(View):
    """Where the volunteer lives and works."""

    city: str
    subdivision: str


class MissionView(View):
    """A mission with its checklist, follow-ups and check-in schedule."""

    mission_id: str
    engagement_id: str
    volunteer_id: str | None
    authority_id: str
    partner_id: str
    country: str
    origin_country: str | None
    region: str | None
    centre_id: str | None
    scheme: str
    status: str
    starts_on: IsoDate
    ends_on: IsoDate
    planned_ends_on: IsoDate
    departed_on: IsoDate | None
    ended_on: IsoDate | None
    debrief: str | None
    interruption: Interruption | None
    extensions: list[Extension]
    checklist: Checklist
    follow_ups: list[FollowUp]
    check_ins: CheckInSchedule
    review: Review | None
    erased: bool
    place: Place | None

    @classmethod
    def of(cls, mission: Mission) -> MissionView:
        """The view of ``mission``."""
        return cls(
            **mission.model_dump(include=_MISSION_AS_IS),
            interruption=mission.interruption,
            extensions=[{"from": e["from"], "to": e["to"]} for e in mission.extensions],
            checklist=Checklist(
                required=list(mission.required_checklist), done=mission.checklist, missing=mission.missing_checklist
            ),
            follow_ups=[f.to_doc() for f in mission.follow_ups],
            check_ins=CheckInSchedule(
                interval_seconds=mission.check_in_interval_seconds,
                next_due_at=mission.next_check_in_due_at,
                last_at=mission.last_check_in_at,
                missed_in_a_row=mission.missed_in_a_row,
            ),
            review=mission.review,
            place=mission.place,
        )


# The fields a mission shows as it holds them; the others are shaped above.
_MISSION_AS_IS = set(MissionView.model_fields) & set(Mission.model_fields) - {
    "interruption",
    "extensions",
    "checklist",
    "follow_ups",
    "review",
    "place",
}


class VolunteerFirstName(View):
    """All a host partner learns of the volunteer (nothing once erased)."""

    first_name: str | None


class CentreContact(View):
    """The Volunteering Centre (or the head office) the volunteer turns to; its phone is the emergency number."""

    centre_id: str
    city: str
    email: str
    phone: str


class PartnerMissionView(View):
    """What the host partner sees: dates, status, place, the volunteer's first name, the centre's contact.

    Nothing about health, incidents, check-ins, safety, the debrief or notes, the review flag,
    the checklist, and no volunteer id, surname, email or phone.
    """

    mission_id: str
    partner_id: str
    authority_id: str
    country: str
    origin_country: str | None
    scheme: str
    status: str
    starts_on: IsoDate
    ends_on: IsoDate
    departed_on: IsoDate | None
    ended_on: IsoDate | None
    volunteer: VolunteerFirstName
    centre: CentreContact

    @classmethod
    def of(cls, mission: Mission, volunteer_first_name: str | None, centre: CentreContact) -> PartnerMissionView:
        """The partner's view of ``mission``."""
        return cls(
            **mission.model_dump(include=set(cls.model_fields) & set(Mission.model_fields)),
            volunteer=VolunteerFirstName(first_name=None if mission.erased else volunteer_first_name),
            centre=centre,
        )


class PartnerContact(View):
    """The host partner, by name (null until the partners service's event arrived)."""

    partner_id: str
    name: str | None
    city: str | None


class AuthorityContact(View):
    """The sending authority, by name and organisational address (null until its event arrived)."""

    authority_id: str
    name: str | None
    contact_email: str | None


class MissionContacts(View):
    """Whom the mission's volunteer turns to."""

    mission_id: str
    centre: CentreContact
    partner: PartnerContact
    authority: AuthorityContact


class FollowUps(View):
    """A mission's three follow-up interviews."""

    mission_id: str
    items: list[FollowUp]


class DueFollowUp(View):
    """An interview not yet held, on a centre's agenda: the mission, then the interview."""

    mission_id: str
    country: str
    stage: str
    due_on: IsoDate
    done_on: IsoDate | None
    done_by: str | None
    notes: str | None
    overdue_reported: bool


class CheckInView(View):
    """A check-in; an urgent one names the incident it opened."""

    mission_id: str
    status: str
    note: str | None
    at: Moment
    by_role: str
    incident_id: str | None = None
    check_in_id: str

    @classmethod
    def of(cls, check_in: CheckIn) -> CheckInView:
        """The view of ``check_in`` (``incident_id`` only where the check-in holds one)."""
        return cls.model_validate(check_in.model_dump(exclude_unset=True))


class VolunteerReport(View):
    """The volunteer's own end-of-mission report."""

    text: str
    at: Moment


class Evaluation(View):
    """The authority's evaluation of the mission, each score 1 (poor) to 5 (excellent)."""

    objectives_met: int
    host_partner: int
    volunteer_support: int
    would_host_again: bool
    comment: str | None
    by: str
    at: Moment


class EndOfMission(View):
    """The report and the evaluation, as far as the caller may read them (null otherwise)."""

    mission_id: str
    status: str
    volunteer_report: VolunteerReport | None
    evaluation: Evaluation | None


# --- incidents -------------------------------------------------------------------------------------------


class Escalation(View):
    """One step up the escalation ladder."""

    to: str
    at: Moment


class IncidentView(View):
    """An incident with its escalation history."""

    mission_id: str
    category: str
    severity: str
    description: str
    reported_at: Moment
    reported_by_role: str
    country: str
    centre_id: str | None
    authority_id: str
    partner_id: str
    region: str | None
    source: str
    status: str
    open: bool
    escalated_to: str | None
    escalated_at: Moment | None
    escalations: list[Escalation]
    acknowledged_at: Moment | None
    acknowledged_by_role: str | None
    resolved_at: Moment | None
    resolution: str | None
    incident_id: str

    @classmethod
    def of(cls, incident: Incident) -> IncidentView:
        """The view of ``incident``."""
        return cls.model_validate(incident.model_dump())


# --- security alerts and safety checks ----------------------------------------------------------------------


class AlertView(View):
    """A security alert and the state of its safety check, without the entries."""

    country: str
    level: str
    message: str
    issued_at: Moment
    respond_by: Moment
    issued_by_role: str
    mission_count: int
    status: str
    closed_at: Moment | None
    closed_reason: str | None
    unaccounted_at_close: list[str] | None
    reminders_sent: list[str] | None
    escalation: str | None
    escalated_at: Moment | None
    subdivisions: list[str] | None
    alert_id: str

    @classmethod
    def of(cls, alert: SecurityAlert) -> AlertView:
        """The view of ``alert``."""
        return cls.model_validate(alert.model_dump())


class Entry(View):
    """One mission's line in a safety check: the volunteer, how to reach them, their answer.

    ``emergency_contact`` only for those who make the calls (centre, staff); the host partner's and
    the authority's names in the live lists only.
    """

    mission_id: str
    volunteer_id: str | None
    name: str | None
    phone: str | None
    email: str | None
    authority_id: str | None
    region: str | None
    centre_id: str | None
    status: str | None
    responded_at: Moment | None
    after_close: bool
    incident_id: str | None
    emergency_contact: dict[str, Any] | None = None
    partner_id: str | None = None
    partner_name: str | None = None
    authority_name: str | None = None

    @classmethod
    def of(
        cls,
        entry: SafetyEntry,
        contact: Document | None = None,
        *,
        emergency: bool = False,
        hosts: Document | None = None,
    ) -> Entry:
        """``entry`` with the volunteer's ``contact`` (name, phone, email; the emergency contact too where
        ``emergency``) and ``hosts`` (``partner_id``, ``partner_name``, ``authority_name``) where given."""
        contact = contact or {}
        return cls(
            **entry.model_dump(include=_ENTRY_AS_IS),
            name=contact.get("name"),
            phone=contact.get("phone"),
            email=contact.get("email"),
            **({"emergency_contact": contact.get("emergency_contact")} if emergency else {}),
            **(hosts or {}),
        )


_ENTRY_AS_IS = set(Entry.model_fields) & set(SafetyEntry.model_fields)


class Counts(View):
    """How many volunteers a safety check asks, answered or not."""

    total: int
    accounted: int
    unaccounted: int
    safe: int
    need_help: int


class PageInfo(View):
    """Which page of the live lists this is."""

    limit: int
    offset: int
    total: int


class SafetyCheckStatus(AlertView):
    """The live status of a safety check: counts, and one page of who is accounted for and who is not."""

    counts: Counts
    accounted: list[Entry]
    unaccounted: list[Entry]
    page: PageInfo


class MissionSafetyCheck(View):
    """A safety check a mission is part of, with the mission's answer."""

    alert_id: str
    level: str
    message: str
    respond_by: Moment
    status: str
    answer: Entry

    @classmethod
    def of(cls, alert: SecurityAlert, entry: SafetyEntry) -> MissionSafetyCheck:
        """``alert`` as one of the mission's checks, with the mission's ``entry`` as the answer."""
        return cls(**alert.model_dump(include=set(cls.model_fields)), answer=Entry.of(entry))


class MissionSafetyChecks(View):
    """The safety checks of a mission, newest first."""

    mission_id: str
    items: list[MissionSafetyCheck]


class LinkAnswerState(View):
    """The answer a safety link's mission gave, if any."""

    status: str | None
    responded_at: Moment | None
    after_close: bool

    @classmethod
    def of(cls, entry: SafetyEntry) -> LinkAnswerState:
        """The answer ``entry`` holds."""
        return cls(**entry.model_dump(include=set(cls.model_fields)))


class SafetyLinkView(View):
    """What a one-tap answer link's page shows: the alert and the answer given; nothing about the person."""

    alert_id: str
    country: str
    level: str
    message: str
    issued_at: Moment
    respond_by: Moment
    check_status: str
    link_expires_at: Moment | None
    answer: LinkAnswerState

    @classmethod
    def of(cls, alert: SecurityAlert, entry: SafetyEntry, link_expires_at: Moment | None) -> SafetyLinkView:
        """The page of ``entry``'s link to ``alert``, working until ``link_expires_at`` (None: the check is open)."""
        return cls(
            **alert.model_dump(include=set(cls.model_fields)),
            check_status=alert.status,
            link_expires_at=link_expires_at,
            answer=LinkAnswerState.of(entry),
        )
