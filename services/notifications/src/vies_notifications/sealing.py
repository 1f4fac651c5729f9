"""Webhook signing secrets at rest: encrypted (Fernet: AES-128-CBC + HMAC-SHA256), never stored in clear.

The key comes from ``VIES_WEBHOOK_SECRET_KEY``: one or more keys, comma-separated, each at
least 32 characters of random (``openssl rand -base64 32``, or a Fernet key); the Fernet key
actually used is derived from each with HKDF-SHA256. The first encrypts; every key decrypts.
A subscription stores ``secret_sealed`` (the token) and ``secret_key_id`` (a fingerprint of
the key that sealed it, not the key).

Key rotation: generate a key (``openssl rand -base64 32``), set
``VIES_WEBHOOK_SECRET_KEY=<new>,<old>`` and roll
the pods: at start-up each process re-seals the subscriptions not sealed with the first key
(``webhook_secrets_resealed`` in the log). When no subscription carries the old key id any
more, drop the old key from the setting. Secrets stored in clear by an earlier version are
sealed the same way at start-up.

With ``VIES_ENV=dev`` and no key, a published development key is used; outside dev the
service refuses to start without a key, or with that one.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vies_notifications import store
from vies_notifications.settings import NotificationsSettings
from vies_shared.logging import get_logger
from vies_shared.service import Runtime
from vies_shared.tokens import InsecureSettings

log = get_logger(component="sealing")

# Published on purpose, like the development token secret: refused outside VIES_ENV=dev.
DEV_WEBHOOK_SECRET_KEY = "vies-dev-webhook-key-change-me-in-production"  # noqa: S105
MIN_KEY_CHARS = 32


class SecretUnreadable(Exception):
    """No configured key opens this sealed secret (a key was removed before re-sealing)."""


def key_id(key: str) -> str:
    """A fingerprint of a key, safe to store next to what it sealed."""
    return hashlib.sha256(b"vies-webhook-key-id:" + key.encode()).hexdigest()[:16]


def fernet_key(key: str) -> bytes:
    """The Fernet key derived from a configured key (HKDF-SHA256, 32 bytes, url-safe base64)."""
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(f"a key must hold at least {MIN_KEY_CHARS} characters")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vies-webhook-secrets").derive(key.encode())
    return base64.urlsafe_b64encode(derived)


class SecretBox:
    """Seals and opens subscription secrets with the configured keys (first one seals)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self.keys = keys
        self.current_id = key_id(keys[0])
        self._fernet = MultiFernet([Fernet(fernet_key(key)) for key in keys])

    def seal(self, secret: str) -> dict[str, str]:
        """The fields a subscription stores for ``secret``."""
        return {"secret_sealed": self._fernet.encrypt(secret.encode()).decode(), "secret_key_id": self.current_id}

    def open(self, subscription: dict[str, Any]) -> str:
        """The secret of a stored subscription (sealed, or in clear from an earlier version)."""
        if subscription.get("secret_sealed"):
            try:
                return self._fernet.decrypt(str(subscription["secret_sealed"]).encode()).decode()
            except InvalidToken as exc:
                raise SecretUnreadable("no configured key opens this subscription's secret") from exc
        if subscription.get("secret"):
            return str(subscription["secret"])
        raise SecretUnreadable("the subscription has no secret")


def keys_of(settings: NotificationsSettings) -> list[str]:
    """The configured keys, first one sealing; the development key in dev when none is set."""
    keys = [k.strip() for k in settings.webhook_secret_key.split(",") if k.strip()]
    if not keys and settings.env == "dev":
        keys = [DEV_WEBHOOK_SECRET_KEY]
    return keys


def check_settings(settings: NotificationsSettings) -> None:
    """Refuse to start outside dev without a usable key, or with the published one (``InsecureSettings``)."""
    keys = keys_of(settings)
    if settings.env == "dev":
        box_from_settings(settings)  # a malformed key fails here too
        return
    if not keys:
        raise InsecureSettings(
            "VIES_WEBHOOK_SECRET_KEY is not set: webhook signing secrets are stored encrypted with it. "
            "Generate one with: openssl rand -base64 32"
        )
    if DEV_WEBHOOK_SECRET_KEY in keys:
        raise InsecureSettings("VIES_WEBHOOK_SECRET_KEY holds the published development key: generate your own.")
    box_from_settings(settings)


def box_from_settings(settings: NotificationsSettings) -> SecretBox:
    """The secret box of these settings; ``InsecureSettings`` for a malformed key."""
    try:
        return SecretBox(keys_of(settings))
    except ValueError as exc:
        raise InsecureSettings(
            f"VIES_WEBHOOK_SECRET_KEY must be keys of at least {MIN_KEY_CHARS} random characters, comma-separated "
            "(generate one with: openssl rand -base64 32)"
        ) from exc


async def reseal_subscriptions(runtime: Runtime, box: SecretBox) -> int:
    """Seal secrets stored in clear and re-seal those sealed with another key than the first; returns how many.

    Run at start-up by every process; two processes doing it at once both write valid tokens.
    """
    collection = runtime.db[store.SUBSCRIPTIONS]
    stale = {"$or": [{"secret": {"$exists": True}}, {"secret_key_id": {"$ne": box.current_id}}]}
    resealed = unreadable = 0
    async for doc in collection.find(stale):
        try:
            secret = box.open(doc)
        except SecretUnreadable:
            unreadable += 1
            continue
        await collection.update_one({"_id": doc["_id"]}, {"$set": box.seal(secret), "$unset": {"secret": ""}})
        resealed += 1
    if resealed or unreadable:
        log.info("webhook_secrets_resealed", resealed=resealed, unreadable=unreadable, key_id=box.current_id)
    return resealed
