"""CloudEvents 1.0 Kafka protocol binding, binary content mode (docs/CONTRACT.md 1.1).

``encode`` turns an event model into the Kafka key, JSON value and ``ce_*``
headers; ``decode`` does the reverse and raises a typed ``EnvelopeError`` for
anything that is not a valid contract event, so the dead-letter path can say why.

The optional CloudEvents ``traceparent`` extension (header ``ce_traceparent``, W3C trace context)
is written by the outbox relay, which knows the publish span it names (``vies_shared.tracing``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from vies_shared.events.base import Event, known_types, lookup

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
NO_REGION = "none"

REQUIRED_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "ce_schemaversion",
)


class EnvelopeError(Exception):
    """A message that cannot be turned into a contract event (a permanent failure)."""

    reason = "invalid_envelope"


class NotCloudEvent(EnvelopeError):
    """Headers missing or not CloudEvents 1.0."""

    reason = "not_cloudevent"


class UnknownEventType(EnvelopeError):
    """A ``ce_type`` the contract does not know."""

    reason = "unknown_type"


class UnsupportedSchemaVersion(EnvelopeError):
    """A known type with a schema version this code cannot read."""

    reason = "unknown_schema_version"


class InvalidEventData(EnvelopeError):
    """The value is not JSON or fails the event model's validation."""

    reason = "invalid_data"


@dataclass(frozen=True)
class EventMeta:
    """The CloudEvents attributes of one event."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str
    schema_version: int
    region: str = NO_REGION
    correlation_id: str = ""
    causation_id: str | None = None

    def as_headers(self) -> dict[str, str]:
        """The ``ce_*`` headers of the contract, as strings."""
        headers = {
            "ce_specversion": SPEC_VERSION,
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_time": format_time(self.time),
            "ce_subject": self.subject,
            "ce_schemaversion": str(self.schema_version),
            "ce_region": self.region or NO_REGION,
            "ce_correlationid": self.correlation_id or self.id,
            "content-type": CONTENT_TYPE,
        }
        if self.causation_id:
            headers["ce_causationid"] = self.causation_id
        return headers


@dataclass(frozen=True)
class EncodedEvent:
    """An event ready for Kafka: key, value and headers (value None is a tombstone)."""

    key: str
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Envelope:
    """A decoded contract event with its CloudEvents attributes."""

    meta: EventMeta
    event: Event


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a ``Z`` suffix."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    """A fresh ``ce_id``."""
    return str(uuid.uuid4())


def encode(
    event: Event,
    *,
    region: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> tuple[EventMeta, EncodedEvent]:
    """Build the CloudEvents attributes and the Kafka message of an event."""
    meta = EventMeta(
        id=event_id or new_event_id(),
        source=f"/vies/{event.service()}",
        type=event.TYPE,
        time=time or datetime.now(UTC),
        subject=event.subject,
        schema_version=event.VERSION,
        region=region or NO_REGION,
        correlation_id=correlation_id or "",
        causation_id=causation_id,
    )
    if not meta.correlation_id:
        meta = EventMeta(**{**meta.__dict__, "correlation_id": meta.id})
    value = event.model_dump_json().encode()
    return meta, EncodedEvent(key=meta.subject, value=value, headers=meta.as_headers())


def headers_to_dict(headers: Iterable[tuple[str, bytes | None]] | Mapping[str, str]) -> dict[str, str]:
    """Kafka record headers (bytes) as a str dict; undecodable values are refused."""
    if isinstance(headers, Mapping):
        return dict(headers)
    result: dict[str, str] = {}
    for name, raw in headers:
        try:
            result[name] = (raw or b"").decode()
        except UnicodeDecodeError as exc:
            raise NotCloudEvent(f"header {name!r} is not UTF-8") from exc
    return result


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decode_meta(headers: Mapping[str, str]) -> EventMeta:
    """Read and check the CloudEvents attributes; raises an ``EnvelopeError``."""
    missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
    if missing:
        raise NotCloudEvent(f"missing CloudEvents headers: {', '.join(missing)}")
    if headers["ce_specversion"] != SPEC_VERSION:
        raise NotCloudEvent(f"ce_specversion {headers['ce_specversion']!r} is not {SPEC_VERSION}")
    try:
        version = int(headers["ce_schemaversion"])
        moment = parse_time(headers["ce_time"])
    except ValueError as exc:
        raise NotCloudEvent(f"bad ce_schemaversion or ce_time: {exc}") from exc
    return EventMeta(
        id=headers["ce_id"],
        source=headers["ce_source"],
        type=headers["ce_type"],
        time=moment,
        subject=headers["ce_subject"],
        schema_version=version,
        region=headers.get("ce_region") or NO_REGION,
        correlation_id=headers.get("ce_correlationid") or headers["ce_id"],
        causation_id=headers.get("ce_causationid") or None,
    )


def decode(value: bytes | None, headers: Mapping[str, str]) -> Envelope:
    """Turn a Kafka value and headers into an ``Envelope``; raises an ``EnvelopeError``."""
    meta = decode_meta(headers)
    model = lookup(meta.type, meta.schema_version)
    if model is None:
        if meta.type in known_types():
            raise UnsupportedSchemaVersion(f"{meta.type} has no schema version {meta.schema_version}")
        raise UnknownEventType(f"unknown ce_type {meta.type!r}")
    if value is None:
        raise InvalidEventData("empty value")
    try:
        data: Any = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEventData(f"value is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidEventData("value is not a JSON object")
    try:
        event = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventData(f"{meta.type}: {exc.error_count()} invalid field(s): {_short(exc)}") from exc
    return Envelope(meta=meta, event=event)


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
