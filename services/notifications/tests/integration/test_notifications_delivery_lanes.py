"""Delivery that cannot be stalled and starts at once (issues 18 item 2, 17 item 3): real Kafka, MongoDB, Mailpit.

- A webhook endpoint that never finishes its answer (a local server on 127.0.0.1 trickling header
  lines, or an endless body) holds up neither a security-alert SMS nor an email: webhooks have a lane
  of their own, a total deadline, at most a few KB read and two calls in flight per subscription.
- Sending starts when the notification's transaction commits (the safety-net poll is a minute), and
  a message waiting for its recipient's contact data goes the moment they arrive, using no attempt.
- An email the SMTP server accepted before its worker died (between sending and recording) is
  recorded as sent when taken over, never sent again; its Message-ID is derived from the notification.
- A service stopped in the middle of a batch records what went and hands the rest back.
- A temporary DNS failure is retried, not a permanent failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import free_port, running
from vies_dev.testing.notifications import CountingSmtp, HttpRecorder, Mailpit
from vies_notifications import channels
from vies_notifications.app import create
from vies_notifications.domain.delivery import message_id
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.missions import MissionPlanned, MissionStarted, SecurityAlertIssued
from vies_shared.events.partners import AuthorityRegistered, MatchesProposed, PartnerApproved
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import contacts_topic, events_topic
from vies_shared.storage import create_mongo_client

pytestmark = pytest.mark.integration


class NeverEnding:
    """An HTTP endpoint on 127.0.0.1 that answers but never finishes.

    ``headers``: the status line, then one header line every 0.2 s, forever (httpx's per-read timeout
    never fires). ``body``: a 200 and its headers, then an endless body as fast as the client reads.
    Counts the requests and the most connections open at once.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.port = free_port()
        self.requests = 0
        self.open = 0
        self.most_open = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        return f"http://127.0.0.1:{self.port}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            if self.mode == "headers":
                writer.write(b"HTTP/1.1 200 OK\r\n")
                while True:
                    writer.write(b"X-Still-Thinking: yes\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.2)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n")  # no length: ends with the connection
            chunk = b"." * 65536
            while True:
                writer.write(chunk)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client gave up: what it should do
        finally:
            self.open -= 1
            writer.close()

    async def __aenter__(self) -> NeverEnding:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)


async def _contact(bootstrap: str, prefix: str, person: str, phone: str) -> None:
    contact = ContactUpdated(
        person_id=person, name=f"Volunteer {person}", email=f"{person}@example.org", phone=phone, language="en"
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
        country="SN",
        scheme="vsi",
        starts_on=date(2027, 1, 1),
        ends_on=date(2027, 12, 31),
    )
    await publish_event(bootstrap, topic, planned, region="FR-OCC")
    await publish_event(
        bootstrap, topic, MissionStarted(mission_id=mission, departed_on=date(2027, 1, 1)), region="FR-OCC"
    )


async def _docs(svc: Any, **query: Any) -> list[dict[str, Any]]:
    return [doc async for doc in svc.runtime.db["notifications"].find(query)]


async def _sent(svc: Any, **query: Any) -> dict[str, Any]:
    """The one notification matching ``query``, once recorded as sent."""

    async def sent() -> dict[str, Any] | None:
        docs = await _docs(svc, **query)
        return docs[0] if len(docs) == 1 and docs[0]["status"] == "sent" else None

    doc: dict[str, Any] = await wait_until(sent, timeout=10, message=f"sent: {query}")
    return doc


def _seconds(doc: dict[str, Any], since: datetime) -> float:
    sent: datetime = doc["sent_at"]
    return (sent.replace(tzinfo=sent.tzinfo or UTC) - since).total_seconds()


