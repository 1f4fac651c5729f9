"""Preferences, delivery log (scope, filters, pagination), template preview, erasure, regional digest."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from vies_dev.testing import publish_event, publish_raw, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import Mailpit
from vies_notifications import scheduler
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import MissionEnded, MissionPlanned, MissionStarted
from vies_shared.events.partners import AuthorityRegistered, MatchesProposed
from vies_shared.events.recruitment import (
    ApplicationSubmitted,
    ContactUpdated,
    PersonErased,
    PositionPublished,
)
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


async def test_preferences_choose_language_and_opt_outs(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = vies_settings("notifications", NotificationsSettings, delivery_poll_seconds=0.1)
    bootstrap = vies_stack.kafka_bootstrap
    async with running(create(settings), settings) as svc:
        person = f"cand-{test_id}"
        url = f"/preferences/{person}"
        body = {"language": "en", "opt_out_categories": []}
        assert (await svc.client.put(url, json=body)).status_code == 401
        assert (
            await svc.client.put(url, json=body, headers=svc.auth("candidate", sub="someone-else"))
        ).status_code == 403
        r = await svc.client.put(
            url, json={"language": "de", "opt_out_categories": ["spam"]}, headers=svc.auth("staff")
        )
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"language", "opt_out_categories.0"}
        r = await svc.client.put(url, json=body, headers=svc.auth("candidate", sub=person))
        assert r.status_code == 200 and r.json()["language"] == "en"
        assert r.json()["mandatory_categories"] == ["safety", "security"]

        await publish_event(
            bootstrap,
            contacts_topic(topic_prefix),
            ContactUpdated(person_id=person, name="Camille", email=f"{person}@example.org", language="fr"),
        )
        recruitment = events_topic("recruitment", topic_prefix)
        await publish_event(
            bootstrap,
            recruitment,
            ApplicationSubmitted(
                application_id=f"a1-{test_id}", position_id="pos", candidate_id=person, authority_id="auth"
            ),
        )
        mailpit = Mailpit(vies_stack.mailpit_url)
        [mail] = await mailpit.wait_for(f"to:{person}@example.org")
        assert mail["Subject"] == f"Your application a1-{test_id} has been received"  # preference beats contact

        r = await svc.client.put(
            url,
            json={"language": "fr", "opt_out_categories": ["application"]},
            headers=svc.auth("candidate", sub=person),
        )
        assert r.json()["opt_out_categories"] == ["application"]
        assert (await svc.client.get(url, headers=svc.auth("candidate", sub=person))).json()["language"] == "fr"
        second = await publish_event(
            bootstrap,
            recruitment,
            ApplicationSubmitted(
                application_id=f"a2-{test_id}", position_id="pos", candidate_id=person, authority_id="auth"
            ),
        )
        third = await publish_event(
            bootstrap,
            recruitment,
            ApplicationSubmitted(
                application_id=f"a3-{test_id}", position_id="pos", candidate_id=f"other-{test_id}", authority_id="auth"
            ),
        )
        staff = svc.auth("staff")

        async def third_handled() -> bool:
            r = await svc.client.get("/notifications", params={"event_id": third, "role": "candidate"}, headers=staff)
            return r.json()["total"] == 1

        await wait_until(third_handled, message="later event handled")
        # The opted-out candidate gets nothing for the second application.
        second_log = await svc.client.get(
            "/notifications", params={"event_id": second, "role": "candidate"}, headers=staff
        )
        assert second_log.json()["total"] == 0


async def test_delivery_log_scope_filters_pagination_and_preview(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = vies_settings("notifications", NotificationsSettings, delivery_poll_seconds=0.1)
    bootstrap = vies_stack.kafka_bootstrap
    partners = events_topic("partners", topic_prefix)
    async with running(create(settings), settings) as svc:
        for n, region in enumerate(["FR-BRE", "FR-BRE", "FR-BRE", "FR-NOR"]):
            await publish_event(
                bootstrap,
                partners,
                AuthorityRegistered(
                    authority_id=f"a{n}-{test_id}",
                    name=f"A{n}",
                    kind="commune",
                    region=region,
                    contact_email=f"a{n}-{test_id}@example.org",
                    territoires_volontaires=False,
                ),
                region=region,
            )
            await publish_event(
                bootstrap,
                partners,
                MatchesProposed(request_id=f"r{n}-{test_id}", authority_id=f"a{n}-{test_id}", suggestions=[]),
                region=region,
            )
        staff = svc.auth("staff")

        async def all_sent() -> bool:
            r = await svc.client.get("/notifications", params={"status": "sent"}, headers=staff)
            return r.json()["total"] == 8

        await wait_until(all_sent, timeout=30, message="8 notifications sent")
        assert (await svc.client.get("/notifications")).status_code == 401
        for role in ("authority", "candidate", "volunteer", "centre", "partner"):
            r = await svc.client.get("/notifications", headers=svc.auth(role, authority_id="x", country="SN"))
            assert r.status_code == 403, role
        branch = svc.auth("branch", region="FR-BRE")
        bre = (await svc.client.get("/notifications", headers=branch)).json()
        assert bre["total"] == 6 and {i["region"] for i in bre["items"]} == {"FR-BRE"}
        # A branch asking for another region is refused.
        other = await svc.client.get("/notifications", params={"region": "FR-NOR"}, headers=branch)
        assert other.status_code == 403
        page1 = (await svc.client.get("/notifications", params={"limit": 5}, headers=staff)).json()
        page2 = (await svc.client.get("/notifications", params={"limit": 5, "offset": 5}, headers=staff)).json()
        assert page1["total"] == 8 and len(page1["items"]) == 5 and len(page2["items"]) == 3
        assert not {i["notification_id"] for i in page1["items"]} & {i["notification_id"] for i in page2["items"]}
        assert (await svc.client.get("/notifications", params={"limit": 0}, headers=staff)).status_code == 422
        assert (await svc.client.get("/notifications", params={"status": "bogus"}, headers=staff)).status_code == 422
        by_role = (await svc.client.get("/notifications", params={"role": "branch"}, headers=staff)).json()
        assert by_role["total"] == 4
        address = f"a3-{test_id}@example.org"
        [entry] = (await svc.client.get("/notifications", params={"recipient": address}, headers=staff)).json()["items"]
        assert entry["recipient"]["address"] == address and entry["status"] == "sent"
        one = await svc.client.get(f"/notifications/{entry['notification_id']}", headers=staff)
        assert one.status_code == 200 and one.json()["subject"] == entry["subject"]
        assert (await svc.client.get(f"/notifications/{entry['notification_id']}", headers=branch)).status_code == 403
        assert (await svc.client.get("/notifications/nope", headers=staff)).status_code == 404

        # What it publishes is documented, what it does is counted.
        spec = json.dumps((await svc.client.get("/asyncapi.json")).json())
        assert "notifications.NotificationSent" in spec and "notifications.NotificationFailed" in spec
        metrics = (await svc.client.get("/metrics")).text
        assert 'vies_notifications_deliveries_total{channel="email",outcome="sent",service="notifications"}' in metrics
        assert "vies_notifications_smtp_connections_total" in metrics

        # Preview: every template in both languages, with sample data.
        templates = (await svc.client.get("/templates", headers=staff)).json()
        assert len(templates["routes"]) >= 20 and "security_alert" in templates["templates"]
        delayed = [r for r in templates["routes"] if r["after"]]
        assert [(r["event_type"], r["template"], r["after"]) for r in delayed] == [
            ("missions.MissionEnded", "return_seminar_invitation", "return_seminar")
        ]
        for name in templates["templates"]:
            for language in ("fr", "en"):
                r = await svc.client.get(f"/templates/{name}/preview", params={"language": language}, headers=staff)
                assert r.status_code == 200 and r.json()["subject"] and "<html" in r.json()["html"]
        r = await svc.client.get("/templates/application_received/preview", headers=staff)
        assert "&lt;Thiès&gt;" in r.json()["html"] and "<Thiès>" in r.json()["text"]  # HTML autoescaped, text not
        assert (await svc.client.get("/templates/nope/preview", headers=staff)).status_code == 404
        assert (
            await svc.client.get("/templates/security_alert/preview", headers=svc.auth("volunteer"))
        ).status_code == 403


async def test_erasure_deletes_contact_data_and_anonymises_the_log(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = vies_settings("notifications", NotificationsSettings, delivery_poll_seconds=0.1)
    bootstrap = vies_stack.kafka_bootstrap
    contacts = contacts_topic(topic_prefix)
    async with running(create(settings), settings) as svc:
        staff = svc.auth("staff")
        people = [f"p1-{test_id}", f"p2-{test_id}"]
        for n, person in enumerate(people):
            await publish_event(
                bootstrap,
                contacts,
                ContactUpdated(
                    person_id=person,
                    name="Dominique",
                    email=f"{person}@example.org",
                    phone="+33700000000",
                    language="fr",
                ),
            )
            await publish_event(
                bootstrap,
                events_topic("recruitment", topic_prefix),
                ApplicationSubmitted(
                    application_id=f"app{n}-x", position_id="pos", candidate_id=person, authority_id="auth"
                ),
            )

        async def sent(person: str) -> bool:
            r = await svc.client.get("/notifications", params={"recipient": person, "status": "sent"}, headers=staff)
            return r.json()["total"] == 1

        for person in people:
            await wait_until(lambda person=person: sent(person), message="candidate notified")
        # p1 is erased by the PersonErased event, p2 by a tombstone on the compacted contacts topic.
        await publish_event(bootstrap, events_topic("recruitment", topic_prefix), PersonErased(person_id=people[0]))
        await publish_raw(bootstrap, contacts, key=people[1].encode(), value=None)

        async def erased() -> bool:
            db = svc.runtime.db
            left = await db["contacts"].count_documents({"_id": {"$in": people}})
            logged = await db["notifications"].count_documents({"recipient.id": {"$in": people}})
            return left == 0 and logged == 0

        await wait_until(erased, message="contact data deleted and log anonymised")
        for person in people:
            r = await svc.client.get("/notifications", params={"recipient": f"{person}@example.org"}, headers=staff)
            assert r.json()["total"] == 0
        log = (await svc.client.get("/notifications", params={"status": "sent"}, headers=staff)).json()["items"]
        assert len(log) == 2 and all(
            i["recipient"]["id"] == "erased" and i["recipient"]["address"] is None for i in log
        )
        raw = await svc.runtime.db["notifications"].find({"erased": True}).to_list()
        assert len(raw) == 2 and not any(person in repr(doc) for person in people for doc in raw)


async def test_regional_digest_goes_once_per_region_and_day_even_with_two_replicas(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    database = f"t{test_id}_notifications"
    settings = vies_settings(
        "notifications", NotificationsSettings, mongodb_db=database, delivery_poll_seconds=0.1, digest_hour=6
    )
    replica = vies_settings(
        "notifications", NotificationsSettings, mongodb_db=database, delivery_poll_seconds=0.1, digest_hour=6
    )
    bootstrap = vies_stack.kafka_bootstrap
    recruitment, missions = events_topic("recruitment", topic_prefix), events_topic("missions", topic_prefix)
    async with running(create(settings), settings) as one, running(create(replica), replica) as two:
        await publish_event(
            bootstrap,
            recruitment,
            PositionPublished(
                position_id=f"pos-{test_id}",
                partnership_id="ps",
                authority_id="a",
                partner_id="p",
                country="TG",
                scheme="service_civique",
                title="Animation jeunesse",
                starts_on=date(2027, 3, 1),
                duration_months=8,
                places=1,
            ),
            region="FR-PDL",
        )
        await publish_event(
            bootstrap,
            missions,
            MissionPlanned(
                mission_id=f"m-{test_id}",
                engagement_id="e",
                volunteer_id="v",
                authority_id="a",
                partner_id="p",
                country="TG",
                scheme="service_civique",
                starts_on=date(2027, 3, 1),
                ends_on=date(2027, 10, 31),
            ),
            region="FR-PDL",
        )
        await publish_event(
            bootstrap,
            missions,
            MissionStarted(mission_id=f"m-{test_id}", departed_on=date(2027, 3, 1)),
            region="FR-PDL",
        )
        await publish_event(
            bootstrap, missions, MissionEnded(mission_id=f"m-{test_id}", ended_on=date(2027, 10, 31)), region="FR-PDL"
        )

        async def recorded() -> bool:
            return await one.runtime.db["digest_entries"].count_documents({"region": "FR-PDL"}) == 3

        await wait_until(recorded, message="digest entries recorded")
        tomorrow_morning = (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=1)).replace(hour=7, minute=0)
        too_early = tomorrow_morning.replace(hour=5)
        assert await scheduler.send_daily_digests(one.runtime, too_early) == 0
        results = await asyncio.gather(
            scheduler.send_daily_digests(one.runtime, tomorrow_morning),
            scheduler.send_daily_digests(two.runtime, tomorrow_morning),
            scheduler.send_daily_digests(one.runtime, tomorrow_morning + timedelta(hours=3)),
        )
        assert sum(results) == 1  # only FR-PDL had activity; empty regions are skipped
        [mail] = await Mailpit(vies_stack.mailpit_url).wait_for(
            f"to:antenne.fr-pdl@vies.example.org {test_id}", where=lambda m: m["Subject"].startswith("Activité")
        )
        assert mail["Subject"].startswith("Activité du ") and "Pays de la Loire" in mail["Subject"]
        full = await Mailpit(vies_stack.mailpit_url).message(mail["ID"])
        assert f"pos-{test_id} Animation jeunesse (TG)" in full["Text"]
        assert f"m-{test_id} (TG)" in full["Text"] and "Missions terminées : 1" in full["Text"]
        assert await scheduler.send_daily_digests(two.runtime, tomorrow_morning + timedelta(hours=5)) == 0
