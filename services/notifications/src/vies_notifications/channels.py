"""Channel adapters: email over SMTP (aiosmtplib), SMS through an HTTP provider, signed webhooks.

Each adapter turns one prepared message into an ``Outcome`` (sent, transient
failure, permanent failure) and never raises for a delivery problem.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import httpx

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
from vies_shared.errors import InvalidInput


@dataclass(frozen=True)
class Email:
    """An email ready to go: who, in which language, with what content."""

    notification_id: str
    event_id: str
    to_address: str
    to_name: str
    language: str
    content: Rendered


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


class EmailSender:
    """Sends a batch of emails over one SMTP connection (reconnecting once if the server drops it)."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self.connections = 0

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
        client = self._client()
        await client.connect()
        self.connections += 1
        metrics.SMTP_CONNECTIONS.labels(self.settings.service).inc()
        return client

    async def send_batch(self, emails: Sequence[Email]) -> list[Outcome]:
        """One outcome per email, in order."""
        outcomes: list[Outcome] = []
        client: aiosmtplib.SMTP | None = None
        reconnected = False
        try:
            for email in emails:
                if client is None:
                    try:
                        client = await self._connect()
                    except Exception as exc:  # noqa: BLE001 - any connection failure is retried later
                        failure = _connection_failure(exc)
                        outcomes += [failure] * (len(emails) - len(outcomes))
                        return outcomes
                try:
                    await client.send_message(build_email(self.settings, email))
                    outcomes.append(SENT_OUTCOME)
                except Exception as exc:  # noqa: BLE001 - classified: 5xx permanent, the rest retried
                    outcomes.append(_smtp_failure(exc))
                    if _connection_lost(exc):
                        client.close()
                        client = None
                        if reconnected:
                            failure = transient("SMTP connection lost twice in one batch")
                            outcomes += [failure] * (len(emails) - len(outcomes))
                            return outcomes
                        reconnected = True
            return outcomes
        finally:
            if client is not None:
                try:
                    await asyncio.wait_for(client.quit(), timeout=2)
                except Exception:  # noqa: BLE001 - the messages are already accepted
                    client.close()


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
        response = await http.post(
            settings.sms_provider_url, json=body, headers=headers, timeout=settings.sms_timeout_seconds
        )
    except httpx.HTTPError as exc:
        return transient(f"SMS provider unreachable: {type(exc).__name__}: {exc}")
    return classify_sms_http(response.status_code)


async def check_destination(url: str, allowlist: Sequence[str]) -> list[str]:
    """The SSRF guard: URL shape, then every address the host resolves to; returns them or raises ``InvalidInput``."""
    host = webhooks.url_host(url)
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, proto=6)
    except OSError as exc:
        raise InvalidInput(f"url: {host} does not resolve ({exc})") from exc
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
    """POST the CloudEvent to a subscriber, signed per Standard Webhooks with ``secret``; no redirects followed."""
    url = str(subscription["url"])
    try:
        addresses = await check_destination(url, settings.webhook_allowed)
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
        response = await http.post(
            target,
            content=body,
            headers=headers,
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            extensions=extensions,
        )
    except httpx.HTTPError as exc:
        return transient(f"webhook unreachable: {type(exc).__name__}: {exc}")
    return classify_http(response.status_code)
