"""Channel adapters: email over SMTP (aiosmtplib), SMS through an HTTP provider, signed webhooks.

Each adapter turns one prepared message into an ``Outcome`` (sent, transient
failure, permanent failure) and never raises for a delivery problem. Every HTTP call has a total
deadline and reads at most a few KB of the answer, so an endpoint trickling an endless body costs
its deadline, never the worker's memory or its time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import httpx
from opentelemetry.trace import SpanKind

from vies_notifications import metrics
from vies_notifications.domain import webhooks
from vies_notifications.domain.delivery import (
    SENT_OUTCOME,
    SMTP_AUTH_CODES,
    Outcome,
    classify_http,
    classify_sms_http,
    classify_smtp,
    configuration_error,
    message_id,
    permanent,
    transient,
)
from vies_notifications.rendering import Rendered
from vies_notifications.settings import NotificationsSettings
from vies_shared import tracing
from vies_shared.errors import InvalidInput

# What is read of an HTTP answer at most: the status decides the outcome, the body is only drained so a
# well-behaved endpoint's connection ends cleanly.
RESPONSE_LIMIT_BYTES = 4096
# How long the drain of an answer's body may take once the status is known (within the call's deadline).
DRAIN_SECONDS = 1.0


class DestinationUnresolved(InvalidInput):
    """A webhook's host did not resolve: refused when subscribing, retried when delivering (DNS may hiccup)."""


@dataclass(frozen=True)
class Email:
    """An email ready to go: who, in which language, with what content."""

    notification_id: str
    event_id: str
    to_address: str
    to_name: str
    language: str
    content: Rendered
    traceparent: str | None = None  # of the event that caused it: the send span joins that trace


