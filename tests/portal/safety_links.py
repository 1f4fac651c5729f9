"""The one-tap safety answer link, as a volunteer receives it: read it from a mail or an SMS.

The security-alert and reminder messages carry ``<VIES_SAFETY_CHECK_URL with {token}>``, by
default ``<portal>/s/<token>``. Tests find the link in what was really delivered:

- ``await link_from_mail(stack.mailpit_url, "volunteer@example.org", contains=alert_id)``: the
  newest mail to that address whose text contains ``contains`` (e.g. the alert id, which every
  security-alert and reminder mail names), read through Mailpit's API;
- ``await link_from_sms(recorder, "+221770000001", contains="VIES ALERT")``: the newest SMS to that
  number recorded by a ``vies_dev.testing.notifications.HttpRecorder`` standing for the SMS provider
  (``VIES_SMS_PROVIDER_URL=<recorder.url>/sms``; the provider gets JSON ``{to, from, text, reference}``);
- ``on_portal(link, portal_url)``: the same token on the portal under test, whatever host the
  notifications service was configured with; ``token_of(link)`` the token alone.

Each waits (polling, no sleep) up to ``timeout`` seconds and fails with what it saw.
"""

from __future__ import annotations

import re
from typing import Any

from vies_dev.testing.helpers import wait_until
from vies_dev.testing.notifications import HttpRecorder, Mailpit

SAFETY_LINK = re.compile(r"https?://[^\s\"'<>]+?/s/([A-Za-z0-9_-]{20,400})")


def links_in(text: str) -> list[str]:
    """Every safety answer link in ``text``, in order."""
    return [match.group(0) for match in SAFETY_LINK.finditer(text or "")]


def token_of(link: str) -> str:
    """The token of a safety answer link."""
    match = SAFETY_LINK.search(link)
    assert match, f"not a safety answer link: {link!r}"
    return match.group(1)


def on_portal(link: str, portal_url: str) -> str:
    """The link's token on ``portal_url`` (``<portal>/s/<token>``)."""
    return f"{portal_url.rstrip('/')}/s/{token_of(link)}"


async def link_from_mail(mailpit_url: str, to: str, *, contains: str = "", timeout: float = 60.0) -> str:
    """The safety answer link of the newest mail to ``to`` whose plain text contains ``contains``."""
    mailpit = Mailpit(mailpit_url)

    async def found() -> str | None:
        for summary in await mailpit.search(f"to:{to}", limit=50):  # newest first
            message = await mailpit.message(summary["ID"])
            text = message.get("Text") or ""
            if contains in text and (links := links_in(text)):
                return links[0]
        return None

    link: str = await wait_until(found, timeout=timeout, interval=0.5, message=f"a safety link mailed to {to}")
    return link


def sms_texts(recorder: HttpRecorder, phone: str) -> list[str]:
    """The texts of the SMS sent to ``phone`` so far, oldest first."""
    bodies: list[dict[str, Any]] = [r.json() for r in recorder.on("/sms")]
    return [str(body.get("text", "")) for body in bodies if body.get("to") == phone]


async def link_from_sms(recorder: HttpRecorder, phone: str, *, contains: str = "", timeout: float = 60.0) -> str:
    """The safety answer link of the newest SMS to ``phone`` whose text contains ``contains``."""

    def found() -> str | None:
        for text in reversed(sms_texts(recorder, phone)):
            if contains in text and (links := links_in(text)):
                return links[0]
        return None

    link: str = await wait_until(found, timeout=timeout, interval=0.25, message=f"a safety link by SMS to {phone}")
    return link
