"""A volunteer's emergency contact, held by recruitment, published on the contacts topic."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, seed_directory
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration

PERSON = "vol-amadou"
EMAIL = "amadou.quelennec@example.org"
CONTACT = {
    "name": "Maïwenn Quelennec",
    "relation": "mother",
    "phone": "+33 6 11 22 33 44",
    "email": "maiwenn.quelennec@example.org",
}
PUBLISHED = {"name": "Maïwenn Quelennec", "relation": "mother", "phone": "+33 6 11 22 33 44"}


async def test_the_volunteer_sets_an_emergency_contact_only_they_and_staff_see(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        await seed_directory(svc, bootstrap, topic_prefix)
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        staff = svc.auth("staff", "staffer")
        branch = svc.auth("branch", "branch-ara", region="FR-ARA")
        c = svc.client
        pids = []
        for title in ("First", "Second"):
            pid = (await c.post("/positions", json=position(title=title), headers=authority)).json()["position_id"]
            assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200
            pids.append(pid)
        as_candidate = svc.auth("candidate", PERSON, email=EMAIL, email_verified=True)
        r = await c.post(
            f"/positions/{pids[0]}/applications", json=candidate("Amadou Quelennec", EMAIL), headers=as_candidate
        )
        assert r.status_code == 201, r.text
        application_id = r.json()["application_id"]

        # the volunteer (the same person, once engaged) sets it on their own record
        volunteer = svc.auth("volunteer", PERSON)
        r = await c.patch(f"/persons/{PERSON}", json={"emergency_contact": CONTACT}, headers=volunteer)
        assert r.status_code == 200, r.text
        assert r.json()["emergency_contact"] == CONTACT and r.json()["name"] == "Amadou Quelennec"

        # bounded: 422, never stored
        for bad in (
            {**CONTACT, "phone": "call my mum"},
            {**CONTACT, "phone": "+33 6"},
            {**CONTACT, "phone": "1" * 41},
            {**CONTACT, "name": "x" * 201},
            {**CONTACT, "relation": "x" * 61},
            {**CONTACT, "email": "not-an-address"},
            {"name": "Maïwenn Quelennec", "phone": "+33611223344"},  # relation missing
            {**CONTACT, "colour": "blue"},
        ):
            r = await c.patch(f"/persons/{PERSON}", json={"emergency_contact": bad}, headers=volunteer)
            assert r.status_code == 422, (bad, r.text)

        # who sees it: the person and staff; another person, an authority, a branch do not
        for who in (volunteer, as_candidate, staff):
            r = await c.get(f"/persons/{PERSON}", headers=who)
            assert r.status_code == 200 and r.json()["emergency_contact"] == CONTACT
        for who in (svc.auth("volunteer", "someone-else"), authority, branch):
            assert (await c.get(f"/persons/{PERSON}", headers=who)).status_code == 403
            r = await c.patch(f"/persons/{PERSON}", json={"emergency_contact": CONTACT}, headers=who)
            assert r.status_code == 403
        for who in (authority, branch, staff):
            r = await c.get(f"/applications/{application_id}", headers=who)
            assert r.status_code == 200
            listed = await c.get(f"/positions/{pids[0]}/applications", headers=who)
            for text in (r.text, listed.text):
                assert "Maïwenn" not in text and "11 22 33 44" not in text and "emergency" not in text

        # a name-only change and a new application keep the emergency contact in the event
        r = await c.patch(f"/persons/{PERSON}", json={"phone": "+33699999999", "name": None}, headers=volunteer)
        assert r.status_code == 200 and r.json()["emergency_contact"] == CONTACT and r.json()["name"]
        r = await c.post(
            f"/positions/{pids[1]}/applications",
            json=candidate("Amadou Quelennec", EMAIL, phone="+33600000001"),
            headers=as_candidate,
        )
        assert r.status_code == 201, r.text
        # staff corrects it, then the volunteer removes it
        r = await c.patch(
            f"/persons/{PERSON}", json={"emergency_contact": {**CONTACT, "relation": "sister"}}, headers=staff
        )
        assert r.status_code == 200 and r.json()["emergency_contact"]["relation"] == "sister"
        r = await c.patch(f"/persons/{PERSON}", json={"emergency_contact": None}, headers=volunteer)
        assert r.status_code == 200 and r.json()["emergency_contact"] is None
        r = await c.patch(f"/persons/{PERSON}", json={"emergency_contact": CONTACT}, headers=volunteer)
        assert r.status_code == 200

        # ContactUpdated on the compacted contacts topic carries whom to call (not their email)
        contacts = KafkaProbe(bootstrap, [contacts_topic(topic_prefix)])
        updates = [u["value"] for u in await contacts.wait_for("recruitment.ContactUpdated", 7)]
        assert [u["emergency_contact"] for u in updates] == [
            None,  # first application, before it was set
            PUBLISHED,
            PUBLISHED,  # phone changed
            PUBLISHED,  # applied again with another phone
            {**PUBLISHED, "relation": "sister"},
            None,
            PUBLISHED,
        ]
        assert all(u["person_id"] == PERSON and u["name"] == "Amadou Quelennec" for u in updates)
        # never on the events topic
        events = KafkaProbe(bootstrap, [events_topic("recruitment", topic_prefix)])
        await events.wait_for("recruitment.ApplicationSubmitted", 2)
        for record in await events.read():
            assert b"Quelennec" not in (record.value or b"") and b"11 22 33 44" not in (record.value or b"")

        # erased with the person
        assert (await c.delete(f"/persons/{PERSON}", headers=staff)).status_code == 200
        db = svc.runtime.db
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                text = json.dumps(doc, default=str, ensure_ascii=False)
                for value in ("Maïwenn", "11 22 33 44", "maiwenn.quelennec"):
                    assert value not in text, f"{value!r} left in {name}: {text[:300]}"