def build_email(settings: NotificationsSettings, email: Email) -> EmailMessage:
    """The MIME message: text and HTML alternatives, a Message-ID derived from the notification id."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr((email.to_name, email.to_address)) if email.to_name else email.to_address
    message["Subject"] = email.content.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id(email.notification_id, settings.message_id_domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to automatic messages
    message["X-VIES-Notification-Id"] = email.notification_id
    message["X-VIES-Event-Id"] = email.event_id
    message.set_content(email.content.text)
    message.add_alternative(email.content.html, subtype="html")
    message["Content-Language"] = email.language  # after the parts: set_content drops Content-* headers
    return message


def _smtp_failure(exc: BaseException) -> Outcome:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if codes and all(500 <= c < 600 for c in codes):
            return permanent(f"SMTP recipients refused: {text}")
        return transient(f"SMTP recipients refused: {text}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return classify_smtp(exc.code, exc.message)
    return transient(f"SMTP {type(exc).__name__}: {exc}")


def _connection_failure(exc: BaseException) -> Outcome:
    """Connecting failed: the relay refusing our login (aiosmtplib logs in on connect) is a configuration error."""
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code in SMTP_AUTH_CODES:
        return configuration_error(f"SMTP login refused: {exc.code} {exc.message}".strip())
    return transient(f"SMTP connection failed: {type(exc).__name__}: {exc}")


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(
        exc, (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError)
    )


OutcomeReport = Callable[[int, Outcome], None]


class EmailSender:
    """Sends batches of emails, each over one SMTP connection (reconnecting once if the server drops it).

    A connection left idle after a batch is kept for ``smtp_keepalive_seconds`` and reused (after a
    NOOP) by the next batch, so a message sent the moment it is queued does not pay a new connection.
    """

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self.connections = 0
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            use_tls=s.smtp_use_tls,
            start_tls=bool(s.smtp_starttls),  # never upgrade opportunistically: explicit settings only
            timeout=s.smtp_timeout_seconds,
            cert_bundle=s.smtp_ca_file or None,
        )

    async def _connect(self) -> aiosmtplib.SMTP:
        while self._idle:
            since, client = self._idle.pop()
            if time.monotonic() - since < self.settings.smtp_keepalive_seconds and client.is_connected:
                try:
                    await client.noop()
                    return client
                except Exception:  # noqa: BLE001 - the server closed it meanwhile: open a new one
                    client.close()
            else:
                await _quit(client)
        client = self._client()
        await client.connect()
        self.connections += 1
        metrics.SMTP_CONNECTIONS.labels(self.settings.service).inc()
        return client

    async def _done_with(self, client: aiosmtplib.SMTP) -> None:
        if self.settings.smtp_keepalive_seconds > 0 and client.is_connected:
            self._idle.append((time.monotonic(), client))
        else:
            await _quit(client)

    async def close(self) -> None:
        """Quit the idle connections."""
        idle, self._idle = self._idle, []
        for _, client in idle:
            await _quit(client)

    async def send_batch(
        self,
        emails: Sequence[Email],
        on_outcome: OutcomeReport | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> list[Outcome | None]:
        """One outcome per email, in order, each also reported to ``on_outcome`` as soon as it is known.

        When ``stopping`` turns true the batch ends before its next message: those not tried
        have ``None``.
        """
        outcomes = _BatchOutcomes(len(emails), on_outcome)
        settle = outcomes.settle
        client: aiosmtplib.SMTP | None = None
        reconnected = False
        try:
            for index, email in enumerate(emails):
                if stopping is not None and stopping():
                    break
                if client is None:
                    try:
                        client = await self._connect()
                    except Exception as exc:  # noqa: BLE001 - any connection failure is retried later
                        settle(index, _connection_failure(exc), and_the_rest=True)
                        return outcomes.known
                outcome, lost = await self._send_one(client, email)
                settle(index, outcome)
                if lost:
                    client.close()
                    client = None
                    if reconnected:
                        settle(index + 1, transient("SMTP connection lost twice in one batch"), and_the_rest=True)
                        return outcomes.known
                    reconnected = True
            return outcomes.known
        finally:
            if client is not None:
                await self._done_with(client)

    async def _send_one(self, client: aiosmtplib.SMTP, email: Email) -> tuple[Outcome, bool]:
        """Send one email on an open connection: its outcome, and whether the connection was lost."""
        try:
            with tracing.child_span(
                "smtp send",
                email.traceparent,
                kind=SpanKind.CLIENT,
                attributes={"vies.notification_id": email.notification_id, "vies.event_id": email.event_id},
            ):
                await client.send_message(build_email(self.settings, email))
            return SENT_OUTCOME, False
        except Exception as exc:  # noqa: BLE001 - classified: 5xx permanent, the rest retried
            return _smtp_failure(exc), _connection_lost(exc)


class _BatchOutcomes:
    """The outcome of each email of a batch (None: not tried), each reported as soon as it is known."""

    def __init__(self, count: int, on_outcome: OutcomeReport | None) -> None:
        self.known: list[Outcome | None] = [None] * count
        self.on_outcome = on_outcome

    def settle(self, index: int, outcome: Outcome, *, and_the_rest: bool = False) -> None:
        """Record ``outcome`` for email ``index`` (and every later one with ``and_the_rest``)."""
        for at in range(index, len(self.known) if and_the_rest else index + 1):
            self.known[at] = outcome
            if self.on_outcome is not None:
                self.on_outcome(at, outcome)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await asyncio.wait_for(client.quit(), timeout=2)
    except Exception:  # noqa: BLE001 - the messages are already accepted
        client.close()


async def _drain(response: httpx.Response) -> None:
    """Read at most ``RESPONSE_LIMIT_BYTES`` of the answer's body, for at most ``DRAIN_SECONDS``."""
    read = 0
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= RESPONSE_LIMIT_BYTES:
                    break


