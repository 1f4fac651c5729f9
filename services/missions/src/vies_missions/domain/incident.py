"""Incidents on a mission: report, escalation of serious ones, acknowledgement, resolution.

Escalation ladder: a high or critical incident goes to the mission's Volunteering
Centre at once; if nobody acknowledges it within the configured delay it goes to
the agency's head office (the duty officer). Where the mission has no centre
(the head office covers the country) it goes to the head office directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vies_shared.errors import InvalidInput, NotAllowedInState

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


@dataclass
class Incident:
    """Something that happened to a volunteer or on a mission and needs follow-up."""

    incident_id: str
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
    escalated_to: str | None = None
    escalated_at: datetime | None = None
    escalations: list[dict[str, Any]] = field(default_factory=list)
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
        """A new incident; serious ones are escalated at once (see ``escalated_to``)."""
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
        if severity in ESCALATED_SEVERITIES:
            has_centre = incident.centre_id not in (None, HEAD_OFFICE_ID)
            incident._escalate(CENTRE if has_centre else HEAD_OFFICE, now)
        return incident

    def _escalate(self, to: str, now: datetime) -> None:
        self.escalated_to = to
        self.escalated_at = now
        self.escalations.append({"to": to, "at": now})

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

    def resolve(self, resolution: str, now: datetime) -> None:
        """Close the incident with what was done."""
        if self.status == RESOLVED:
            raise NotAllowedInState("incident is already resolved")
        if not resolution.strip():
            raise InvalidInput("resolution must describe what was done")
        self.status = RESOLVED
        self.resolved_at = now
        self.resolution = resolution

    def erase_personal_data(self) -> None:
        """Right to erasure: free texts may describe the person; the category and dates stay."""
        self.description = "[erased]"
        if self.resolution is not None:
            self.resolution = "[erased]"

    def to_doc(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "_id": self.incident_id,
            "mission_id": self.mission_id,
            "category": self.category,
            "severity": self.severity,
            "description": self.description,
            "reported_at": self.reported_at,
            "reported_by_role": self.reported_by_role,
            "country": self.country,
            "centre_id": self.centre_id,
            "authority_id": self.authority_id,
            "partner_id": self.partner_id,
            "region": self.region,
            "source": self.source,
            "status": self.status,
            "open": self.status != RESOLVED,
            "escalated_to": self.escalated_to,
            "escalated_at": self.escalated_at,
            "escalations": self.escalations,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by_role": self.acknowledged_by_role,
            "resolved_at": self.resolved_at,
            "resolution": self.resolution,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Incident:
        """Load the stored form."""
        fields = {k: v for k, v in doc.items() if k not in ("_id", "open")}
        return cls(incident_id=doc["_id"], **fields)

    def to_view(self) -> dict[str, Any]:
        """The resource as the API shows it."""
        doc = self.to_doc()
        doc["incident_id"] = doc.pop("_id")
        for key in ("reported_at", "escalated_at", "acknowledged_at", "resolved_at"):
            doc[key] = _iso(doc[key])
        doc["escalations"] = [{"to": e["to"], "at": _iso(e["at"])} for e in self.escalations]
        return doc


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
