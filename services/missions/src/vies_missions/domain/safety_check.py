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
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from vies_missions.domain.incident import Incident
from vies_missions.domain.mission import is_subdivision_of
from vies_shared.aggregate import Aggregate
from vies_shared.errors import InvalidInput, NotAllowedInState
from vies_shared.events.missions import (
    SafetyCheckClosed,
    SafetyCheckClosedInRegion,
    SafetyCheckEscalated,
    SafetyCheckOpened,
    SafetyCheckReminded,
    SafetyStatusReported,
    SecurityAlertIssued,
)

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
NEED_HELP = "need_help"
RESPONSES = ("safe", NEED_HELP)
PENDING = "pending"
OPEN = "open"
CLOSED = "closed"


def new_alert_id() -> str:
    """A fresh alert id."""
    return f"alert-{uuid.uuid4().hex[:16]}"


def entry_id(alert_id: str, mission_id: str) -> str:
    """Id of one mission's entry in a safety check (unique per alert and mission)."""
    return f"{alert_id}:{mission_id}"


class SafetyEntry(Aggregate):
    """One mission's line in a safety check: who to account for, and their answer (stored apart from the alert).

    The fields are in the order of the stored document. A new entry holds the first ten; how the
    answer came (``responded_by_role``, ``responded_via``) and the incident a ``need_help`` opened
    are added by the first answer that sets them.
    """

    entry_id: str = Field(alias="_id")
    alert_id: str
    mission_id: str
    volunteer_id: str | None
    authority_id: str
    region: str | None
    centre_id: str | None
    status: str = PENDING
    responded_at: datetime | None = None
    after_close: bool = False
    responded_by_role: str | None = None
    responded_via: str | None = None
    incident_id: str | None = None

    @classmethod
    def pending(cls, alert_id: str, mission: dict[str, Any]) -> SafetyEntry:
        """A mission's entry as the check opens (``mission``: its stored document, or the snapshot's projection)."""
        return cls(
            entry_id=entry_id(alert_id, mission["_id"]),
            alert_id=alert_id,
            mission_id=mission["_id"],
            volunteer_id=mission.get("volunteer_id"),
            authority_id=mission["authority_id"],
            region=mission.get("region"),
            centre_id=mission.get("centre_id"),
            # Given, not defaulted: a new entry's document holds its answer's state from the start.
            status=PENDING,
            responded_at=None,
            after_close=False,
        )

    @property
    def accounted_for(self) -> bool:
        """Whether we know how the volunteer is: any answer, safe or asking for help."""
        return self.status != PENDING


