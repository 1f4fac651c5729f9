"""Security alerts and the safety checks they trigger.

An alert for a country snapshots every mission under way there at that moment;
each volunteer is asked to confirm their safety (safe | need_help). Like the
Peace Corps "standfast" stage and the Ariane practice of calling by hand those
who did not answer (docs/DOMAIN.md), the live status lists who is accounted for and
who is not. At the deadline or on manual close the check closes and the missions
still unaccounted for are reported. Answers after closing are still recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vies_missions.domain.mission import is_subdivision_of
from vies_shared.errors import InvalidInput, NotAllowedInState

LEVELS = ("info", "vigilance", "crisis")
# The reminder ladder of an open check: at half the window, then shortly before the deadline.
HALF_TIME = "half_time"
BEFORE_DEADLINE = "before_deadline"
REMINDER_STAGES = (HALF_TIME, BEFORE_DEADLINE)
# After the deadline (unaccounted list to the centre and the duty officer, SafetyCheckClosed), the
# volunteers still unaccounted after a delay go up to the head office.
HEAD_OFFICE = "head_office"
ESCALATION_PENDING = "pending"
ESCALATION_DONE = "done"
RESPONSES = ("safe", "need_help")
PENDING = "pending"
OPEN = "open"
CLOSED = "closed"


def new_alert_id() -> str:
    """A fresh alert id."""
    return f"alert-{uuid.uuid4().hex[:16]}"


def entry_id(alert_id: str, mission_id: str) -> str:
    """Id of one mission's entry in a safety check (unique per alert and mission)."""
    return f"{alert_id}:{mission_id}"