async def test_a_never_ending_webhook_holds_up_no_safety_sms_and_sending_starts_on_commit(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    async with HttpRecorder() as sms, NeverEnding("headers") as hook:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            webhook_allowlist="127.0.0.1",
            sms_provider_url=f"{sms.url}/sms",
            delivery_poll_seconds=60.0,  # the safety net only: everything below is woken by commits
            contact_wait_seconds=600.0,
            webhook_timeout_seconds=10.0,  # in one lane with the webhooks, the SMS would wait that long
            delivery_drain_seconds=0.5,
        )
        async with running(create(settings), settings) as svc:
            staff = svc.auth("staff")
            types = ["missions.MissionPlanned", "missions.MissionStarted", "missions.SecurityAlertIssued"]
            r = await svc.client.post("/subscriptions", json={"url": hook.url, "event_types": types}, headers=staff)
            assert r.status_code == 201, r.text
            known, late = f"known-{test_id}", f"late-{test_id}"
            await _contact(bootstrap, topic_prefix, known, "+221770000001")
            # Eight missions: sixteen webhook calls that never end, queued before the alert.
            missions = [f"m{n}-{test_id}" for n in range(8)]
            for n, mission in enumerate(missions):
                await _on_mission(bootstrap, topic_prefix, known if n == 0 else late, mission)

            async def missions_known() -> bool:
                return await svc.runtime.db["missions"].count_documents({"status": "started"}) == len(missions)

            await wait_until(missions_known, timeout=30, message="missions projected")
            await wait_until(lambda: hook.requests >= 2, timeout=30, message="webhook calls hanging")

            alerted = datetime.now(UTC)
            started = time.monotonic()
            alert = SecurityAlertIssued(
                alert_id=f"al-{test_id}",
                country="SN",
                level="crisis",
                respond_by=alerted + timedelta(hours=2),
                mission_ids=missions[:2],
                message="Stay where you are.",
                respond_within_hours=2,
            )
            alert_id = await publish_event(bootstrap, events_topic("missions", topic_prefix), alert)
            await wait_until(lambda: len(sms.on("/sms")) >= 1, timeout=10, message="the security alert SMS")
            assert time.monotonic() - started < 8.0, "the SMS waited for the webhooks"
            known_sms = await _sent(svc, event_id=alert_id, channel="sms", **{"recipient.id": known})
            assert known_sms["attempts"] == 1
            known_email = await _sent(svc, event_id=alert_id, channel="email", **{"recipient.id": known})
            # Queued → accepted in moments (a second when the machine is idle) with a safety-net poll of a
            # minute: woken by the commit.
            assert _seconds(known_sms, known_sms["created_at"]) < 5.0
            assert _seconds(known_email, known_email["created_at"]) < 5.0
            assert hook.most_open <= settings.webhook_subscription_concurrency  # two calls at a time, per subscription

            # The other volunteer's contact data are not known: the messages wait, using no attempt...
            async def waiting() -> bool:
                docs = await _docs(svc, event_id=alert_id, **{"recipient.id": late})
                return len(docs) == 2 and all(d.get("waiting_for") == "contact" and d["attempts"] == 0 for d in docs)

            await wait_until(waiting, timeout=10, message="messages waiting for the contact data")
            # ... and go the moment the contact data arrive (not at the next look, ten minutes on).
            arrived = time.monotonic()
            await _contact(bootstrap, topic_prefix, late, "+221770000002")
            await wait_until(lambda: len(sms.on("/sms")) >= 2, timeout=10, message="the late volunteer's SMS")
            assert time.monotonic() - arrived < 8.0
            late_sms = await _sent(svc, event_id=alert_id, channel="sms", **{"recipient.id": late})
            assert late_sms["attempts"] == 1  # the wait cost no attempt

            # The hanging calls ended at their deadline and will be retried; none was sent.
            async def cut_at_the_deadline() -> bool:
                hooks = await _docs(svc, channel="webhook")
                return any("no answer within 10s" in (d.get("last_error") or "") for d in hooks)

            await wait_until(cut_at_the_deadline, timeout=20, message="webhook calls cut at the deadline")
            assert not await _docs(svc, channel="webhook", status="sent")


