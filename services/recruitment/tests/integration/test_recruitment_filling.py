"""Places are never over-filled: 20 candidates apply and are engaged concurrently for 2 places."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, seed_directory
from vies_recruitment import store
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration

CANDIDATES = 20
PLACES = 2


async def test_concurrent_engagements_never_exceed_places(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        await seed_directory(svc, vies_stack.kafka_bootstrap, topic_prefix)
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        c = svc.client
        pid = (await c.post("/positions", json=position(places=PLACES), headers=authority)).json()["position_id"]
        assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200

        async def apply(i: int) -> str:
            r = await c.post(
                f"/positions/{pid}/applications",
                json=candidate(f"Candidate {i}", f"candidate{i}@example.org"),
                headers=svc.auth("candidate", f"cand-{i}"),
            )
            assert r.status_code == 201, r.text
            return str(r.json()["application_id"])

        app_ids = await asyncio.gather(*(apply(i) for i in range(CANDIDATES)))
        assert len(set(app_ids)) == CANDIDATES

        # the same email sent five times at once: one application, four 409s
        same = candidate("Twice", "twice@example.org")
        answers = await asyncio.gather(
            *(c.post(f"/positions/{pid}/applications", json=same, headers=svc.auth("staff")) for _ in range(5))
        )
        assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409]
        twice = next(r.json()["application_id"] for r in answers if r.status_code == 201)
        assert (await c.post(f"/applications/{twice}/withdraw", headers=svc.auth("staff"))).status_code == 200

        async def to_selected(aid: str) -> None:
            assert (await c.post(f"/applications/{aid}/shortlist", headers=authority)).status_code == 200
            r = await c.post(f"/applications/{aid}/interview", json={"at": "2026-12-10T10:00:00Z"}, headers=authority)
            assert r.status_code == 200
            assert (await c.post(f"/applications/{aid}/select", headers=authority)).status_code == 200

        await asyncio.gather(*(to_selected(aid) for aid in app_ids))

        async def engage(aid: str) -> int:
            r = await c.post(
                f"/applications/{aid}/engage",
                json={"starts_on": "2027-03-01", "ends_on": "2028-02-29"},
                headers=authority,
            )
            assert r.status_code in (200, 409), r.text
            return r.status_code

        codes = await asyncio.gather(*(engage(aid) for aid in app_ids))
        assert codes.count(200) == PLACES
        assert codes.count(409) == CANDIDATES - PLACES

        db = svc.runtime.db
        assert await db[store.ENGAGEMENTS].count_documents({"position_id": pid}) == PLACES
        pos = await db[store.POSITIONS].find_one({"_id": pid})
        assert (
            pos is not None and pos["filled"] == PLACES and pos["status"] == "closed" and pos["close_cause"] == "filled"
        )
        statuses = [a["status"] async for a in db[store.APPLICATIONS].find({"position_id": pid})]
        assert statuses.count("engaged") == PLACES
        assert statuses.count("rejected") == CANDIDATES - PLACES
        reasons = {a["rejection_reason"] async for a in db[store.APPLICATIONS].find({"status": "rejected"})}
        assert reasons == {"position filled"}

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("recruitment", topic_prefix)])
        await probe.wait_for("recruitment.ApplicationRejected", CANDIDATES - PLACES)
        events = await probe.events()
        by_type: dict[str, int] = {}
        for e in events:
            by_type[e["headers"]["ce_type"]] = by_type.get(e["headers"]["ce_type"], 0) + 1
        assert by_type["recruitment.VolunteerEngaged"] == PLACES
        assert by_type["recruitment.PositionClosed"] == 1
        assert by_type["recruitment.ApplicationRejected"] == CANDIDATES - PLACES
