"""Delivery that loses nothing: SMTP down then back, a 550 not retried, the outcome events on Kafka."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
import threading
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import free_port, running
from vies_dev.testing.notifications import Mailpit, TcpRelay
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.partners import AuthorityRegistered, MatchesProposed
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


class Refuses550:
    """An SMTP server that refuses every recipient permanently, counting the attempts."""

    def __init__(self) -> None:
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        with self.lock:
            self.attempts += 1
        return "550 5.1.1 mailbox unavailable"


async def _authorities(bootstrap: str, prefix: str, tid: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        authority = f"auth{n}-{tid}"
        await publish_event(
            bootstrap,
            events_topic("partners", prefix),
            AuthorityRegistered(
                authority_id=authority,
                name=f"Commune {n}",
                kind="commune",
                region="FR-BRE",
                contact_email=f"a{n}-{tid}@example.org",
                territoires_volontaires=False,
            ),
        )
        ids.append(authority)
    return ids


async def test_smtp_down_for_a_while_then_everything_is_delivered(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    relay = TcpRelay(vies_stack.smtp_host, vies_stack.smtp_port)  # not started: SMTP is "down"
    settings = vies_settings(
        "notifications",
        NotificationsSettings,
        smtp_port=relay.port,
        delivery_poll_seconds=0.1,
        delivery_retry_initial_seconds=0.2,
        delivery_retry_max_seconds=0.5,
        delivery_max_attempts=50,
    )
    bootstrap = vies_stack.kafka_bootstrap
    async with running(create(settings), settings) as svc:
        authorities = await _authorities(bootstrap, topic_prefix, test_id, 5)
        for authority in authorities:
            await publish_event(
                bootstrap,
                events_topic("partners", topic_prefix),
                MatchesProposed(
                    request_id=f"req-{authority}",
                    authority_id=authority,
                    suggestions=[],
                ),
                region="FR-BRE",
            )
        staff = svc.auth("staff")

        async def retried() -> bool:
            items = (await svc.client.get("/notifications", headers=staff)).json()["items"]
            # each authority and the Bretagne branch hear of each proposal
            return len(items) == 10 and all(i["status"] in ("pending", "sending") and i["attempts"] >= 2 for i in items)

        await wait_until(retried, timeout=30, message="ten notifications retried while SMTP is down")
        items = (await svc.client.get("/notifications", headers=staff)).json()["items"]
        assert all("SMTP connection failed" in i["last_error"] for i in items), [i["last_error"] for i in items]
        assert all(i["next_attempt_at"] is not None for i in items if i["status"] == "pending")  # persisted schedule

        await relay.start()  # SMTP comes back
        try:

            async def delivered() -> bool:
                items = (await svc.client.get("/notifications", params={"status": "sent"}, headers=staff)).json()
                return items["total"] == 10

            await wait_until(delivered, timeout=30, message="all delivered after SMTP came back")
        finally:
            await relay.stop()
        messages = await Mailpit(vies_stack.mailpit_url).wait_for(test_id, 10)
        assert sorted(m["To"][0]["Address"] for m in messages) == sorted(
            [f"a{n}-{test_id}@example.org" for n in range(5)] + ["antenne.fr-bre@vies.example.org"] * 5
        )
        probe = KafkaProbe(bootstrap, [events_topic("notifications", topic_prefix)])
        sent = await probe.wait_for("notifications.NotificationSent", 10)
        assert {e["value"]["channel"] for e in sent} == {"email"}
        assert {e["value"]["recipient_role"] for e in sent} == {"authority", "branch"}


async def test_a_550_is_a_permanent_failure_and_is_not_retried(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    handler = Refuses550()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            smtp_port=controller.port,
            delivery_poll_seconds=0.1,
            delivery_retry_initial_seconds=0.1,
            delivery_retry_max_seconds=0.2,
            delivery_max_attempts=10,
        )
        bootstrap = vies_stack.kafka_bootstrap
        async with running(create(settings), settings) as svc:
            [authority] = await _authorities(bootstrap, topic_prefix, test_id, 1)
            event_id = await publish_event(
                bootstrap,
                events_topic("partners", topic_prefix),
                MatchesProposed(
                    request_id=f"req-{test_id}",
                    authority_id=authority,
                    suggestions=[],
                ),
                region="FR-BRE",
            )
            probe = KafkaProbe(bootstrap, [events_topic("notifications", topic_prefix)])
            failures = await probe.wait_for("notifications.NotificationFailed", 2)
            for failed in failures:
                assert failed["value"]["event_id"] == event_id
                assert failed["value"]["channel"] == "email"
                assert "550" in failed["value"]["error"]
            log = (
                await svc.client.get("/notifications", params={"event_id": event_id}, headers=svc.auth("staff"))
            ).json()
            assert len(log["items"]) == 2  # the authority and the branch
            assert all(entry["status"] == "failed" and entry["attempts"] == 1 for entry in log["items"])
            assert handler.attempts == 2
            assert not await probe.events("notifications.NotificationSent")
    finally:
        controller.stop()


class Accepts:
    """An SMTP server that accepts every message and remembers it."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope.content)
        return "250 OK"


