"""The full path against real Kafka and MongoDB: published position → application → screening →
shortlist → interview → select → engage, each event read by a plain aiokafka consumer."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, publish, seed_directory
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.partners import PartnershipEnded
from vies_shared.events.topics import events_topic
from vies_shared.messaging.outbox import KEYS_COLLECTION

pytestmark = pytest.mark.integration


async def test_full_path_with_events_and_scopes(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        await seed_directory(svc, vies_stack.kafka_bootstrap, topic_prefix)
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        c = svc.client

        # position: auth and validation first
        assert (await c.post("/positions", json=position())).status_code == 401
        bad = await c.post("/positions", json=position(), headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert (await c.post("/positions", json=position(), headers=svc.auth("candidate"))).status_code == 403
        other = svc.auth("authority", "agent-2", authority_id="auth-2")
        assert (await c.post("/positions", json=position(), headers=other)).status_code == 403
        r = await c.post("/positions", json=position(places=0, starts_on="soon"), headers=authority)
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"places", "starts_on"}
        assert (await c.post("/positions", json=position("ps-x"), headers=authority)).status_code == 404

        r = await c.post("/positions", json=position(), headers=authority)
        assert r.status_code == 201, r.text
        pos = r.json()
        pid = pos["position_id"]
        assert pos["status"] == "draft" and pos["region"] == "FR-ARA" and pos["country"] == "SN"
        # a draft is visible to its authority only
        assert (await c.get(f"/positions/{pid}", headers=svc.auth("candidate"))).status_code == 403
        assert (await c.get(f"/positions/{pid}", headers=authority)).status_code == 200
        assert (await c.get("/positions/nope", headers=authority)).status_code == 404

        r = await c.post(f"/positions/{pid}/publish", headers=authority)
        assert r.status_code == 200, r.text
        assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 409
        assert (await c.get(f"/positions/{pid}", headers=svc.auth("candidate"))).status_code == 200

        # applications: one eligible, a duplicate email, one ineligible, one that stays open
        alice = svc.auth("candidate", "cand-alice")
        r = await c.post(
            f"/positions/{pid}/applications", json=candidate("Alice Martin", "alice@example.org"), headers=alice
        )
        assert r.status_code == 201, r.text
        app = r.json()
        aid = app["application_id"]
        assert app["eligible"] is True and app["status"] == "screened" and app["score"] == 1.0
        assert app["candidate_id"] == "cand-alice"
        dup = await c.post(
            f"/positions/{pid}/applications", json=candidate("Alice M.", "ALICE@example.org"), headers=alice
        )
        assert dup.status_code == 409
        moussa = svc.auth("candidate", "cand-moussa")
        r = await c.post(
            f"/positions/{pid}/applications",
            json=candidate("Moussa Diop", "moussa@example.org", nationality="SN", birth_date="2010-01-01"),
            headers=moussa,
        )
        assert r.status_code == 201
        ineligible = r.json()
        assert ineligible["eligible"] is False and ineligible["status"] == "ineligible"
        codes = {x["code"] for x in ineligible["reasons"]}
        assert codes == {"vsi.adult", "vsi.not_nationality_country"}
        assert all(x["fr"] and x["en"] for x in ineligible["reasons"])
        bob = svc.auth("candidate", "cand-bob")
        r = await c.post(
            f"/positions/{pid}/applications",
            json=candidate("Bob Durand", "bob@example.org", languages=["fr"], skills=[]),
            headers=bob,
        )
        bob_app = r.json()
        assert bob_app["score"] == 0.3

        # ranked list: best first, for the authority and the region's branch only
        ranked = (await c.get(f"/positions/{pid}/applications", headers=authority)).json()
        assert [x["application_id"] for x in ranked["items"]] == [
            aid,
            bob_app["application_id"],
            ineligible["application_id"],
        ]
        branch = await c.get(f"/positions/{pid}/applications", headers=svc.auth("branch", region="FR-ARA"))
        assert branch.status_code == 200 and "candidate" not in branch.json()["items"][0]
        assert (
            await c.get(f"/positions/{pid}/applications", headers=svc.auth("branch", region="FR-IDF"))
        ).status_code == 403
        assert (await c.get(f"/positions/{pid}/applications", headers=other)).status_code == 403

        # a candidate withdraws before engagement; nobody else may do it for them
        chloe = svc.auth("candidate", "cand-chloe")
        r = await c.post(
            f"/positions/{pid}/applications", json=candidate("Chloé L.", "chloe@example.org"), headers=chloe
        )
        chloe_app = r.json()["application_id"]
        assert (await c.post(f"/applications/{chloe_app}/withdraw", headers=bob)).status_code == 403
        assert (await c.post(f"/applications/{chloe_app}/withdraw", headers=authority)).status_code == 403
        r = await c.post(f"/applications/{chloe_app}/withdraw", headers=chloe)
        assert r.status_code == 200 and r.json()["status"] == "withdrawn"
        assert (await c.post(f"/applications/{chloe_app}/withdraw", headers=chloe)).status_code == 409

        # a candidate sees only their own applications
        mine = (await c.get("/applications", headers=alice)).json()
        assert [x["application_id"] for x in mine["items"]] == [aid]
        assert (await c.get(f"/applications/{aid}", headers=bob)).status_code == 403
        assert (await c.get(f"/applications/{aid}", headers=alice)).status_code == 200
        assert (await c.get("/applications/nope", headers=alice)).status_code == 404

        # the pipeline, with illegal transitions answering 409
        assert (await c.post(f"/applications/{aid}/select", headers=authority)).status_code == 409
        assert (await c.post(f"/applications/{aid}/shortlist", headers=alice)).status_code == 403
        assert (
            await c.post(f"/applications/{ineligible['application_id']}/shortlist", headers=authority)
        ).status_code == 409
        assert (await c.post(f"/applications/{aid}/shortlist", headers=authority)).json()["status"] == "shortlisted"
        r = await c.post(f"/applications/{aid}/interview", json={"at": "2026-12-10T10:00:00Z"}, headers=authority)
        assert r.status_code == 200 and r.json()["status"] == "interview_scheduled"
        assert (await c.post(f"/applications/{aid}/select", headers=authority)).json()["status"] == "selected"
        # a contract that does not fit the scheme: 25 months of VSI
        r = await c.post(
            f"/applications/{aid}/engage", json={"starts_on": "2027-03-01", "ends_on": "2029-03-31"}, headers=authority
        )
        assert r.status_code == 409
        assert [x["code"] for x in r.json()["details"]["reasons"]] == ["vsi.contract_max"]
        r = await c.post(
            f"/applications/{aid}/engage", json={"starts_on": "2027-03-01", "ends_on": "2028-02-29"}, headers=authority
        )
        assert r.status_code == 200, r.text
        engaged = r.json()
        assert engaged["status"] == "engaged" and engaged["engagement_id"]
        # the only place is taken: the position closed and Bob's open application was rejected
        assert (await c.get(f"/positions/{pid}", headers=alice)).json()["status"] == "closed"
        bob_now = (await c.get(f"/applications/{bob_app['application_id']}", headers=bob)).json()
        assert bob_now["status"] == "rejected" and bob_now["rejection_reason"] == "position filled"
        assert (await c.post(f"/applications/{bob_app['application_id']}/withdraw", headers=bob)).status_code == 409

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("recruitment", topic_prefix)])
        [engaged_event] = await probe.wait_for("recruitment.VolunteerEngaged")
        events = await probe.events()
        for e in events:
            assert e["headers"]["ce_region"] == "FR-ARA"
            assert e["headers"]["ce_source"] == "/vies/recruitment"
        # per aggregate, in order (one key, one partition)
        of_alice = [e["headers"]["ce_type"] for e in events if e["key"] == aid]
        assert of_alice == [
            "recruitment.ApplicationSubmitted",
            "recruitment.ApplicationScreened",
            "recruitment.ApplicationShortlisted",
            "recruitment.InterviewScheduled",
            "recruitment.CandidateSelected",
        ]
        of_position = [e["headers"]["ce_type"] for e in events if e["key"] == pid]
        assert of_position == ["recruitment.PositionPublished", "recruitment.PositionClosed"]
        # An application orders its own events: its document keeps the last one's seq, outbox_keys has no entry.
        db = svc.runtime.db
        stored = await db["applications"].find_one({"_id": aid})
        last = await db["outbox"].find_one({"key": aid}, sort=[("seq", -1)])
        assert stored is not None and last is not None and stored["event_seq"] == last["seq"]
        assert await db[KEYS_COLLECTION].count_documents({"_id": {"$regex": f" {aid}$"}}) == 0
        assert engaged_event["key"] == engaged["engagement_id"]
        assert engaged_event["value"] == {
            "engagement_id": engaged["engagement_id"],
            "application_id": aid,
            "volunteer_id": "cand-alice",
            "position_id": pid,
            "authority_id": "auth-1",
            "partner_id": "partner-1",
            "country": "SN",
            "scheme": "vsi",
            "starts_on": "2027-03-01",
            "ends_on": "2028-02-29",
            "vsi_months_served_before": 0.0,
            "place": None,  # the position named none
        }
        [closed] = [e for e in events if e["headers"]["ce_type"] == "recruitment.PositionClosed"]
        assert closed["value"]["reason"] == "position filled" and closed["value"]["cause"] == "filled"
        rejected = [e for e in events if e["headers"]["ce_type"] == "recruitment.ApplicationRejected"]
        assert [(e["key"], e["value"]["reason"]) for e in rejected] == [(bob_app["application_id"], "position filled")]
        screened = {
            e["key"]: e["value"] for e in events if e["headers"]["ce_type"] == "recruitment.ApplicationScreened"
        }
        assert screened[ineligible["application_id"]]["eligible"] is False
        assert set(screened[ineligible["application_id"]]["reason_codes"]) == codes


async def test_partnership_end_closes_its_open_positions(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        await seed_directory(svc, bootstrap, topic_prefix)
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        c = svc.client
        published = (await c.post("/positions", json=position(), headers=authority)).json()["position_id"]
        assert (await c.post(f"/positions/{published}/publish", headers=authority)).status_code == 200
        draft = (await c.post("/positions", json=position(title="Draft"), headers=authority)).json()["position_id"]
        r = await c.post(
            f"/positions/{published}/applications",
            json=candidate("Alice Martin", "alice@example.org"),
            headers=svc.auth("candidate", "cand-alice"),
        )
        app_id = r.json()["application_id"]

        await publish(bootstrap, topic_prefix, PartnershipEnded(partnership_id="ps-1", reason="mandate over"), "FR-ARA")

        async def closed() -> bool:
            statuses = [
                (await c.get(f"/positions/{p}", headers=authority)).json()["status"] for p in (published, draft)
            ]
            return statuses == ["closed", "closed"]

        await wait_until(closed, timeout=30, message="positions closed")
        view = (await c.get(f"/positions/{published}", headers=authority)).json()
        assert view["close_reason"] == "mandate over" and view["close_cause"] == "partnership_ended"
        app = (await c.get(f"/applications/{app_id}", headers=authority)).json()
        assert app["status"] == "rejected" and app["rejection_reason"] == "position closed: mandate over"
        # no new position in an ended partnership
        assert (await c.post("/positions", json=position(), headers=authority)).status_code == 409

        probe = KafkaProbe(bootstrap, [events_topic("recruitment", topic_prefix)])
        events = await probe.wait_for("recruitment.PositionClosed", 2)
        assert {e["key"]: e["value"]["reason"] for e in events} == {published: "mandate over", draft: "mandate over"}
        assert all(e["headers"]["ce_causationid"] for e in events)
