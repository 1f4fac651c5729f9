"""Events published by the missions service on ``vies.missions.events``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from vies_shared.events.base import Event
from vies_shared.events.recruitment import Scheme

CheckInStatus = Literal["ok", "concern", "urgent"]
IncidentCategory = Literal["health", "security", "legal", "host_relationship", "other"]
Severity = Literal["low", "medium", "high", "critical"]
AlertLevel = Literal["info", "vigilance", "crisis"]
SafetyStatus = Literal["safe", "need_help"]


class MissionPlanned(Event):
    """A mission was created from an engagement."""

    TYPE = "missions.MissionPlanned"
    KEY = "mission_id"
    mission_id: str
    engagement_id: str
    volunteer_id: str
    authority_id: str
    partner_id: str
    country: str
    centre_id: str | None = None
    scheme: Scheme
    starts_on: date
    ends_on: date
    origin_country: str | None = None


class MissionStarted(Event):
    """The volunteer departed; the mission is under way."""

    TYPE = "missions.MissionStarted"
    KEY = "mission_id"
    mission_id: str
    departed_on: date


class CheckInReceived(Event):
    """The volunteer checked in."""

    TYPE = "missions.CheckInReceived"
    KEY = "mission_id"
    mission_id: str
    status: CheckInStatus


class CheckInMissed(Event):
    """A check-in due date passed without a check-in (once per due date)."""

    TYPE = "missions.CheckInMissed"
    KEY = "mission_id"
    mission_id: str
    due_on: date
    missed_in_a_row: int | None = None
    due_at: datetime | None = None


class IncidentReported(Event):
    """An incident was reported on a mission."""

    TYPE = "missions.IncidentReported"
    KEY = "mission_id"
    incident_id: str
    mission_id: str
    category: IncidentCategory
    severity: Severity
    partner_id: str | None = None
    country: str | None = None


class IncidentResolved(Event):
    """An incident was resolved."""

    TYPE = "missions.IncidentResolved"
    KEY = "mission_id"
    incident_id: str
    mission_id: str


class SecurityAlertIssued(Event):
    """A security alert for a country: every volunteer there must confirm their safety."""

    TYPE = "missions.SecurityAlertIssued"
    KEY = "alert_id"
    alert_id: str
    country: str
    level: AlertLevel
    respond_by: datetime
    mission_ids: list[str] | None = None
    # What to do and where to go, as written by the centre or staff; the hours given to answer.
    message: str | None = None
    respond_within_hours: float | None = None
    # The parts of the country alerted (ISO 3166-2); absent: the whole country. Then only the
    # listed missions are asked (those there, and those whose place is not known).
    subdivisions: list[str] | None = None


class SafetyStatusReported(Event):
    """A volunteer answered a safety check."""

    TYPE = "missions.SafetyStatusReported"
    KEY = "alert_id"
    alert_id: str
    mission_id: str
    status: SafetyStatus


class SafetyCheckClosed(Event):
    """A safety check closed; the missions still unaccounted for are listed."""

    TYPE = "missions.SafetyCheckClosed"
    KEY = "alert_id"
    alert_id: str
    unaccounted_mission_ids: list[str]
    country: str | None = None


class SafetyCheckOpened(Event):
    """The per-region view of a country-wide safety check opening (``SecurityAlertIssued``).

    Published once per French region concerned (the region of a snapshotted
    mission's authority), with ``ce_region`` = that region, in the same
    transaction as ``SecurityAlertIssued``; ``mission_ids`` are that region's
    missions only. Missions whose region is unknown get no such event.
    """

    TYPE = "missions.SafetyCheckOpened"
    KEY = "alert_id"
    alert_id: str
    country: str
    level: AlertLevel
    respond_by: datetime
    mission_ids: list[str]
    message: str | None = None
    respond_within_hours: float | None = None
    subdivisions: list[str] | None = None


class SafetyCheckClosedInRegion(Event):
    """The per-region view of a country-wide safety check closing (``SafetyCheckClosed``).

    Published once per French region concerned, with ``ce_region`` = that region,
    in the same transaction as ``SafetyCheckClosed``; ``unaccounted_mission_ids``
    are that region's missions still unaccounted for (empty when all answered).
    """

    TYPE = "missions.SafetyCheckClosedInRegion"
    KEY = "alert_id"
    alert_id: str
    country: str
    unaccounted_mission_ids: list[str]


SafetyReminderStage = Literal["half_time", "before_deadline"]


class SafetyCheckReminded(Event):
    """The volunteers of an open safety check who have not answered yet are reminded (a step of the ladder).

    Once per alert and stage: at half the response window, then shortly before the deadline.
    ``mission_ids`` are the missions still unaccounted for at that moment.
    """

    TYPE = "missions.SafetyCheckReminded"
    KEY = "alert_id"
    alert_id: str
    country: str
    level: AlertLevel
    stage: SafetyReminderStage
    respond_by: datetime
    mission_ids: list[str]
    message: str | None = None


class SafetyCheckEscalated(Event):
    """Volunteers still unaccounted for a while after a safety check's deadline: the head office is told.

    The last step of the ladder, once per alert, after ``SafetyCheckClosed`` (the deadline step that
    reaches the country's centre and the duty officer) and a configurable delay; only when someone
    is still unaccounted for (answers after the close count).
    """

    TYPE = "missions.SafetyCheckEscalated"
    KEY = "alert_id"
    alert_id: str
    country: str
    escalated_to: Literal["head_office"]
    unaccounted_mission_ids: list[str]
    respond_by: datetime | None = None


class MissionExtended(Event):
    """A mission's end date moved later."""

    TYPE = "missions.MissionExtended"
    KEY = "mission_id"
    mission_id: str
    ends_on: date


class MissionEnded(Event):
    """A mission ended as planned."""

    TYPE = "missions.MissionEnded"
    KEY = "mission_id"
    mission_id: str
    ended_on: date


class MissionInterrupted(Event):
    """A mission ended early (early return)."""

    TYPE = "missions.MissionInterrupted"
    KEY = "mission_id"
    mission_id: str
    reason: str
    interrupted_on: date | None = None


FollowUpStage = Literal["start", "mid", "end"]
EscalationLevel = Literal["centre", "head_office"]


class FollowUpInterviewDone(Event):
    """Centre staff held one of the mission's follow-up interviews (start, mid-point, end)."""

    TYPE = "missions.FollowUpInterviewDone"
    KEY = "mission_id"
    mission_id: str
    stage: FollowUpStage
    done_on: date


class FollowUpInterviewOverdue(Event):
    """A follow-up interview was not held in time (reported once per interview and due date)."""

    TYPE = "missions.FollowUpInterviewOverdue"
    KEY = "mission_id"
    mission_id: str
    stage: FollowUpStage
    due_on: date
    centre_id: str | None = None


class IncidentEscalated(Event):
    """A high or critical incident was escalated (to the centre, then to the head office if unacknowledged)."""

    TYPE = "missions.IncidentEscalated"
    KEY = "mission_id"
    incident_id: str
    mission_id: str
    severity: Severity
    escalated_to: EscalationLevel
    centre_id: str | None = None
    country: str | None = None


class IncidentAcknowledged(Event):
    """Someone responsible took charge of an incident (stops its escalation)."""

    TYPE = "missions.IncidentAcknowledged"
    KEY = "mission_id"
    incident_id: str
    mission_id: str
    acknowledged_by_role: str | None = None


class MissionFlaggedForReview(Event):
    """A mission needs review (e.g. its host partner was suspended)."""

    TYPE = "missions.MissionFlaggedForReview"
    KEY = "mission_id"
    mission_id: str
    reason: str
    partner_id: str | None = None
