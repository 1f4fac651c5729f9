"""``vies regional report``: a summary of the regional view, as a table or JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

from vies_shared.reference import regions
from vies_shared.regional import store
from vies_shared.regional.settings import RegionalSettings
from vies_shared.regional.view import (
    APPLICATION_STATES,
    APPLICATIONS,
    AUTHORITIES,
    ENGAGEMENTS,
    INCIDENTS,
    MISSION_STATES,
    MISSIONS,
    PARTNERSHIPS,
    POSITIONS,
    SAFETY_CHECKS,
)
from vies_shared.storage import create_mongo_client

Document = dict[str, Any]
SEVERITIES = ("critical", "high", "medium", "low")


async def _count_by(db: store.Database, collection: str, *fields: str) -> dict[str, int]:
    group = {"_id": {f: f"${f}" for f in fields}, "n": {"$sum": 1}}
    rows = await (await db[collection].aggregate([{"$group": group}])).to_list()
    return {"/".join(str(row["_id"].get(f)) for f in fields): row["n"] for row in rows}


async def summarise(db: store.Database) -> Document:
    """Counts of the view: events kept and skipped, each collection by state, missions by country."""
    missions: dict[str, dict[str, int]] = {}
    for key, n in (await _count_by(db, MISSIONS, "country", "state")).items():
        country, state = key.split("/", 1)
        missions.setdefault(country, {})[state] = n
    incidents: Counter[str] = Counter()
    async for doc in db[INCIDENTS].find({"state": "open"}, {"severity": 1}):
        incidents[str(doc.get("severity"))] += 1
    checks: Document = {"total": 0, "open": 0, "closed": 0, "safe": 0, "need_help": 0, "unaccounted": 0}
    async for doc in db[SAFETY_CHECKS].find({}):
        # A check known only from its answers (its SafetyCheckOpened not read, e.g. a journal older than it) has
        # no state.
        checks["total"] += 1
        if doc.get("state"):
            checks[doc["state"]] = checks.get(doc["state"], 0) + 1
        for status in (doc.get("responses") or {}).values():
            checks[status] = checks.get(status, 0) + 1
        checks["unaccounted"] += len(doc.get("unaccounted_mission_ids") or [])
    last = await db[store.JOURNAL].find({}, {"time": 1}).sort("time", -1).limit(1).to_list()
    return {
        "events": {
            "kept": await db[store.JOURNAL].count_documents({}),
            "last_at": last[0]["time"] if last else None,
            "by_type": dict(sorted((await _count_by(db, store.JOURNAL, "type")).items())),
            "skipped": await db[store.SKIPPED].count_documents({}),
            "skipped_by_reason": dict(sorted((await _count_by(db, store.SKIPPED, "reason")).items())),
        },
        "authorities": await db[AUTHORITIES].count_documents({}),
        "partnerships": await _count_by(db, PARTNERSHIPS, "state"),
        "positions": await _count_by(db, POSITIONS, "state"),
        "applications": await _count_by(db, APPLICATIONS, "state"),
        "engagements": await db[ENGAGEMENTS].count_documents({}),
        "missions": {country: missions[country] for country in sorted(missions)},
        "open_incidents": {s: incidents[s] for s in (*SEVERITIES, *sorted(set(incidents) - set(SEVERITIES)))},
        "safety_checks": checks,
        "queues": {
            "webhook": await db[store.WEBHOOK_QUEUE].count_documents({}),
            "jsonl": await db[store.JSONL_QUEUE].count_documents({}),
        },
    }


async def read_summary(settings: RegionalSettings) -> Document:
    """Connect to the branch's database and summarise its view."""
    client = create_mongo_client(settings.mongodb_uri)
    try:
        summary = await summarise(client[settings.mongodb_db])
    finally:
        await client.close()
    return {"region": settings.region, "database": settings.mongodb_db, **summary}


def _counts(counts: dict[str, int], order: tuple[str, ...] = ()) -> str:
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return "  ".join(f"{k} {counts[k]}" for k in keys) if keys else "none"


def format_report(summary: Document) -> str:
    """The summary as a plain-text table."""
    events = summary["events"]
    checks = _counts(summary["safety_checks"], ("total", "open", "closed", "safe", "need_help"))
    severities = {k: v for k, v in summary["open_incidents"].items() if v}
    region = summary["region"]
    width = 17
    lines = [
        f"VIES regional view {region} ({regions().get(region, '?')}), database {summary['database']}",
        "",
        f"{'events kept':<{width}}{events['kept']}" + (f"  (last {events['last_at']})" if events["last_at"] else ""),
        f"{'events skipped':<{width}}{events['skipped']}"
        + (f"  ({_counts(events['skipped_by_reason'])})" if events["skipped"] else ""),
        f"{'authorities':<{width}}{summary['authorities']}",
        f"{'partnerships':<{width}}{_counts(summary['partnerships'], ('active', 'ended'))}",
        f"{'positions':<{width}}{_counts(summary['positions'], ('open', 'closed'))}",
        f"{'applications':<{width}}{_counts(summary['applications'], APPLICATION_STATES)}",
        f"{'engagements':<{width}}{summary['engagements']}",
        f"{'open incidents':<{width}}{sum(summary['open_incidents'].values())}"
        + (f"  ({_counts(severities, SEVERITIES)})" if severities else ""),
        f"{'safety checks':<{width}}{checks}",
        f"{'webhook queue':<{width}}{summary['queues']['webhook']} waiting",
        f"{'JSON Lines queue':<{width}}{summary['queues']['jsonl']} waiting",
        "",
        "missions by country and state",
    ]
    columns = [*MISSION_STATES, *sorted({s for c in summary["missions"].values() for s in c} - set(MISSION_STATES))]
    header = f"  {'country':<8}" + "".join(f"{c:>12}" for c in columns) + f"{'total':>8}"
    lines.append(header)
    totals: Counter[str] = Counter()
    for country, states in summary["missions"].items():
        totals.update(states)
        row = "".join(f"{states.get(c, 0):>12}" for c in columns)
        lines.append(f"  {country:<8}{row}{sum(states.values()):>8}")
    lines.append(f"  {'all':<8}" + "".join(f"{totals.get(c, 0):>12}" for c in columns) + f"{sum(totals.values()):>8}")
    return "\n".join(lines)