async def test_the_retry_schedule_survives_a_restart_and_login_is_used_when_configured(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    logins: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret")

    handler = Accepts()
    port = free_port()  # nothing listens yet: SMTP is down
    database = f"t{test_id}_notifications"
    common = {
        "mongodb_db": database,
        "smtp_port": port,
        "smtp_username": "vies",
        "smtp_password": "s3cret",
        "delivery_poll_seconds": 0.1,
        "delivery_retry_initial_seconds": 0.2,
        "delivery_retry_max_seconds": 0.5,
        "delivery_max_attempts": 100,
        "delivery_claim_seconds": 5.0,
    }
    bootstrap = vies_stack.kafka_bootstrap
    first = vies_settings("notifications", NotificationsSettings, **common)
    async with running(create(first), first) as svc:
        [authority] = await _authorities(bootstrap, topic_prefix, test_id, 1)
        event_id = await publish_event(
            bootstrap,
            events_topic("partners", topic_prefix),
            MatchesProposed(request_id=f"req-{test_id}", authority_id=authority, suggestions=[]),
            region="FR-BRE",
        )

        async def retried() -> bool:
            log = (
                await svc.client.get("/notifications", params={"event_id": event_id}, headers=svc.auth("staff"))
            ).json()
            return log["total"] == 2 and all(i["attempts"] >= 2 for i in log["items"])

        await wait_until(retried, timeout=30, message="retried while SMTP is down")
    # The service is stopped; SMTP comes back; a new process picks the persisted schedule up.
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        second = vies_settings("notifications", NotificationsSettings, **common)
        async with running(create(second), second) as svc:

            async def delivered() -> bool:
                log = (
                    await svc.client.get(
                        "/notifications", params={"event_id": event_id, "status": "sent"}, headers=svc.auth("staff")
                    )
                ).json()
                return log["total"] == 2

            await wait_until(delivered, timeout=30, message="delivered after restart")
        assert len(handler.messages) == 2
        assert logins and set(logins) == {("vies", "s3cret")}
        ids = {re.search(rb"Message-ID:\s+<([^@>]+)@", m).group(1).decode() for m in handler.messages}  # type: ignore[union-attr]
        assert len(ids) == 2 and all(b"Content-Language: fr" in m for m in handler.messages)
    finally:
        controller.stop()


def _self_signed_certificate(folder: Any) -> tuple[Any, Any]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_starttls_and_login_when_configured(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str, tmp_path: Any
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    cert, key = await asyncio.to_thread(_self_signed_certificate, tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    logins: list[str] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.password == b"s3cret")

    handler = Accepts()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
        authenticator=authenticator, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        settings = vies_settings(
            "notifications", NotificationsSettings, smtp_port=controller.port, smtp_starttls=True,
            smtp_ca_file=str(cert), smtp_username="vies", smtp_password="s3cret", delivery_poll_seconds=0.1,
        )  # fmt: skip
        bootstrap = vies_stack.kafka_bootstrap
        async with running(create(settings), settings) as svc:
            [authority] = await _authorities(bootstrap, topic_prefix, test_id, 1)
            event_id = await publish_event(
                bootstrap,
                events_topic("partners", topic_prefix),
                MatchesProposed(request_id=f"req-{test_id}", authority_id=authority, suggestions=[]),
                region="FR-BRE",
            )

            async def delivered() -> bool:
                log = (
                    await svc.client.get(
                        "/notifications", params={"event_id": event_id, "status": "sent"}, headers=svc.auth("staff")
                    )
                ).json()
                return log["total"] == 2

            await wait_until(delivered, timeout=30, message="delivered over STARTTLS with login")
        # The server refuses mail before STARTTLS and login before TLS: delivery proves both were used.
        assert len(handler.messages) == 2 and set(logins) == {"vies"}
    finally:
        controller.stop()
