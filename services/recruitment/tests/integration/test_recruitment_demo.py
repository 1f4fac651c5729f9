"""Demo data: positions of several schemes, applications in every state, idempotent across restarts."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_recruitment import store
from vies_recruitment.app import create
from vies_recruitment.domain.application import STATUSES
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def test_demo_data_is_complete_and_idempotent(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    db_name = f"t{test_id}_recruitment_demo"
    for _ in range(2):  # a restart seeds nothing twice
        settings = vies_settings("recruitment", RecruitmentSettings, demo_data=True, mongodb_db=db_name)
        async with running(create(settings), settings) as svc:
            db = svc.runtime.db
            schemes = {p["scheme"] async for p in db[store.POSITIONS].find({})}
            assert schemes == {"vsi", "service_civique", "vec", "jsi_vvvsi", "reciprocity"}
            assert {p["status"] async for p in db[store.POSITIONS].find({})} == {"draft", "published", "closed"}
            statuses = [a["status"] async for a in db[store.APPLICATIONS].find({})]
            assert sorted(statuses) == sorted(STATUSES)
            r = await svc.client.get("/positions?scheme=vsi", headers=svc.auth("candidate", "c"))
            assert r.json()["items"][0]["filled"] == 1
    probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("recruitment", topic_prefix)])
    assert len(await probe.wait_for("recruitment.VolunteerEngaged")) == 1
    assert len(await probe.events("recruitment.PositionPublished")) == 5
