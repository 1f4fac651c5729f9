"""A volunteer's check-in: how they are (ok, concern, urgent), kept one document each beside the mission.

The mission holds the rhythm (``Mission.check_in`` moves the next due date and records
``CheckInReceived``); the check-in itself is what the centre reads back, newest first. An
urgent one opens an incident at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from vies_missions.domain.incident import Incident
from vies_shared.aggregate import Aggregate

URGENT = "urgent"


def new_check_in_id() -> str:
    """A fresh check-in id."""
    return f"chk-{uuid.uuid4().hex[:16]}"


class CheckIn(Aggregate):
    """One check-in, as stored (fields in the document's order; ``incident_id`` only on an urgent one)."""

    check_in_id: str = Field(alias="_id")
    mission_id: str
    status: str
    note: str | None
    at: datetime
    by_role: str
    incident_id: str | None = None

    @classmethod
    def receive(cls, mission_id: str, status: str, note: str | None, at: datetime, by_role: str) -> CheckIn:
        """A new check-in of ``mission_id``."""
        return cls(
            check_in_id=new_check_in_id(), mission_id=mission_id, status=status, note=note, at=at, by_role=by_role
        )

    def open_incident(self, mission: dict[str, Any], severity: str) -> Incident | None:
        """The incident an urgent check-in opens on ``mission`` (its document), named on the check-in; else None."""
        if self.status != URGENT:
            return None
        incident = Incident.report(
            mission=mission,
            category="other",
            severity=severity,
            description=f"urgent check-in: {self.note or '(no note)'}",
            reported_by_role=self.by_role,
            now=self.at,
            source="urgent_check_in",
        )
        self.incident_id = incident.incident_id
        return incident