async def post_bounded(http: httpx.AsyncClient, url: str, *, deadline: float, **request: Any) -> int:
    """POST and return the answer's status: within ``deadline`` seconds in all, reading a few KB at most.

    httpx's own timeouts apply per phase (connect, each read), so an endpoint trickling one byte
    at a time would never time out: the deadline covers the whole call. ``TimeoutError`` when the
    status did not come in time; ``httpx.HTTPError`` when the call failed.
    """
    status: int | None = None
    try:
        async with asyncio.timeout(deadline), http.stream("POST", url, timeout=deadline, **request) as response:
            status = response.status_code
            await _drain(response)
    except TimeoutError:
        if status is None:
            raise
    assert status is not None
    return status


async def send_sms(
    http: httpx.AsyncClient, settings: NotificationsSettings, notification_id: str, phone: str, text: str
) -> Outcome:
    """POST the SMS to the provider: JSON body, bearer token, the notification id as idempotency key."""
    if not settings.sms_provider_url:
        return transient("no SMS provider configured (VIES_SMS_PROVIDER_URL)")
    headers = {"Idempotency-Key": notification_id}
    if settings.sms_provider_token:
        headers["Authorization"] = f"Bearer {settings.sms_provider_token}"
    body = {"to": phone, "from": settings.sms_sender, "text": text, "reference": notification_id}
    try:
        status = await post_bounded(
            http, settings.sms_provider_url, deadline=settings.sms_timeout_seconds, json=body, headers=headers
        )
    except TimeoutError:
        return transient(f"SMS provider gave no answer within {settings.sms_timeout_seconds:g}s")
    except httpx.HTTPError as exc:
        return transient(f"SMS provider unreachable: {type(exc).__name__}: {exc}")
    return classify_sms_http(status)


async def check_destination(url: str, allowlist: Sequence[str]) -> list[str]:
    """The SSRF guard: URL shape, then every address the host resolves to; returns them or raises ``InvalidInput``."""
    host = webhooks.url_host(url)
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, proto=6)
    except OSError as exc:
        raise DestinationUnresolved(f"url: {host} does not resolve ({exc})") from exc
    addresses = sorted({str(info[4][0]).split("%")[0] for info in infos})
    webhooks.check_addresses(host, addresses, allowlist)
    return addresses


def pinned_request(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL rewritten to the checked address, with the Host header and TLS name of the original host.

    Connecting to the very address that passed the guard closes the gap a second DNS
    answer (DNS rebinding) would open between the check and the request.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = f"{host}:{parts.port}" if parts.port else host
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"host": host_header}, extensions


async def send_webhook(
    http: httpx.AsyncClient,
    settings: NotificationsSettings,
    subscription: dict[str, Any],
    secret: str,
    notification_id: str,
    payload: str,
) -> Outcome:
    """POST the CloudEvent to a subscriber, signed per Standard Webhooks with ``secret``; no redirects followed.

    The whole call (name resolution included) has ``webhook_timeout_seconds``; a name that does not
    resolve now is retried later (a resolver's hiccup is not the subscriber's fault).
    """
    url = str(subscription["url"])
    deadline = settings.webhook_timeout_seconds
    started = time.monotonic()
    try:
        async with asyncio.timeout(deadline):
            addresses = await check_destination(url, settings.webhook_allowed)
    except TimeoutError:
        return transient(f"webhook host not resolved within {deadline:g}s")
    except DestinationUnresolved as exc:
        return transient(f"webhook host unresolved: {exc.message}")
    except InvalidInput as exc:
        return permanent(f"destination refused: {exc.message}")
    target, host_header, extensions = pinned_request(url, addresses[0])
    body = payload.encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "VIES-Webhooks/1.0",
        "webhook-id": notification_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(secret, notification_id, timestamp, body),
        **host_header,
    }
    try:
        status = await post_bounded(
            http,
            target,
            deadline=max(0.1, deadline - (time.monotonic() - started)),
            content=body,
            headers=headers,
            follow_redirects=False,
            extensions=extensions,
        )
    except TimeoutError:
        return transient(f"webhook gave no answer within {deadline:g}s")
    except httpx.HTTPError as exc:
        return transient(f"webhook unreachable: {type(exc).__name__}: {exc}")
    return classify_http(status)
