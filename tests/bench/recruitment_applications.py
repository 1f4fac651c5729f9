"""Benchmark: applications per second and latency of the recruitment service, and the engagement race.

Seeds the partners-directory projections straight into a fresh database, publishes a position with
many places, then submits applications through the HTTP API of the service running in this process
(``--concurrency`` at a time; each one screens the candidate and writes the application, the person,
and three outbox events in one transaction). Finally pushes ``--race`` selected candidates to engage
at once for ``--places`` places and checks that exactly that many are engaged. Prints JSON.

Run against the local stack (not part of the test suite):
    VIES_KAFKA_BOOTSTRAP=127.0.0.1:19092 VIES_MONGODB_URI='mongodb://127.0.0.1:27117/?directConnection=true' \
        python tests/bench/recruitment_applications.py [--applications 500] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from vies_dev.testing.helpers import running
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.storage import create_mongo_client


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def application(i: int) -> dict[str, Any]:
    """A plausible application body."""
    return {
        "candidate": {
            "name": f"Bench Candidate {i}",
            "email": f"bench{i}@example.org",
            "birth_date": f"19{70 + i % 30}-0{1 + i % 9}-1{i % 10}",
            "nationality": "FR",
            "residence_country": "FR",
            "language": "fr",
            "languages": ["fr", "wo"] if i % 2 else ["fr"],
            "skills": ["water"] if i % 3 else [],
        },
        "motivation": "bench",
    }


async def main(count: int, concurrency: int, race: int, places: int) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    settings = RecruitmentSettings(
        env="dev",
        mongodb_db=f"bench_recruitment_{run_id}",
        topic_prefix=f"bench{run_id}.",
        role="all",
        log_level="WARNING",
    )
    client = create_mongo_client(settings.mongodb_uri)
    try:
        async with running(create(settings), settings) as svc:
            db = svc.runtime.db
            await db["authorities"].insert_one({"_id": "auth-b", "name": "Bench", "region": "FR-ARA"})
            await db["partners"].insert_one({"_id": "partner-b", "status": "approved"})
            await db["partnerships"].insert_one(
                {
                    "_id": "ps-b",
                    "authority_id": "auth-b",
                    "partner_id": "partner-b",
                    "country": "SN",
                    "status": "active",
                }
            )
            await db["sending_organisations"].insert_one({"_id": "org-b", "approved_from": "2020-01-01"})
            authority = svc.auth("authority", authority_id="auth-b")
            staff = svc.auth("staff")

            async def position(n_places: int) -> str:
                body = {
                    "partnership_id": "ps-b",
                    "scheme": "vsi",
                    "title": "Bench",
                    "starts_on": "2027-03-01",
                    "duration_months": 12,
                    "places": n_places,
                    "languages": ["fr", "wo"],
                    "skills": ["water"],
                    "sending_organisation_id": "org-b",
                }
                pid = (await svc.client.post("/positions", json=body, headers=authority)).json()["position_id"]
                assert (await svc.client.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200
                return str(pid)

            pid = await position(1)
            gate = asyncio.Semaphore(concurrency)
            latencies: list[float] = []

            async def apply(i: int, target: str) -> str:
                async with gate:
                    t0 = time.perf_counter()
                    r = await svc.client.post(f"/positions/{target}/applications", json=application(i), headers=staff)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 201, r.text
                    return str(r.json()["application_id"])

            started = time.perf_counter()
            await asyncio.gather(*(apply(i, pid) for i in range(count)))
            elapsed = time.perf_counter() - started

            # the engagement race
            race_pid = await position(places)
            ids = await asyncio.gather(*(apply(100_000 + i, race_pid) for i in range(race)))
            for aid in ids:
                await svc.client.post(f"/applications/{aid}/shortlist", headers=authority)
                await svc.client.post(
                    f"/applications/{aid}/interview", json={"at": "2026-12-10T10:00:00Z"}, headers=authority
                )
                await svc.client.post(f"/applications/{aid}/select", headers=authority)
            contract = {"starts_on": "2027-03-01", "ends_on": "2028-02-29"}
            t0 = time.perf_counter()
            codes = await asyncio.gather(
                *(svc.client.post(f"/applications/{aid}/engage", json=contract, headers=authority) for aid in ids)
            )
            race_seconds = time.perf_counter() - t0
            engaged = sum(1 for r in codes if r.status_code == 200)
            return {
                "applications": count,
                "concurrency": concurrency,
                "per_second": round(count / elapsed, 1),
                "p50_ms": round(statistics.median(latencies), 1),
                "p95_ms": round(percentile(latencies, 95), 1),
                "max_ms": round(max(latencies), 1),
                "race": {
                    "candidates": race,
                    "places": places,
                    "engaged": engaged,
                    "refused_409": sum(1 for r in codes if r.status_code == 409),
                    "other": sorted({r.status_code for r in codes} - {200, 409}),
                    "seconds": round(race_seconds, 2),
                    "correct": engaged == places,
                },
            }
    finally:
        await client.drop_database(settings.mongodb_db)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--race", type=int, default=50)
    parser.add_argument("--places", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.applications, args.concurrency, args.race, args.places))))
