"""Partnerships and sending organisations through the API, with their events."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import ServiceHarness, running
from vies_dev.testing.query_plans import QueryRecorder, collection_scans
from vies_partners.app import create
from vies_partners.settings import PartnersSettings
from vies_shared.events.recruitment import PersonErased
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def setup_records(svc: ServiceHarness) -> tuple[str, str, str]:
    staff = svc.auth("staff")
    r = await svc.client.post(
        "/authorities",
        json={
            "name": "Région Réunion",
            "kind": "region",
            "region": "FR-974",
            "contact": {"name": "Marie Hoarau", "email": "marie.hoarau@region.example.re", "person_id": "per-7"},
            "territoires_volontaires": True,
        },
        headers=staff,
    )
    authority_id = r.json()["authority_id"]
    partner = {
        "name": "Région Boeny",
        "kind": "local_authority",
        "country": "MG",
        "city": "Mahajanga",
        "themes": ["environment_climate"],
        "languages": ["fr", "mg"],
        "hosting_capacity": 2,
        "contacts": [
            {"name": "Hery Rakoto", "email": "hery@boeny.example.mg", "person_id": "per-7"},
            {"name": "Lalao Rabe", "email": "lalao@boeny.example.mg"},
        ],
    }
    approved = (await svc.client.post("/partners", json=partner, headers=staff)).json()["partner_id"]
    assert (await svc.client.post(f"/partners/{approved}/approve", headers=staff)).status_code == 200
    pending = (
        await svc.client.post(
            "/partners", json={**partner, "name": "Commune de Toliara", "city": "Toliara"}, headers=staff
        )
    ).json()["partner_id"]
    return authority_id, approved, pending


async def test_partnerships_lifecycle_and_scope(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        authority_id, partner_id, pending_id = await setup_records(svc)
        own = svc.auth("authority", authority_id=authority_id)
        body = {
            "authority_id": authority_id,
            "partner_id": partner_id,
            "themes": ["environment_climate"],
            "starts_on": "2026-03-01",
            "ends_on": "2028-02-29",
        }

        assert (await svc.client.post("/partnerships", json=body)).status_code == 401
        r = await svc.client.post("/partnerships", json=body, headers=svc.auth("authority", authority_id="aut-other"))
        assert r.status_code == 403
        r = await svc.client.post("/partnerships", json=body, headers=svc.auth("branch", region="FR-974"))
        assert r.status_code == 403
        r = await svc.client.post("/partnerships", json={**body, "partner_id": "nope"}, headers=own)
        assert r.status_code == 404
        r = await svc.client.post("/partnerships", json={**body, "partner_id": pending_id}, headers=own)
        assert r.status_code == 409 and "pending" in r.json()["detail"]
        r = await svc.client.post("/partnerships", json={**body, "themes": [], "starts_on": "soon"}, headers=own)
        assert r.status_code == 422
        assert {"themes", "starts_on"} <= {e["field"] for e in r.json()["errors"]}
        r = await svc.client.post("/partnerships", json={**body, "ends_on": "2025-01-01"}, headers=own)
        assert r.status_code == 422

        r = await svc.client.post("/partnerships", json=body, headers=own)
        assert r.status_code == 201, r.text
        pship = r.json()
        pship_id = pship["partnership_id"]
        assert pship["country"] == "MG" and pship["status"] == "active" and pship["needs_review"] is False

        for headers, status in [
            (own, 200),
            (svc.auth("branch", region="FR-974"), 200),
            (svc.auth("branch", region="FR-IDF"), 403),
            (svc.auth("centre", country="MG"), 200),
            (svc.auth("centre", country="SN"), 403),
            (svc.auth("authority", authority_id="aut-other"), 403),
            (svc.auth("volunteer"), 403),
        ]:
            assert (await svc.client.get(f"/partnerships/{pship_id}", headers=headers)).status_code == status
        assert (await svc.client.get("/partnerships/nope", headers=own)).status_code == 404
        assert (await svc.client.get(f"/partnerships/{pship_id}")).status_code == 401

        # A suspended partner keeps its partnerships, flagged for review.
        staff = svc.auth("staff")
        r = await svc.client.post(f"/partners/{partner_id}/suspend", json={"reason": "funds misused"}, headers=staff)
        assert r.status_code == 200
        r = await svc.client.get(f"/partnerships/{pship_id}", headers=own)
        assert r.json()["status"] == "active" and r.json()["needs_review"] is True
        r = await svc.client.get("/partnerships", headers=svc.auth("centre", country="MG"))
        assert [p["partnership_id"] for p in r.json()["items"]] == [pship_id] and r.json()["items"][0]["needs_review"]
        r = await svc.client.get("/partnerships", headers=svc.auth("centre", country="SN"))
        assert r.json()["items"] == []
        assert (await svc.client.get("/partnerships")).status_code == 401
        assert (await svc.client.get("/partnerships", headers=svc.auth("candidate"))).status_code == 403
        r = await svc.client.get("/partnerships", headers=svc.auth("authority", authority_id="aut-other"))
        assert r.json()["total"] == 0
        # ...and cannot enter a new one.
        r = await svc.client.post("/partnerships", json=body, headers=own)
        assert r.status_code == 409

        assert (await svc.client.post(f"/partnerships/{pship_id}/end", json={"reason": "x"})).status_code == 401
        r = await svc.client.post(
            f"/partnerships/{pship_id}/end", json={"reason": "x"}, headers=svc.auth("branch", region="FR-974")
        )
        assert r.status_code == 403
        r = await svc.client.post(
            f"/partnerships/{pship_id}/end", json={"reason": "x"}, headers=svc.auth("authority", authority_id="aut-o")
        )
        assert r.status_code == 403
        assert (await svc.client.post(f"/partnerships/{pship_id}/end", json={}, headers=own)).status_code == 422
        assert (await svc.client.post("/partnerships/nope/end", json={"reason": "x"}, headers=own)).status_code == 404
        r = await svc.client.post(f"/partnerships/{pship_id}/end", json={"reason": "partner suspended"}, headers=own)
        assert r.status_code == 200 and r.json()["status"] == "ended" and r.json()["needs_review"] is False
        r = await svc.client.post(f"/partnerships/{pship_id}/end", json={"reason": "again"}, headers=own)
        assert r.status_code == 409

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        [established] = await probe.wait_for("partners.PartnershipEstablished")
        [ended] = await probe.wait_for("partners.PartnershipEnded")
        assert established["key"] == pship_id and established["headers"]["ce_region"] == "FR-974"
        assert established["value"]["region"] == "FR-974" and established["value"]["country"] == "MG"
        assert established["value"]["starts_on"] == "2026-03-01" and established["value"]["ends_on"] == "2028-02-29"
        assert ended["value"] == {"partnership_id": pship_id, "reason": "partner suspended"}
        assert ended["headers"]["ce_region"] == "FR-974"

        # The same person also acted (their token's subject is their person id): reinstated the partner,
        # registered an authority, established and ended a partnership, asked for matches.
        acting = svc.auth("staff", "per-7")
        r = await svc.client.post(f"/partners/{partner_id}/reinstate", headers=acting)
        assert r.status_code == 200
        registered = {
            "name": "Commune de Saint-Paul",
            "kind": "commune",
            "region": "FR-974",
            "contact": {"name": "Mairie", "email": "international@saintpaul.example.re"},
        }
        r = await svc.client.post("/authorities", json=registered, headers=acting)
        assert r.status_code == 201
        other_authority = r.json()["authority_id"]
        r = await svc.client.post("/partnerships", json={**body, "authority_id": other_authority}, headers=acting)
        assert r.status_code == 201
        acted_pship = r.json()["partnership_id"]
        r = await svc.client.post(f"/partnerships/{acted_pship}/end", json={"reason": "done"}, headers=acting)
        assert r.status_code == 200
        asked = {"authority_id": other_authority, "countries": ["MG"], "themes": ["environment_climate"]}
        r = await svc.client.post(
            "/match-requests", json={**asked, "languages": ["fr"], "scheme": "vsi"}, headers=acting
        )
        assert r.status_code == 201, r.text
        acted = [
            ("partners", partner_id),
            ("authorities", other_authority),
            ("partnerships", acted_pship),
            ("match_requests", r.json()["request_id"]),
        ]
        db = svc.runtime.db
        for collection, doc_id in acted:
            assert "per-7" in str(await db[collection].find_one({"_id": doc_id}))

        async def drained() -> bool:
            return bool(await svc.runtime.outbox.backlog() == 0)

        await wait_until(drained, message="outbox drained")
        published_before = {e["headers"]["ce_id"] for e in await probe.events()}

        # Right to erasure: the contacts naming that person lose their personal data, the others stay.
        with QueryRecorder() as recorder:
            await publish_event(
                vies_stack.kafka_bootstrap, events_topic("recruitment", topic_prefix), PersonErased(person_id="per-7")
            )

            async def erased() -> bool:
                partner = (await svc.client.get(f"/partners/{partner_id}", headers=staff)).json()
                authority = (await svc.client.get(f"/authorities/{authority_id}", headers=staff)).json()
                return bool(partner["contacts"][0].get("erased") and authority["contact"].get("erased"))

            await wait_until(erased, message="contacts erased")
        partner = (await svc.client.get(f"/partners/{partner_id}", headers=staff)).json()
        assert partner["contacts"][0]["email"] is None and partner["contacts"][0]["name"] is None
        assert partner["contacts"][1]["email"] == "lalao@boeny.example.mg"
        authority = (await svc.client.get(f"/authorities/{authority_id}", headers=staff)).json()
        assert authority["contact"]["name"] is None and authority["contact_email"] is None
        raw = await svc.runtime.db["partners"].find_one({"_id": partner_id})
        assert "hery" not in str(raw).lower()
        # Who did an action is no longer the person: the actions stay, recorded as done by "erased".
        for collection, doc_id in acted:
            doc = await db[collection].find_one({"_id": doc_id})
            assert "per-7" not in str(doc) and "'erased'" in str(doc), (collection, doc)
        assert [step["by"] for step in raw["history"]] == ["tester", "tester", "tester", "erased"]
        assert raw["history"][-1]["action"] == "reinstate" and raw["history"][-1]["role"] == "staff"
        pship_doc = await db["partnerships"].find_one({"_id": acted_pship})
        assert pship_doc["established_by"] == "erased" and pship_doc["ended_by"] == "erased"
        assert (await db["partnerships"].find_one({"_id": pship_id}))["established_by"] == "tester"
        for collection in await db.list_collection_names():
            if collection not in ("erased_persons", "inbox"):
                assert not [d async for d in db[collection].find() if "per-7" in str(d)], collection
        # Each of these scrubs is one indexed update, not a scan of the collection.
        scrubs = {q for q in recorder.queries if "per-7" in q.filter}
        assert {q.collection for q in scrubs} >= {"partners", "authorities", "partnerships", "match_requests"}
        scans = await collection_scans(svc.runtime.client, scrubs)
        assert scans == [], scans
        # What changed is published: the partner's contacts (by name of field), the authority's address
        # named as changed and null (notifications stops mailing it).
        partners_updated = await probe.wait_for("partners.PartnerUpdated", 2)
        assert sorted(e["key"] for e in partners_updated) == sorted([partner_id, pending_id])
        assert all(e["value"]["changed"] == ["contacts"] for e in partners_updated)
        [authority_updated] = await probe.wait_for("partners.AuthorityUpdated")
        assert authority_updated["key"] == authority_id and authority_updated["headers"]["ce_region"] == "FR-974"
        value = authority_updated["value"]
        assert value["changed"] == ["contact", "contact_email"] and value["contact_email"] is None
        # Nothing else: who did an action is in no event, so scrubbing it publishes nothing.
        await wait_until(drained, message="outbox drained")
        published = [
            e["headers"]["ce_type"] for e in await probe.events() if e["headers"]["ce_id"] not in published_before
        ]
        assert sorted(published) == ["partners.AuthorityUpdated", "partners.PartnerUpdated", "partners.PartnerUpdated"]
        # The erasure stays done: the person cannot be linked to a contact again; without the link it is fine.
        relinked = {"name": "Marie Hoarau", "email": "marie.hoarau@region.example.re", "person_id": "per-7"}
        r = await svc.client.patch(f"/authorities/{authority_id}", json={"contact": relinked}, headers=staff)
        assert r.status_code == 409 and "erased" in r.text
        r = await svc.client.patch(
            f"/partners/{partner_id}", json={"contacts": [{**relinked, "name": "Hery Rakoto"}]}, headers=staff
        )
        assert r.status_code == 409
        relinked.pop("person_id")
        r = await svc.client.patch(f"/authorities/{authority_id}", json={"contact": relinked}, headers=staff)
        assert r.status_code == 200 and r.json()["contact_email"] == relinked["email"]


async def test_sending_organisations(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        staff = svc.auth("staff")
        body = {
            "name": "Délégation Catholique pour la Coopération",
            "approval_number": "VSI-2024-03",
            "approved_from": "2024-01-01",
            "approved_until": "2027-12-31",
        }
        assert (await svc.client.post("/sending-organisations", json=body)).status_code == 401
        r = await svc.client.post("/sending-organisations", json=body, headers=svc.auth("branch", region="FR-IDF"))
        assert r.status_code == 403
        r = await svc.client.post(
            "/sending-organisations", json={**body, "approved_until": "2028-06-01"}, headers=staff
        )
        assert r.status_code == 422 and "4 years" in r.json()["detail"]
        r = await svc.client.post("/sending-organisations", json={**body, "approved_from": None}, headers=staff)
        assert r.status_code == 422
        r = await svc.client.post("/sending-organisations", json={**body, "approved_from": "someday"}, headers=staff)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "approved_from"
        r = await svc.client.post("/sending-organisations", json=body, headers=staff)
        assert r.status_code == 201, r.text
        org = r.json()
        org_id = org["organisation_id"]
        assert org["approval_valid"] is True
        r = await svc.client.post(
            "/sending-organisations", json={**body, "name": "delegation catholique pour la cooperation"}, headers=staff
        )
        assert (
            r.status_code == 409 and r.json()["details"]["existing_id"] == org_id and org_id not in r.json()["detail"]
        )

        for headers, status in [(svc.auth("authority", authority_id="a"), 200), (svc.auth("candidate"), 403)]:
            assert (await svc.client.get(f"/sending-organisations/{org_id}", headers=headers)).status_code == status
        assert (await svc.client.get("/sending-organisations/nope", headers=staff)).status_code == 404
        assert (await svc.client.get("/sending-organisations", headers=staff)).json()["total"] == 1

        change = {"approval_number": "VSI-2020-01", "approved_from": "2020-01-01", "approved_until": "2023-12-31"}
        url = f"/sending-organisations/{org_id}/approval"
        assert (await svc.client.post(url, json=change)).status_code == 401
        assert (await svc.client.post(url, json=change, headers=svc.auth("centre", country="SN"))).status_code == 403
        r = await svc.client.post("/sending-organisations/nope/approval", json=change, headers=staff)
        assert r.status_code == 404
        assert (await svc.client.post(url, json={"approved_from": "2020-01-01"}, headers=staff)).status_code == 422
        r = await svc.client.post(url, json=change, headers=staff)
        assert r.status_code == 200 and r.json()["approval_valid"] is False

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        [registered] = await probe.wait_for("partners.SendingOrganisationRegistered")
        [changed] = await probe.wait_for("partners.SendingOrganisationApprovalChanged")
        assert registered["value"]["approved_until"] == "2027-12-31" and registered["key"] == org_id
        assert changed["value"] == {"organisation_id": org_id, **change}
