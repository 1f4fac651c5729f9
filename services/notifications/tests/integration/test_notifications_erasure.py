"""Erasure in notifications: a branch's webhook hears of every erasure although
it names no region; older contact data and engagements read after the erasure bring nothing back; an authority
whose address was its erased contact person's is mailed no more until it has a new one."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from test_notifications_subscription_owners import _secret

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import FakeOwnerDirectory, HttpRecorder, Mailpit
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.partners import AuthorityRegistered, AuthorityUpdated
from vies_shared.events.recruitment import ApplicationSubmitted, ContactUpdated, PersonErased, VolunteerEngaged
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


async def test_erasure_reaches_branch_webhooks_stays_erased_and_stops_mail_to_an_erased_authority_contact(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    partners, recruitment = events_topic("partners", topic_prefix), events_topic("recruitment", topic_prefix)
    person, authority = f"cand-{test_id}", f"auth-{test_id}"
    contact_email, new_email = f"contact-{test_id}@example.org", f"accueil-{test_id}@example.org"
    async with HttpRecorder() as hooks:
        settings = vies_settings(
            "notifications", NotificationsSettings, webhook_allowlist="127.0.0.1", delivery_poll_seconds=0.1
        )
        async with running(create(settings), settings) as svc:
            db = svc.runtime.db
            directory = FakeOwnerDirectory()
            svc.runtime.extras["owner_directory"] = directory
            directory.branch("branch-ara", "FR-ARA")
            directory.staff("staff-1")
            subscriptions = {
                "/ara": (["recruitment.ApplicationSubmitted", "recruitment.VolunteerEngaged"], "branch-ara"),
                "/alerts": (["missions.SecurityAlertIssued"], "staff-1"),  # names no person: no erasure either
            }
            for path, (types, owner) in subscriptions.items():
                role = {"region": "FR-ARA"} if owner == "branch-ara" else {}
                r = await svc.client.post(
                    "/subscriptions",
                    json={"url": f"{hooks.url}{path}", "event_types": types, "secret": _secret()},
                    headers=svc.auth("branch" if role else "staff", sub=owner, **role),
                )
                assert r.status_code == 201, r.text

            await publish_event(
                bootstrap,
                partners,
                AuthorityRegistered(
                    authority_id=authority,
                    name="Ville de Roanne",
                    kind="commune",
                    region="FR-ARA",
                    contact_email=contact_email,
                    territoires_volontaires=True,
                ),
                region="FR-ARA",
            )
            contact = ContactUpdated(person_id=person, name="Jeanne", email=f"{person}@example.org", language="fr")
            await publish_event(bootstrap, contacts_topic(topic_prefix), contact)
            before_erasure = datetime.now(UTC) - timedelta(minutes=5)

            def applied(n: int, candidate: str = person) -> ApplicationSubmitted:
                return ApplicationSubmitted(
                    application_id=f"app{n}-{test_id}",
                    position_id="pos",
                    candidate_id=candidate,
                    authority_id=authority,
                )

            await publish_event(bootstrap, recruitment, applied(1), region="FR-ARA")
            await wait_until(lambda: len(hooks.on("/ara")) == 1, timeout=30, message="branch webhook: application")
            await Mailpit(vies_stack.mailpit_url).wait_for(f"to:{contact_email}")  # the authority told

            # The erasure names no region, yet the branch's webhook hears of it.
            await publish_event(bootstrap, recruitment, PersonErased(person_id=person))
            await wait_until(lambda: len(hooks.on("/ara")) == 2, timeout=30, message="branch webhook: erasure")
            erasure = hooks.on("/ara")[1].json()
            assert erasure["type"] == PersonErased.TYPE and erasure["data"] == {"person_id": person}

            # Older facts read after the erasure (another topic or partition, a replay): nothing comes back.
            await publish_event(bootstrap, contacts_topic(topic_prefix), contact, at=before_erasure)
            engaged = VolunteerEngaged(
                engagement_id=f"eng-{test_id}",
                application_id=f"app1-{test_id}",
                volunteer_id=person,
                position_id="pos",
                authority_id=authority,
                partner_id="prt",
                country="SN",
                scheme="vsi",
                starts_on=date(2027, 1, 4),
                ends_on=date(2027, 12, 31),
            )
            await publish_event(bootstrap, recruitment, engaged, region="FR-ARA", at=before_erasure)
            await wait_until(lambda: len(hooks.on("/ara")) == 3, timeout=30, message="branch webhook: engagement")
            late = hooks.on("/ara")[2].json()
            assert late["type"] == VolunteerEngaged.TYPE and late["data"]["volunteer_id"] is None
            assert await db["contacts"].find_one({"_id": person}) is None
            kept = [d async for d in db["notifications"].find({"event_type": {"$ne": PersonErased.TYPE}})]
            assert kept and person not in json.dumps(kept, default=str)
            assert [d async for d in db["applications"].find({"candidate_id": person})] == []
            assert hooks.on("/alerts") == []

            to_authority = {"recipient.key": f"authority:{authority}"}
            mailed = await db["notifications"].count_documents(to_authority)  # the application, the engagement
            # The authority's address was that person's: partners says so (named as changed, null).
            erased_contact = AuthorityUpdated(
                authority_id=authority, region="FR-ARA", changed=["contact", "contact_email"], contact_email=None
            )
            await publish_event(bootstrap, partners, erased_contact, region="FR-ARA")
            await wait_until(
                lambda: _authority_email_is(db, authority, None), timeout=30, message="authority address erased"
            )
            await publish_event(bootstrap, recruitment, applied(2, f"other-{test_id}"), region="FR-ARA")
            await wait_until(lambda: len(hooks.on("/ara")) == 4, timeout=30, message="branch webhook: application 2")
            assert await db["notifications"].count_documents(to_authority) == mailed

            # A new address: mail goes again, there.
            renewed = AuthorityUpdated(
                authority_id=authority, region="FR-ARA", changed=["contact"], contact_email=new_email
            )
            await publish_event(bootstrap, partners, renewed, region="FR-ARA")
            await wait_until(lambda: _authority_email_is(db, authority, new_email), timeout=30, message="new address")
            await publish_event(bootstrap, recruitment, applied(3, f"other-{test_id}"), region="FR-ARA")
            await Mailpit(vies_stack.mailpit_url).wait_for(f"to:{new_email}")
            assert await db["notifications"].count_documents(to_authority) == mailed + 1
            # Nothing went to the erased address after its erasure (what was still queued was cancelled).
            settled = {**to_authority, "status": {"$in": ["pending", "sending"]}}
            await wait_until(lambda: _none(db["notifications"].count_documents(settled)), message="settled")
            sent = await db["notifications"].count_documents({**to_authority, "status": "sent"})
            assert len(await Mailpit(vies_stack.mailpit_url).search(f"to:{contact_email}")) == sent - 1


async def _authority_email_is(db: Any, authority: str, email: str | None) -> bool:
    doc = await db["authorities"].find_one({"_id": authority})
    return doc is not None and doc.get("email") == email


async def _none(count: Any) -> bool:
    return bool(await count == 0)
