"""Kept events as CloudEvents 1.0 in JSON (structured mode), for the JSON Lines file and the webhook."""

from __future__ import annotations

from typing import Any

from vies_shared.events.envelope import CONTENT_TYPE, SPEC_VERSION, EventMeta, format_time

MEDIA_TYPE = "application/cloudevents+json"


def structured(meta: EventMeta, data: Any) -> dict[str, Any]:
    """The CloudEvents JSON of an event: each ``ce_<x>`` Kafka header becomes attribute ``<x>``.

    ``data`` is the event's value as the producer wrote it (fields newer than this
    kit included). De-duplicate on ``id``.
    """
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": meta.id,
        "source": meta.source,
        "type": meta.type,
        "time": format_time(meta.time),
        "subject": meta.subject,
        "datacontenttype": CONTENT_TYPE,
        "schemaversion": str(meta.schema_version),
        "region": meta.region,
        "correlationid": meta.correlation_id or meta.id,
    }
    if meta.causation_id:
        event["causationid"] = meta.causation_id
    event["data"] = data
    return event
