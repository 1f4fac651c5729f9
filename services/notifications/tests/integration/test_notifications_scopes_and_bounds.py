"""What branches see of the delivery log (masked addresses, no search by address) and bounded input."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import CheckInMissed, MissionPlanned
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


async def test_branches_see_masked_addresses_and_cannot_search_the_log_by_address(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    volunteer, mission = f"vol-{test_id}", f"mis-{test_id}"
    email, phone = f"jane-{test_id}@example.org", "+33612345612"
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            sms_provider_url=f"{sms.url}/sms",
            delivery_poll_seconds=0.1,
            delivery_retry_initial_seconds=0.2,
            delivery_retry_max_seconds=0.5,
        )
        async with running(create(settings), settings) as svc:
            await publish_event(
                bootstrap,
                contacts_topic(topic_prefix),
                ContactUpdated(person_id=volunteer, name="Jane Doe", email=email, phone=phone, language="fr"),
            )
            missions = events_topic("missions", topic_prefix)
            await publish_event(
                bootstrap,
                missions,
                MissionPlanned(
                    mission_id=mission,
                    engagement_id=f"eng-{test_id}",
                    volunteer_id=volunteer,
                    authority_id=f"auth-{test_id}",
                    partner_id="p-1",
                    country="SN",
                    scheme="vsi",
                    starts_on=date(2027, 1, 15),
                    ends_on=date(2028, 1, 14),
                ),
                region="FR-BRE",
            )
            await publish_event(
                bootstrap, missions, CheckInMissed(mission_id=mission, due_on=date(2027, 2, 1)), region="FR-BRE"
            )
            staff = svc.auth("staff")
            query = {"recipient": volunteer, "status": "sent"}

            async def both_sent() -> bool:
                r = await svc.client.get("/notifications", params=query, headers=staff)
                return bool(r.json()["total"] == 2)

            await wait_until(both_sent, timeout=30, message="email and SMS to the volunteer sent")
            # Staff see the addresses, and may search by address.
            full = (await svc.client.get("/notifications", params=query, headers=staff)).json()["items"]
            assert {i["channel"]: i["recipient"]["address"] for i in full} == {"email": email, "sms": phone}
            r = await svc.client.get("/notifications", params={"recipient": email}, headers=staff)
            assert r.json()["total"] == 1

            branch = svc.auth("branch", sub=f"branch-{test_id}", region="FR-BRE")
            r = await svc.client.get("/notifications", params={"recipient_id": volunteer}, headers=branch)
            assert r.status_code == 200, r.text
            masked = r.json()["items"]
            assert {i["channel"]: i["recipient"]["address"] for i in masked} == {
                "email": "j***@example.org",
                "sms": "+33 6** ** ** 12",
            }
            texts = [json.dumps(r.json())]
            for item in masked:
                one = await svc.client.get(f"/notifications/{item['notification_id']}", headers=branch)
                assert one.status_code == 200 and one.json()["recipient"] == item["recipient"]
                texts.append(one.text)
            everything = await svc.client.get("/notifications", params={"limit": 200}, headers=branch)
            texts.append(everything.text)
            for text in texts:
                assert email not in text and phone not in text and "612345612" not in text
            # A branch cannot use the log to look an address (or anyone) up: 403.
            for value in (email, phone, volunteer):
                r = await svc.client.get("/notifications", params={"recipient": value}, headers=branch)
                assert r.status_code == 403, (value, r.text)


async def test_oversized_input_is_refused_with_422_never_a_500(vies_settings: Any, test_id: str) -> None:
    settings = vies_settings("notifications", NotificationsSettings, webhook_allowlist="127.0.0.1")
    async with running(create(settings), settings) as svc:
        staff = svc.auth("staff")
        huge = "x" * 5000
        person = f"cand-{test_id}"
        r = await svc.client.put(
            f"/preferences/{person}",
            json={"language": "fr", "opt_out_categories": ["application"] * 1000},
            headers=staff,
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "opt_out_categories", r.text
        r = await svc.client.put(f"/preferences/{huge}", json={"language": "fr"}, headers=staff)
        assert r.status_code == 422, r.text
        assert (await svc.client.get(f"/preferences/{huge}", headers=staff)).status_code == 422
        r = await svc.client.post(
            "/subscriptions", json={"url": "http://127.0.0.1:9/x", "event_types": [huge]}, headers=staff
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("event_types"), r.text
        for name in ("event_id", "recipient", "recipient_id", "event_type", "role", "region"):
            r = await svc.client.get("/notifications", params={name: huge}, headers=staff)
            assert r.status_code == 422, (name, r.status_code, r.text[:200])
        for method, path in (
            ("GET", f"/notifications/{huge}"),
            ("DELETE", f"/subscriptions/{huge}"),
            ("GET", f"/templates/{huge}/preview"),
        ):
            r = await svc.client.request(method, path, headers=staff)
            assert r.status_code == 422, (method, path[:30], r.status_code)


async def test_a_subscription_tells_only_its_owners_own_verified_address(vies_settings: Any, test_id: str) -> None:
    settings = vies_settings("notifications", NotificationsSettings, webhook_allowlist="127.0.0.1")
    async with running(create(settings), settings) as svc:
        own = f"antenne-{test_id}@example.org"
        body = {"url": "http://127.0.0.1:9/x", "event_types": ["missions.MissionStarted"]}
        verified = svc.auth("branch", sub=f"b-{test_id}", region="FR-BRE", email=own, email_verified=True)
        unverified = svc.auth("branch", sub=f"u-{test_id}", region="FR-BRE", email=own, email_verified=False)
        r = await svc.client.post(
            "/subscriptions", json={**body, "contact_email": f"victim-{test_id}@example.org"}, headers=verified
        )
        assert r.status_code == 403, r.text
        r = await svc.client.post("/subscriptions", json={**body, "contact_email": own}, headers=unverified)
        assert r.status_code == 403, r.text
        r = await svc.client.post("/subscriptions", json={**body, "contact_email": own.upper()}, headers=verified)
        assert r.status_code == 201 and r.json()["contact_email"] == own, r.text
        # Without one, the owner's verified address is used; without a verified address, none (operations).
        r = await svc.client.post("/subscriptions", json=body, headers=verified)
        assert r.status_code == 201 and r.json()["contact_email"] == own
        r = await svc.client.post("/subscriptions", json=body, headers=unverified)
        assert r.status_code == 201 and r.json()["contact_email"] is None
        # Staff set whatever address the subscriber gave them.
        r = await svc.client.post(
            "/subscriptions", json={**body, "contact_email": f"it-{test_id}@example.org"}, headers=svc.auth("staff")
        )
        assert r.status_code == 201 and r.json()["contact_email"] == f"it-{test_id}@example.org"
