"""The mission: from the engagement to the volunteer's return, with its checklist, check-ins and interviews.

State machine: planned → started → (extended)* → ended | interrupted. ``extended``
is a started mission whose end date moved; it behaves as started in every rule.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import Field

from vies_missions.domain.errors import ExtensionBeyondLifetimeCap, ExtensionBeyondSchemeLimit, MissionNotReady
from vies_shared.aggregate import Aggregate, IsoDate, Value
from vies_shared.errors import InvalidInput, NotAllowedInState
from vies_shared.events.base import Event
from vies_shared.events.missions import (
    CheckInMissed,
    CheckInReceived,
    FollowUpInterviewDone,
    FollowUpInterviewOverdue,
    MissionEnded,
    MissionExtended,
    MissionFlaggedForReview,
    MissionInterrupted,
    MissionPlanned,
    MissionStarted,
)
from vies_shared.months import add_months, months_between

PLANNED = "planned"
STARTED = "started"
EXTENDED = "extended"
ENDED = "ended"
INTERRUPTED = "interrupted"
STATUSES = (PLANNED, STARTED, EXTENDED, ENDED, INTERRUPTED)
ON_MISSION = (STARTED, EXTENDED)
"""States in which the volunteer is abroad (check-ins due, included in safety checks)."""
RECIPROCITY_SCHEMES = ("reciprocity", "service_civique_reciprocity")
"""Volunteers from partner countries hosted in France (VSI and Service Civique in reciprocity)."""

# The rules an extension must keep, with their sources (data, as in recruitment's rule table).
VSI_LAW = "Loi n° 2005-159 du 23 février 2005 relative au contrat de volontariat de solidarité internationale"
CONTRACT_LIMIT_SOURCES = {
    "vsi": f"{VSI_LAW}, art. 4 (contrat conclu pour une durée maximale de deux ans)",
    "reciprocity": f"{VSI_LAW}, art. 4, applicable au VSI en réciprocité (deux ans au plus)",
    "service_civique": "Code du service national, art. L120-1 (6 à 12 mois)",
    "service_civique_reciprocity": "Code du service national, art. L120-1 (6 à 12 mois)",
    "vec": "Code du travail, art. L3142-67 s. (congé de solidarité internationale : 6 mois au plus)",
}
LIFETIME_CAP_SCHEMES = ("vsi",)
LIFETIME_CAP_SOURCE = f"{VSI_LAW}, art. 4 (durée cumulée des missions : six ans au plus)"
ACTIVE = (PLANNED, STARTED, EXTENDED)

# Pre-departure checklist, from the agency's practice (docs/DOMAIN.md): training before departure,
# insurance, visa, registration with the foreign ministry's travel service (Ariane) and an
# emergency contact. Each item is ticked with the date it was done.
CHECKLIST_ITEMS = ("training", "insurance", "visa", "travel_registration", "emergency_contact")
# Reciprocity (hosting in France): training may take place after arrival (decree 2022-1067)
# and Ariane registers French travellers abroad, so neither is a condition of departure. The
# hosting authority prepares the stay in France: housing, a tutor, French classes; the contract
# names the long-stay visa and the volunteer's commitment to return (law 2021-1031 art. 8).
HOSTING_ITEMS = ("housing", "tutor", "french_classes", "return_commitment")
RECIPROCITY_CHECKLIST = ("insurance", "visa", "emergency_contact", *HOSTING_ITEMS)

INTERRUPTION_REASONS = ("health", "security", "personal", "host_partner", "other")
FOLLOW_UP_STAGES = ("start", "mid", "end")
# The authority's evaluation of a mission: each scored 1 (poor) to 5 (excellent).
EVALUATION_SCORES = ("objectives_met", "host_partner", "volunteer_support")

MISSION_NAMESPACE = uuid.UUID("6f1c8a52-3f7e-4d0b-9a49-5c2b7e0d9a11")


def mission_id_for(engagement_id: str) -> str:
    """The mission id of an engagement: deterministic, so a redelivered engagement finds its mission."""
    return f"mis-{uuid.uuid5(MISSION_NAMESPACE, engagement_id).hex[:16]}"


def latest_end(starts_on: date, max_months: int) -> date:
    """The last day of a contract of at most ``max_months`` months starting on ``starts_on``."""
    return add_months(starts_on, max_months) - timedelta(days=1)


def to_millis(moment: datetime) -> datetime:
    """``moment`` truncated to the millisecond, the precision MongoDB stores (keys stay equal after a reload)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def midnight(day: date) -> datetime:
    """The start of ``day`` in UTC (check-in due dates are counted from there)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


class FollowUp(Value):
    """One of the three formal interviews (start, mid-point, end) the agency holds with each volunteer."""

    stage: str
    due_on: IsoDate
    done_on: IsoDate | None = None
    done_by: str | None = None
    notes: str | None = None
    overdue_reported: bool = False

    def to_doc(self) -> dict[str, Any]:
        """Stored form (also how the API shows it)."""
        return self.model_dump()


def follow_up_dates(begins: date, ends: date, start_offset_days: int, end_offset_days: int) -> dict[str, date]:
    """Due dates of the start, mid-point and end interviews, in that order even for short missions."""
    mid = begins + (ends - begins) / 2
    start = min(begins + timedelta(days=start_offset_days), mid)
    end = max(ends - timedelta(days=end_offset_days), mid)
    return {"start": start, "mid": mid, "end": end}


class Mission(Aggregate):
    """A volunteer's mission abroad (or in France under reciprocity).

    The fields are in the order of the stored document.
    """

    keep_unset = True  # the document holds every field, defaults included: queries filter on them

    mission_id: str = Field(alias="_id")
    engagement_id: str
    volunteer_id: str | None
    authority_id: str
    partner_id: str
    country: str
    origin_country: str | None = None
    scheme: str
    starts_on: IsoDate
    ends_on: IsoDate
    planned_ends_on: IsoDate
    centre_id: str | None
    region: str | None = None
    status: str = PLANNED
    checklist: dict[str, IsoDate] = Field(default_factory=dict)
    departed_on: IsoDate | None = None
    ended_on: IsoDate | None = None
    debrief: str | None = None
    interruption: dict[str, Any] | None = None
    extensions: list[dict[str, Any]] = Field(default_factory=list)
    follow_ups: list[FollowUp] = Field(default_factory=list)
    check_in_interval_seconds: float = 14 * 86400
    next_check_in_due_at: datetime | None = None
    last_check_in_at: datetime | None = None
    missed_in_a_row: int = 0
    review: dict[str, Any] | None = None
    erased: bool = False
    created_at: datetime | None = None
    vsi_months_served_before: float | None = None  # from the engagement: VSI time before this mission
    # Where the volunteer lives and works: {"city", "subdivision" (ISO 3166-2)}; set by the centre or
    # the volunteer and changed when they move, so an alert for a part of the country reaches them.
    place: dict[str, str] | None = None
    volunteer_report: dict[str, Any] | None = None  # the volunteer's own end-of-mission report
    evaluation: dict[str, Any] | None = None  # the authority's evaluation of the mission

    # --- creation -----------------------------------------------------------------
    @classmethod
    def plan(
        cls,
        *,
        engagement_id: str,
        volunteer_id: str,
        authority_id: str,
        partner_id: str,
        country: str,
        scheme: str,
        starts_on: date,
        ends_on: date,
        centre_id: str | None,
        region: str | None,
        check_in_interval_seconds: float,
        follow_up_offsets: tuple[int, int],
        now: datetime,
        vsi_months_served_before: float | None = None,
        place: dict[str, str] | None = None,
        volunteer_erased: bool = False,
    ) -> Mission:
        """A planned mission from an engagement (records ``MissionPlanned``); reciprocity volunteers are hosted
        in France.

        ``place`` (the position's city and subdivision) is kept only when the subdivision is one of
        the host country's: a wrong one would hide the volunteer from alerts aimed elsewhere.
        ``volunteer_erased``: the volunteer was erased meanwhile; the mission is planned erased (its
        anonymous facts kept) and ``MissionPlanned`` does not publish the person's id again (empty).
        """
        if ends_on < starts_on:
            raise InvalidInput("ends_on is before starts_on")
        origin = None
        if scheme in RECIPROCITY_SCHEMES:
            origin, country = country.upper(), "FR"
        mission = cls(
            mission_id=mission_id_for(engagement_id),
            engagement_id=engagement_id,
            volunteer_id=volunteer_id,
            authority_id=authority_id,
            partner_id=partner_id,
            country=country.upper(),
            origin_country=origin,
            scheme=scheme,
            starts_on=starts_on,
            ends_on=ends_on,
            planned_ends_on=ends_on,
            centre_id=centre_id,
            region=region,
            check_in_interval_seconds=check_in_interval_seconds,
            created_at=now,
            vsi_months_served_before=vsi_months_served_before,
        )
        if place and is_subdivision_of(place.get("subdivision", "").upper(), mission.country):
            mission.place = {"city": place.get("city", "").strip(), "subdivision": place["subdivision"].upper()}
        mission.schedule_follow_ups(*follow_up_offsets)
        if volunteer_erased:
            mission.erase_volunteer()
        mission._record(
            MissionPlanned(
                mission_id=mission.mission_id,
                engagement_id=mission.engagement_id,
                volunteer_id=mission.volunteer_id or "",
                authority_id=mission.authority_id,
                partner_id=mission.partner_id,
                country=mission.country,
                centre_id=mission.centre_id,
                scheme=mission.scheme,
                starts_on=mission.starts_on,
                ends_on=mission.ends_on,
                origin_country=mission.origin_country,
            )
        )
        return mission

    # --- checklist and departure -----------------------------------------------------
    @property
    def required_checklist(self) -> tuple[str, ...]:
        """Items that must be ticked before departure for this mission's scheme."""
        return RECIPROCITY_CHECKLIST if self.scheme in RECIPROCITY_SCHEMES else CHECKLIST_ITEMS

    @property
    def missing_checklist(self) -> list[str]:
        """Required items not yet ticked, in checklist order."""
        return [item for item in self.required_checklist if item not in self.checklist]

    def tick(self, item: str, done_on: date) -> None:
        """Tick a checklist item with the date it was done (allowed before departure only)."""
        allowed = [*CHECKLIST_ITEMS, *(i for i in self.required_checklist if i not in CHECKLIST_ITEMS)]
        if item not in allowed:
            raise InvalidInput(f"unknown checklist item {item!r}", details={"allowed": allowed})
        if self.status != PLANNED:
            raise NotAllowedInState(f"the checklist is closed: mission is {self.status}")
        self.checklist[item] = done_on

    def start(self, departed_on: date, now: datetime) -> None:
        """Departure: refused (409 listing what is missing) while the checklist is incomplete."""
        if self.status != PLANNED:
            raise NotAllowedInState(f"mission is {self.status}, only a planned mission can start")
        if self.missing_checklist:
            raise MissionNotReady(self.missing_checklist)
        if departed_on > now.date() + timedelta(days=1):
            raise InvalidInput("departed_on is in the future: record the departure once it happened")
        if departed_on > self.ends_on:
            raise InvalidInput("departed_on is after the mission's end date")
        self.status = STARTED
        self.departed_on = departed_on
        # Counted from the departure day; a departure recorded on the day counts from now.
        anchor = midnight(departed_on) if departed_on < now.date() else now
        self.next_check_in_due_at = to_millis(anchor + timedelta(seconds=self.check_in_interval_seconds))
        self.missed_in_a_row = 0
        self._record(MissionStarted(mission_id=self.mission_id, departed_on=departed_on))

    # --- dates ------------------------------------------------------------------------
    def extend(self, ends_on: date, max_months: int, now: datetime, *, lifetime_cap_months: int | None = None) -> None:
        """Move the end date later within the scheme's longest contract (VSI: 24 months) and, for a VSI,
        within the lifetime cap counting the months served before this mission (both 409 with their source)."""
        if self.status not in ON_MISSION:
            raise NotAllowedInState(f"mission is {self.status}, only a mission under way can be extended")
        if ends_on <= self.ends_on:
            raise InvalidInput(f"the new end date must be after the current one ({self.ends_on})")
        limit = latest_end(self.starts_on, max_months)
        if ends_on > limit:
            raise ExtensionBeyondSchemeLimit(self.scheme, max_months, limit, CONTRACT_LIMIT_SOURCES.get(self.scheme))
        if lifetime_cap_months is not None and self.scheme in LIFETIME_CAP_SCHEMES:
            before = self.vsi_months_served_before or 0.0
            total = round(before + months_between(self.starts_on, ends_on), 4)
            # Same count as recruitment's: whole calendar months, then the remaining days as thirtieths.
            if total > lifetime_cap_months + 1e-9:
                raise ExtensionBeyondLifetimeCap(
                    cap_months=lifetime_cap_months,
                    served_before=before,
                    with_extension=total,
                    source=LIFETIME_CAP_SOURCE,
                )
        self.extensions.append({"from": self.ends_on.isoformat(), "to": ends_on.isoformat(), "at": now})
        self.ends_on = ends_on
        self.status = EXTENDED
        self._record(MissionExtended(mission_id=self.mission_id, ends_on=ends_on))

    def end(self, ended_on: date, debrief: str) -> None:
        """Normal end of the mission with the debrief."""
        if self.status not in ON_MISSION:
            raise NotAllowedInState(f"mission is {self.status}, only a mission under way can end")
        self._check_return(ended_on)
        self.status = ENDED
        self.ended_on = ended_on
        self.debrief = debrief
        self.next_check_in_due_at = None
        self._record(MissionEnded(mission_id=self.mission_id, ended_on=ended_on))

    def interrupt(self, reason: str, interrupted_on: date, note: str | None) -> None:
        """Early return for health, security, personal, host partner or other reasons."""
        if reason not in INTERRUPTION_REASONS:
            raise InvalidInput(f"unknown reason {reason!r}", details={"allowed": list(INTERRUPTION_REASONS)})
        if self.status not in ON_MISSION:
            raise NotAllowedInState(f"mission is {self.status}, only a mission under way can be interrupted")
        self._check_return(interrupted_on)
        self.status = INTERRUPTED
        self.ended_on = interrupted_on
        self.interruption = {"reason": reason, "note": note, "on": interrupted_on.isoformat()}
        self.next_check_in_due_at = None
        self._record(MissionInterrupted(mission_id=self.mission_id, reason=reason, interrupted_on=interrupted_on))

    def _check_return(self, returned_on: date) -> None:
        if self.departed_on is not None and returned_on < self.departed_on:
            raise InvalidInput(f"the return date is before the departure ({self.departed_on})")

    # --- follow-up interviews ---------------------------------------------------------------
    def schedule_follow_ups(self, start_offset_days: int, end_offset_days: int) -> None:
        """(Re)compute the due dates of the interviews not yet held from the mission's current dates."""
        begins = self.departed_on or self.starts_on
        dates = follow_up_dates(begins, self.ends_on, start_offset_days, end_offset_days)
        existing = {f.stage: f for f in self.follow_ups}
        self.follow_ups = []
        for stage in FOLLOW_UP_STAGES:
            current = existing.get(stage)
            if current is not None and (current.done_on is not None or current.due_on == dates[stage]):
                self.follow_ups.append(current)  # held, or its date did not move: keep it as it is
            else:
                self.follow_ups.append(FollowUp(stage=stage, due_on=dates[stage]))

    def follow_up_done(self, stage: str, done_on: date, done_by: str, notes: str | None) -> FollowUp:
        """Mark an interview held; refused before departure and twice for the same stage."""
        if stage not in FOLLOW_UP_STAGES:
            raise InvalidInput(f"unknown stage {stage!r}", details={"allowed": list(FOLLOW_UP_STAGES)})
        if self.status == PLANNED:
            raise NotAllowedInState("follow-up interviews are held once the mission has started")
        follow_up = next(f for f in self.follow_ups if f.stage == stage)
        if follow_up.done_on is not None:
            raise NotAllowedInState(f"the {stage} interview was already held on {follow_up.done_on}")
        follow_up.done_on, follow_up.done_by, follow_up.notes = done_on, done_by, notes
        self._record(FollowUpInterviewDone(mission_id=self.mission_id, stage=stage, done_on=done_on))
        return follow_up

    def overdue_follow_ups(self, today: date, grace_days: int) -> list[FollowUp]:
        """Interviews not held ``grace_days`` after their due date and not yet reported; marks them reported
        and records ``FollowUpInterviewOverdue`` for each."""
        if self.status not in ON_MISSION:
            return []
        overdue = [
            f
            for f in self.follow_ups
            if f.done_on is None and not f.overdue_reported and f.due_on + timedelta(days=grace_days) < today
        ]
        for follow_up in overdue:
            follow_up.overdue_reported = True
            self._record(
                FollowUpInterviewOverdue(
                    mission_id=self.mission_id, stage=follow_up.stage, due_on=follow_up.due_on, centre_id=self.centre_id
                )
            )
        return overdue

    # --- check-ins ------------------------------------------------------------------------
    def check_in(self, at: datetime, status: str = "ok") -> None:
        """A check-in from the volunteer (``ok``, ``concern``, ``urgent``): the next one is due one interval later."""
        if self.status not in ON_MISSION:
            raise NotAllowedInState(f"mission is {self.status}: check-ins are for missions under way")
        self.last_check_in_at = at
        self.next_check_in_due_at = to_millis(at + timedelta(seconds=self.check_in_interval_seconds))
        self.missed_in_a_row = 0
        self._record(CheckInReceived(mission_id=self.mission_id, status=status))

    def change_check_in_interval(self, seconds: float, now: datetime) -> None:
        """A new interval for this mission (e.g. shorter during a crisis); it applies from the next due date.

        Shorter: the next check-in is due within the new interval from now (never earlier than
        now, so the change itself causes no miss). Longer: the next due date moves by the difference.
        """
        if seconds <= 0:
            raise InvalidInput("the check-in interval must be positive")
        if self.status not in ACTIVE:
            raise NotAllowedInState(f"mission is {self.status}: check-ins are over")
        previous, self.check_in_interval_seconds = self.check_in_interval_seconds, seconds
        due = self.next_check_in_due_at
        if due is None:
            return
        if seconds < previous:
            self.next_check_in_due_at = to_millis(min(due, now + timedelta(seconds=seconds)))
        else:
            self.next_check_in_due_at = to_millis(due + timedelta(seconds=seconds - previous))

    def missed_check_ins(self, now: datetime, limit: int) -> list[datetime]:
        """Due dates passed without a check-in, oldest first (at most ``limit``); advances the next due date.

        Records ``CheckInMissed`` for each, with how many were missed in a row by then.
        """
        due = self.next_check_in_due_at
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        if self.status not in ON_MISSION or due is None:
            return []
        step = timedelta(seconds=self.check_in_interval_seconds)
        missed: list[datetime] = []
        while due <= now and len(missed) < limit:
            missed.append(due)
            due = to_millis(due + step)
        self.next_check_in_due_at = due
        for due_at in missed:
            self.missed_in_a_row += 1
            self._record(
                CheckInMissed(
                    mission_id=self.mission_id,
                    due_on=due_at.date(),
                    due_at=due_at,
                    missed_in_a_row=self.missed_in_a_row,
                )
            )
        return missed

    # --- review and erasure -------------------------------------------------------------------
    def flag_for_review(self, reason: str, partner_id: str | None, now: datetime) -> bool:
        """Flag an active mission for review; False when it is over or already flagged for that partner."""
        if self.status not in ACTIVE:
            return False
        if self.review is not None and self.review.get("partner_id") == partner_id:
            return False
        self.review = {"reason": reason, "partner_id": partner_id, "flagged_at": now}
        return True

    def flag_for_partner_suspension(self, partner_id: str, reason: str, now: datetime) -> bool:
        """Flag the mission because its host partner was suspended (records ``MissionFlaggedForReview``)."""
        if not self.flag_for_review(f"host partner suspended: {reason}", partner_id, now):
            return False
        self._record(
            MissionFlaggedForReview(
                mission_id=self.mission_id, reason=f"partner_suspended: {reason}", partner_id=partner_id
            )
        )
        return True

    def move_to(self, city: str, subdivision: str) -> None:
        """Record where the volunteer is now; the subdivision must be one of the mission country's."""
        code = subdivision.strip().upper()
        if not is_subdivision_of(code, self.country):
            raise InvalidInput(
                f"subdivision {subdivision!r} is not an ISO 3166-2 code of {self.country}",
                details={"expected": f"{self.country}-<code>"},
            )
        if self.status not in (PLANNED, *ON_MISSION):
            raise NotAllowedInState(f"the mission is {self.status}: its place no longer changes")
        self.place = {"city": city.strip(), "subdivision": code}

    # --- end of mission: the volunteer's report and the authority's evaluation ---------------
    def file_report(self, text: str, now: datetime) -> None:
        """The volunteer's own report (free text), from departure on; a new one replaces the last."""
        if self.status == PLANNED:
            raise NotAllowedInState("the mission has not started: nothing to report yet")
        self.volunteer_report = {"text": text, "at": now}

    def evaluate(
        self, scores: dict[str, int], would_host_again: bool, comment: str | None, by: str, now: datetime
    ) -> None:
        """The authority's evaluation (scores 1-5 per ``EVALUATION_SCORES``), once the mission is over."""
        if self.status not in (ENDED, INTERRUPTED):
            raise NotAllowedInState(f"mission is {self.status}: the evaluation comes once it has ended")
        if sorted(scores) != sorted(EVALUATION_SCORES) or not all(1 <= v <= 5 for v in scores.values()):
            raise InvalidInput("score each of " + ", ".join(EVALUATION_SCORES) + " from 1 to 5")
        self.evaluation = {**scores, "would_host_again": would_host_again, "comment": comment, "by": by, "at": now}

    def erase_volunteer(self) -> None:
        """Right to erasure: drop what identifies or describes the person, keep the anonymous facts."""
        self.volunteer_id = None
        self.debrief = None
        self.volunteer_report = None
        if self.evaluation is not None:
            self.evaluation["comment"] = None
        self.place = None  # the city tells where a person lives
        if self.interruption is not None:
            self.interruption["note"] = None
        for follow_up in self.follow_ups:
            follow_up.notes = None
        self.erased = True

    def _record(self, event: Event) -> None:
        """Record an event about this mission, published under its region."""
        self.record(event, region=self.region)


_SUBDIVISION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")


def is_subdivision_of(code: str, country: str) -> bool:
    """Whether ``code`` has the shape of an ISO 3166-2 subdivision code of ``country`` (e.g. SN-DK)."""
    return bool(_SUBDIVISION.match(code)) and code[:2] == country.upper()


def first_name(full_name: str | None) -> str | None:
    """The first word of a person's name (what a host partner is shown), or None."""
    words = (full_name or "").split()
    return words[0] if words else None
