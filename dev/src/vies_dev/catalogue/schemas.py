"""JSON Schemas, CloudEvents headers and examples of the event models.

Payload schemas are pydantic's validation schemas (what a consumer built on the
models accepts) in JSON Schema 2020-12, with ``x-vies-*`` annotations for the
type, version, key and topic. Examples come from the model's own
``json_schema_extra`` examples when it has some, otherwise they are
synthesised from the schema with plausible values, then passed through the
model so that they are exactly what a producer would put on the wire.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from vies_dev.catalogue.sources import EventEntry
from vies_shared.events.envelope import CONTENT_TYPE, NO_REGION, REQUIRED_HEADERS, SPEC_VERSION, EventMeta
from vies_shared.reference import centre_for_country, regions
from vies_shared.tracing import TRACEPARENT_HEADER

JsonSchema = dict[str, Any]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
EXAMPLE_COUNTRY = "SN"
EXAMPLE_REGION = "FR-ARA"
EXAMPLE_TIME = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
# ce_id and ce_correlationid of examples: stable, so the generated files do not change on every run.
EXAMPLE_NAMESPACE = uuid.UUID("6f1c2a4e-3f0b-4c41-9a55-0c9a3b7e2d10")

# What each CloudEvents header means (docs/CONTRACT.md 1.1). A header the envelope
# starts sending without a line here stops the generator (see header_schema).
HEADER_DOCS: dict[str, str] = {
    "ce_specversion": "CloudEvents version, always `1.0`.",
    "ce_id": "Unique id of the event (UUID). Delivery is at-least-once: de-duplicate on it.",
    "ce_source": "`/vies/<service>`, the producing service.",
    "ce_type": "`<service>.<EventName>`, the event type.",
    "ce_time": "RFC 3339 UTC timestamp of the fact, millisecond precision.",
    "ce_subject": "The aggregate id the event is about, same as the Kafka key.",
    "ce_schemaversion": "Schema version of the payload, an integer as a string.",
    "ce_region": "ISO 3166-2 code of the French region of the authority concerned, or `none`.",
    "ce_correlationid": "Id of the request or event chain that led here (the event's own ce_id when it starts one).",
    "ce_causationid": "ce_id of the event that caused this one, absent when a request caused it.",
    "content-type": "Media type of the value, `application/json`.",
    TRACEPARENT_HEADER: (
        "CloudEvents distributed-tracing extension: W3C `traceparent` of the span that published the record, "
        "sent when the platform traces; continue your trace from it or ignore it."
    ),
}

# Plausible values by field name, used when the model gives no example.
SAMPLE_BY_NAME: dict[str, Any] = {
    "country": EXAMPLE_COUNTRY,
    "origin_country": "MA",
    "region": EXAMPLE_REGION,
    "language": "fr",
    "city": "Dakar",
    "subdivision": "SN-DK",
    "contact_email": "cooperation@auvergnerhonealpes.example.fr",
    "email": "awa.diop@example.org",
    "phone": "+221770000000",
    "scheme": "vsi",
    "title": "Education project officer",
    "reason": "See the letter sent with the decision",
    "error": "550 mailbox unavailable",
    "recipient_role": "authority",
    "acknowledged_by_role": "centre",
    "approval_number": "VSI-2026-014",
    "theme": "education",
    "reason_code": "age_out_of_range",
    "duration_months": 12,
    "duration_days": 21,
    "places": 2,
    "hosting_capacity": 4,
    "volunteers": 2,
    "missed_in_a_row": 1,
    "score": 0.82,
}
LATER_DATES = ("ends_on", "approved_until", "ended_on")
# The ``name`` field names a different thing depending on what the event is about.
NAME_BY_KEY: dict[str, str] = {
    "authority_id": "Région Auvergne-Rhône-Alpes",
    "partner_id": "Association Jappo",
    "organisation_id": "Solidarités Rhône-Alpes",
    "person_id": "Awa Diop",
}


def header_names() -> list[str]:
    """Every header the envelope can send, in the order it sends them, then the relay's ``ce_traceparent``."""
    sample = EventMeta(
        id="x", source="x", type="x", time=EXAMPLE_TIME, subject="x", schema_version=1, causation_id="x"
    ).as_headers()
    return [*sample, TRACEPARENT_HEADER]


def always_sent_headers() -> list[str]:
    """The headers every platform producer sets (the envelope omits only ``ce_causationid`` when empty)."""
    sample = EventMeta(id="x", source="x", type="x", time=EXAMPLE_TIME, subject="x", schema_version=1).as_headers()
    return [h for h in sample if h in REQUIRED_HEADERS or sample[h]]


def common_header_schema() -> JsonSchema:
    """The Kafka headers shared by every contract event (CloudEvents binary mode)."""
    properties: dict[str, JsonSchema] = {}
    for name in header_names():
        if name not in HEADER_DOCS:
            raise KeyError(f"header {name!r} is sent by the envelope but not documented in HEADER_DOCS")
        prop: JsonSchema = {"type": "string", "description": HEADER_DOCS[name]}
        if name == "ce_specversion":
            prop["const"] = SPEC_VERSION
        elif name == "content-type":
            prop["const"] = CONTENT_TYPE
        elif name == "ce_schemaversion":
            prop["pattern"] = "^[1-9][0-9]*$"
        elif name == "ce_time":
            prop["format"] = "date-time"
        elif name == "ce_region":
            prop["enum"] = [NO_REGION, *sorted(regions())]
        properties[name] = prop
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes as Kafka headers (binary content mode), all UTF-8 strings.",
        "required": always_sent_headers(),
        "properties": properties,
    }


