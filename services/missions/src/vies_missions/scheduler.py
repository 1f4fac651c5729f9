"""Periodic jobs: missed check-ins, safety-check deadlines, incident escalation.

Every job is idempotent by design, not only by the kit's lease:
- a missed check-in is recorded under the unique key ``<mission>:<due datetime>`` in the
  same transaction as its ``CheckInMissed`` event and the conditional move of the
  mission's next due date (``update_one`` matching the due date it read), so a second
  scheduler either finds nothing left to do, loses the write conflict and retries, finds
  the key already recorded and emits nothing for it, or hits the unique key and retries
  mission by mission;
- a safety check closes only from ``open`` (conditional replace); each reminder stage is recorded on
  the alert by a write conditional on the stages read, the head-office escalation by one conditional on
  ``escalation: pending`` (both in the transaction that emits the step's event);
- an incident escalates to the head office only from ``centre`` (conditional replace);
- an overdue interview is reported once per (mission, stage, due date): unique key again.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from vies_missions import store
from vies_missions.domain.incident import CENTRE, OPEN, Incident
from vies_missions.domain.mission import ON_MISSION, Mission
from vies_missions.domain.safety_check import ESCALATION_PENDING, SecurityAlert
from vies_missions.domain.safety_check import OPEN as OPEN_CHECK
from vies_missions.domain.safety_check import PENDING as PENDING_ANSWER
from vies_missions.settings import MissionsSettings
from vies_missions.use_cases import close_check
from vies_shared.aggregate import emit_recorded
from vies_shared.events.missions import CheckInMissed, FollowUpInterviewOverdue
from vies_shared.logging import get_logger
from vies_shared.service import Runtime
from vies_shared.storage import UnitOfWork, transactional

Document = dict[str, Any]
log = get_logger(component="scheduler")

MAX_ROUNDS = 50  # per run; what is left waits for the next tick


def missed_key(mission_id: str, due_at: datetime) -> str:
    """The unique key of one missed due date of one mission."""
    return f"{mission_id}:{due_at.isoformat(timespec='milliseconds')}"


async def emit_missed_check_ins(runtime: Runtime[MissionsSettings]) -> int:
    """Emit ``CheckInMissed`` once per due date passed without a check-in; returns how many were emitted."""
    settings = runtime.settings
    now = runtime.now()
    emitted = 0
    for _ in range(MAX_ROUNDS):
        cursor = (
            runtime.db[store.MISSIONS]
            .find({"status": {"$in": list(ON_MISSION)}, "next_check_in_due_at": {"$lte": now}}, {"_id": 1})
            .sort("next_check_in_due_at", 1)
            .limit(settings.check_in_scan_batch)
        )
        ids = [doc["_id"] async for doc in cursor]
        if not ids:
            break
        try:
            emitted += await _record_missed(runtime, ids, now)
        except DuplicateKeyError:
            # Another scheduler recorded some of these due dates: go mission by mission, skipping those.
            for mission_id in ids:
                try:
                    emitted += await _record_missed(runtime, [mission_id], now)
                except DuplicateKeyError:
                    log.info("missed_check_in_already_recorded", mission_id=mission_id)
        if len(ids) < settings.check_in_scan_batch:
            break
    return emitted


@transactional
async def _record_missed(uow: UnitOfWork[MissionsSettings], ids: list[str], now: datetime) -> int:
    """Record the due dates the missions ``ids`` missed by ``now`` and emit ``CheckInMissed`` for the new ones."""
    cursor = uow[store.MISSIONS].find(
        {"_id": {"$in": ids}, "status": {"$in": list(ON_MISSION)}, "next_check_in_due_at": {"$lte": now}},
    )
    missed: list[tuple[Mission, CheckInMissed]] = []
    async for doc in cursor:
        mission = Mission.from_doc(doc)
        if await _advance_check_ins(uow, mission, doc["next_check_in_due_at"], now):
            missed.extend((mission, r.event) for r in mission.pull_events() if isinstance(r.event, CheckInMissed))
    if not missed:
        return 0
    # A due date already recorded (by a replica, or before a crash after commit) is never emitted again.
    keys = {missed_key(m.mission_id, event.due_at or now): (m, event) for m, event in missed}
    recorded = await _recorded(uow, store.MISSED_CHECK_INS, list(keys))
    fresh = {key: pair for key, pair in keys.items() if key not in recorded}
    for mission, event in fresh.values():
        uow.emit(event, region=mission.region)
    if fresh:
        await uow[store.MISSED_CHECK_INS].insert_many(
            [_missed_doc(key, event, now) for key, (_, event) in fresh.items()]
        )
    return len(fresh)


async def _advance_check_ins(uow: UnitOfWork[MissionsSettings], mission: Mission, read_due: Any, now: datetime) -> bool:
    """Move the mission's next due date past the missed ones (recorded on it), conditional on the due date read.

    False when nothing was missed, or a check-in or another scheduler moved the due date meanwhile.
    """
    if not mission.missed_check_ins(now, uow.settings.max_missed_per_scan):
        return False
    moved = await uow[store.MISSIONS].update_one(
        {"_id": mission.mission_id, "next_check_in_due_at": read_due},
        {"$set": {"next_check_in_due_at": mission.next_check_in_due_at, "missed_in_a_row": mission.missed_in_a_row}},
    )
    return moved.matched_count > 0


def _missed_doc(key: str, event: CheckInMissed, now: datetime) -> Document:
    """The unique record of one missed due date."""
    return {
        "_id": key,
        "mission_id": event.mission_id,
        "due_at": event.due_at,
        "due_on": event.due_on.isoformat(),
        "missed_in_a_row": event.missed_in_a_row,
        "recorded_at": now,
    }


async def _recorded(uow: UnitOfWork, collection: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` are already in ``collection`` (small ``$in`` lists, see ``store.contacts_of``)."""
    found: set[str] = set()
    for i in range(0, len(keys), store.CONTACTS_CHUNK):
        chunk = keys[i : i + store.CONTACTS_CHUNK]
        cursor = uow[collection].find({"_id": {"$in": chunk}}, {"_id": 1})
        found.update([doc["_id"] async for doc in cursor])
    return found