async def test_a_webhook_taking_its_whole_deadline_holds_up_no_other_subscription(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    """The lane claims again while calls are in flight: a later event for another subscriber goes at once."""
    bootstrap = vies_stack.kafka_bootstrap
    async with HttpRecorder() as quick, NeverEnding("headers") as slow:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            webhook_allowlist="127.0.0.1",
            delivery_poll_seconds=60.0,
            webhook_timeout_seconds=10.0,
            delivery_drain_seconds=0.5,
        )
        async with running(create(settings), settings) as svc:
            staff = svc.auth("staff")
            hooks = {slow.url: "missions.MissionPlanned", f"{quick.url}/hook": "missions.MissionStarted"}
            for url, kind in hooks.items():
                r = await svc.client.post("/subscriptions", json={"url": url, "event_types": [kind]}, headers=staff)
                assert r.status_code == 201, r.text
            topic = events_topic("missions", topic_prefix)
            planned = MissionPlanned(
                mission_id=f"m-{test_id}",
                engagement_id=f"e-{test_id}",
                volunteer_id=f"v-{test_id}",
                authority_id="a-1",
                partner_id="p-1",
                country="SN",
                scheme="vsi",
                starts_on=date(2027, 1, 1),
                ends_on=date(2027, 12, 31),
            )
            await publish_event(bootstrap, topic, planned, region="FR-OCC")
            await wait_until(lambda: slow.requests >= 1, timeout=10, message="the slow endpoint called")
            started = time.monotonic()
            departed = MissionStarted(mission_id=f"m-{test_id}", departed_on=date(2027, 1, 1))
            await publish_event(bootstrap, topic, departed, region="FR-OCC")
            await wait_until(lambda: len(quick.on("/hook")) >= 1, timeout=8, message="the other subscriber's call")
            assert time.monotonic() - started < 5.0, "the other subscriber waited for the slow endpoint's deadline"
            assert slow.open == 1  # the slow call is still hanging meanwhile


async def test_an_endless_webhook_body_is_read_a_few_kb_at_most() -> None:
    async with NeverEnding("body") as hook, httpx.AsyncClient() as http:
        started = time.monotonic()
        status = await channels.post_bounded(http, hook.url, deadline=10.0, content=b"{}")
        assert status == 200
        assert time.monotonic() - started < channels.DRAIN_SECONDS + 1.0


def _smtp(handler: CountingSmtp) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller


async def _authorities_with_proposals(bootstrap: str, prefix: str, test_id: str, count: int) -> list[str]:
    authorities = [f"auth{n}-{test_id}" for n in range(count)]
    topic = events_topic("partners", prefix)
    for n, authority in enumerate(authorities):
        registered = AuthorityRegistered(
            authority_id=authority,
            name=f"Commune {n}",
            kind="commune",
            region="FR-BRE",
            contact_email=f"a{n}-{test_id}@example.org",
            territoires_volontaires=False,
        )
        await publish_event(bootstrap, topic, registered)
    for authority in authorities:
        await publish_event(
            bootstrap, topic, MatchesProposed(request_id=f"r-{authority}", authority_id=authority, suggestions=[])
        )
    return authorities


def _resends_avoided() -> float:
    return REGISTRY.get_sample_value("vies_notifications_resends_avoided_total", {"service": "notifications"}) or 0.0


