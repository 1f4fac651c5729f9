"""Server-side sessions in the portal's own MongoDB database; the cookie holds only a random id."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

COOKIE = "vies_session"
Document = dict[str, Any]


@dataclass
class Session:
    """What the portal keeps about one browser: its language, CSRF token and, once signed in, the tokens."""

    id: str
    csrf: str
    lang: str = "fr"
    tokens: Document | None = None
    """``access_token``, ``refresh_token``, ``id_token``, ``expires_at`` (epoch seconds)."""
    person: Document | None = None
    """``sub``, ``name``, ``email``, ``role`` and scope claims read from the access token."""
    pending: Document | None = None
    """An authorization request under way: ``state``, ``verifier``, ``nonce``, ``next``."""
    form: Document = field(default_factory=dict)
    """What a form held when the person was sent away (to sign in): given back on return."""
    is_new: bool = False
    saved: Document | None = None
    """The stored document as loaded, with its expiry: an unchanged session is not written again."""

    @property
    def signed_in(self) -> bool:
        """Whether the session carries a person's tokens."""
        return self.tokens is not None and self.person is not None

    @property
    def role(self) -> str:
        """The person's role, empty when not signed in."""
        return str((self.person or {}).get("role", ""))

    def to_document(self) -> Document:
        """The stored form (without ``is_new``)."""
        return {
            "_id": self.id,
            "csrf": self.csrf,
            "lang": self.lang,
            "tokens": self.tokens,
            "person": self.person,
            "pending": self.pending,
            "form": self.form,
        }


class SessionStore:
    """Sessions in collection ``sessions``, gone after ``idle`` without use (a TTL index)."""

    def __init__(self, client: AsyncMongoClient[Document], database: str, idle: timedelta) -> None:
        self.collection = client[database]["sessions"]
        self.idle = idle

    async def ensure_indexes(self) -> None:
        """The TTL index that ends idle sessions."""
        await self.collection.create_index("expires_at", expireAfterSeconds=0)

    def new(self, lang: str = "fr") -> Session:
        """A fresh anonymous session (stored on first save)."""
        return Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), lang=lang, is_new=True)

    async def load(self, session_id: str) -> Session | None:
        """The live session with this id, or None (unknown or idle for too long)."""
        if not session_id or len(session_id) > 100:
            return None
        doc = await self.collection.find_one({"_id": session_id})
        # The TTL monitor runs about once a minute: the expiry is checked here too (on wall time, as it does).
        if doc is None or _aware(doc["expires_at"]) <= datetime.now(UTC):
            return None
        return Session(
            id=doc["_id"],
            csrf=doc["csrf"],
            lang=doc.get("lang", "fr"),
            tokens=doc.get("tokens"),
            person=doc.get("person"),
            pending=doc.get("pending"),
            form=doc.get("form") or {},
            saved=doc,
        )

    async def save(self, session: Session) -> None:
        """Store the session and push its expiry forward (skipped when nothing changed in the last minute)."""
        doc = session.to_document()
        now = datetime.now(UTC)
        if session.saved is not None:
            unchanged = all(session.saved.get(k) == v for k, v in doc.items())
            # One write a minute at most for a session only read: its expiry moves by the minute.
            if unchanged and _aware(session.saved["expires_at"]) - now > self.idle - timedelta(minutes=1):
                return
        doc["expires_at"] = now + self.idle
        await self.collection.replace_one({"_id": session.id}, doc, upsert=True)
        session.is_new = False
        session.saved = doc

    async def delete(self, session_id: str) -> None:
        """Forget a session (sign-out)."""
        await self.collection.delete_one({"_id": session_id})

    async def expire(self, session_id: str) -> None:
        """End a session now, as the idle timeout would (tests and operators)."""
        await self.collection.update_one({"_id": session_id}, {"$set": {"expires_at": datetime.now(UTC)}})


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
