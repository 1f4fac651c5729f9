"""Safety messages never give up silently, against real Kafka, MongoDB, Mailpit and SMTP servers.

- SMTP down for longer than the ordinary retry budget: an ordinary message fails as before, every
  security alert waits and arrives once SMTP is back; the beyond-budget metric rose.
- An SMTP relay answering 535 and an SMS gateway answering 401 then 403: retried as configuration
  errors (metric), all delivered once the credentials are right again.
- A volunteer whose contact data is not known yet: the message waits without using attempts.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import free_port, running
from vies_dev.testing.notifications import HttpRecorder, Mailpit, TcpRelay
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import MissionPlanned, MissionStarted, SecurityAlertIssued
from vies_shared.events.partners import AuthorityRegistered, MatchesProposed
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import contacts_topic, events_topic

pytestmark = pytest.mark.integration

MESSAGE = "Curfew from 18:00: stay where you are and keep your phone on."

# An ordinary budget of 2 attempts a fraction of a second apart: "longer than the old retry budget" in a second.
SHORT = {
    "delivery_poll_seconds": 0.1,
    "delivery_retry_initial_seconds": 0.1,
    "delivery_retry_max_seconds": 0.2,
    "safety_retry_max_seconds": 0.3,
    "delivery_max_attempts": 2,
    "contact_wait_seconds": 0.2,
}


def _text(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(("plain",))
    return body.get_content() if body is not None else ""


def _metric(name: str, channel: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "notifications", "channel": channel}) or 0.0


async def _contact(bootstrap: str, prefix: str, volunteer: str, n: int) -> None:
    contact = ContactUpdated(
        person_id=volunteer,
        name=f"Volunteer {n}",
        email=f"{volunteer}@example.org",
        phone=f"+2297{n:07d}",
        language="en",
    )
    await publish_event(bootstrap, contacts_topic(prefix), contact)


async def _on_mission(bootstrap: str, prefix: str, volunteer: str, mission: str) -> None:
    topic = events_topic("missions", prefix)
    planned = MissionPlanned(
        mission_id=mission,
        engagement_id=f"e-{mission}",
        volunteer_id=volunteer,
        authority_id="a-1",
        partner_id="p-1",
        country="BJ",
        scheme="vsi",
        starts_on=date(2027, 1, 1),
        ends_on=date(2027, 12, 31),
    )
    await publish_event(bootstrap, topic, planned, region="FR-OCC")
    await publish_event(
        bootstrap, topic, MissionStarted(mission_id=mission, departed_on=date(2027, 1, 1)), region="FR-OCC"
    )


async def _alert(bootstrap: str, prefix: str, alert_id: str, missions: list[str]) -> str:
    alert = SecurityAlertIssued(
        alert_id=alert_id,
        country="BJ",
        level="crisis",
        respond_by=datetime.now(UTC) + timedelta(hours=2),
        mission_ids=missions,
        message=MESSAGE,
        respond_within_hours=2,
    )
    return await publish_event(bootstrap, events_topic("missions", prefix), alert)


async def _by_event(svc: Any, event_id: str) -> list[dict[str, Any]]:
    return [doc async for doc in svc.runtime.db["notifications"].find({"event_id": event_id})]


async def test_smtp_down_longer_than_the_budget_loses_no_security_alert(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    relay = TcpRelay(vies_stack.smtp_host, vies_stack.smtp_port)  # not started: SMTP is down
    bootstrap = vies_stack.kafka_bootstrap
    async with HttpRecorder() as sms:
        settings = vies_settings(
            "notifications", NotificationsSettings, smtp_port=relay.port, sms_provider_url=f"{sms.url}/sms", **SHORT
        )
        beyond_before = _metric("vies_notifications_safety_retries_beyond_budget_total", "email")
        async with running(create(settings), settings) as svc:
            volunteers = [f"v{n}-{test_id}" for n in range(3)]
            missions = [f"m{n}-{test_id}" for n in range(3)]
            for n, (volunteer, mission) in enumerate(zip(volunteers, missions, strict=True)):
                await _contact(bootstrap, topic_prefix, volunteer, n)
                await _on_mission(bootstrap, topic_prefix, volunteer, mission)
            # An ordinary message sent in the same outage, for comparison.
            authority = AuthorityRegistered(
                authority_id=f"auth-{test_id}",
                name="Commune",
                kind="commune",
                region="FR-BRE",
                contact_email=f"auth-{test_id}@example.org",
                territoires_volontaires=False,
            )
            await publish_event(bootstrap, events_topic("partners", topic_prefix), authority)
            ordinary = await publish_event(
                bootstrap,
                events_topic("partners", topic_prefix),
                MatchesProposed(request_id=f"req-{test_id}", authority_id=f"auth-{test_id}", suggestions=[]),
            )

            async def contacts_and_missions_known() -> bool:
                db = svc.runtime.db
                return (
                    await db["contacts"].count_documents({}) == 3
                    and await db["missions"].count_documents({"status": "started"}) == 3
                )

            await wait_until(contacts_and_missions_known, timeout=30, message="contacts and missions projected")
            alert = await _alert(bootstrap, topic_prefix, f"al-{test_id}", missions)

            async def ordinary_failed_and_alerts_still_retrying() -> bool:
                ordinary_docs = await _by_event(svc, ordinary)
                emails = [d for d in await _by_event(svc, alert) if d["channel"] == "email"]
                return (
                    bool(ordinary_docs)
                    and all(d["status"] == "failed" for d in ordinary_docs)
                    and len(emails) == 3
                    and all(d["status"] in ("pending", "sending") and d["attempts"] >= 5 for d in emails)
                )

            await wait_until(ordinary_failed_and_alerts_still_retrying, timeout=30, message="budget long exhausted")
            assert _metric("vies_notifications_safety_retries_beyond_budget_total", "email") > beyond_before

            await relay.start()  # SMTP is back
            try:

                async def all_alerts_sent() -> bool:
                    return [d["status"] for d in await _by_event(svc, alert)] == ["sent"] * 6

                await wait_until(all_alerts_sent, timeout=30, message="every alert email and SMS sent")
            finally:
                await relay.stop()
            messages = await Mailpit(vies_stack.mailpit_url).wait_for(
                test_id, 3, where=lambda m: m["Subject"].startswith("SECURITY ALERT")
            )
            assert sorted(m["To"][0]["Address"] for m in messages) == sorted(f"{v}@example.org" for v in volunteers)


class CredentialsRefused:
    """An SMTP relay that answers 535 to every sender while ``refusing``; then accepts and keeps the messages."""

    def __init__(self) -> None:
        self.refusing = True
        self.refused = 0
        self.accepted: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        with self.lock:
            if self.refusing:
                self.refused += 1
                return "535 5.7.8 Authentication credentials invalid"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.accepted.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


async def test_refused_credentials_are_retried_and_unknown_contacts_use_no_attempt(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    relay = CredentialsRefused()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    bootstrap = vies_stack.kafka_bootstrap
    try:
        # The SMS gateway refuses the token twice (401, then 403), then accepts.
        async with HttpRecorder(script={"/sms": [401, 403, 200]}) as sms:
            settings = vies_settings(
                "notifications",
                NotificationsSettings,
                smtp_port=controller.port,
                sms_provider_url=f"{sms.url}/sms",
                **SHORT,
            )
            auth_email = _metric("vies_notifications_provider_auth_failures_total", "email")
            auth_sms = _metric("vies_notifications_provider_auth_failures_total", "sms")
            async with running(create(settings), settings) as svc:
                known, late = f"known-{test_id}", f"late-{test_id}"
                await _contact(bootstrap, topic_prefix, known, 1)
                await _on_mission(bootstrap, topic_prefix, known, f"mk-{test_id}")
                await _on_mission(bootstrap, topic_prefix, late, f"ml-{test_id}")  # no contact data yet

                async def missions_known() -> bool:
                    return await svc.runtime.db["missions"].count_documents({"status": "started"}) == 2

                await wait_until(missions_known, timeout=30, message="missions projected")
                alert = await _alert(bootstrap, topic_prefix, f"al-{test_id}", [f"mk-{test_id}", f"ml-{test_id}"])

                async def refused_many_times_waiting_for_the_other() -> bool:
                    docs = {(d["recipient"]["id"], d["channel"]): d for d in await _by_event(svc, alert)}
                    if len(docs) != 4:
                        return False
                    known_email, late_email = docs[(known, "email")], docs[(late, "email")]
                    return (
                        known_email["status"] in ("pending", "sending")
                        and known_email["attempts"] >= 4
                        and "configuration: SMTP 535" in (known_email.get("last_error") or "")
                        and late_email["attempts"] == 0
                        and "not known" in (late_email.get("last_error") or "")
                    )

                await wait_until(refused_many_times_waiting_for_the_other, timeout=30, message="535 retried")
                assert _metric("vies_notifications_provider_auth_failures_total", "email") >= auth_email + 4
                # The SMS to the known volunteer went through after the gateway refused the token twice.
                assert len(sms.on("/sms")) >= 3
                assert _metric("vies_notifications_provider_auth_failures_total", "sms") >= auth_sms + 2

                await _contact(bootstrap, topic_prefix, late, 2)  # the contact data arrive
                relay.refusing = False  # the relay password is put right

                async def all_sent() -> bool:
                    return [d["status"] for d in await _by_event(svc, alert)] == ["sent"] * 4

                await wait_until(all_sent, timeout=30, message="every alert message sent")
                docs = {(d["recipient"]["id"], d["channel"]): d for d in await _by_event(svc, alert)}
                # The late volunteer's messages used one attempt each: the wait for the contact cost none.
                assert docs[(late, "email")]["attempts"] == 1 and docs[(late, "sms")]["attempts"] == 1
                assert len(relay.accepted) == 2 and all(MESSAGE in _text(m) for m in relay.accepted)
    finally:
        controller.stop()


class Refuses550UntilFixed:
    """An SMTP server refusing every recipient with 550 while ``refusing``; then accepting and keeping messages."""

    def __init__(self) -> None:
        self.refusing = True
        self.accepted: list[bytes] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if self.refusing:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.accepted.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


async def test_a_failed_safety_message_goes_to_the_duty_officer_and_is_redriven(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    smtp = Refuses550UntilFixed()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    bootstrap = vies_stack.kafka_bootstrap
    try:
        async with HttpRecorder() as sms:
            settings = vies_settings(
                "notifications",
                NotificationsSettings,
                smtp_port=controller.port,
                sms_provider_url=f"{sms.url}/sms",
                duty_officer_phone="+33633333333",
                **SHORT,
            )
            failed_before = _metric("vies_notifications_safety_failed_total", "email")
            async with running(create(settings), settings) as svc:
                since = datetime.now(UTC) - timedelta(seconds=5)
                volunteer, mission = f"v-{test_id}", f"m-{test_id}"
                await _contact(bootstrap, topic_prefix, volunteer, 7)
                await _on_mission(bootstrap, topic_prefix, volunteer, mission)

                async def known() -> bool:
                    return await svc.runtime.db["missions"].count_documents({"status": "started"}) == 1

                await wait_until(known, timeout=30, message="mission projected")
                alert = await _alert(bootstrap, topic_prefix, f"al-{test_id}", [mission])

                async def failed_over() -> bool:
                    docs = {d["channel"]: d for d in await _by_event(svc, alert)}
                    return docs.get("email", {}).get("status") == "failed" and any(
                        r.json()["to"] == "+33633333333" for r in sms.on("/sms")
                    )

                await wait_until(failed_over, timeout=30, message="the 550 failed over to the duty officer")
                [text] = [r.json()["text"] for r in sms.on("/sms") if r.json()["to"] == "+33633333333"]
                assert text.startswith("VIES URGENT : message de sécurité (security_alert) non remis à volunteer")
                assert f"alerte al-{test_id}" in text
                assert _metric("vies_notifications_safety_failed_total", "email") == failed_before + 1
                probe = KafkaProbe(bootstrap, [events_topic("notifications", topic_prefix)])
                # (The centre's mission_planned mail failed too: an ordinary message, not failed over.)
                [failed] = await probe.wait_for(
                    "notifications.NotificationFailed", where=lambda e: e["value"]["category"] == "security"
                )
                assert failed["value"]["recipient_role"] == "volunteer" and failed["value"]["channel"] == "email"

                # The address is put right; the operator re-drives the failed safety messages with the CLI.
                smtp.refusing = False
                vies = Path(sys.executable).with_name("vies")
                env = {**os.environ, "VIES_MONGODB_URI": settings.mongodb_uri}
                process = await asyncio.create_subprocess_exec(
                    str(vies),
                    *("notifications", "redrive", "--since", since.isoformat(), "--category", "safety"),
                    *("--db", settings.mongodb_db),
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                )
                out, _ = await process.communicate()
                assert process.returncode == 0 and out.decode().startswith("re-queued 1 failed notification(s)")

                async def redriven() -> bool:
                    return [d["status"] for d in await _by_event(svc, alert)] == ["sent", "sent"]

                await wait_until(redriven, timeout=30, message="the re-driven alert email sent")
                assert len(smtp.accepted) == 1 and MESSAGE in _text(smtp.accepted[0])
    finally:
        controller.stop()
