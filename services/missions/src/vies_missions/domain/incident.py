"""Incidents on a mission: report, escalation of serious ones, acknowledgement, resolution.

Escalation ladder: a high or critical incident goes to the mission's Volunteering
Centre at once; if nobody acknowledges it within the configured delay it goes to
the agency's head office (the duty officer). Where the mission has no centre
(the head office covers the country) it goes to the head office directly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from vies_shared.aggregate import Aggregate
from vies_shared.errors import InvalidInput, NotAllowedInState
from vies_shared.events.base import Event
from vies_shared.events.missions import IncidentAcknowledged, IncidentEscalated, IncidentReported, IncidentResolved

CATEGORIES = ("health", "security", "legal", "host_relationship", "other")
SEVERITIES = ("low", "medium", "high", "critical")
ESCALATED_SEVERITIES = ("high", "critical")
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
CENTRE = "centre"
HEAD_OFFICE = "head_office"
HEAD_OFFICE_ID = "head-office"


def new_incident_id() -> str:
    """A fresh incident id."""
    return f"inc-{uuid.uuid4().hex[:16]}"


class Incident(Aggregate):
    """Something that happened to a volunteer or on a mission and needs follow-up.

    The fields are in the order of the stored document.
    """

    keep_unset = True  # the document holds every field, defaults included: queries filter on them

    incident_id: str = Field(alias="_id")
    mission_id: str
    category: str
    severity: str
    description: str
    reported_at: datetime
    reported_by_role: str
    country: str
    centre_id: str | None
    authority_id: str
    partner_id: str
    region: str | None = None
    source: str = "report"
    status: str = OPEN
    open: bool = True  # until resolved: what the lists' ``?open=true`` query
    escalated_to: str | None = None
    escalated_at: datetime | None = None
    escalations: list[dict[str, Any]] = Field(default_factory=list)
    acknowledged_at: datetime | None = None
    acknowledged_by_role: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None

    @classmethod
    def report(
        cls,
        *,
        mission: dict[str, Any],
        category: str,
        severity: str,
        description: str,
        reported_by_role: str,
        now: datetime,
        source: str = "report",
        incident_id: str | None = None,
    ) -> Incident:
        """A new incident (records ``IncidentReported``); serious ones are escalated at once (``escalated_to``)."""
        if category not in CATEGORIES:
            raise InvalidInput(f"unknown category {category!r}", details={"allowed": list(CATEGORIES)})
        if severity not in SEVERITIES:
            raise InvalidInput(f"unknown severity {severity!r}", details={"allowed": list(SEVERITIES)})
        incident = cls(
            incident_id=incident_id or new_incident_id(),
            mission_id=mission["_id"],
            category=category,
            severity=severity,
            description=description,
            reported_at=now,
            reported_by_role=reported_by_role,
            country=mission["country"],
            centre_id=mission.get("centre_id"),
            authority_id=mission["authority_id"],
            partner_id=mission["partner_id"],
            region=mission.get("region"),
            source=source,
        )
        incident._record(
            IncidentReported(
                incident_id=incident.incident_id,
                mission_id=incident.mission_id,
                category=incident.category,
                severity=incident.severity,
                partner_id=incident.partner_id,
                country=incident.country,
            )
        )
        if severity in ESCALATED_SEVERITIES:
            has_centre = incident.centre_id not in (None, HEAD_OFFICE_ID)
            incident._escalate(CENTRE if has_centre else HEAD_OFFICE, now)
        return incident

    def _escalate(self, to: str, now: datetime) -> None:
        self.escalated_to = to
        self.escalated_at = now
        self.escalations.append({"to": to, "at": now})
        self._record(
            IncidentEscalated(
                incident_id=self.incident_id,
                mission_id=self.mission_id,
                severity=self.severity,
                escalated_to=to,
                centre_id=self.centre_id,
                country=self.country,
            )
        )

    def _record(self, event: Event) -> None:
        self.record(event, region=self.region)

    def escalate_if_unacknowledged(self, now: datetime, delay: timedelta) -> bool:
        """Move a centre-level incident nobody acknowledged within ``delay`` up to the head office."""
        if self.status != OPEN or self.escalated_to != CENTRE or self.escalated_at is None:
            return False
        escalated_at = self.escalated_at if self.escalated_at.tzinfo else self.escalated_at.replace(tzinfo=UTC)
        if now < escalated_at + delay:
            return False
        self._escalate(HEAD_OFFICE, now)
        return True

    def acknowledge(self, role: str, now: datetime) -> None:
        """Someone takes charge: escalation stops."""
        if self.status != OPEN:
            raise NotAllowedInState(f"incident is {self.status}, only an open incident can be acknowledged")
        self.status = ACKNOWLEDGED
        self.acknowledged_at = now
        self.acknowledged_by_role = role
        self._record(
            IncidentAcknowledged(incident_id=self.incident_id, mission_id=self.mission_id, acknowledged_by_role=role)
        )

    def resolve(self, resolution: str, now: datetime) -> None:
        """Close the incident with what was done."""
        if self.status == RESOLVED:
            raise NotAllowedInState("incident is already resolved")
        if not resolution.strip():
            raise InvalidInput("resolution must describe what was done")
        self.status = RESOLVED
        self.open = False
        self.resolved_at = now
        self.resolution = resolution
        self._record(IncidentResolved(incident_id=self.incident_id, mission_id=self.mission_id))

    def erase_personal_data(self) -> None:
        """Right to erasure: free texts may describe the person; the category and dates stay."""
        self.description = "[erased]"
        if self.resolution is not None:
            self.resolution = "[erased]"
