"""What a branch may see of a recipient's address in the delivery log: a masked form, never the address.

Recruitment hides candidates' and volunteers' contact data from branches; the delivery log
must not give them back. Emails keep their first character and domain (``j***@x.org``),
phone numbers their country code, first digit and last two (``+33 6** ** ** 12``), webhook
URLs their origin. Error texts (an SMTP reply often echoes the address) are scrubbed the same way.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_EMAIL = re.compile(r"[^@\s<>\"'(),;:]+@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"\+?\d[\d .()-]{6,}\d")
_FRENCH = re.compile(r"^\+33(\d{9})$")
MIN_PHONE_DIGITS = 8


def mask_email(address: str) -> str:
    """``jane.doe@x.org`` → ``j***@x.org``."""
    local, separator, domain = address.rpartition("@")
    if not separator or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str) -> str:
    """``+33612345612`` → ``+33 6** ** ** 12``; elsewhere the first three characters and the last two digits."""
    compact = re.sub(r"[\s().-]", "", number)
    french = _FRENCH.fullmatch(compact)
    if french:
        digits = french.group(1)
        return f"+33 {digits[0]}** ** ** {digits[-2:]}"
    if len(compact) <= 5:
        return "*" * len(compact)
    return compact[:3] + "*" * (len(compact) - 5) + compact[-2:]


def mask_url(url: str) -> str:
    """A webhook URL reduced to its origin: ``https://hooks.example.org/…``."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "***"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def mask_address(address: str | None, channel: str) -> str | None:
    """The masked form of a recipient's address on ``channel``."""
    if not address:
        return address
    if channel == "webhook":
        return mask_url(address)
    if "@" in address:
        return mask_email(address)
    return mask_phone(address)


def _masked_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(c.isdigit() for c in text) < MIN_PHONE_DIGITS:
        return text  # "SMTP 550 5.1.1", "HTTP 503": not a phone number
    return mask_phone(text)


def scrub(text: str | None) -> str | None:
    """``text`` with every email address and phone number in it masked."""
    if not text:
        return text
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(_masked_phone, text)
