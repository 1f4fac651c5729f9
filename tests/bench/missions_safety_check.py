"""Benchmark: a safety check over 1,000 volunteers on missions in one country.

Seeds 1,000 started missions in one country (bulk writes, with their volunteers'
contacts), runs the missions service in this process against the real stack,
then times, over several rounds, issuing a security alert (snapshot of every
mission) and reading its live status (accounted / unaccounted with names and
phones). Prints p50/p95 in milliseconds as JSON. Not part of the test suite.

Usage (stack endpoints as for the tests):
  VIES_TEST_KAFKA_BOOTSTRAP=127.0.0.1:19092 \
  VIES_TEST_MONGODB_URI='mongodb://127.0.0.1:27117/?directConnection=true' \
  python tests/bench/missions_safety_check.py [--missions 1000] [--rounds 20] [--country SN]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from vies_dev.testing.helpers import running
from vies_missions.app import create
from vies_missions.domain.mission import Mission
from vies_missions.settings import MissionsSettings
from vies_shared.events.topics import all_topics
from vies_shared.reference import centre_for_country
from vies_shared.storage import create_mongo_client


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values: list[float]) -> dict[str, float]:
    """p50, p95, mean and max in milliseconds."""
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "mean": round(statistics.fmean(values), 1),
        "max": round(max(values), 1),
    }


def started_missions(count: int, country: str, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Mission documents (started, through the domain) and their volunteers' contacts."""
    centre = centre_for_country(country).centre_id
    missions, contacts = [], []
    departed = now.date() - timedelta(days=30)
    for i in range(count):
        volunteer = f"bench-vol-{i:05d}"
        mission = Mission.plan(
            engagement_id=f"bench-eng-{i:05d}",
            volunteer_id=volunteer,
            authority_id=f"bench-auth-{i % 40:02d}",
            partner_id=f"bench-partner-{i % 25:02d}",
            country=country,
            scheme="vsi",
            starts_on=departed,
            ends_on=departed + timedelta(days=365),
            centre_id=centre,
            region="FR-ARA",
            check_in_interval_seconds=14 * 86400,
            follow_up_offsets=(30, 30),
            now=now,
        )
        for item in mission.required_checklist:
            mission.tick(item, date(2026, 1, 1))
        mission.start(departed, now)
        mission.check_in(now)  # nobody is overdue: the scheduler stays quiet during the run
        missions.append(mission.to_doc())
        contacts.append(
            {"_id": volunteer, "name": f"Volunteer {i}", "email": f"v{i}@example.org", "phone": f"+221770{i:06d}"}
        )
    return missions, contacts


async def create_topics(bootstrap: str, prefix: str) -> None:
    """Create the contract topics under a prefix of this run."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t.name, num_partitions=3, replication_factor=1) for t in all_topics(prefix)]
        )
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Remove this run's topics (best effort)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([t.name for t in all_topics(prefix)])
    except Exception:
        pass
    finally:
        await admin.close()


async def run(missions: int, rounds: int, country: str) -> dict[str, Any]:
    """Seed, run the service, time the alert and the status read; returns the report."""
    bootstrap = os.environ.get("VIES_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    mongodb_uri = os.environ.get("VIES_TEST_MONGODB_URI", "mongodb://127.0.0.1:27017/?directConnection=true")
    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench{run_id}."
    settings = MissionsSettings(
        env="dev",
        kafka_bootstrap=bootstrap,
        mongodb_uri=mongodb_uri,
        mongodb_db=f"bench_{run_id}_missions",
        topic_prefix=prefix,
        log_level="WARNING",
    )
    await create_topics(bootstrap, prefix)
    client = create_mongo_client(mongodb_uri)
    now = datetime.now(UTC)
    mission_docs, contact_docs = started_missions(missions, country, now)
    seeded = time.perf_counter()
    db = client[settings.mongodb_db]
    for start in range(0, len(mission_docs), 500):
        await db["missions"].insert_many(mission_docs[start : start + 500])
    await db["contacts"].insert_many(contact_docs)
    seed_seconds = time.perf_counter() - seeded

    issue_ms: list[float] = []
    status_ms: list[float] = []
    answered_status_ms: list[float] = []
    try:
        async with running(create(settings), settings) as svc:
            staff = svc.auth("staff")
            body = {"country": country, "level": "crisis", "message": "benchmark", "respond_within_hours": 24}
            for round_no in range(rounds):
                t0 = time.perf_counter()
                r = await svc.client.post("/security-alerts", json=body, headers=staff)
                issue_ms.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 201, r.text
                alert = r.json()
                assert alert["mission_count"] == missions, alert
                t0 = time.perf_counter()
                r = await svc.client.get(f"/security-alerts/{alert['alert_id']}", headers=staff)
                status_ms.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200 and len(r.json()["unaccounted"]) == missions
                if round_no == 0:
                    # Half the volunteers answer, then the status is read again a few times.
                    ids = [d["_id"] for d in mission_docs[: missions // 2]]
                    for chunk in range(0, len(ids), 50):
                        await asyncio.gather(
                            *[
                                svc.client.post(
                                    f"/security-alerts/{alert['alert_id']}/responses",
                                    json={"mission_id": mid, "status": "safe"},
                                    headers=staff,
                                )
                                for mid in ids[chunk : chunk + 50]
                            ]
                        )
                    for _ in range(5):
                        t0 = time.perf_counter()
                        r = await svc.client.get(f"/security-alerts/{alert['alert_id']}", headers=staff)
                        answered_status_ms.append((time.perf_counter() - t0) * 1000)
                        assert r.json()["counts"]["accounted"] == missions // 2
                await svc.client.post(f"/security-alerts/{alert['alert_id']}/close", headers=staff)
    finally:
        await client.drop_database(settings.mongodb_db)
        await client.close()
        await delete_topics(bootstrap, prefix)
    return {
        "benchmark": "missions_safety_check",
        "missions": missions,
        "country": country,
        "rounds": rounds,
        "seed_seconds": round(seed_seconds, 2),
        "issue_alert_ms": summary(issue_ms),
        "read_status_ms": summary(status_ms),
        "read_status_half_answered_ms": summary(answered_status_ms),
    }


def main() -> None:
    """Parse arguments, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--country", default="SN")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.missions, args.rounds, args.country)), indent=2))


if __name__ == "__main__":
    main()