async def close_due_safety_checks(runtime: Runtime[MissionsSettings]) -> int:
    """Close the safety checks whose response deadline passed and report the unaccounted missions."""
    now = runtime.now()
    closed = 0
    cursor = runtime.db[store.ALERTS].find({"status": "open", "respond_by": {"$lte": now}}, {"_id": 1})
    for alert_id in [doc["_id"] async for doc in cursor]:
        if await _close_at_deadline(runtime, alert_id, now):
            closed += 1
    return closed


@transactional
async def _close_at_deadline(uow: UnitOfWork, alert_id: str, now: datetime) -> bool:
    return await close_check(uow, alert_id, "deadline", now, must_be_open=False) is not None


async def remind_unanswered_volunteers(runtime: Runtime[MissionsSettings]) -> int:
    """Remind the volunteers of open safety checks who have not answered, once per check and stage.

    The stage is recorded on the alert by a write conditional on it not being recorded yet, in the
    transaction that emits ``SafetyCheckReminded``: of two schedulers, one emits, the other matches
    nothing (or loses the write conflict, retries and then matches nothing).
    """
    settings = runtime.settings
    now = runtime.now()
    before = timedelta(seconds=settings.safety_reminder_before_deadline_seconds)
    reminded = 0
    cursor = runtime.db[store.ALERTS].find({"status": OPEN_CHECK, "respond_by": {"$gt": now}}, {"_id": 1})
    for alert_id in [doc["_id"] async for doc in cursor]:
        if await _remind(runtime, alert_id, now, before):
            reminded += 1
    return reminded


@transactional
async def _remind(uow: UnitOfWork, alert_id: str, now: datetime, before: timedelta) -> bool:
    doc = await uow[store.ALERTS].find_one({"_id": alert_id})
    if doc is None:
        return False
    alert = SecurityAlert.from_doc(doc)
    stages = alert.reminders_due(now, before)
    if not stages:
        return False
    pending = await _pending_missions(uow, alert_id)
    alert.remind(stages, pending)
    # Conditional on the stages read: a replica that recorded one meanwhile makes this match nothing.
    result = await uow[store.ALERTS].update_one(
        {"_id": alert_id, "status": OPEN_CHECK, "reminders_sent": doc.get("reminders_sent")},
        {"$set": {"reminders_sent": alert.reminders_sent}},
    )
    if result.matched_count == 0:
        return False
    emit_recorded(uow, alert)
    return bool(pending)


async def escalate_unaccounted_to_head_office(runtime: Runtime[MissionsSettings]) -> int:
    """The last step of the ladder: volunteers still unaccounted a delay after the deadline go to the head office."""
    settings = runtime.settings
    now = runtime.now()
    delay = timedelta(seconds=settings.safety_head_office_delay_seconds)
    escalated = 0
    query = {"escalation": ESCALATION_PENDING, "closed_at": {"$lte": now - delay}}
    for alert_id in [doc["_id"] async for doc in runtime.db[store.ALERTS].find(query, {"_id": 1})]:
        if await _escalate_to_head_office(runtime, alert_id, now, delay):
            escalated += 1
    return escalated