@dataclass
class SecurityAlert:
    """An alert for a country and the safety check it opened."""

    alert_id: str
    country: str
    level: str
    message: str
    issued_at: datetime
    respond_by: datetime
    issued_by_role: str
    mission_count: int = 0
    status: str = OPEN
    closed_at: datetime | None = None
    closed_reason: str | None = None
    unaccounted_at_close: list[str] | None = None
    reminders_sent: list[str] | None = None
    escalation: str | None = None  # pending | done once closed at the deadline with volunteers unaccounted
    escalated_at: datetime | None = None
    subdivisions: list[str] | None = None  # the parts of the country alerted (ISO 3166-2); None: all of it

    @classmethod
    def issue(
        cls,
        *,
        country: str,
        level: str,
        message: str,
        respond_within_hours: float,
        issued_by_role: str,
        now: datetime,
        subdivisions: list[str] | None = None,
    ) -> SecurityAlert:
        """A new open alert with its response deadline, for the whole country or some of its subdivisions."""
        if level not in LEVELS:
            raise InvalidInput(f"unknown level {level!r}", details={"allowed": list(LEVELS)})
        if respond_within_hours <= 0:
            raise InvalidInput("respond_within_hours must be positive")
        codes = sorted({code.strip().upper() for code in subdivisions or []})
        wrong = [code for code in codes if not is_subdivision_of(code, country)]
        if wrong:
            raise InvalidInput(f"not subdivisions of {country.upper()}: {', '.join(wrong)}", details={"wrong": wrong})
        return cls(
            alert_id=new_alert_id(),
            country=country.upper(),
            level=level,
            message=message,
            issued_at=now,
            respond_by=now + timedelta(hours=respond_within_hours),
            issued_by_role=issued_by_role,
            subdivisions=codes or None,
        )

    def snapshot_query(self, on_mission: tuple[str, ...]) -> dict[str, Any]:
        """Which missions the check asks: those under way in the country, in the alerted subdivisions.

        A mission whose place is not recorded yet is asked too: better one question too many
        than a volunteer in the zone left out.
        """
        query: dict[str, Any] = {"country": self.country, "status": {"$in": list(on_mission)}}
        if self.subdivisions:
            query["$or"] = [{"place.subdivision": {"$in": self.subdivisions}}, {"place": None}]
        return query

    @property
    def respond_within_hours(self) -> float:
        """The hours the volunteers were given to answer."""
        return round((self.respond_by - self.issued_at).total_seconds() / 3600, 3)

    def entries_for(self, missions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One pending entry per mission under way in the country (the snapshot)."""
        return [
            {
                "_id": entry_id(self.alert_id, m["_id"]),
                "alert_id": self.alert_id,
                "mission_id": m["_id"],
                "volunteer_id": m.get("volunteer_id"),
                "authority_id": m["authority_id"],
                "region": m.get("region"),
                "centre_id": m.get("centre_id"),
                "status": PENDING,
                "responded_at": None,
                "after_close": False,
            }
            for m in missions
        ]

    def reminders_due(self, now: datetime, before_deadline: timedelta) -> list[str]:
        """The reminder stages reached and not yet sent (oldest first); empty once closed or past the deadline.

        The second reminder goes ``before_deadline`` ahead of the deadline, only when that is after
        half-time (a short window gets one reminder). A scheduler that lagged and finds both due
        sends one reminder for both: the caller names the last stage.
        """
        if self.status != OPEN:
            return []
        issued_at, respond_by = _aware(self.issued_at), _aware(self.respond_by)
        if now >= respond_by:
            return []
        half = issued_at + (respond_by - issued_at) / 2
        moments = {HALF_TIME: half}
        if respond_by - before_deadline > half:
            moments[BEFORE_DEADLINE] = respond_by - before_deadline
        sent = set(self.reminders_sent or [])
        return [stage for stage in REMINDER_STAGES if stage in moments and now >= moments[stage] and stage not in sent]

    def escalation_due(self, now: datetime, delay: timedelta) -> bool:
        """Whether the head-office step of the ladder is due: closed at the deadline, unaccounted left, delay over."""
        if self.escalation != ESCALATION_PENDING or self.closed_at is None:
            return False
        return now >= _aware(self.closed_at) + delay

    def is_due(self, now: datetime) -> bool:
        """Whether the response deadline has passed on an open check."""
        respond_by = self.respond_by if self.respond_by.tzinfo else self.respond_by.replace(tzinfo=UTC)
        return self.status == OPEN and now >= respond_by

    def close(self, reason: str, unaccounted: list[str], now: datetime) -> None:
        """Close the check; ``unaccounted`` are the missions that had not answered."""
        if self.status == CLOSED:
            raise NotAllowedInState("the safety check is already closed")
        self.status = CLOSED
        self.closed_at = now
        self.closed_reason = reason
        self.unaccounted_at_close = unaccounted
        if reason == "deadline" and unaccounted:
            # Closed by the clock with volunteers not heard from: the head office hears of them after a delay.
            self.escalation = ESCALATION_PENDING

    def to_doc(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "_id": self.alert_id,
            "country": self.country,
            "level": self.level,
            "message": self.message,
            "issued_at": self.issued_at,
            "respond_by": self.respond_by,
            "issued_by_role": self.issued_by_role,
            "mission_count": self.mission_count,
            "status": self.status,
            "closed_at": self.closed_at,
            "closed_reason": self.closed_reason,
            "unaccounted_at_close": self.unaccounted_at_close,
            "reminders_sent": self.reminders_sent,
            "escalation": self.escalation,
            "escalated_at": self.escalated_at,
            "subdivisions": self.subdivisions,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SecurityAlert:
        """Load the stored form."""
        return cls(alert_id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})

    def to_view(self) -> dict[str, Any]:
        """The alert without its entries."""
        doc = self.to_doc()
        doc["alert_id"] = doc.pop("_id")
        for key in ("issued_at", "respond_by", "closed_at", "escalated_at"):
            doc[key] = _iso(doc[key])
        return doc


def missions_by_region(entries: list[dict[str, Any]]) -> dict[str, list[str]]:
    """A safety check's mission ids grouped by region (of the mission's authority), each list sorted.

    Entries whose region is unknown belong to no region: they are only in the country-wide events.
    """
    regions: dict[str, list[str]] = {}
    for entry in entries:
        if entry.get("region"):
            regions.setdefault(entry["region"], []).append(entry["mission_id"])
    return {region: sorted(ids) for region, ids in sorted(regions.items())}


def unaccounted_by_region(entries: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per region concerned by a check, its missions still pending (an empty list when all answered)."""
    pending = missions_by_region([e for e in entries if e.get("status") == PENDING])
    return {region: pending.get(region, []) for region in missions_by_region(entries)}


def check_response(status: str, entry: dict[str, Any] | None, mission_id: str) -> None:
    """A response must be safe or need_help and concern a mission in the snapshot."""
    if status not in RESPONSES:
        raise InvalidInput(f"unknown status {status!r}", details={"allowed": list(RESPONSES)})
    if entry is None:
        raise NotAllowedInState(f"mission {mission_id} is not part of this safety check")


def accounted_for(entry: dict[str, Any]) -> bool:
    """Whether we know how the volunteer is: any answer, safe or asking for help."""
    return bool(entry.get("status", PENDING) != PENDING)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
