"""Every routing rule, end to end: contract events on Kafka → emails in Mailpit and SMS at a real HTTP provider."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder, Mailpit
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import (
    CheckInMissed,
    IncidentReported,
    MissionEnded,
    MissionPlanned,
    MissionStarted,
    SafetyCheckClosed,
    SecurityAlertIssued,
)
from vies_shared.events.partners import (
    AuthorityRegistered,
    MatchesProposed,
    MatchSuggestion,
    PartnerRegistered,
    PartnershipEstablished,
)
from vies_shared.events.recruitment import (
    ApplicationRejected,
    ApplicationScreened,
    ApplicationSubmitted,
    CandidateSelected,
    ContactUpdated,
    InterviewScheduled,
    PositionPublished,
    VolunteerEngaged,
)
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration


async def test_every_routing_rule_reaches_the_right_people_in_their_language(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    tid = test_id
    bootstrap = vies_stack.kafka_bootstrap
    partners, recruitment, missions = (events_topic(s, topic_prefix) for s in ("partners", "recruitment", "missions"))
    authority, candidate, volunteer = f"auth-{tid}", f"cand-{tid}", f"vol-{tid}"
    emails = {
        "authority": f"authority-{tid}@example.org",
        "candidate": f"cand-{tid}@example.org",
        "volunteer": f"vol-{tid}@example.org",
        "duty": f"duty-{tid}@example.org",
        "branch": "antenne.fr-ara@vies.example.org",
        "centre": "centre.sn@vies.example.org",
    }
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            sms_provider_url=f"{sms.url}/sms",
            sms_provider_token="sms-token",
            duty_officer_email=emails["duty"],
            duty_officer_phone="+33611111111",
            delivery_poll_seconds=0.1,
        )
        async with running(create(settings), settings) as svc:

            async def publish(topic: str, event: Any, **kw: Any) -> str:
                return await publish_event(bootstrap, topic, event, **kw)

            await publish(
                partners,
                AuthorityRegistered(
                    authority_id=authority,
                    name="Ville de Lyon",
                    kind="commune",
                    region="FR-ARA",
                    contact_email=emails["authority"],
                    territoires_volontaires=True,
                ),
            )
            # The host partner is known without an organisational address: it gets no notice (one not
            # known yet would be queued until its registration arrives).
            await publish(
                partners,
                PartnerRegistered(
                    partner_id="p-1",
                    name="Association Jokkoo",
                    kind="ngo",
                    country="SN",
                    city="Thiès",
                    themes=["agriculture"],
                    languages=["fr"],
                    hosting_capacity=2,
                    reciprocity=False,
                ),
            )
            await publish(
                contacts_topic(topic_prefix),
                ContactUpdated(
                    person_id=candidate,
                    name="Camille Martin",
                    email=emails["candidate"],
                    language="fr",
                ),
            )
            await publish(
                contacts_topic(topic_prefix),
                ContactUpdated(
                    person_id=volunteer,
                    name="Sam Jones",
                    email=emails["volunteer"],
                    phone="+221770000001",
                    language="en",
                ),
            )
            position, app1, app2 = f"pos-{tid}", f"app1-{tid}", f"app2-{tid}"
            await publish(
                recruitment,
                PositionPublished(
                    position_id=position,
                    partnership_id=f"ps-{tid}",
                    authority_id=authority,
                    partner_id="p-1",
                    country="SN",
                    scheme="vsi",
                    title="Appui aux maraîchers",
                    starts_on=date(2027, 1, 15),
                    duration_months=12,
                    places=2,
                ),
                region="FR-ARA",
            )
            # The same event twice (same ce_id) sends once.
            submitted_id = await publish(
                recruitment,
                ApplicationSubmitted(
                    application_id=app1,
                    position_id=position,
                    candidate_id=candidate,
                    authority_id=authority,
                ),
                region="FR-ARA",
                times=2,
            )
            await publish(
                recruitment,
                ApplicationSubmitted(
                    application_id=app2,
                    position_id=position,
                    candidate_id=candidate,
                    authority_id=authority,
                ),
                region="FR-ARA",
            )
            await publish(
                recruitment,
                ApplicationScreened(
                    application_id=app1,
                    eligible=False,
                    reasons=["âge hors limites", "nationalité du pays de mission"],
                ),
            )
            await publish(recruitment, ApplicationScreened(application_id=app2, eligible=True, reasons=[]))
            await publish(
                recruitment, InterviewScheduled(application_id=app1, at=datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
            )
            await publish(
                recruitment, CandidateSelected(application_id=app1, position_id=position, candidate_id=candidate)
            )
            await publish(recruitment, ApplicationRejected(application_id=app2, reason="profil plus adapté retenu"))
            engagement, mission = f"eng-{tid}", f"m-{tid}"
            await publish(
                recruitment,
                VolunteerEngaged(
                    engagement_id=engagement,
                    application_id=app1,
                    volunteer_id=volunteer,
                    position_id=position,
                    authority_id=authority,
                    partner_id="p-1",
                    country="SN",
                    scheme="vsi",
                    starts_on=date(2027, 1, 15),
                    ends_on=date(2028, 1, 14),
                ),
                region="FR-ARA",
            )

            # No ce_region on the next two: the branch is found through the authority's region, once known.
            async def authority_known() -> bool:
                r = await svc.client.get(
                    "/notifications", params={"role": "authority", "status": "sent"}, headers=svc.auth("staff")
                )
                return r.json()["total"] > 0

            await wait_until(authority_known, timeout=30, message="the authority's registration handled")
            await publish(
                partners,
                MatchesProposed(
                    request_id=f"req-{tid}",
                    authority_id=authority,
                    suggestions=[MatchSuggestion(partner_id="p-1", score=0.9, reasons=["agriculture"])],
                ),
            )
            await publish(
                partners,
                PartnershipEstablished(
                    partnership_id=f"ps-{tid}",
                    authority_id=authority,
                    partner_id="p-1",
                    country="SN",
                    themes=["agriculture"],
                    starts_on=date(2027, 1, 1),
                ),
            )
            await publish(
                missions,
                MissionPlanned(
                    mission_id=mission,
                    engagement_id=engagement,
                    volunteer_id=volunteer,
                    authority_id=authority,
                    partner_id="p-1",
                    country="SN",
                    scheme="vsi",
                    starts_on=date(2027, 1, 15),
                    ends_on=date(2028, 1, 14),
                ),
                region="FR-ARA",
            )
            await publish(missions, MissionStarted(mission_id=mission, departed_on=date(2027, 1, 15)), region="FR-ARA")
            await publish(missions, CheckInMissed(mission_id=mission, due_on=date(2027, 2, 1)), region="FR-ARA")
            await publish(missions, CheckInMissed(mission_id=mission, due_on=date(2027, 2, 15)), region="FR-ARA")
            await publish(
                missions,
                IncidentReported(
                    incident_id=f"inc1-{tid}",
                    mission_id=mission,
                    category="security",
                    severity="high",
                ),
                region="FR-ARA",
            )
            await publish(
                missions,
                IncidentReported(
                    incident_id=f"inc2-{tid}",
                    mission_id=mission,
                    category="health",
                    severity="low",
                ),
                region="FR-ARA",
            )

            # The alert (keyed by alert id) may be read before the mission's start (keyed by mission id) on
            # another partition: publish it once the start is known, as the missions service would issue it later.
            async def mission_started() -> bool:
                r = await svc.client.get(
                    "/notifications", params={"role": "volunteer", "limit": 200}, headers=svc.auth("staff")
                )
                items = r.json()["items"]
                return any(i["template"] == "check_in_reminder" for i in items)

            await wait_until(mission_started, timeout=30, message="the mission's start handled")
            await publish(
                missions,
                SecurityAlertIssued(
                    alert_id=f"al-{tid}",
                    country="SN",
                    level="crisis",
                    respond_by=datetime.now(UTC) + timedelta(hours=6),
                ),
            )
            await publish(missions, SafetyCheckClosed(alert_id=f"al-{tid}", unaccounted_mission_ids=[mission]))
            await publish(missions, MissionEnded(mission_id=mission, ended_on=date(2028, 1, 14)), region="FR-ARA")

            staff = svc.auth("staff")
            expected_total = 28 + 6

            state: list[Any] = []

            async def all_sent() -> bool:
                r = await svc.client.get("/notifications", params={"limit": 200}, headers=staff)
                items = r.json()["items"]
                state[:] = [(i["template"], i["recipient"]["role"], i["status"], i["last_error"]) for i in items]
                # The return-seminar invitation waits a month (its own test shortens the delay).
                later = [i for i in items if i["template"] == "return_seminar_invitation"]
                items = [i for i in items if i["template"] != "return_seminar_invitation"]
                assert [i["status"] for i in later] in ([], ["pending"]), later
                return len(items) == expected_total and len(later) == 1 and all(i["status"] == "sent" for i in items)

            try:
                await wait_until(all_sent, timeout=60, message="34 notifications sent")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {sorted(Counter(state).items())}") from None

            mailpit = Mailpit(vies_stack.mailpit_url)
            messages = await mailpit.wait_for(tid, 28, timeout=30)
            received = Counter((m["To"][0]["Address"], m["Subject"].split(":")[0].split(" ")[0]) for m in messages)
            by_recipient = Counter(m["To"][0]["Address"] for m in messages)
            assert by_recipient == {
                emails["candidate"]: 6,
                emails["authority"]: 8,
                emails["volunteer"]: 5,
                emails["branch"]: 4,
                emails["centre"]: 4,
                emails["duty"]: 1,
            }, received
            subjects = {m["To"][0]["Address"]: [] for m in messages}
            for m in messages:
                subjects[m["To"][0]["Address"]].append(m["Subject"])
            # The candidate prefers French, the volunteer English.
            assert sorted(subjects[emails["candidate"]]) == sorted(
                [
                    f"Votre candidature {app1} a bien été reçue",
                    f"Votre candidature {app2} a bien été reçue",
                    f"Votre candidature {app1} ne remplit pas les conditions",
                    "Entretien prévu le 2026-12-03 10:00",
                    "Félicitations : vous êtes retenu·e pour « Appui aux maraîchers »",
                    f"Votre candidature {app2} n'a pas été retenue",
                ]
            )
            assert sorted(subjects[emails["volunteer"]]) == sorted(
                [
                    "Welcome aboard: your next steps",
                    "Reminder: check-in due since 2027-02-01",
                    "Reminder: check-in due since 2027-02-15",
                    "SECURITY ALERT SN (crisis): confirm you are safe",
                    "Thank you for your mission, and time for the debrief",
                ]
            )
            assert sorted(subjects[emails["centre"]]) == sorted(
                [
                    f"Mission prévue en SN : {mission}",
                    f"2 points de situation manqués : mission {mission}",
                    f"Incident high (security) : mission {mission}",
                    "Contrôle de sécurité clos : 1 volontaire(s) sans nouvelles (SN)",
                ]
            )
            assert sorted(subjects[emails["branch"]]) == sorted(
                [
                    f"Volontaire engagé·e : {engagement}",
                    f"1 partenaire(s) proposé(s) pour la demande req-{tid}",
                    f"Partenariat établi : ps-{tid}",
                    f"Fin de mission : {mission}",
                ]
            )
            assert subjects[emails["duty"]] == ["Contrôle de sécurité clos : 1 volontaire(s) sans nouvelles (SN)"]
            # Every screening reason reaches the candidate; the HTML part is there too.
            [ineligible] = [m for m in messages if "ne remplit pas" in m["Subject"]]
            full = await mailpit.message(ineligible["ID"])
            assert "âge hors limites" in full["Text"] and "nationalité du pays de mission" in full["Text"]
            assert "<li>âge hors limites</li>" in full["HTML"]
            # Message-ID derives from the notification id.
            log = (
                await svc.client.get(
                    "/notifications",
                    params={"event_id": submitted_id, "channel": "email", "role": "candidate"},
                    headers=staff,
                )
            ).json()
            [entry] = log["items"]
            [mail] = [m for m in messages if m["Subject"] == f"Votre candidature {app1} a bien été reçue"]
            assert mail["MessageID"] == f"{entry['notification_id']}@{settings.message_id_domain}"
            assert entry["language"] == "fr" and entry["recipient"]["address"] == emails["candidate"]

            # SMS: the volunteer (two reminders, the alert), the duty officer (incident, safety check), the centre.
            texts = [(r.json()["to"], r.json()["text"]) for r in sms.on("/sms")]
            assert Counter(to for to, _ in texts) == {"+221770000001": 3, "+33611111111": 2, "+221300000001": 1}
            assert all(r.headers["authorization"] == "Bearer sms-token" for r in sms.on("/sms"))
            assert any(text.startswith("VIES ALERT SN (crisis)") for to, text in texts if to == "+221770000001")
            assert any(text.startswith("VIES URGENT : incident high") for to, text in texts if to == "+33611111111")

            # Each sent notification is announced on vies.notifications.events.
            probe = KafkaProbe(bootstrap, [events_topic("notifications", topic_prefix)])
            sent = await probe.wait_for("notifications.NotificationSent", expected_total)
            assert len({e["value"]["notification_id"] for e in sent}) == expected_total
