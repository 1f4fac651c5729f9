"""Matching through the API, fed by missions events published with a plain producer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import ServiceHarness, running
from vies_partners.app import create
from vies_partners.settings import PartnersSettings
from vies_shared.events.missions import (
    IncidentReported,
    MissionEnded,
    MissionPlanned,
    MissionStarted,
    SafetyCheckClosed,
    SecurityAlertIssued,
)
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration

AUTHORITY = "aut-nantes"


async def add_partner(svc: ServiceHarness, name: str, country: str, status: str = "approved", **over: Any) -> str:
    body = {
        "name": name,
        "kind": "ngo",
        "country": country,
        "city": f"{name} city",
        "themes": ["health"],
        "languages": ["fr"],
        "hosting_capacity": 2,
        "reciprocity": False,
    }
    body.update(over)
    r = await svc.client.post("/partners", json=body, headers=svc.auth("staff"))
    assert r.status_code == 201, r.text
    partner_id: str = r.json()["partner_id"]
    if status in ("approved", "suspended"):
        assert (await svc.client.post(f"/partners/{partner_id}/approve", headers=svc.auth("staff"))).status_code == 200
    if status == "suspended":
        r = await svc.client.post(
            f"/partners/{partner_id}/suspend", json={"reason": "audit"}, headers=svc.auth("staff")
        )
        assert r.status_code == 200
    return partner_id


def planned(mission_id: str, partner_id: str, country: str) -> MissionPlanned:
    return MissionPlanned(
        mission_id=mission_id,
        engagement_id=f"eng-{mission_id}",
        volunteer_id=f"vol-{mission_id}",
        authority_id="aut-other",
        partner_id=partner_id,
        country=country,
        scheme="vsi",
        starts_on=date(2026, 1, 1),
        ends_on=date(2027, 1, 1),
    )


async def test_matching_ranks_explains_and_learns_from_missions(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("partners", PartnersSettings)
    missions_topic = events_topic("missions", topic_prefix)
    async with running(create(settings), settings) as svc:
        r = await svc.client.post(
            "/authorities",
            json={
                "name": "Ville de Nantes",
                "kind": "commune",
                "region": "FR-PDL",
                "contact": {"name": "Service international", "email": "intl@nantes.example.fr"},
            },
            headers=svc.auth("authority", authority_id=AUTHORITY, region="FR-PDL"),
        )
        assert r.status_code == 201
        full = await add_partner(svc, "Alpha", "SN", hosting_capacity=1, languages=["fr", "wo"])
        best = await add_partner(svc, "Bravo", "SN", themes=["health", "education"], hosting_capacity=3)
        other_country = await add_partner(svc, "Charlie", "BF")
        crisis = await add_partner(svc, "Delta", "ML", themes=["health", "education"], hosting_capacity=3)
        pending = await add_partner(svc, "Echo", "SN", status="pending", themes=["health", "education"])
        suspended = await add_partner(svc, "Foxtrot", "SN", status="suspended", themes=["health", "education"])
        eea = await add_partner(svc, "Golf", "PT", themes=["health", "education"], hosting_capacity=3)
        auth = svc.auth("authority", authority_id=AUTHORITY)
        request = {
            "authority_id": AUTHORITY,
            "countries": ["SN", "ML"],
            "themes": ["health", "education"],
            "languages": ["fr"],
            "scheme": "vsi",
        }

        # 401 / 403 / 404 / 422.
        assert (await svc.client.post("/match-requests", json=request)).status_code == 401
        r = await svc.client.post("/match-requests", json=request, headers=svc.auth("authority", authority_id="aut-b"))
        assert r.status_code == 403
        r = await svc.client.post("/match-requests", json=request, headers=svc.auth("centre", country="SN"))
        assert r.status_code == 403
        r = await svc.client.post(
            "/match-requests", json={**request, "authority_id": "aut-b"}, headers=svc.auth("staff")
        )
        assert r.status_code == 404
        r = await svc.client.post(
            "/match-requests", json={**request, "themes": ["fishing"], "volunteers": 0}, headers=auth
        )
        assert r.status_code == 422
        assert {"themes.0", "volunteers"} <= {e["field"] for e in r.json()["errors"]}

        request_ids: list[str] = []

        async def match(**over: Any) -> list[dict[str, Any]]:
            r = await svc.client.post("/match-requests", json={**request, **over}, headers=auth)
            assert r.status_code == 201, r.text
            request_ids.append(r.json()["request_id"])
            suggestions: list[dict[str, Any]] = r.json()["suggestions"]
            return suggestions

        first = await match()
        ids = [s["partner_id"] for s in first]
        # Deterministic ranking; never pending or suspended; PT is in the EEA, so never for a VSI.
        # Bravo and Delta tie (same themes, preferred countries, capacity): the partner id breaks the tie.
        assert ids == [*sorted([best, crisis]), full, other_country]
        assert first[0]["score"] == first[1]["score"]
        assert pending not in ids and suspended not in ids and eea not in ids
        assert ids == [s["partner_id"] for s in await match()]
        assert eea in [s["partner_id"] for s in await match(scheme="service_civique")]
        top = next(s for s in first if s["partner_id"] == best)
        assert top["score"] == 0.9211  # (0.30 + 0.20 + 0.15 + 0.15 + 0.15 x 0.5) / 0.95
        assert top["reasons"] == [
            "same theme: education, health",
            "in a preferred country: SN",
            "speaks fr",
            "has capacity for 3",
            "has hosted 0 volunteers, 0 serious incidents",
        ]
        by_id = {s["partner_id"]: s for s in first}
        assert "same theme: health" in by_id[full]["reasons"]
        assert "in BF, not a preferred country" in by_id[other_country]["reasons"]

        # Missions events over Kafka: the only place with Alpha is taken, a serious incident, a crisis alert.
        await publish_event(vies_stack.kafka_bootstrap, missions_topic, planned("m-1", full, "SN"))
        await publish_event(
            vies_stack.kafka_bootstrap, missions_topic, MissionStarted(mission_id="m-1", departed_on=date(2026, 1, 2))
        )
        await publish_event(
            vies_stack.kafka_bootstrap,
            missions_topic,
            IncidentReported(incident_id="inc-1", mission_id="m-1", category="security", severity="critical"),
        )
        await publish_event(
            vies_stack.kafka_bootstrap,
            missions_topic,
            IncidentReported(incident_id="inc-2", mission_id="m-1", category="health", severity="low"),
        )
        await publish_event(
            vies_stack.kafka_bootstrap,
            missions_topic,
            SecurityAlertIssued(
                alert_id="al-1", country="ML", level="crisis", respond_by=datetime.now(UTC) + timedelta(hours=4)
            ),
        )

        async def alpha_full_and_mali_out() -> list[dict[str, Any]] | None:
            suggestions = await match()
            alpha = next((s for s in suggestions if s["partner_id"] == full), None)
            if alpha is None or crisis in [s["partner_id"] for s in suggestions]:
                return None
            ok = "has no free place (capacity 1, 1 on mission)" in alpha["reasons"]
            ok = ok and "has hosted 1 volunteer, 1 serious incident" in alpha["reasons"]
            return suggestions if ok else None

        after = await wait_until(alpha_full_and_mali_out, message="capacity, incidents and crisis from missions events")
        # Alpha: theme 0.5, country 1, language 1, capacity 0, track 0.5 + 0.1 - 0.25 = 0.35 → 0.5816;
        # Charlie: theme 0.5, country 0, language 1, capacity 1, track 0.5 → 0.5526.
        assert [s["partner_id"] for s in after] == [best, full, other_country]
        alpha = next(s for s in after if s["partner_id"] == full)
        assert alpha["components"]["capacity"] == 0 and alpha["components"]["track_record"] == 0.35
        assert alpha["score"] == 0.5816
        assert alpha["score"] < by_id[full]["score"]

        # The mission ends (the place is free again, one volunteer hosted) and the safety check closes.
        await publish_event(
            vies_stack.kafka_bootstrap, missions_topic, MissionEnded(mission_id="m-1", ended_on=date(2026, 12, 20))
        )
        await publish_event(
            vies_stack.kafka_bootstrap, missions_topic, SafetyCheckClosed(alert_id="al-1", unaccounted_mission_ids=[])
        )

        async def back() -> list[dict[str, Any]] | None:
            suggestions = await match()
            alpha = next((s for s in suggestions if s["partner_id"] == full), None)
            if alpha is None or crisis not in [s["partner_id"] for s in suggestions]:
                return None
            return suggestions if "has capacity for 1" in alpha["reasons"] else None

        await wait_until(back, message="free place and crisis lifted")

        # A vigilance alert does not exclude the country.
        await publish_event(
            vies_stack.kafka_bootstrap,
            missions_topic,
            SecurityAlertIssued(alert_id="al-2", country="SN", level="vigilance", respond_by=datetime.now(UTC)),
        )
        await publish_event(vies_stack.kafka_bootstrap, missions_topic, planned("m-2", best, "SN"))
        await wait_until(
            lambda: svc.runtime.db["missions"].find_one({"_id": "m-2"}), message="second mission projected"
        )
        assert best in [s["partner_id"] for s in await match()]

        # Vetting shows at once in the next match (the in-memory profiles re-read what changed).
        r = await svc.client.post(f"/partners/{best}/suspend", json={"reason": "audit"}, headers=svc.auth("staff"))
        assert r.status_code == 200
        assert best not in [s["partner_id"] for s in await match()]
        newcomer = await add_partner(svc, "Hotel", "SN", themes=["health", "education"], hosting_capacity=5)
        latest = await match()
        assert newcomer in [s["partner_id"] for s in latest if s["score"] == latest[0]["score"]]

        # The events: ids only, the authority's region in ce_region.
        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        [requested] = await probe.wait_for("partners.MatchRequested", where=lambda e: e["key"] == request_ids[0])
        proposed = await probe.wait_for("partners.MatchesProposed", where=lambda e: e["key"] == requested["key"])
        assert requested["headers"]["ce_region"] == "FR-PDL"
        assert requested["value"]["countries"] == ["ML", "SN"] and requested["value"]["authority_id"] == AUTHORITY
        assert requested["value"]["scheme"] == "vsi" and requested["value"]["volunteers"] == 1
        assert [s["partner_id"] for s in proposed[0]["value"]["suggestions"]] == ids
        assert proposed[0]["headers"]["ce_region"] == "FR-PDL"

        # A request can be read back by its authority and its region's branch only.
        r = await svc.client.get(f"/match-requests/{requested['key']}", headers=auth)
        assert r.status_code == 200 and [s["partner_id"] for s in r.json()["suggestions"]] == ids
        r = await svc.client.get(f"/match-requests/{requested['key']}", headers=svc.auth("branch", region="FR-PDL"))
        assert r.status_code == 200
        r = await svc.client.get(f"/match-requests/{requested['key']}", headers=svc.auth("branch", region="FR-IDF"))
        assert r.status_code == 403
        assert (await svc.client.get("/match-requests/nope", headers=auth)).status_code == 404
        assert (await svc.client.get("/match-requests/nope")).status_code == 401


async def test_reciprocity_request_prefers_partners_that_can_send(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        r = await svc.client.post(
            "/authorities",
            json={
                "name": "Région Grand Est",
                "kind": "region",
                "region": "FR-GES",
                "contact": {"name": "DRI", "email": "dri@grandest.example.fr"},
            },
            headers=svc.auth("staff"),
        )
        authority_id = r.json()["authority_id"]
        sender = await add_partner(svc, "Sender", "VN", reciprocity=True)
        stayer = await add_partner(svc, "Stayer", "VN", reciprocity=False)
        r = await svc.client.post(
            "/match-requests",
            json={"authority_id": authority_id, "themes": ["health"], "scheme": "reciprocity"},
            headers=svc.auth("staff"),
        )
        assert r.status_code == 201
        suggestions = r.json()["suggestions"]
        assert [s["partner_id"] for s in suggestions] == [sender, stayer]
        assert "can send volunteers to France" in suggestions[0]["reasons"]
        assert "cannot send volunteers to France" in suggestions[1]["reasons"]