def event_header_overrides(entry: EventEntry) -> JsonSchema:
    """What the headers of one event type and version always hold."""
    return {
        "type": "object",
        "properties": {
            "ce_type": {"type": "string", "const": entry.ce_type},
            "ce_schemaversion": {"type": "string", "const": str(entry.version)},
            "ce_source": {"type": "string", "const": f"/vies/{entry.service}"},
            "ce_subject": {"type": "string", "description": f"Value of the payload field `{entry.key}`."},
        },
    }


def event_schema(entry: EventEntry) -> JsonSchema:
    """The standalone JSON Schema (2020-12) of an event's payload, with its example."""
    schema = entry.model.model_json_schema(mode="validation")
    schema.pop("examples", None)
    result: JsonSchema = {
        "$schema": DRAFT,
        "title": entry.ref,
        "description": entry.description,
        "x-vies-type": entry.ce_type,
        "x-vies-schemaversion": entry.version,
        "x-vies-key": entry.key,
        "x-vies-topic": entry.topic,
    }
    schema.pop("title", None)
    schema.pop("description", None)
    result.update(schema)
    result["examples"] = [example_payload(entry)]
    return result


def inline_refs(schema: JsonSchema) -> JsonSchema:
    """The schema with local ``#/$defs/...`` references replaced by their targets (for AsyncAPI)."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise ValueError(f"recursive schema {name} cannot be inlined")
                target = walk(copy.deepcopy(defs[name]), (*seen, name))
                extra = {k: walk(v, seen) for k, v in node.items() if k != "$ref"}
                return {**target, **extra}
            return {k: walk(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        return node

    result: JsonSchema = walk(schema, ())
    return result


def example_payload(entry: EventEntry) -> dict[str, Any]:
    """One valid payload: the model's own example if it declares one, else synthesised from its schema."""
    schema = entry.model.model_json_schema(mode="validation")
    declared = schema.get("examples")
    if isinstance(declared, list) and declared:
        raw = declared[0]
    else:
        raw = _sample(entry.key, schema, schema)
        if "name" in raw:
            raw["name"] = NAME_BY_KEY.get(entry.key, "Example")
    # Through the model: the example is what a producer serialises, optional fields included.
    data: dict[str, Any] = entry.model.model_validate(raw).model_dump(mode="json")
    return data


def example_headers(entry: EventEntry, payload: dict[str, Any]) -> dict[str, str]:
    """The headers the platform would send with the example payload."""
    event_id = uuid.uuid5(EXAMPLE_NAMESPACE, entry.ref)
    meta = EventMeta(
        id=str(event_id),
        source=f"/vies/{entry.service}",
        type=entry.ce_type,
        time=EXAMPLE_TIME,
        subject=str(payload[entry.key]),
        schema_version=entry.version,
        region=EXAMPLE_REGION,
        correlation_id=str(uuid.uuid5(EXAMPLE_NAMESPACE, f"{entry.ref}/request")),
    )
    return meta.as_headers()


def _resolve(node: JsonSchema, root: JsonSchema) -> JsonSchema:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: JsonSchema = root["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return node


def _item_name(name: str) -> str:
    """One item's name: ``countries`` → ``country``, ``unaccounted_mission_ids`` → ``mission_id``."""
    if name.endswith("_ids"):
        return name.removesuffix("_ids").rsplit("_", 1)[-1] + "_id"
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name.removesuffix("s")


def _sample(name: str, node: JsonSchema, root: JsonSchema) -> Any:
    node = _resolve(node, root)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if _resolve(b, root).get("type") != "null"]
        return _sample(name, branches[0] if branches else {"type": "null"}, root)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {prop: _sample(prop, sub, root) for prop, sub in node.get("properties", {}).items()}
    if kind == "array":
        return [_sample(_item_name(name), node.get("items", {}), root)]
    # A list of types or none at all gives no sample, like ``null``.
    sample = _SCALAR_SAMPLES.get(kind) if isinstance(kind, str) else None
    return sample(name, node) if sample is not None else None


def _sample_integer(name: str, node: JsonSchema) -> int:
    value = SAMPLE_BY_NAME.get(name, 1)
    return max(int(node.get("minimum", value)), min(int(node.get("maximum", value)), int(value)))


def _sample_number(name: str, node: JsonSchema) -> float:
    value = float(SAMPLE_BY_NAME.get(name, 0.5))
    return max(float(node.get("minimum", value)), min(float(node.get("maximum", value)), value))


def _sample_boolean(name: str, node: JsonSchema) -> bool:
    return True


def _sample_string(name: str, node: JsonSchema) -> str:
    fmt = node.get("format")
    if fmt == "date":
        return "2027-08-31" if name in LATER_DATES else "2026-09-01"
    if fmt == "date-time":
        return "2026-09-02T18:00:00Z" if name.endswith("_by") else "2026-09-01T09:00:00Z"
    return _sample_text(name)


def _sample_text(name: str) -> str:
    if name in SAMPLE_BY_NAME:
        return str(SAMPLE_BY_NAME[name])
    if name == "event_id":
        return str(uuid.uuid5(EXAMPLE_NAMESPACE, "caused-by"))
    if name == "centre_id":
        return centre_for_country(EXAMPLE_COUNTRY).centre_id
    if name.endswith("_id"):
        return f"{name.removesuffix('_id').replace('_', '-')}-123"
    return f"example {name.replace('_', ' ')}"


# A sample value of each scalar JSON type, by field name and the schema's bounds.
_SCALAR_SAMPLES: dict[str, Callable[[str, JsonSchema], Any]] = {
    "string": _sample_string,
    "integer": _sample_integer,
    "number": _sample_number,
    "boolean": _sample_boolean,
}
