"""The schema compatibility gate: current event schemas against the last released ones.

A published event (a ``<ce_type>.v<version>`` in the baseline) may only change
in ways its existing consumers, and the messages already in the topics, still
fit: new optional fields, new enum values, looser constraints. Anything else is
breaking — a field removed or renamed, a type or format changed, a field made
required or newly required, an enum value removed, a constraint tightened, the
key or topic changed, or the version no longer in the registry. A breaking
change is made by adding a new schema version (a new model with ``VERSION =
n + 1``) while the old version stays registered, produced or upcast; new types
and new versions are never breaking.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JsonSchema = dict[str, Any]

REF_PATTERN = re.compile(r"^(?P<type>[A-Za-z0-9_]+\.[A-Za-z0-9_]+)\.v(?P<version>[0-9]+)$")
# Bounds that only a smaller (lower) or larger (upper) value loosens.
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


@dataclass(frozen=True)
class Change:
    """One difference between the baseline and the current schema of an event."""

    ref: str
    path: str
    kind: str
    breaking: bool
    detail: str

    def __str__(self) -> str:
        where = f"{self.ref} {self.path}" if self.path else self.ref
        return f"{'BREAKING' if self.breaking else 'ok'} {self.kind}: {where}: {self.detail}"


def split_ref(ref: str) -> tuple[str, int]:
    """``partners.PartnerApproved.v1`` → (``partners.PartnerApproved``, 1)."""
    match = REF_PATTERN.match(ref)
    if match is None:
        raise ValueError(f"{ref!r} is not <service>.<Event>.v<version>")
    return match["type"], int(match["version"])


def load_schemas(folder: Path) -> dict[str, JsonSchema]:
    """The ``<ref>.json`` schema files of a folder, by ref."""
    schemas: dict[str, JsonSchema] = {}
    for path in sorted(folder.glob("*.json")):
        ref = path.name.removesuffix(".json")
        split_ref(ref)
        schemas[ref] = json.loads(path.read_text(encoding="utf-8"))
    return schemas


def compare(baseline: Mapping[str, JsonSchema], current: Mapping[str, JsonSchema]) -> list[Change]:
    """Every change from the baseline schemas to the current ones, breaking or not."""
    changes: list[Change] = []
    current_types = {split_ref(ref)[0] for ref in current}
    baseline_types = {split_ref(ref)[0] for ref in baseline}
    for ref in sorted(baseline):
        ce_type, version = split_ref(ref)
        if ref in current:
            changes += _compare_event(ref, baseline[ref], current[ref])
        elif ce_type in current_types:
            changes.append(
                Change(
                    ref,
                    "",
                    "version_dropped",
                    True,
                    f"v{version} is published but no longer registered "
                    "(keep its model, producing or upcasting it, next to the new version)",
                )
            )
        else:
            changes.append(Change(ref, "", "event_type_removed", True, f"{ce_type} is published but gone"))
    for ref in sorted(set(current) - set(baseline)):
        ce_type, version = split_ref(ref)
        if ce_type in baseline_types:
            changes.append(Change(ref, "", "new_version", False, f"new schema version {version} of {ce_type}"))
        else:
            changes.append(Change(ref, "", "new_event_type", False, f"new event type {ce_type}"))
    return changes


def breaking(changes: Iterable[Change]) -> list[Change]:
    """The breaking changes only."""
    return [c for c in changes if c.breaking]


def _compare_event(ref: str, old: JsonSchema, new: JsonSchema) -> list[Change]:
    changes: list[Change] = []
    for annotation, kind in (("x-vies-key", "key_changed"), ("x-vies-topic", "topic_changed")):
        if old.get(annotation) != new.get(annotation):
            changes.append(Change(ref, "", kind, True, f"{old.get(annotation)!r} → {new.get(annotation)!r}"))
    _compare_node(_Side(old, old), _Side(new, new), ref, "", changes)
    return changes


@dataclass(frozen=True)
class _Side:
    """A schema node and the root its ``$ref``s resolve against."""

    node: JsonSchema
    root: JsonSchema

    def at(self, node: JsonSchema) -> _Side:
        resolved = node
        seen = 0
        while isinstance(resolved.get("$ref"), str) and resolved["$ref"].startswith("#/$defs/") and seen < 32:
            target = self.root.get("$defs", {})[resolved["$ref"].removeprefix("#/$defs/")]
            resolved = {**target, **{k: v for k, v in resolved.items() if k != "$ref"}}
            seen += 1
        return _Side(resolved, self.root)

    def branches(self) -> tuple[bool, list[_Side]]:
        """Whether null is allowed, and the non-null alternatives."""
        side = self.at(self.node)
        options = side.node.get("anyOf") or side.node.get("oneOf")
        if not options:
            kind = side.node.get("type")
            if isinstance(kind, list) and "null" in kind:
                rest = [t for t in kind if t != "null"]
                return True, [_Side({**side.node, "type": rest[0] if len(rest) == 1 else rest}, self.root)]
            return kind == "null", [] if kind == "null" else [side]
        alternatives = [self.at(o) for o in options]
        nullable = any(a.node.get("type") == "null" for a in alternatives)
        return nullable, [a for a in alternatives if a.node.get("type") != "null"]

    def canonical(self) -> str:
        """The node with references resolved and prose removed, for an equality test."""

        def strip(node: Any) -> Any:
            if isinstance(node, dict):
                node = self.at(node).node
                return {k: strip(v) for k, v in sorted(node.items()) if k not in _PROSE}
            if isinstance(node, list):
                return [strip(v) for v in node]
            return node

        return json.dumps(strip(self.node), sort_keys=True)


_PROSE = frozenset(
    {
        "title",
        "description",
        "examples",
        "default",
        "$defs",
        "$schema",
        "x-vies-type",
        "x-vies-schemaversion",
        "x-vies-key",
        "x-vies-topic",
        "$comment",
    }
)


def _compare_node(old: _Side, new: _Side, ref: str, path: str, out: list[Change]) -> None:
    old_null, old_branches = old.branches()
    new_null, new_branches = new.branches()
    if new_null and not old_null:
        out.append(Change(ref, path, "type_changed", True, "may now be null"))
    if len(old_branches) != 1 or len(new_branches) != 1:
        if sorted(b.canonical() for b in old_branches) != sorted(b.canonical() for b in new_branches):
            out.append(Change(ref, path, "type_changed", True, "alternatives changed"))
        return
    before, after = old_branches[0].node, new_branches[0].node
    if _kind(before) != _kind(after) or before.get("format") != after.get("format"):
        out.append(Change(ref, path, "type_changed", True, f"{_describe(before)} → {_describe(after)}"))
        return
    _compare_values(before, after, ref, path, out)
    _compare_constraints(before, after, ref, path, out)
    if _kind(before) == "array":
        _compare_node(
            old_branches[0].at(before.get("items", {})),
            new_branches[0].at(after.get("items", {})),
            ref,
            f"{path}[]",
            out,
        )
    if _kind(before) == "object":
        _compare_object(old_branches[0], new_branches[0], ref, path, out)


def _compare_object(old: _Side, new: _Side, ref: str, path: str, out: list[Change]) -> None:
    old_props: dict[str, Any] = old.node.get("properties", {})
    new_props: dict[str, Any] = new.node.get("properties", {})
    old_required = set(old.node.get("required", []))
    new_required = set(new.node.get("required", []))
    removed = [p for p in old_props if p not in new_props]
    added = [p for p in new_props if p not in old_props]
    renamed: set[str] = set()
    for name in removed:
        twin = [a for a in added if old.at(old_props[name]).canonical() == new.at(new_props[a]).canonical()]
        if len(removed) == 1 and len(twin) == 1:
            renamed.add(twin[0])
            out.append(Change(ref, _join(path, name), "field_renamed", True, f"renamed to {twin[0]!r}?"))
        else:
            out.append(Change(ref, _join(path, name), "field_removed", True, "removed"))
    for name in added:
        if name in renamed:
            continue
        if name in new_required:
            out.append(Change(ref, _join(path, name), "new_required_field", True, "added as required"))
        else:
            out.append(Change(ref, _join(path, name), "field_added", False, "new optional field"))
    for name, old_prop in old_props.items():
        if name not in new_props:
            continue
        if name in new_required and name not in old_required:
            out.append(Change(ref, _join(path, name), "made_required", True, "optional field made required"))
        elif name in old_required and name not in new_required:
            out.append(Change(ref, _join(path, name), "made_optional", False, "required field made optional"))
        _compare_node(old.at(old_prop), new.at(new_props[name]), ref, _join(path, name), out)


def _compare_values(before: JsonSchema, after: JsonSchema, ref: str, path: str, out: list[Change]) -> None:
    """Changes to a field's allowed values (enum or const): a value removed or a new restriction breaks."""
    old_values, new_values = _values(before), _values(after)
    if old_values is not None and new_values is not None:
        for value in old_values:
            if value not in new_values:
                out.append(Change(ref, path, "enum_value_removed", True, f"{value!r} no longer allowed"))
        for value in new_values:
            if value not in old_values:
                out.append(Change(ref, path, "enum_value_added", False, f"{value!r} now allowed"))
    elif new_values is not None:
        out.append(Change(ref, path, "constraint_tightened", True, f"restricted to {new_values!r}"))
    elif old_values is not None:
        out.append(Change(ref, path, "enum_lifted", False, "any value now allowed"))


