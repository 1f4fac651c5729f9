"""Directory and vetting through the HTTP API, against the real Kafka and MongoDB."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_partners.app import create
from vies_partners.settings import PartnersSettings
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


def authority_body(**over: Any) -> dict[str, Any]:
    body = {
        "name": "Département du Finistère",
        "kind": "department",
        "region": "FR-BRE",
        "contact": {"name": "Anne Le Gall", "email": "international@finistere.example.fr", "person_id": "person-1"},
        "territoires_volontaires": True,
        "new_to_cooperation": True,
    }
    body.update(over)
    return body


def partner_body(**over: Any) -> dict[str, Any]:
    body = {
        "name": "Commune de Ziguinchor",
        "kind": "local_authority",
        "country": "SN",
        "city": "Ziguinchor",
        "themes": ["health", "water_sanitation"],
        "languages": ["fr", "wo"],
        "hosting_capacity": 2,
        "reciprocity": True,
        "contacts": [{"name": "Moussa Diatta", "email": "m.diatta@ziguinchor.example.sn", "person_id": "person-2"}],
    }
    body.update(over)
    return body


async def test_authorities_register_read_and_scope(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        assert (await svc.client.post("/authorities", json=authority_body())).status_code == 401
        bad = {"Authorization": "Bearer not-a-token"}
        assert (await svc.client.post("/authorities", json=authority_body(), headers=bad)).status_code == 401
        r = await svc.client.post("/authorities", json=authority_body(), headers=svc.auth("centre", country="SN"))
        assert r.status_code == 403
        r = await svc.client.post("/authorities", json=authority_body(), headers=svc.auth("branch", region="FR-ARA"))
        assert r.status_code == 403, "a branch registers only its region's authorities"
        r = await svc.client.post(
            "/authorities", json=authority_body(kind="kingdom", region="XX"), headers=svc.auth("staff")
        )
        assert r.status_code == 422
        fields = {e["field"] for e in r.json()["errors"]}
        assert {"kind", "region"} <= fields
        r = await svc.client.post("/authorities", json=authority_body(region="FR-ZZ"), headers=svc.auth("staff"))
        assert r.status_code == 422, r.text

        r = await svc.client.post("/authorities", json=authority_body(), headers=svc.auth("branch", region="FR-BRE"))
        assert r.status_code == 201, r.text
        authority = r.json()
        authority_id = authority["authority_id"]
        assert authority["region"] == "FR-BRE" and authority["territoires_volontaires"] is True

        dup = authority_body(name="DEPARTEMENT du finistère ")
        r = await svc.client.post("/authorities", json=dup, headers=svc.auth("staff"))
        # It exists, without whose name or id in the message; staff get the id in details.
        assert r.status_code == 409 and authority_id not in r.json()["detail"]
        assert r.json()["details"]["existing_id"] == authority_id

        # An overseas authority registering itself: its id comes from its token.
        r = await svc.client.post(
            "/authorities",
            json=authority_body(name="Ville de Saint-Paul", kind="commune", region="FR-974"),
            headers=svc.auth("authority", authority_id="aut-saint-paul", region="FR-974"),
        )
        assert r.status_code == 201 and r.json()["authority_id"] == "aut-saint-paul"

        assert (await svc.client.get(f"/authorities/{authority_id}")).status_code == 401
        for headers, status in [
            (svc.auth("staff"), 200),
            (svc.auth("authority", authority_id=authority_id), 200),
            (svc.auth("authority", authority_id="aut-saint-paul"), 403),
            (svc.auth("branch", region="FR-BRE"), 200),
            (svc.auth("branch", region="FR-974"), 403),
            (svc.auth("centre", country="SN"), 403),
        ]:
            assert (await svc.client.get(f"/authorities/{authority_id}", headers=headers)).status_code == status
        assert (await svc.client.get("/authorities/nope", headers=svc.auth("staff"))).status_code == 404

        assert (await svc.client.get("/authorities")).status_code == 401
        assert (await svc.client.get("/authorities", headers=svc.auth("partner"))).status_code == 403
        assert (await svc.client.get("/authorities?region=Bretagne", headers=svc.auth("staff"))).status_code == 422
        r = await svc.client.get("/authorities", headers=svc.auth("authority", authority_id=authority_id))
        assert [a["authority_id"] for a in r.json()["items"]] == [authority_id]
        r = await svc.client.get("/authorities", headers=svc.auth("branch", region="FR-974"))
        assert [a["authority_id"] for a in r.json()["items"]] == ["aut-saint-paul"]
        r = await svc.client.get("/authorities?region=FR-BRE", headers=svc.auth("branch", region="FR-974"))
        assert r.status_code == 403

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        events = await probe.wait_for("partners.AuthorityRegistered", 2)
        mine = next(e for e in events if e["key"] == authority_id)
        assert mine["headers"]["ce_region"] == "FR-BRE"
        assert mine["value"]["contact_email"] == "international@finistere.example.fr"
        assert mine["value"]["new_to_cooperation"] is True


async def test_partners_directory_search_and_vetting(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        staff = svc.auth("staff")
        assert (await svc.client.post("/partners", json=partner_body())).status_code == 401
        r = await svc.client.post("/partners", json=partner_body(), headers=svc.auth("volunteer"))
        assert r.status_code == 403
        r = await svc.client.post("/partners", json=partner_body(), headers=svc.auth("centre", country="BF"))
        assert r.status_code == 403, "a centre registers partners of its country only"
        r = await svc.client.post(
            "/partners",
            json=partner_body(themes=["astrology"], languages=["french"], hosting_capacity=-1, country="Senegal"),
            headers=staff,
        )
        assert r.status_code == 422
        assert {"themes.0", "languages.0", "hosting_capacity", "country"} <= {e["field"] for e in r.json()["errors"]}
        r = await svc.client.post("/partners", json=partner_body(country="FR"), headers=staff)
        assert r.status_code == 422

        r = await svc.client.post("/partners", json=partner_body(), headers=svc.auth("centre", country="SN"))
        assert r.status_code == 201, r.text
        ziguinchor = r.json()
        assert ziguinchor["status"] == "pending" and ziguinchor["history"][0]["action"] == "register"
        pid = ziguinchor["partner_id"]
        # Same name and city, other case and accents: refused; staff get the existing id in details.
        r = await svc.client.post(
            "/partners", json=partner_body(name="COMMUNE DE  ZIGUINCHÒR", city="ziguinchor"), headers=staff
        )
        assert r.status_code == 409 and r.json()["details"]["existing_id"] == pid and pid not in r.json()["detail"]
        # Same name in another country is another partner.
        r = await svc.client.post(
            "/partners",
            json=partner_body(country="BF", city="Ziguinchor", themes=["education"], languages=["fr"]),
            headers=staff,
        )
        assert r.status_code == 201
        other = r.json()["partner_id"]
        r = await svc.client.post(
            "/partners",
            json=partner_body(
                name="Asociación Inti",
                country="PE",
                city="Cusco",
                themes=["culture_heritage"],
                languages=["es", "qu"],
                contacts=[],
            ),
            headers=svc.auth("authority", authority_id="aut-x"),
        )
        assert r.status_code == 201
        inti = r.json()["partner_id"]

        # Two registrations of one partner at the same moment: one is created, the other refused.
        same = partner_body(name="Mairie de Dapaong", country="TG", city="Dapaong", contacts=[])
        answers = await asyncio.gather(*(svc.client.post("/partners", json=same, headers=staff) for _ in range(2)))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        dapaong = next(r.json()["partner_id"] for r in answers if r.status_code == 201)

        # Vetting: 401, 403 (role, centre of another country), 404, 409, 422.
        assert (await svc.client.post(f"/partners/{pid}/approve")).status_code == 401
        r = await svc.client.post(f"/partners/{pid}/approve", headers=svc.auth("authority", authority_id="aut-x"))
        assert r.status_code == 403
        r = await svc.client.post(f"/partners/{pid}/approve", headers=svc.auth("centre", country="BF"))
        assert r.status_code == 403
        assert (await svc.client.post("/partners/nope/approve", headers=staff)).status_code == 404
        r = await svc.client.post(f"/partners/{pid}/reject", json={"reason": "  "}, headers=staff)
        assert r.status_code == 422
        r = await svc.client.post(f"/partners/{pid}/suspend", json={"reason": "not yet approved"}, headers=staff)
        assert r.status_code == 409 and "pending" in r.json()["detail"]
        r = await svc.client.post(
            f"/partners/{pid}/approve", json={"notes": "visited in May"}, headers=svc.auth("centre", country="SN")
        )
        assert r.status_code == 200 and r.json()["status"] == "approved"
        assert r.json()["history"][-1]["note"] == "visited in May"
        assert (await svc.client.post(f"/partners/{pid}/approve", headers=staff)).status_code == 409
        r = await svc.client.post(f"/partners/{pid}/suspend", json={"reason": "audit pending"}, headers=staff)
        assert r.status_code == 200 and r.json()["status"] == "suspended"
        assert (await svc.client.post(f"/partners/{pid}/suspend", json={}, headers=staff)).status_code == 422
        assert (await svc.client.post(f"/partners/{pid}/suspend", json={"reason": "x"})).status_code == 401
        r = await svc.client.post(f"/partners/{pid}/reinstate", headers=svc.auth("centre", country="SN"))
        assert r.status_code == 403, "only staff reinstate"
        r = await svc.client.post(f"/partners/{pid}/reinstate", headers=staff)
        assert r.status_code == 200 and r.json()["status"] == "approved"
        history = r.json()["history"]
        assert (await svc.client.post(f"/partners/{pid}/reinstate", headers=staff)).status_code == 409
        assert (await svc.client.post("/partners/nope/reinstate", headers=staff)).status_code == 404
        assert [h["action"] for h in history] == ["register", "approve", "suspend", "reinstate"]
        assert history[2]["note"] == "audit pending" and history[2]["by"] == "tester"
        r = await svc.client.post(
            f"/partners/{other}/reject", json={"reason": "duplicate of a local NGO"}, headers=staff
        )
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        assert (await svc.client.post(f"/partners/{other}/approve", headers=staff)).status_code == 409

        # Reading and searching.
        assert (await svc.client.get(f"/partners/{pid}")).status_code == 401
        assert (await svc.client.get(f"/partners/{pid}", headers=svc.auth("candidate"))).status_code == 403
        assert (await svc.client.get("/partners/nope", headers=staff)).status_code == 404
        r = await svc.client.get(f"/partners/{pid}", headers=svc.auth("branch", region="FR-BRE"))
        assert r.status_code == 200 and r.json()["name"] == "Commune de Ziguinchor"

        async def search(query: str) -> list[str]:
            r = await svc.client.get(f"/partners?{query}", headers=staff)
            assert r.status_code == 200, r.text
            return sorted(p["partner_id"] for p in r.json()["items"])

        assert await search("country=SN") == [pid]
        assert await search("theme=health") == sorted([pid, dapaong])
        assert await search("status=pending") == sorted([inti, dapaong])
        assert await search("language=qu") == [inti]
        assert await search("q=ziguinchor") == sorted([pid, other])
        assert await search("q=cusco") == [], "free text searches names, not cities"
        assert await search("q=asociacion") == [inti]
        assert await search("country=SN&status=rejected") == []
        r = await svc.client.get("/partners?limit=1&offset=1", headers=staff)
        assert r.json()["total"] == 4 and len(r.json()["items"]) == 1
        assert await search("country=TG") == [dapaong]
        assert (await svc.client.get("/partners?status=lost", headers=staff)).status_code == 422
        assert (await svc.client.get("/partners?theme=astrology", headers=staff)).status_code == 422
        assert (await svc.client.get("/partners")).status_code == 401
        assert (await svc.client.get("/partners", headers=svc.auth("volunteer"))).status_code == 403
        assert (await svc.client.get("/partners?limit=0", headers=staff)).status_code == 422

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        await probe.wait_for("partners.PartnerReinstated")
        events = await probe.events()
        mine = [(e["headers"]["ce_type"], e["headers"]["ce_region"]) for e in events if e["key"] == pid]
        assert [t for t, _ in mine] == [
            "partners.PartnerRegistered",
            "partners.PartnerApproved",
            "partners.PartnerSuspended",
            "partners.PartnerReinstated",
        ]
        suspended = next(e for e in events if e["headers"]["ce_type"] == "partners.PartnerSuspended")
        assert suspended["value"]["reason"] == "audit pending"
        rejected = next(e for e in events if e["headers"]["ce_type"] == "partners.PartnerRejected")
        assert rejected["value"] == {"partner_id": other, "reason": "duplicate of a local NGO"}
