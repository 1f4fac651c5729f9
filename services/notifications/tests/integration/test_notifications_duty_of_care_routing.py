"""Routing that reaches someone: escalations, early returns, the host partner, a partner's suspension.

Contract events on real Kafka → the delivery log, emails in Mailpit and SMS at a real HTTP endpoint.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder, Mailpit
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import (
    IncidentEscalated,
    MissionInterrupted,
    MissionPlanned,
    MissionStarted,
    SafetyCheckEscalated,
    SafetyCheckReminded,
    SecurityAlertIssued,
)
from vies_shared.events.partners import (
    AuthorityRegistered,
    PartnerRegistered,
    PartnershipEnded,
    PartnershipEstablished,
    PartnerSuspended,
    PartnerUpdated,
)
from vies_shared.events.recruitment import ContactUpdated, VolunteerEngaged
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


async def test_escalations_early_returns_host_partner_and_suspension_reach_someone(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    tid = test_id
    bootstrap = vies_stack.kafka_bootstrap
    partners, missions = events_topic("partners", topic_prefix), events_topic("missions", topic_prefix)
    a1, a2, partner, mission = f"a1-{tid}", f"a2-{tid}", f"p-{tid}", f"m-{tid}"
    duty, head, host = f"duty-{tid}@example.org", f"safety-{tid}@example.org", f"host-{tid}@example.org"
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            sms_provider_url=f"{sms.url}/sms",
            duty_officer_email=duty,
            duty_officer_phone="+33622222222",
            head_office_safety_email=head,
            delivery_poll_seconds=0.1,
        )
        async with running(create(settings), settings) as svc:
            db = svc.runtime.db
            for authority in (a1, a2):
                registered = AuthorityRegistered(
                    authority_id=authority,
                    name=f"Commune {authority}",
                    kind="commune",
                    region="FR-ARA",
                    contact_email=f"{authority}@example.org",
                    territoires_volontaires=False,
                )
                await publish_event(bootstrap, partners, registered)
            registered_partner = PartnerRegistered(
                partner_id=partner,
                name=f"Association Jokkoo {tid}",
                kind="ngo",
                country="SN",
                city="Thiès",
                themes=["agriculture"],
                languages=["fr", "wo"],
                hosting_capacity=2,
                reciprocity=False,
                contact_email=f"old-{tid}@example.org",
            )
            await publish_event(bootstrap, partners, registered_partner)
            # The partner corrects its address (PATCH /partners/{id}): mail goes to the new one.
            corrected = PartnerUpdated(partner_id=partner, changed=["contact_email"], contact_email=host)
            await publish_event(bootstrap, partners, corrected)
            for n, authority in enumerate((a1, a2)):
                established = PartnershipEstablished(
                    partnership_id=f"ps{n}-{tid}",
                    authority_id=authority,
                    partner_id=partner,
                    country="SN",
                    themes=["agriculture"],
                    starts_on=date(2027, 1, 1),
                )
                await publish_event(bootstrap, partners, established)
            await publish_event(bootstrap, partners, PartnershipEnded(partnership_id=f"ps1-{tid}", reason="done"))

            async def partner_and_partnerships_known() -> bool:
                return (
                    await db["partners"].count_documents({"_id": partner, "email": host}) == 1
                    and await db["partnerships"].count_documents({"status": "active"}) == 1
                    and await db["partnerships"].count_documents({"status": "ended"}) == 1
                    and await db["authorities"].count_documents({}) == 2
                )

            await wait_until(partner_and_partnerships_known, timeout=30, message="partner and partnerships projected")
            planned = MissionPlanned(
                mission_id=mission,
                engagement_id=f"e-{tid}",
                volunteer_id=f"v-{tid}",
                authority_id=a1,
                partner_id=partner,
                country="SN",
                scheme="vsi",
                starts_on=date(2027, 1, 15),
                ends_on=date(2028, 1, 14),
            )
            await publish_event(bootstrap, missions, planned, region="FR-ARA")
            started = await publish_event(
                bootstrap, missions, MissionStarted(mission_id=mission, departed_on=date(2027, 1, 15)), region="FR-ARA"
            )
            escalated = await publish_event(
                bootstrap,
                missions,
                IncidentEscalated(
                    incident_id=f"inc-{tid}",
                    mission_id=mission,
                    severity="critical",
                    escalated_to="head_office",
                    country="SN",
                ),
                region="FR-ARA",
            )
            # Its first escalation (to the centre) was already told by IncidentReported: nothing new here.
            to_centre = await publish_event(
                bootstrap,
                missions,
                IncidentEscalated(
                    incident_id=f"inc0-{tid}", mission_id=mission, severity="high", escalated_to="centre", country="SN"
                ),
                region="FR-ARA",
            )
            interrupted = await publish_event(
                bootstrap,
                missions,
                MissionInterrupted(mission_id=mission, reason="medical repatriation", interrupted_on=date(2027, 5, 2)),
                region="FR-ARA",
            )
            suspended = await publish_event(
                bootstrap, partners, PartnerSuspended(partner_id=partner, reason="vetting reopened")
            )

            async def log_of(event_id: str) -> list[tuple[str, str, str, str]]:
                cursor = db["notifications"].find({"event_id": event_id})
                rows = [
                    (d["template"], d["recipient"]["role"], d["recipient"]["id"], d["channel"]) async for d in cursor
                ]
                return sorted(rows)

            expected = {
                started: [("host_partner_update", "host_partner", partner, "email")],
                escalated: sorted(
                    [
                        ("incident_escalated", "duty_officer", "duty-officer", "email"),
                        ("incident_escalated", "duty_officer", "duty-officer", "sms"),
                        ("incident_escalated", "head_office", "head-office", "email"),
                        ("incident_escalated", "centre", "SN", "email"),
                        ("incident_escalated", "centre", "SN", "sms"),
                    ]
                ),
                to_centre: [],
                interrupted: sorted(
                    [
                        ("mission_interrupted", "authority", a1, "email"),
                        ("mission_interrupted", "branch", "FR-ARA", "email"),
                        ("mission_interrupted", "centre", "SN", "email"),
                        ("host_partner_update", "host_partner", partner, "email"),
                    ]
                ),
                # Only the authority whose partnership is still active.
                suspended: [("partner_suspended", "authority", a1, "email")],
            }

            async def routed_and_sent() -> bool:
                for event_id, rows in expected.items():
                    if await log_of(event_id) != rows:
                        return False
                ids = list(expected)
                pending = await db["notifications"].count_documents(
                    {"event_id": {"$in": ids}, "status": {"$ne": "sent"}}
                )
                return pending == 0

            await wait_until(routed_and_sent, timeout=60, message="every duty-of-care rule routed and sent")
            categories = {d["template"]: d["category"] async for d in db["notifications"].find({"event_id": escalated})}
            assert categories == {"incident_escalated": "safety"}  # never opted out of, never given up

            mailpit = Mailpit(vies_stack.mailpit_url)
            escalation = f"ESCALADE : incident critical non pris en charge, mission {mission} (SN)"
            wanted = Counter(
                {
                    (duty, escalation): 1,
                    (head, escalation): 1,
                    ("centre.sn@vies.example.org", escalation): 1,
                    (host, f"Arrivée du volontaire que vous accueillez (mission {mission})"): 1,
                    (host, f"Retour anticipé du volontaire que vous accueillez (mission {mission})"): 1,
                    (f"{a1}@example.org", f"Retour anticipé : mission {mission} (SN)"): 1,
                    ("antenne.fr-ara@vies.example.org", f"Retour anticipé : mission {mission} (SN)"): 1,
                    ("centre.sn@vies.example.org", f"Retour anticipé : mission {mission} (SN)"): 1,
                    (f"{a1}@example.org", f"Partenaire suspendu : Association Jokkoo {tid}"): 1,
                }
            )

            async def all_in_mailpit() -> bool:
                got = Counter((m["To"][0]["Address"], m["Subject"]) for m in await mailpit.search(tid))
                return all(got[key] == n for key, n in wanted.items())

            await wait_until(all_in_mailpit, timeout=30, message="the duty-of-care mails in Mailpit")
            texts = Counter(r.json()["to"] for r in sms.on("/sms") if f"inc-{tid}" in r.json()["text"])
            assert texts == {"+33622222222": 1, "+221300000001": 1}  # the duty officer and the centre in Dakar


async def test_safety_check_ladder_reaches_the_silent_volunteers_then_head_office(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    tid = test_id
    bootstrap = vies_stack.kafka_bootstrap
    missions = events_topic("missions", topic_prefix)
    head = f"safety-{tid}@example.org"
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            sms_provider_url=f"{sms.url}/sms",
            head_office_safety_email=head,
            delivery_poll_seconds=0.1,
        )
        async with running(create(settings), settings) as svc:
            silent, answered = f"silent-{tid}", f"answered-{tid}"
            for n, volunteer in enumerate((silent, answered)):
                contact = ContactUpdated(
                    person_id=volunteer,
                    name=f"Volunteer {n}",
                    email=f"{volunteer}@example.org",
                    phone=f"+22378{n:06d}",
                    language="en",
                )
                await publish_event(bootstrap, contacts_topic(topic_prefix), contact)
                planned = MissionPlanned(
                    mission_id=f"m-{volunteer}",
                    engagement_id=f"e-{volunteer}",
                    volunteer_id=volunteer,
                    authority_id="a-1",
                    partner_id="p-1",
                    country="ML",
                    scheme="vsi",
                    starts_on=date(2027, 1, 15),
                    ends_on=date(2028, 1, 14),
                )
                await publish_event(bootstrap, missions, planned, region="FR-ARA")

            async def known() -> bool:
                db = svc.runtime.db
                return await db["missions"].count_documents({}) == 2 and await db["contacts"].count_documents({}) == 2

            await wait_until(known, timeout=30, message="missions and contacts projected")
            respond_by = datetime(2027, 3, 1, 17, 0, tzinfo=UTC)
            reminded = SafetyCheckReminded(
                alert_id=f"al-{tid}",
                country="ML",
                level="crisis",
                stage="half_time",
                respond_by=respond_by,
                mission_ids=[f"m-{silent}"],
                message="Stay indoors in Bamako.",
            )
            reminder = await publish_event(bootstrap, missions, reminded)
            escalated = await publish_event(
                bootstrap,
                missions,
                SafetyCheckEscalated(
                    alert_id=f"al-{tid}",
                    country="ML",
                    escalated_to="head_office",
                    unaccounted_mission_ids=[f"m-{silent}"],
                    respond_by=respond_by,
                ),
            )

            async def sent(event_id: str, count: int) -> bool:
                docs = [d async for d in svc.runtime.db["notifications"].find({"event_id": event_id})]
                return len(docs) == count and all(d["status"] == "sent" for d in docs)

            await wait_until(lambda: sent(reminder, 2), timeout=30, message="reminder email and SMS sent")
            await wait_until(lambda: sent(escalated, 2), timeout=30, message="head office email and SMS sent")
            mailpit = Mailpit(vies_stack.mailpit_url)
            [mail] = await mailpit.wait_for(f"to:{silent}@example.org", 1)
            assert mail["Subject"] == "REMINDER: security alert ML (crisis), confirm you are safe"
            text = (await mailpit.message(mail["ID"]))["Text"]
            assert "Stay indoors in Bamako." in text and "2027-03-01 17:00 (Africa/Bamako, UTC+00:00)" in text
            assert not await mailpit.search(f"to:{answered}@example.org")  # the one who answered is left alone
            [to_head] = await mailpit.wait_for(f"to:{head}", 1)
            assert to_head["Subject"] == "SIÈGE : 1 volontaire(s) toujours sans nouvelles (ML)"
            assert "2027-03-01 18:00 (Europe/Paris, UTC+01:00)" in (await mailpit.message(to_head["ID"]))["Text"]
            phones = Counter(r.json()["to"] for r in sms.on("/sms"))
            assert phones == {"+22378000000": 1, "+33100000000": 1}  # the silent volunteer, the head office


async def test_a_volunteer_hosted_in_france_is_welcomed_with_contacts_in_france(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    tid = test_id
    bootstrap = vies_stack.kafka_bootstrap
    settings = vies_settings("notifications", NotificationsSettings, delivery_poll_seconds=0.1)
    async with running(create(settings), settings) as svc:
        authority, volunteer = f"a-{tid}", f"rv-{tid}"
        registered = AuthorityRegistered(
            authority_id=authority,
            name="Ville de Lyon",
            kind="commune",
            region="FR-ARA",
            contact_email=f"intl-{tid}@example.org",
            territoires_volontaires=True,
        )
        await publish_event(bootstrap, events_topic("partners", topic_prefix), registered)
        contact = ContactUpdated(person_id=volunteer, name="Aïssata", email=f"{volunteer}@example.org", language="fr")
        await publish_event(bootstrap, contacts_topic(topic_prefix), contact)

        async def known() -> bool:
            return await svc.runtime.db["authorities"].count_documents({"_id": authority}) == 1

        await wait_until(known, timeout=30, message="host authority projected")
        engaged = VolunteerEngaged(
            engagement_id=f"eng-{tid}",
            application_id=f"app-{tid}",
            volunteer_id=volunteer,
            position_id=f"pos-{tid}",
            authority_id=authority,
            partner_id="p-1",
            country="FR",
            scheme="reciprocity",
            starts_on=date(2027, 9, 1),
            ends_on=date(2028, 8, 31),
        )
        await publish_event(bootstrap, events_topic("recruitment", topic_prefix), engaged, region="FR-ARA")
        mailpit = Mailpit(vies_stack.mailpit_url)
        [mail] = await mailpit.wait_for(f"to:{volunteer}@example.org", 1, timeout=30)
        text = (await mailpit.message(mail["ID"]))["Text"]
        assert "Ariane" not in text and "registre consulaire" not in text
        assert f"intl-{tid}@example.org" in text and "antenne.fr-ara@vies.example.org" in text and "112" in text


async def test_an_alert_for_part_of_a_country_reaches_only_the_volunteers_it_asks(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    tid = test_id
    bootstrap = vies_stack.kafka_bootstrap
    missions = events_topic("missions", topic_prefix)
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications", NotificationsSettings, sms_provider_url=f"{sms.url}/sms", delivery_poll_seconds=0.1
        )
        async with running(create(settings), settings) as svc:
            there, elsewhere = f"dk-{tid}", f"th-{tid}"
            for n, volunteer in enumerate((there, elsewhere)):
                contact = ContactUpdated(
                    person_id=volunteer,
                    name=f"V {n}",
                    email=f"{volunteer}@example.org",
                    phone=f"+2217{n}",
                    language="fr",
                )
                await publish_event(bootstrap, contacts_topic(topic_prefix), contact)
                planned = MissionPlanned(
                    mission_id=f"m-{volunteer}",
                    engagement_id=f"e-{volunteer}",
                    volunteer_id=volunteer,
                    authority_id="a-1",
                    partner_id="p-1",
                    country="SN",
                    scheme="vsi",
                    starts_on=date(2027, 1, 15),
                    ends_on=date(2028, 1, 14),
                )
                await publish_event(bootstrap, missions, planned, region="FR-ARA")
                started = MissionStarted(mission_id=f"m-{volunteer}", departed_on=date(2027, 1, 15))
                await publish_event(bootstrap, missions, started, region="FR-ARA")

            async def known() -> bool:
                db = svc.runtime.db
                started = await db["missions"].count_documents({"status": "started"})
                return started == 2 and await db["contacts"].count_documents({}) == 2

            await wait_until(known, timeout=30, message="missions and contacts projected")
            alert = SecurityAlertIssued(
                alert_id=f"al-{tid}",
                country="SN",
                level="crisis",
                respond_by=datetime(2027, 3, 1, 17, 0, tzinfo=UTC),
                mission_ids=[f"m-{there}"],
                message="Unrest in Dakar: stay home.",
                subdivisions=["SN-DK"],
            )
            event_id = await publish_event(bootstrap, missions, alert)

            async def sent() -> bool:
                docs = [d async for d in svc.runtime.db["notifications"].find({"event_id": event_id})]
                return len(docs) == 2 and all(d["status"] == "sent" for d in docs)

            await wait_until(sent, timeout=30, message="the alert sent to the volunteer in Dakar")
            recipients = {
                d["recipient"]["id"] async for d in svc.runtime.db["notifications"].find({"event_id": event_id})
            }
            assert recipients == {there}
            mailpit = Mailpit(vies_stack.mailpit_url)
            [mail] = await mailpit.wait_for(f"to:{there}@example.org", 1)
            assert "Unrest in Dakar" in (await mailpit.message(mail["ID"]))["Text"]
            assert [r.json()["to"] for r in sms.on("/sms")] == ["+22170"]