class SecurityAlert(Aggregate):
    """An alert for a country and the safety check it opened (its entries, one per mission, are stored apart).

    The fields are in the order of the stored document.
    """

    keep_unset = True  # the document holds every field, defaults included: queries filter on them

    alert_id: str = Field(alias="_id")
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

    def entries_for(self, missions: list[dict[str, Any]]) -> list[SafetyEntry]:
        """One pending entry per mission under way in the country (``missions``: the snapshot's documents)."""
        return [SafetyEntry.pending(self.alert_id, mission) for mission in missions]

    def open_check(self, missions: list[dict[str, Any]], now: datetime) -> list[SafetyEntry]:
        """Snapshot ``missions`` (those ``snapshot_query`` found) and record the check's opening; the entries.

        Records ``SecurityAlertIssued`` for the whole country, then one ``SafetyCheckOpened`` per region
        with its own missions (so each branch sees the alert and its missions); with nobody to account
        for the check is complete at once and closes (``no_volunteers``).
        """
        entries = self.entries_for(missions)
        self.mission_count = len(entries)
        self.record(SecurityAlertIssued(mission_ids=[e.mission_id for e in entries], **self._announced()))
        for region, mission_ids in missions_by_region(entries).items():
            self.record(SafetyCheckOpened(mission_ids=mission_ids, **self._announced()), region=region)
        if not entries:
            self.close("no_volunteers", [], now)
        return entries

    def _announced(self) -> dict[str, Any]:
        """What the opening events tell of the alert besides its missions."""
        return {
            "alert_id": self.alert_id,
            "country": self.country,
            "level": self.level,
            "respond_by": self.respond_by,
            "message": self.message,
            "respond_within_hours": self.respond_within_hours,
            "subdivisions": self.subdivisions,
        }

    def answer(
        self,
        entry: SafetyEntry | None,
        mission: dict[str, Any],
        status: str,
        *,
        now: datetime,
        by: str,
        via: str,
    ) -> Incident | None:
        """Record a mission's answer on its ``entry`` (replacing an earlier one, with the new time).

        Records ``SafetyStatusReported`` under the mission's region; an answer after the close is still
        recorded, flagged ``after_close``. A ``need_help`` answer opens a critical security incident:
        returned (to be stored) and named on the entry.
        """
        entry = check_response(status, entry, mission["_id"])
        entry.status = status
        entry.responded_at = now
        entry.responded_by_role = by
        entry.responded_via = via
        entry.after_close = self.status != OPEN
        self.record(
            SafetyStatusReported(alert_id=self.alert_id, mission_id=mission["_id"], status=status),
            region=mission.get("region"),
        )
        if status != NEED_HELP:
            return None
        incident = self.help_requested(mission, by, now)
        entry.incident_id = incident.incident_id
        return incident

    def help_requested(self, mission: dict[str, Any], by: str, now: datetime) -> Incident:
        """The critical security incident a ``need_help`` answer opens on ``mission``."""
        return Incident.report(
            mission=mission,
            category="security",
            severity="critical",
            description=f"asked for help in answer to security alert {self.alert_id} ({self.level}): {self.message}",
            reported_by_role=by,
            now=now,
            source="safety_check",
        )

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
        """Close the check; ``unaccounted`` are the missions that had not answered (records ``SafetyCheckClosed``)."""
        if self.status == CLOSED:
            raise NotAllowedInState("the safety check is already closed")
        self.status = CLOSED
        self.closed_at = now
        self.closed_reason = reason
        self.unaccounted_at_close = unaccounted
        if reason == "deadline" and unaccounted:
            # Closed by the clock with volunteers not heard from: the head office hears of them after a delay.
            self.escalation = ESCALATION_PENDING
        self.record(
            SafetyCheckClosed(alert_id=self.alert_id, unaccounted_mission_ids=unaccounted, country=self.country)
        )

    def close_over(self, entries: list[SafetyEntry], reason: str, now: datetime) -> None:
        """Close the check over its ``entries`` (mission, region, status of each).

        Every region concerned hears of the close (``SafetyCheckClosedInRegion``), even when all its
        volunteers answered.
        """
        self.close(reason, sorted(e.mission_id for e in entries if not e.accounted_for), now)
        for region, mission_ids in unaccounted_by_region(entries).items():
            self.record(
                SafetyCheckClosedInRegion(
                    alert_id=self.alert_id, country=self.country, unaccounted_mission_ids=mission_ids
                ),
                region=region,
            )

    def remind(self, stages: list[str], pending: list[str]) -> None:
        """Record the reminder ``stages`` as sent; the still ``pending`` missions are reminded once, under the
        last stage (``SafetyCheckReminded``)."""
        self.reminders_sent = [*(self.reminders_sent or []), *stages]
        if pending:
            self.record(
                SafetyCheckReminded(
                    alert_id=self.alert_id,
                    country=self.country,
                    level=self.level,
                    stage=stages[-1],
                    respond_by=self.respond_by,
                    mission_ids=pending,
                    message=self.message,
                )
            )

    def escalate_to_head_office(self, pending: list[str], now: datetime) -> None:
        """The last step of the ladder: the missions still ``pending`` go up to the head office."""
        self.escalation = ESCALATION_DONE
        self.escalated_at = now
        if pending:
            self.record(
                SafetyCheckEscalated(
                    alert_id=self.alert_id,
                    country=self.country,
                    escalated_to=HEAD_OFFICE,
                    unaccounted_mission_ids=pending,
                    respond_by=self.respond_by,
                )
            )


def missions_by_region(entries: list[SafetyEntry]) -> dict[str, list[str]]:
    """A safety check's mission ids grouped by region (of the mission's authority), each list sorted.

    Entries whose region is unknown belong to no region: they are only in the country-wide events.
    """
    regions: dict[str, list[str]] = {}
    for entry in entries:
        if entry.region:
            regions.setdefault(entry.region, []).append(entry.mission_id)
    return {region: sorted(ids) for region, ids in sorted(regions.items())}


def unaccounted_by_region(entries: list[SafetyEntry]) -> dict[str, list[str]]:
    """Per region concerned by a check, its missions still pending (an empty list when all answered)."""
    pending = missions_by_region([e for e in entries if not e.accounted_for])
    return {region: pending.get(region, []) for region in missions_by_region(entries)}


def check_response(status: str, entry: SafetyEntry | None, mission_id: str) -> SafetyEntry:
    """A response must be safe or need_help and concern a mission in the snapshot: its entry."""
    if status not in RESPONSES:
        raise InvalidInput(f"unknown status {status!r}", details={"allowed": list(RESPONSES)})
    if entry is None:
        raise NotAllowedInState(f"mission {mission_id} is not part of this safety check")
    return entry


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
