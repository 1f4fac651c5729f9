"""The one-tap safety answer link's token: a keyed MAC over (purpose, alert id, mission id).

Notifications mints it when it renders a security-alert or reminder message for one volunteer;
missions, which owns safety checks, reads it back and applies its own rules (expiry, state).
Both hold the same keys (``VIES_SAFETY_LINK_KEYS``, a Kubernetes Secret mounted in those two
services only); no event carries a token, so a reader of the topics cannot answer for anyone.

The token is ``base64url(version | len(alert_id) | alert_id | mission_id | mac)`` without
padding, where ``mac`` is the first 12 bytes of HMAC-SHA256 over a purpose tag and the bytes
before it. It names nothing personal (an alert id and a pseudonymous mission id), it is about
75 characters (an SMS has room for it), and a guess is worth nothing: 96 bits of MAC checked
online behind a rate limit. The purpose tag keeps a MAC made with these keys for anything
else from ever passing for an answer link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from vies_shared.tokens import InsecureSettings

VERSION = 1
PURPOSE = b"vies.safety-check.answer\x00"
MAC_BYTES = 12
MAX_ID_BYTES = 100
MIN_KEY_BYTES = 32
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,400}")
# Published on purpose, like the development JWT secret: outside VIES_ENV=dev it is refused.
DEV_SAFETY_LINK_KEY = "vies-dev-safety-link-key-not-for-production-use"


@dataclass(frozen=True)
class SafetyLink:
    """What a valid token stands for: the answer of one mission's volunteer to one alert."""

    alert_id: str
    mission_id: str


def keys_from(spec: str, env: str) -> list[bytes]:
    """The keys of ``VIES_SAFETY_LINK_KEYS`` (comma-separated, first one signs); the development key in dev."""
    keys = [part.strip().encode() for part in spec.split(",") if part.strip()]
    if not keys and env == "dev":
        keys = [DEV_SAFETY_LINK_KEY.encode()]
    return keys


def check_keys(spec: str, env: str) -> bool:
    """Whether links are on; refuses (``InsecureSettings``) the published key or a short one outside dev.

    Outside dev without any key the links are off (messages carry no link, every link is
    unknown): the deployment's Secret is required there, so this only happens off Kubernetes.
    """
    keys = keys_from(spec, env)
    if env == "dev":
        return True
    if DEV_SAFETY_LINK_KEY.encode() in keys:
        raise InsecureSettings("VIES_SAFETY_LINK_KEYS holds the published development key: generate your own.")
    if any(len(key) < MIN_KEY_BYTES for key in keys):
        raise InsecureSettings(
            f"every key of VIES_SAFETY_LINK_KEYS must be at least {MIN_KEY_BYTES} bytes long "
            "(openssl rand -base64 32), the same value in missions and notifications"
        )
    return bool(keys)


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, PURPOSE + body, hashlib.sha256).digest()[:MAC_BYTES]


def mint(keys: list[bytes], alert_id: str, mission_id: str) -> str:
    """The token of ``mission_id``'s answer to ``alert_id``, signed with the first key."""
    if not keys:
        raise ValueError("no safety link key configured")
    alert, mission = alert_id.encode(), mission_id.encode()
    if not alert or not mission or len(alert) > MAX_ID_BYTES or len(mission) > MAX_ID_BYTES:
        raise ValueError("alert and mission ids must be 1 to 100 bytes long")
    body = bytes([VERSION, len(alert)]) + alert + mission
    return base64.urlsafe_b64encode(body + _mac(keys[0], body)).rstrip(b"=").decode()


def _decode(token: str) -> bytes | None:
    """The token's bytes when it has the shape and version of a safety link; ``None`` otherwise."""
    if not TOKEN_SHAPE.fullmatch(token or ""):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 2 + 2 + MAC_BYTES or raw[0] != VERSION:
        return None
    return raw


def read(keys: list[bytes], token: str) -> SafetyLink | None:
    """What ``token`` stands for when one of ``keys`` made it; ``None`` for anything else (never an error)."""
    raw = _decode(token)
    if raw is None:
        return None
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    alert_length = body[1]
    ids = body[2:]
    if not 0 < alert_length < len(ids):
        return None
    # Every key is tried whatever the outcome: a rotation keeps the links sent before it working.
    if not any([hmac.compare_digest(_mac(key, body), mac) for key in keys]):
        return None
    try:
        return SafetyLink(ids[:alert_length].decode(), ids[alert_length:].decode())
    except UnicodeDecodeError:
        return None
