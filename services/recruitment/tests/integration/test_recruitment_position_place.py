"""A position names where the volunteer will live and work; the engagement carries it to missions."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, seed_directory
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def test_the_place_of_a_position_travels_with_its_engagement(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        await seed_directory(svc, bootstrap, topic_prefix)
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        c = svc.client

        # A subdivision of another country, or no subdivision code at all, is refused with the field named.
        r = await c.post(
            "/positions", json=position(place={"city": "Bamako", "subdivision": "ML-BKO"}), headers=authority
        )
        assert r.status_code == 422 and r.json()["details"] == [{"field": "place.subdivision"}], r.text
        r = await c.post(
            "/positions", json=position(place={"city": "Dakar", "subdivision": "Dakar"}), headers=authority
        )
        assert r.status_code == 422, r.text

        r = await c.post(
            "/positions", json=position(place={"city": "Saint-Louis", "subdivision": "sn-sl"}), headers=authority
        )
        assert r.status_code == 201, r.text
        pid = r.json()["position_id"]
        assert r.json()["place"] == {"city": "Saint-Louis", "subdivision": "SN-SL"}
        assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200
        # Where the mission is belongs to the public page of the position.
        assert (await c.get(f"/positions/{pid}")).json()["place"]["city"] == "Saint-Louis"

        r = await c.post(
            f"/positions/{pid}/applications",
            json=candidate("Awa Diop", "awa.place@example.org"),
            headers=svc.auth("candidate", "cand-place"),
        )
        assert r.status_code == 201, r.text
        aid = r.json()["application_id"]
        assert (await c.post(f"/applications/{aid}/shortlist", headers=authority)).status_code == 200
        r = await c.post(f"/applications/{aid}/interview", json={"at": "2026-12-10T10:00:00Z"}, headers=authority)
        assert r.status_code == 200
        assert (await c.post(f"/applications/{aid}/select", headers=authority)).status_code == 200
        r = await c.post(
            f"/applications/{aid}/engage", json={"starts_on": "2027-03-01", "ends_on": "2028-02-29"}, headers=authority
        )
        assert r.status_code == 200, r.text

        probe = KafkaProbe(bootstrap, [events_topic("recruitment", topic_prefix)])
        [published] = await probe.wait_for("recruitment.PositionPublished", where=lambda e: e["key"] == pid)
        assert published["value"]["place"] == {"city": "Saint-Louis", "subdivision": "SN-SL"}
        [engaged] = await probe.wait_for(
            "recruitment.VolunteerEngaged", where=lambda e: e["value"]["position_id"] == pid
        )
        assert engaged["value"]["place"] == {"city": "Saint-Louis", "subdivision": "SN-SL"}