def _compare_constraints(before: JsonSchema, after: JsonSchema, ref: str, path: str, out: list[Change]) -> None:
    for bound in (*LOWER_BOUNDS, *UPPER_BOUNDS):
        old_value, new_value = before.get(bound), after.get(bound)
        if old_value == new_value:
            continue
        lower = bound in LOWER_BOUNDS
        tightened = new_value is not None and (
            old_value is None or (new_value > old_value if lower else new_value < old_value)
        )
        out.append(
            Change(
                ref,
                path,
                "constraint_tightened" if tightened else "constraint_loosened",
                tightened,
                f"{bound} {old_value!r} → {new_value!r}",
            )
        )
    if before.get("pattern") != after.get("pattern"):
        tightened = after.get("pattern") is not None
        out.append(
            Change(
                ref,
                path,
                "constraint_tightened" if tightened else "constraint_loosened",
                tightened,
                f"pattern {before.get('pattern')!r} → {after.get('pattern')!r}",
            )
        )


def _values(node: JsonSchema) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    enum = node.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _kind(node: JsonSchema) -> Any:
    kind = node.get("type")
    if kind is None and "properties" in node:
        return "object"
    if isinstance(kind, list):
        return sorted(kind)
    return kind


def _describe(node: JsonSchema) -> str:
    kind = _kind(node)
    return f"{kind} ({node['format']})" if node.get("format") else str(kind)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
