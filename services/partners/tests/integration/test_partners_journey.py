"""The Territoires Volontaires journey, stalled journeys and programme indicators, fed by other services' events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import ServiceHarness, running
from vies_partners.app import create
from vies_partners.settings import PartnersSettings
from vies_shared.events.missions import FollowUpInterviewDone, MissionEnded, MissionPlanned, MissionStarted
from vies_shared.events.recruitment import CandidateSelected, PositionPublished, VolunteerEngaged
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def register(svc: ServiceHarness, name: str, region: str, *, enrolled: bool = True, new: bool = True) -> str:
    r = await svc.client.post(
        "/authorities",
        json={
            "name": name,
            "kind": "commune",
            "region": region,
            "contact": {
                "name": "Relations internationales",
                "email": f"ri@{name.lower().replace(' ', '-')}.example.fr",
            },
            "territoires_volontaires": enrolled,
            "new_to_cooperation": new,
        },
        headers=svc.auth("staff"),
    )
    assert r.status_code == 201, r.text
    authority_id: str = r.json()["authority_id"]
    return authority_id


async def approved_partner(svc: ServiceHarness, name: str, country: str) -> str:
    body = {
        "name": name,
        "kind": "ngo",
        "country": country,
        "city": "Capital",
        "themes": ["education"],
        "languages": ["fr"],
        "hosting_capacity": 3,
    }
    partner_id: str = (await svc.client.post("/partners", json=body, headers=svc.auth("staff"))).json()["partner_id"]
    assert (await svc.client.post(f"/partners/{partner_id}/approve", headers=svc.auth("staff"))).status_code == 200
    return partner_id


def mission(mission_id: str, authority_id: str, partner_id: str, scheme: str = "vsi") -> MissionPlanned:
    return MissionPlanned(
        mission_id=mission_id,
        engagement_id=f"eng-{mission_id}",
        volunteer_id=f"vol-{mission_id}",
        authority_id=authority_id,
        partner_id=partner_id,
        country="TG",
        scheme=scheme,  # type: ignore[arg-type]
        starts_on=date(2026, 9, 1),
        ends_on=date(2027, 8, 31),
    )


async def test_journey_advances_from_other_services_events(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("partners", PartnersSettings)
    kafka = vies_stack.kafka_bootstrap
    recruitment = events_topic("recruitment", topic_prefix)
    missions = events_topic("missions", topic_prefix)
    async with running(create(settings), settings) as svc:
        authority_id = await register(svc, "Figeac", "FR-OCC")
        partner_id = await approved_partner(svc, "Association Lomé Jeunesse", "TG")
        own = svc.auth("authority", authority_id=authority_id)
        url = f"/authorities/{authority_id}/journey"

        assert (await svc.client.get(url)).status_code == 401
        assert (await svc.client.get(url, headers=svc.auth("authority", authority_id="aut-x"))).status_code == 403
        assert (await svc.client.get(url, headers=svc.auth("branch", region="FR-BRE"))).status_code == 403
        assert (await svc.client.get(url, headers=svc.auth("centre", country="TG"))).status_code == 403
        assert (await svc.client.get("/authorities/nope/journey", headers=svc.auth("staff"))).status_code == 404

        async def journey(headers: dict[str, str] = own) -> dict[str, Any]:
            r = await svc.client.get(url, headers=headers)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        def dates(body: dict[str, Any]) -> dict[str, str]:
            return {s["step"]: s["date"] for s in body["steps"]}

        today = datetime.now(UTC).date().isoformat()
        start = await journey()
        assert dates(start)["registered"] == today and dates(start)["partner_found"] == "pending"
        assert start["next"]["step"] == "partner_found"
        assert start["next"]["fr"].startswith("Trouvez un partenaire") and start["next"]["en"].startswith(
            "Find a partner"
        )

        r = await svc.client.post(
            "/partnerships",
            json={
                "authority_id": authority_id,
                "partner_id": partner_id,
                "themes": ["education"],
                "starts_on": "2026-06-01",
            },
            headers=own,
        )
        assert r.status_code == 201
        partnership_id = r.json()["partnership_id"]
        body = await journey(svc.auth("branch", region="FR-OCC"))
        assert dates(body)["partner_found"] == today and body["next"]["step"] == "position_published"

        # Recruitment's events, each delivered twice (same ce_id): the journey moves one step each time.
        await publish_event(
            kafka,
            recruitment,
            PositionPublished(
                position_id="pos-1",
                partnership_id=partnership_id,
                authority_id=authority_id,
                partner_id=partner_id,
                country="TG",
                scheme="vsi",
                title="Animateur jeunesse",
                starts_on=date(2026, 9, 1),
                duration_months=12,
                places=1,
            ),
            times=2,
        )
        await wait_until(lambda: _next_is(svc, url, own, "candidate_selected"), message="position published")
        await publish_event(
            kafka,
            recruitment,
            CandidateSelected(application_id="app-1", position_id="pos-1", candidate_id="cand-1"),
            times=2,
        )
        await wait_until(lambda: _next_is(svc, url, own, "volunteer_engaged"), message="candidate selected")
        # Delivered twice, handled once: one inbox record, one selection, and the journey did not skip a step.
        assert await svc.runtime.db["selections"].count_documents({}) == 1
        assert await svc.runtime.db["inbox"].count_documents({"type": "recruitment.CandidateSelected"}) == 1
        body = await journey()
        assert dates(body)["volunteer_engaged"] == "pending" and dates(body)["candidate_selected"] == today

        await publish_event(
            kafka,
            recruitment,
            VolunteerEngaged(
                engagement_id="eng-1",
                application_id="app-1",
                volunteer_id="vol-1",
                position_id="pos-1",
                authority_id=authority_id,
                partner_id=partner_id,
                country="TG",
                scheme="vsi",
                starts_on=date(2026, 9, 1),
                ends_on=date(2027, 8, 31),
            ),
        )
        await publish_event(kafka, missions, mission("m-1", authority_id, partner_id), times=2)
        await wait_until(lambda: _next_is(svc, url, own, "mission_started"), message="volunteer engaged")

        async def mission_known() -> dict[str, Any] | None:
            # The two topics are consumed independently: the mission may land after the engagement.
            body = await journey()
            return body if body["interviews"] else None

        body = await wait_until(mission_known, message="mission planned")
        # Interview due dates derived from the planned dates until the mission starts.
        assert [(i["stage"], i["due_on"], i["done_on"]) for i in body["interviews"]] == [
            ("start", "2026-10-01", "pending"),
            ("mid", "2027-03-02", "pending"),
            ("end", "2027-08-31", "pending"),
        ]

        await publish_event(kafka, missions, MissionStarted(mission_id="m-1", departed_on=date(2026, 9, 5)), times=2)
        await wait_until(lambda: _next_is(svc, url, own, "mission_ended"), message="mission started")
        body = await journey()
        assert dates(body)["mission_started"] == "2026-09-05"
        assert body["interviews"][0]["due_on"] == "2026-10-05"

        await publish_event(kafka, missions, MissionEnded(mission_id="m-1", ended_on=date(2027, 8, 30)), times=2)
        body = await wait_until(lambda: _next_step(svc, url, own, prefix="interview_"), message="mission ended")
        assert dates(body)["mission_ended"] == "2027-08-30"
        assert body["next"]["step"] == "interview_start" and "m-1" in body["next"]["en"]
        assert all(s["date"] != "pending" for s in body["steps"])
        assert body["complete"] is False and body["interviews"][2]["due_on"] == "2027-08-30"

        # The follow-up interviews, from missions' FollowUpInterviewDone events.
        for stage, day in (("start", date(2026, 10, 2)), ("mid", date(2027, 3, 1)), ("end", date(2027, 8, 30))):
            await publish_event(
                kafka, missions, FollowUpInterviewDone(mission_id="m-1", stage=stage, done_on=day), times=2
            )
        body = await wait_until(lambda: _next_step(svc, url, own, prefix="done"), message="interviews done")
        assert [i["done_on"] for i in body["interviews"]] == ["2026-10-02", "2027-03-01", "2027-08-30"]
        assert body["complete"] is True and body["last_progress_on"] == "2027-08-30"
        # The same mission, delivered twice, counts once for the partner.
        stats = await svc.runtime.db["partner_stats"].find_one({"_id": partner_id})
        assert stats["hosted"] == 1 and stats["on_mission"] == 0

        # Events of different aggregates may arrive in any order, and a producer may resend a fact under a
        # new ce_id: a selection seen before its position still counts once the position is known.
        other = await register(svc, "Millau", "FR-OCC")
        other_url = f"/authorities/{other}/journey"
        await publish_event(
            kafka, recruitment, CandidateSelected(application_id="app-9", position_id="pos-9", candidate_id="c-9")
        )
        published = PositionPublished(
            position_id="pos-9",
            partnership_id="pship-x",
            authority_id=other,
            partner_id=partner_id,
            country="TG",
            scheme="service_civique",
            title="Médiateur numérique",
            starts_on=date(2027, 1, 1),
            duration_months=8,
            places=2,
        )
        await publish_event(kafka, recruitment, published)
        await publish_event(kafka, recruitment, published)  # the same fact again, with another ce_id
        staff = svc.auth("staff")

        async def selected() -> dict[str, Any] | None:
            body: dict[str, Any] = (await svc.client.get(other_url, headers=staff)).json()
            return body if dates(body)["candidate_selected"] != "pending" else None

        body = await wait_until(selected, message="selection counted once its position is known")
        assert dates(body)["candidate_selected"] == today and dates(body)["position_published"] == today
        # No partnership of its own yet: still shown as the next thing to do.
        assert dates(body)["partner_found"] == "pending" and body["next"]["step"] == "partner_found"
        assert await svc.runtime.db["positions"].count_documents({"_id": "pos-9"}) == 1


async def _next_is(svc: ServiceHarness, url: str, headers: dict[str, str], step: str) -> bool:
    body = (await svc.client.get(url, headers=headers)).json()
    return bool(body["next"]["step"] == step)


async def _next_step(svc: ServiceHarness, url: str, headers: dict[str, str], *, prefix: str) -> dict[str, Any] | None:
    body: dict[str, Any] = (await svc.client.get(url, headers=headers)).json()
    return body if str(body["next"]["step"]).startswith(prefix) else None


async def test_stalled_journeys_and_programme_indicators(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("partners", PartnersSettings)
    kafka = vies_stack.kafka_bootstrap
    missions = events_topic("missions", topic_prefix)
    async with running(create(settings), settings) as svc:
        moving = await register(svc, "Cahors", "FR-OCC", new=True)
        stalled = await register(svc, "Rodez", "FR-OCC", new=False)
        not_enrolled = await register(svc, "Albi", "FR-OCC", enrolled=False)
        elsewhere = await register(svc, "Évry", "FR-IDF")
        # These registered 40 days ago and did nothing since.
        long_ago = datetime.now(UTC) - timedelta(days=40)
        await svc.runtime.db["authorities"].update_many(
            {"_id": {"$in": [stalled, not_enrolled, elsewhere]}}, {"$set": {"registered_at": long_ago}}
        )
        partner_id = await approved_partner(svc, "Mairie de Kpalimé", "TG")
        r = await svc.client.post(
            "/partnerships",
            json={"authority_id": moving, "partner_id": partner_id, "themes": ["education"], "starts_on": "2026-06-01"},
            headers=svc.auth("staff"),
        )
        assert r.status_code == 201

        occ = svc.auth("branch", region="FR-OCC")
        assert (await svc.client.get("/journeys/stalled")).status_code == 401
        assert (
            await svc.client.get("/journeys/stalled", headers=svc.auth("authority", authority_id=moving))
        ).status_code == 403
        assert (await svc.client.get("/journeys/stalled?region=FR-IDF", headers=occ)).status_code == 403
        assert (
            await svc.client.get("/journeys/stalled?region=Occitanie", headers=svc.auth("staff"))
        ).status_code == 422
        r = await svc.client.get("/journeys/stalled", headers=occ)
        assert r.status_code == 200
        assert [(a["authority_id"], a["days_without_progress"]) for a in r.json()["items"]] == [(stalled, 40)]
        assert r.json()["items"][0]["next"]["step"] == "partner_found"
        r = await svc.client.get("/journeys/stalled?region=FR-IDF", headers=svc.auth("staff"))
        assert [a["authority_id"] for a in r.json()["items"]] == [elsewhere]

        # Missions of the region's authorities, by scheme and direction (reciprocity = hosted in France).
        await publish_event(kafka, missions, mission("m-1", moving, partner_id, "vsi"))
        await publish_event(kafka, missions, mission("m-2", moving, partner_id, "reciprocity"), times=2)
        await publish_event(kafka, missions, mission("m-3", not_enrolled, partner_id, "service_civique"))
        await publish_event(kafka, missions, mission("m-4", elsewhere, partner_id, "vsi"))

        async def four_missions() -> bool:
            return await svc.runtime.db["missions"].count_documents({}) == 4

        await wait_until(four_missions, message="four missions")

        assert (await svc.client.get("/programme/indicators")).status_code == 401
        r = await svc.client.get("/programme/indicators", headers=svc.auth("authority", authority_id=moving))
        assert r.status_code == 403
        r = await svc.client.get("/programme/indicators?region=FR-IDF", headers=occ)
        assert r.status_code == 403
        assert (
            await svc.client.get("/programme/indicators?region=FR-XX", headers=svc.auth("staff"))
        ).status_code == 422
        r = await svc.client.get("/programme/indicators", headers=occ)
        assert r.status_code == 200
        body = r.json()
        assert body["region"] == "FR-OCC"
        assert body["authorities"]["enrolled"] == 2 and body["authorities"]["new_to_cooperation"] == 1
        assert body["authorities"]["target"] == 40 and body["authorities"]["target_met"] is False
        assert body["missions"]["by_scheme"] == {"reciprocity": 1, "service_civique": 1, "vsi": 1}
        assert body["missions"]["by_direction"] == {"sent_abroad": 2, "hosted_in_france": 1}
        assert body["missions"]["programme"] == 2 and body["missions"]["target"] == 250
        assert body["partnerships_by_country"] == {"TG": 1}
        r = await svc.client.get("/programme/indicators", headers=svc.auth("staff"))
        assert r.json()["missions"]["total"] == 4 and r.json()["authorities"]["enrolled"] == 3
