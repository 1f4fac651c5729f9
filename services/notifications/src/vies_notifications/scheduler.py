"""Periodic jobs: the delivery worker and the daily regional digest."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.errors import DuplicateKeyError

from vies_notifications import intake, store
from vies_notifications.domain.notification import Notification
from vies_notifications.domain.routing import DIGEST_TEMPLATE
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.envelope import EventMeta
from vies_shared.logging import get_logger
from vies_shared.reference import branches, regions
from vies_shared.service import Runtime
from vies_shared.storage import UnitOfWork, transactional

Document = dict[str, Any]
log = get_logger(component="digest")

SECTIONS = (
    "positions_published",
    "applications_submitted",
    "volunteers_engaged",
    "missions_started",
    "missions_ended",
    "incidents_open",
    "safety_checks",
)


def digest_day(now: datetime, settings: NotificationsSettings) -> date | None:
    """The day whose digest is due at ``now``: yesterday, once the digest hour has passed (local time)."""
    local = now.astimezone(ZoneInfo(settings.digest_timezone))
    if local.hour < settings.digest_hour:
        return None
    return local.date() - timedelta(days=1)


async def _sections(runtime: Runtime, region: str, start: datetime, end: datetime) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {name: [] for name in SECTIONS}
    cursor = runtime.db[store.DIGEST_ENTRIES].find({"region": region, "at": {"$gte": start, "$lt": end}}).sort("at", 1)
    async for entry in cursor:
        sections.setdefault(entry["kind"], []).append(entry["line"])
    incidents = runtime.db[store.INCIDENTS].find({"region": region, "status": "open"}).sort("reported_at", 1)
    async for incident in incidents:
        sections["incidents_open"].append(
            f"{incident['_id']} {incident.get('severity')} ({incident.get('mission_id')})"
        )
    return sections


@transactional
async def _queue_once(uow: UnitOfWork, key: str, digest: Notification | None, now: datetime) -> int:
    """Insert the once-only marker and the digest notification (None: nothing to say) in one transaction."""
    await uow[store.DIGESTS].insert_one({"_id": key, "created_at": now, "skipped": digest is None})
    return 0 if digest is None else await intake.enqueue(uow, [digest])


async def send_daily_digests(runtime: Runtime[NotificationsSettings], now: datetime | None = None) -> int:
    """Queue each branch's digest of the past day; a unique key per region and day makes it once-only.

    Safe with several replicas: the ``digests`` document ``{region}:{day}`` is
    inserted in the same transaction as the notification, so a second replica's
    attempt fails on the duplicate key and queues nothing.
    """
    settings = runtime.settings
    now = now or runtime.now()
    day = digest_day(now, settings)
    if day is None:
        return 0
    zone = ZoneInfo(settings.digest_timezone)
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    names = regions()
    queued = 0
    for branch in branches():
        key = f"{branch.region}:{day.isoformat()}"
        if await runtime.db[store.DIGESTS].find_one({"_id": key}, {"_id": 1}):
            continue
        sections = await _sections(runtime, branch.region, start, end)
        empty = not any(sections.values())
        event_id = f"digest:{key}"
        meta = EventMeta(
            id=event_id,
            source="/vies/notifications",
            type="notifications.RegionalDigest",
            time=now,
            subject=key,
            schema_version=1,
            region=branch.region,
        )
        recipient = intake.Recipient("branch", branch.region, "branch")
        context: Document = {
            "region": branch.region,
            "region_name": names.get(branch.region, branch.region),
            "day": day.isoformat(),
            "sections": sections,
        }

        digest = intake.notification_document(
            meta,
            recipient,
            "email",
            template=DIGEST_TEMPLATE,
            category="digest",
            context=context,
            region=branch.region,
            now=runtime.now(),  # due at once, whatever time the schedule was evaluated at
        )
        try:
            queued += await _queue_once(runtime, key, None if empty and settings.digest_skip_empty else digest, now)
        except DuplicateKeyError:
            continue  # another replica did this region's digest
    if queued:
        log.info("digests_queued", day=day.isoformat(), count=queued)
    return queued


async def regional_digest_job(runtime: Runtime[NotificationsSettings]) -> None:
    """Periodic job: send the day's digests once the digest hour has passed."""
    await send_daily_digests(runtime)