async def test_an_email_accepted_before_its_worker_died_is_not_sent_again(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = vies_settings(
        "notifications", NotificationsSettings, delivery_poll_seconds=0.2, delivery_claim_seconds=1.0
    )
    avoided = _resends_avoided()
    async with running(create(settings), settings) as svc:
        worker = svc.runtime.extras["delivery"]
        record = worker.record
        died: list[str] = []

        async def dies_before_recording(token: str, attempts: list[Any]) -> None:
            if not died and any(a.notification.channel == "email" for a in attempts):
                died.append(token)  # the SMTP server accepted; the process is gone before the outcome is written
                raise RuntimeError("killed between sending and recording")
            await record(token, attempts)

        worker.record = dies_before_recording
        [authority] = await _authorities_with_proposals(vies_stack.kafka_bootstrap, topic_prefix, test_id, 1)

        async def sent() -> list[dict[str, Any]] | None:
            docs = await _docs(svc, **{"recipient.id": authority})
            return docs if docs and docs[0]["status"] == "sent" else None

        [doc] = await wait_until(sent, timeout=30, message="recorded as sent once its claim was taken over")
        assert died and doc["attempts"] == 2 and doc["accepted_at"] is not None  # claimed twice, sent once
        assert _resends_avoided() >= avoided + 1
        await asyncio.sleep(1.0)  # a second copy would have gone by now
        [message] = await Mailpit(vies_stack.mailpit_url).wait_for(f"to:a0-{test_id}@example.org")
        assert message["MessageID"] == f"{doc['_id']}@{settings.message_id_domain}"  # the same on every attempt
        assert len(await Mailpit(vies_stack.mailpit_url).search(f"to:a0-{test_id}@example.org")) == 1


async def test_a_service_stopped_mid_batch_records_what_went_and_hands_back_the_rest(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    slow = CountingSmtp(delay=0.3)
    controller = _smtp(slow)
    try:
        settings = vies_settings(
            "notifications", NotificationsSettings, smtp_port=controller.port, delivery_poll_seconds=0.2
        )
        count = 6  # six authorities and the Bretagne branch six times: twelve emails
        async with running(create(settings), settings):
            await _authorities_with_proposals(vies_stack.kafka_bootstrap, topic_prefix, test_id, count)
            await wait_until(lambda: len(slow.message_ids) >= 3, timeout=30, message="a few emails accepted")
            # Leaving the block stops the service (as SIGTERM does): the message in flight finishes.
        accepted = list(slow.message_ids)
        client = create_mongo_client(vies_stack.mongodb_uri)
        try:
            docs = [doc async for doc in client[settings.mongodb_db]["notifications"].find()]
        finally:
            await client.close()
        assert docs and not [d for d in docs if d["status"] == "sending"]  # nothing left claimed
        sent_before = {message_id(d["_id"], settings.message_id_domain) for d in docs if d["status"] == "sent"}
        assert sent_before == set(accepted)  # what went was recorded
        assert all(d["attempts"] == 0 for d in docs if d["status"] == "pending")  # the rest: no attempt used
        async with running(create(settings), settings) as again:

            async def all_sent() -> bool:
                return [d["status"] for d in await _docs(again)] == ["sent"] * 2 * count  # all twelve

            await wait_until(all_sent, timeout=30, message="the rest sent by the next process")
        assert len(slow.message_ids) == len(set(slow.message_ids)) == 2 * count  # none twice
    finally:
        controller.stop()


async def test_a_temporary_dns_failure_is_retried(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    resolve: Callable[..., Any] = loop.getaddrinfo
    host = f"hooks-{test_id}.example.org"
    failures = {"left": 0}

    async def hiccuping_resolver(name: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            if failures["left"]:
                failures["left"] -= 1
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            name = "127.0.0.1"
        return await resolve(name, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", hiccuping_resolver)
    async with HttpRecorder() as hooks:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            webhook_allowlist="127.0.0.1",
            delivery_poll_seconds=0.2,
            delivery_retry_initial_seconds=0.2,
            delivery_retry_max_seconds=0.4,
        )
        async with running(create(settings), settings) as svc:
            url = f"http://{host}:{hooks.port}/dns"
            body = {"url": url, "event_types": ["partners.PartnerApproved"]}
            r = await svc.client.post("/subscriptions", json=body, headers=svc.auth("staff"))
            assert r.status_code == 201, r.text
            failures["left"] = 2  # the resolver fails twice, then answers again
            await publish_event(
                vies_stack.kafka_bootstrap, events_topic("partners", topic_prefix), PartnerApproved(partner_id=test_id)
            )
            await wait_until(lambda: len(hooks.on("/dns")) == 1, timeout=30, message="delivered once DNS answers")

            async def recorded() -> list[dict[str, Any]] | None:
                docs = await _docs(svc, channel="webhook")
                return docs if docs and docs[0]["status"] == "sent" else None

            [doc] = await wait_until(recorded, timeout=10, message="recorded as sent")
            assert doc["attempts"] == 3
            assert [h["outcome"] for h in doc["history"]] == ["transient", "transient", "sent"]
            assert "Temporary failure in name resolution" in doc["history"][0]["error"]
            assert hooks.on("/dns")[0].headers["host"] == f"{host}:{hooks.port}"