@transactional
async def _escalate_to_head_office(uow: UnitOfWork, alert_id: str, now: datetime, delay: timedelta) -> bool:
    doc = await uow[store.ALERTS].find_one({"_id": alert_id})
    if doc is None:
        return False
    alert = SecurityAlert.from_doc(doc)
    if not alert.escalation_due(now, delay):
        return False
    # Answers recorded after the close count: only those still not heard from go up.
    pending = await _pending_missions(uow, alert_id)
    alert.escalate_to_head_office(pending, now)
    result = await uow[store.ALERTS].update_one(
        {"_id": alert_id, "escalation": ESCALATION_PENDING},
        {"$set": {"escalation": alert.escalation, "escalated_at": alert.escalated_at}},
    )
    if result.matched_count == 0:
        return False
    emit_recorded(uow, alert)
    return bool(pending)


async def _pending_missions(uow: UnitOfWork, alert_id: str) -> list[str]:
    cursor = uow[store.ENTRIES].find({"alert_id": alert_id, "status": PENDING_ANSWER}, {"mission_id": 1})
    return sorted([entry["mission_id"] async for entry in cursor])


async def escalate_unacknowledged_incidents(runtime: Runtime[MissionsSettings]) -> int:
    """Send to the head office the centre-level incidents nobody acknowledged in time."""
    settings = runtime.settings
    now = runtime.now()
    delay = timedelta(seconds=settings.incident_escalation_delay_seconds)
    query = {"status": OPEN, "escalated_to": CENTRE, "escalated_at": {"$lte": now - delay}}
    escalated = 0
    for incident_id in [doc["_id"] async for doc in runtime.db[store.INCIDENTS].find(query, {"_id": 1})]:
        if await _escalate_incident(runtime, incident_id, now, delay):
            escalated += 1
    return escalated


@transactional
async def _escalate_incident(uow: UnitOfWork, incident_id: str, now: datetime, delay: timedelta) -> bool:
    doc = await uow[store.INCIDENTS].find_one({"_id": incident_id})
    if doc is None:
        return False
    incident = Incident.from_doc(doc)
    if not incident.escalate_if_unacknowledged(now, delay):
        return False
    result = await uow[store.INCIDENTS].replace_one(
        {"_id": incident_id, "status": OPEN, "escalated_to": CENTRE}, incident.to_doc()
    )
    if result.matched_count == 0:
        return False
    emit_recorded(uow, incident)
    return True


async def report_overdue_follow_ups(runtime: Runtime[MissionsSettings]) -> int:
    """Report the follow-up interviews not held within the grace period after their due date."""
    settings = runtime.settings
    today = runtime.now().date()
    cutoff = (today - timedelta(days=settings.follow_up_grace_days)).isoformat()
    query = {
        "status": {"$in": list(ON_MISSION)},
        "follow_ups": {"$elemMatch": {"done_on": None, "overdue_reported": {"$ne": True}, "due_on": {"$lt": cutoff}}},
    }
    reported = 0
    ids = [doc["_id"] async for doc in runtime.db[store.MISSIONS].find(query, {"_id": 1}).limit(500)]
    for mission_id in ids:
        try:
            reported += await _report_overdue(runtime, mission_id, today, settings.follow_up_grace_days)
        except DuplicateKeyError:
            log.info("overdue_follow_up_already_reported", mission_id=mission_id)
    return reported


@transactional
async def _report_overdue(uow: UnitOfWork, mission_id: str, today: date, grace_days: int) -> int:
    doc = await uow[store.MISSIONS].find_one({"_id": mission_id})
    if doc is None:
        return 0
    mission = Mission.from_doc(doc)
    if not mission.overdue_follow_ups(today, grace_days):
        return 0
    await uow[store.MISSIONS].replace_one({"_id": mission_id}, mission.to_doc())
    overdue = [r.event for r in mission.pull_events() if isinstance(r.event, FollowUpInterviewOverdue)]
    keys = {f"{mission_id}:{e.stage}:{e.due_on.isoformat()}": e for e in overdue}
    recorded = await _recorded(uow, store.OVERDUE_FOLLOW_UPS, list(keys))
    fresh = {key: event for key, event in keys.items() if key not in recorded}
    for event in fresh.values():
        uow.emit(event, region=mission.region)
    if fresh:
        documents = [{"_id": key, "mission_id": mission_id, "recorded_at": today.isoformat()} for key in fresh]
        await uow[store.OVERDUE_FOLLOW_UPS].insert_many(documents)
    return len(fresh)
