"""Security alerts and safety checks end to end, with contact data from the compacted contacts topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from missions_testkit import app_for, count_is, engagement, plan, settings_for, start

from vies_dev.testing import KafkaProbe, publish_event, publish_raw, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.partners import AuthorityRegistered, PartnerRegistered
from vies_shared.events.recruitment import ContactUpdated, EmergencyContact
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


async def test_safety_check_end_to_end(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    # The authorities' regions (ce_region of the per-region events): two in Auvergne-Rhône-Alpes, one in Île-de-France.
    regions = {"auth-0": "FR-ARA", "auth-1": "FR-IDF", "auth-2": "FR-ARA"}
    async with running(app_for(settings), settings) as svc:
        for authority_id, region in regions.items():
            registered = AuthorityRegistered(
                authority_id=authority_id,
                name=authority_id,
                kind="commune",
                region=region,
                contact_email=f"{authority_id}@example.org",
                territoires_volontaires=False,
            )
            await publish_event(bootstrap, events_topic("partners", topic_prefix), registered)
        host = PartnerRegistered(
            partner_id="partner-1",
            name="Association Jokkoo",
            kind="ngo",
            country="SN",
            city="Dakar",
            themes=["health"],
            languages=["fr"],
            hosting_capacity=3,
            reciprocity=False,
        )
        await publish_event(bootstrap, events_topic("partners", topic_prefix), host)
        await wait_until(lambda: count_is(svc.runtime.db["authorities"], {}, 3), message="authorities projected")
        await wait_until(lambda: count_is(svc.runtime.db["partners"], {}, 1), message="partner projected")
        today = datetime.now(UTC).date()
        events = [engagement(country="SN", authority_id=f"auth-{i}") for i in range(3)]
        missions = [await plan(svc, bootstrap, topic_prefix, e) for e in events]
        for mission_id in missions:
            await start(svc, mission_id, today)
        elsewhere = engagement(country="BF")
        bf_mission = await plan(svc, bootstrap, topic_prefix, elsewhere)
        await start(svc, bf_mission, today, country="BF")
        await plan(svc, bootstrap, topic_prefix, engagement(country="SN"))  # planned: not in the country yet
        contacts = contacts_topic(topic_prefix)
        for i, e in enumerate(events):
            contact = ContactUpdated(
                person_id=e.volunteer_id,
                name=f"Volunteer {i}",
                email=f"v{i}@example.org",
                phone=f"+22177000000{i}",
                language="fr",
                emergency_contact=EmergencyContact(name=f"Parent {i}", relation="mother", phone=f"+3361000000{i}"),
            )
            await publish_event(bootstrap, contacts, contact)
        await wait_until(lambda: count_is(svc.runtime.db["contacts"], {}, 3), message="contacts projected")

        centre = svc.auth("centre", country="SN")
        alert = {"country": "SN", "level": "crisis", "message": "Unrest in Dakar", "respond_within_hours": 1}
        assert (
            await svc.client.post("/security-alerts", json=alert, headers=svc.auth("centre", country="BF"))
        ).status_code == 403
        assert (
            await svc.client.post("/security-alerts", json=alert, headers=svc.auth("authority", authority_id="auth-0"))
        ).status_code == 403
        bad = {**alert, "level": "panic", "respond_within_hours": 0}
        r = await svc.client.post("/security-alerts", json=bad, headers=centre)
        assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"level", "respond_within_hours"}
        r = await svc.client.post("/security-alerts", json=alert, headers=centre)
        assert r.status_code == 201, r.text
        alert_id = r.json()["alert_id"]
        assert r.json()["mission_count"] == 3 and r.json()["status"] == "open"

        # A volunteer sees the check waiting for their answer.
        r = await svc.client.get(
            f"/missions/{missions[0]}/safety-checks", headers=svc.auth("volunteer", sub=events[0].volunteer_id)
        )
        [pending] = r.json()["items"]
        assert pending["alert_id"] == alert_id and pending["answer"]["status"] == "pending"
        r = await svc.client.get(
            f"/missions/{bf_mission}/safety-checks", headers=svc.auth("volunteer", sub=elsewhere.volunteer_id)
        )
        assert r.json()["items"] == []

        # Two volunteers answer safe; the volunteer in Burkina Faso is not part of this check.
        for e, mission_id in zip(events[:2], missions[:2], strict=True):
            r = await svc.client.post(
                f"/security-alerts/{alert_id}/responses",
                json={"mission_id": mission_id, "status": "safe"},
                headers=svc.auth("volunteer", sub=e.volunteer_id),
            )
            assert r.status_code == 201, r.text
        r = await svc.client.post(
            f"/security-alerts/{alert_id}/responses",
            json={"mission_id": bf_mission, "status": "safe"},
            headers=svc.auth("volunteer", sub=elsewhere.volunteer_id),
        )
        assert r.status_code == 409
        r = await svc.client.post(
            f"/security-alerts/{alert_id}/responses",
            json={"mission_id": missions[2], "status": "safe"},
            headers=svc.auth("volunteer", sub=events[0].volunteer_id),
        )
        assert r.status_code == 403  # nobody answers for someone else's mission but the centre

        # Live status: who is accounted for and who is not, with name and phone.
        r = await svc.client.get(f"/security-alerts/{alert_id}", headers=centre)
        assert r.status_code == 200, r.text
        status = r.json()
        assert sorted(e["mission_id"] for e in status["accounted"]) == sorted(missions[:2])
        [missing] = status["unaccounted"]
        assert missing["mission_id"] == missions[2]
        assert missing["name"] == "Volunteer 2" and missing["phone"] == "+221770000002"
        assert missing["authority_id"] == "auth-2" and missing["centre_id"] == "ev-sn"
        # Who to call there: the host partner and the authority, by name (the centre's live board).
        assert missing["partner_name"] == "Association Jokkoo" and missing["authority_name"] == "auth-2"
        # Whom to call if the volunteer cannot be reached: for the centre making the calls.
        assert missing["emergency_contact"] == {"name": "Parent 2", "relation": "mother", "phone": "+33610000002"}
        assert status["counts"] == {"total": 3, "accounted": 2, "unaccounted": 1, "safe": 2, "need_help": 0}
        own = (
            await svc.client.get(f"/security-alerts/{alert_id}", headers=svc.auth("authority", authority_id="auth-2"))
        ).json()
        assert "emergency_contact" not in own["unaccounted"][0]  # not the authority's to see
        assert [e["mission_id"] for e in own["unaccounted"]] == [missions[2]] and own["accounted"] == []
        assert (
            await svc.client.get(f"/security-alerts/{alert_id}", headers=svc.auth("centre", country="BF"))
        ).status_code == 403
        assert (await svc.client.get(f"/security-alerts/{alert_id}", headers=svc.auth("volunteer"))).status_code == 403
        assert (await svc.client.get("/security-alerts/nope", headers=centre)).status_code == 404

        # The deadline passes: the scheduler closes the check and lists the third mission.
        svc.runtime.extras["clock"] = lambda: datetime.now(UTC) + timedelta(hours=1, minutes=1)
        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        [closed] = await probe.wait_for("missions.SafetyCheckClosed", where=lambda e: e["key"] == alert_id)
        assert closed["value"]["unaccounted_mission_ids"] == [missions[2]]
        [issued] = await probe.wait_for("missions.SecurityAlertIssued")
        assert issued["value"]["country"] == "SN" and sorted(issued["value"]["mission_ids"]) == sorted(missions)
        assert issued["headers"]["ce_region"] == "none"
        # The instructions travel with the alert: the message and the hours to answer.
        assert issued["value"]["message"] == "Unrest in Dakar" and issued["value"]["respond_within_hours"] == 1
        # The per-region view of the check: one event per region, each with that region's missions only.
        opened = await probe.wait_for("missions.SafetyCheckOpened", 2, where=lambda e: e["key"] == alert_id)
        assert {e["headers"]["ce_region"]: e["value"]["mission_ids"] for e in opened} == {
            "FR-ARA": sorted([missions[0], missions[2]]),
            "FR-IDF": [missions[1]],
        }
        assert all(e["value"]["country"] == "SN" and e["value"]["level"] == "crisis" for e in opened)
        assert all(e["value"]["message"] == "Unrest in Dakar" for e in opened)
        assert {e["value"]["respond_by"] for e in opened} == {issued["value"]["respond_by"]}
        closed_in = await probe.wait_for("missions.SafetyCheckClosedInRegion", 2, where=lambda e: e["key"] == alert_id)
        assert {e["headers"]["ce_region"]: e["value"]["unaccounted_mission_ids"] for e in closed_in} == {
            "FR-ARA": [missions[2]],
            "FR-IDF": [],
        }
        assert (await svc.client.post(f"/security-alerts/{alert_id}/close", headers=centre)).status_code == 409

        # A response after closing is still recorded.
        r = await svc.client.post(
            f"/security-alerts/{alert_id}/responses",
            json={"mission_id": missions[2], "status": "safe"},
            headers=svc.auth("volunteer", sub=events[2].volunteer_id),
        )
        assert r.status_code == 201 and r.json()["after_close"] is True
        status = (await svc.client.get(f"/security-alerts/{alert_id}", headers=centre)).json()
        assert status["status"] == "closed" and status["unaccounted"] == []
        assert status["closed_reason"] == "deadline" and status["unaccounted_at_close"] == [missions[2]]
        await probe.wait_for("missions.SafetyStatusReported", 3)

        # The contact tombstone (erasure) removes the name from the live lists.
        await publish_raw(bootstrap, contacts, key=events[2].volunteer_id.encode(), value=None)
        await wait_until(
            lambda: _gone(svc.runtime.db["contacts"], events[2].volunteer_id), message="contact deleted on tombstone"
        )
        status = (await svc.client.get(f"/security-alerts/{alert_id}", headers=centre)).json()
        third = next(e for e in status["accounted"] if e["mission_id"] == missions[2])
        assert third["name"] is None and third["phone"] is None and third["emergency_contact"] is None


async def _gone(collection: Any, person_id: str) -> bool:
    return await collection.find_one({"_id": person_id}) is None


async def test_need_help_opens_a_critical_incident_and_empty_country_closes_at_once(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = settings_for(vies_settings)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(app_for(settings), settings) as svc:
        event = engagement(country="BJ")
        mission_id = await plan(svc, bootstrap, topic_prefix, event)
        await start(svc, mission_id, datetime.now(UTC).date(), country="BJ")
        staff = svc.auth("staff")
        alert = {"country": "bj", "level": "vigilance", "message": "Floods", "respond_within_hours": 12}
        r = await svc.client.post("/security-alerts", json=alert, headers=staff)
        assert r.status_code == 201 and r.json()["country"] == "BJ"
        alert_id = r.json()["alert_id"]
        r = await svc.client.post(
            f"/security-alerts/{alert_id}/responses",
            json={"mission_id": mission_id, "status": "need_help"},
            headers=svc.auth("volunteer", sub=event.volunteer_id),
        )
        assert r.status_code == 201, r.text
        incident_id = r.json()["incident_id"]
        incident = (await svc.client.get(f"/incidents/{incident_id}", headers=staff)).json()
        assert incident["severity"] == "critical" and incident["category"] == "security"
        assert incident["status"] == "open" and incident["escalated_to"] == "centre"
        status = (await svc.client.get(f"/security-alerts/{alert_id}", headers=staff)).json()
        assert status["counts"]["need_help"] == 1 and status["unaccounted"] == []

        probe = KafkaProbe(bootstrap, [events_topic("missions", topic_prefix)])
        [reported] = await probe.wait_for("missions.IncidentReported")
        assert reported["value"]["severity"] == "critical" and reported["value"]["mission_id"] == mission_id
        [escalated] = await probe.wait_for("missions.IncidentEscalated")
        assert escalated["value"]["escalated_to"] == "centre" and escalated["value"]["centre_id"] == "ev-bj"

        # No volunteer in Cambodia: the check closes at once with nobody unaccounted.
        r = await svc.client.post("/security-alerts", json={**alert, "country": "KH"}, headers=staff)
        assert r.status_code == 201 and r.json()["status"] == "closed" and r.json()["mission_count"] == 0
        empty_id = r.json()["alert_id"]
        [closed] = await probe.wait_for("missions.SafetyCheckClosed", where=lambda e: e["key"] == empty_id)
        assert closed["value"]["unaccounted_mission_ids"] == []
        # Manual close of the Benin check.
        r = await svc.client.post(f"/security-alerts/{alert_id}/close", headers=svc.auth("centre", country="BJ"))
        assert r.status_code == 200 and r.json()["closed_reason"] == "manual"
        # The Benin mission's authority has no known region: the check is only in the country-wide events.
        await probe.wait_for("missions.SafetyCheckClosed", where=lambda e: e["key"] == alert_id)
        regional = ("missions.SafetyCheckOpened", "missions.SafetyCheckClosedInRegion")
        assert [e for e in await probe.events() if e["headers"]["ce_type"] in regional] == []
        r = await svc.client.get("/security-alerts", params={"status": "closed"}, headers=staff)
        assert r.json()["total"] == 2
