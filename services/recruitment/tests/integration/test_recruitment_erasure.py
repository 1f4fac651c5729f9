"""Right to erasure and contract 1.5: personal data only on the compacted contacts topic, gone on erasure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, seed_directory
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration

NAME = "Zéphyrine Quastelbaum"
EMAIL = "zephyrine.quastelbaum@example.org"
BIRTH = "1993-04-21"
PHONE = "+33612345678"
NEW_PHONE = "+33698765432"
MOTIVATION = "motivation-8c1f2e: I have built wells"
PERSONAL = (NAME, "Quastelbaum", EMAIL, BIRTH, PHONE, NEW_PHONE, "8c1f2e")


async def test_erasure_removes_personal_data_and_tombstones_the_contact(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        await seed_directory(svc, bootstrap, topic_prefix)
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        staff = svc.auth("staff", "staffer")
        c = svc.client
        pids = []
        for title in ("First", "Second"):
            pid = (await c.post("/positions", json=position(title=title), headers=authority)).json()["position_id"]
            assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200
            pids.append(pid)

        # staff applies on the candidate's behalf twice: one person, found again by email
        body = candidate(NAME, EMAIL, birth_date=BIRTH, phone=PHONE)
        body["motivation"] = MOTIVATION
        first = (await c.post(f"/positions/{pids[0]}/applications", json=body, headers=staff)).json()
        second = (await c.post(f"/positions/{pids[1]}/applications", json=body, headers=staff)).json()
        person_id = first["candidate_id"]
        assert second["candidate_id"] == person_id
        assert (
            await c.post(f"/applications/{first['application_id']}/shortlist", headers=authority)
        ).status_code == 200
        r = await c.patch(f"/persons/{person_id}", json={"phone": NEW_PHONE}, headers=staff)
        assert r.status_code == 200 and r.json()["phone"] == NEW_PHONE
        assert (await c.patch(f"/persons/{person_id}", json={"phone": 3}, headers=staff)).status_code == 422

        contacts = KafkaProbe(bootstrap, [contacts_topic(topic_prefix)])
        updates = await contacts.wait_for("recruitment.ContactUpdated", 2)
        assert [u["value"]["phone"] for u in updates] == [PHONE, NEW_PHONE]
        assert {u["key"] for u in updates} == {person_id}

        async def relayed() -> bool:
            pending: int = await svc.runtime.db["outbox"].count_documents({"published_at": None})
            return pending == 0

        await wait_until(relayed, message="outbox relayed")

        # only staff erases
        assert (await c.delete(f"/persons/{person_id}", headers=svc.auth("candidate", person_id))).status_code == 403
        assert (await c.delete(f"/persons/{person_id}", headers=authority)).status_code == 403
        assert (await c.delete("/persons/nobody", headers=staff)).status_code == 404
        r = await c.delete(f"/persons/{person_id}", headers=staff)
        assert r.status_code == 200, r.text
        assert r.json()["applications"] == 2
        assert (await c.delete(f"/persons/{person_id}", headers=staff)).status_code == 200  # idempotent

        # no personal field left anywhere in the service's database (raw collections)
        db = svc.runtime.db
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                text = json.dumps(doc, default=str, ensure_ascii=False)
                for value in PERSONAL:
                    assert value not in text, f"{value!r} left in {name}: {text[:300]}"
        person = await db["persons"].find_one({"_id": person_id})
        assert person is not None and set(person) == {"_id", "erased_at"}
        # anonymous facts stay for statistics; open applications were withdrawn
        app = (await c.get(f"/applications/{first['application_id']}", headers=staff)).json()
        assert app["candidate"] is None and app["motivation"] is None
        assert app["scheme"] == "vsi" and app["status"] == "withdrawn" and app["submitted_at"]

        # the event and the tombstone
        events = KafkaProbe(bootstrap, [events_topic("recruitment", topic_prefix)])
        [erased] = await events.wait_for("recruitment.PersonErased")
        assert erased["key"] == person_id and erased["value"] == {"person_id": person_id}
        withdrawn = await events.wait_for("recruitment.ApplicationWithdrawn", 2)
        assert {w["key"] for w in withdrawn} == {first["application_id"], second["application_id"]}

        async def tombstone() -> list[Any]:
            records = await contacts.read()
            return [r for r in records if r.key == person_id.encode() and r.value is None]

        await wait_until(tombstone, message="tombstone on the contacts topic")
        last = [r for r in await contacts.read() if r.key == person_id.encode()][-1]
        assert last.value is None

        # no candidate's name, email, phone or birth date on the events topic, in values or headers
        for record in await events.read():
            raw = (record.value or b"").decode() + "".join((v or b"").decode() for _, v in record.headers)
            for value in PERSONAL:
                assert value not in raw, f"{value!r} on the events topic in {record.value!r}"


async def test_a_candidate_asks_for_the_erasure_of_their_own_data(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        await seed_directory(svc, bootstrap, topic_prefix)
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        c = svc.client
        pids = []
        for title in ("Wells", "Schools"):
            pid = (await c.post("/positions", json=position(title=title), headers=authority)).json()["position_id"]
            assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200
            pids.append(pid)

        me = svc.auth("candidate", "cand-forget-me")
        body = candidate(NAME, EMAIL, birth_date=BIRTH, phone=PHONE)
        body["motivation"] = MOTIVATION
        mine = (await c.post(f"/positions/{pids[0]}/applications", json=body, headers=me)).json()
        assert (await c.post(f"/applications/{mine['application_id']}/shortlist", headers=authority)).status_code == 200
        # another candidate, engaged: their contract is followed up, so they cannot erase by themselves
        engaged = svc.auth("candidate", "cand-engaged")
        other = candidate("Ibrahima Sow", "ibrahima.sow@example.org")
        aid = (await c.post(f"/positions/{pids[1]}/applications", json=other, headers=engaged)).json()["application_id"]
        for step, payload in (("shortlist", None), ("interview", {"at": "2026-12-10T10:00:00Z"}), ("select", None)):
            assert (await c.post(f"/applications/{aid}/{step}", json=payload, headers=authority)).status_code == 200
        contract = {"starts_on": "2027-03-01", "ends_on": "2028-02-29"}
        assert (await c.post(f"/applications/{aid}/engage", json=contract, headers=engaged)).status_code == 403
        assert (await c.post(f"/applications/{aid}/engage", json=contract, headers=authority)).status_code == 200

        # only the candidate themself: not another candidate, the authority, a volunteer token or staff (DELETE)
        ask = "/persons/cand-forget-me/erasure-request"
        for someone in (
            engaged,
            authority,
            svc.auth("volunteer", "cand-forget-me"),
            svc.auth("staff", "staffer"),
        ):
            assert (await c.post(ask, headers=someone)).status_code == 403
        assert (
            await c.post("/persons/cand-nothing/erasure-request", headers=svc.auth("candidate", "cand-nothing"))
        ).status_code == 404
        r = await c.post("/persons/cand-engaged/erasure-request", headers=engaged)
        assert r.status_code == 409 and "engaged" in r.json()["detail"], r.text
        assert (await c.get("/persons/cand-engaged", headers=engaged)).json()["name"] == "Ibrahima Sow"

        r = await c.post(ask, headers=me)
        assert r.status_code == 200, r.text
        assert r.json()["person_id"] == "cand-forget-me" and r.json()["applications"] == 1
        assert (await c.post(ask, headers=me)).status_code == 200  # idempotent

        db = svc.runtime.db
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                text = json.dumps(doc, default=str, ensure_ascii=False)
                for value in PERSONAL:
                    assert value not in text, f"{value!r} left in {name}: {text[:300]}"
        app = (await c.get(f"/applications/{mine['application_id']}", headers=me)).json()
        assert app["candidate"] is None and app["status"] == "withdrawn" and app["scheme"] == "vsi"
        held = (await c.get("/persons/cand-forget-me", headers=me)).json()
        assert held["erased_at"] and "name" not in held

        events = KafkaProbe(bootstrap, [events_topic("recruitment", topic_prefix)])
        [erased] = await events.wait_for("recruitment.PersonErased")
        assert erased["value"] == {"person_id": "cand-forget-me"}
