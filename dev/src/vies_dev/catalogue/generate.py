"""Write the catalogue to a folder, tell whether a checked-in copy is stale, and validate it."""

from __future__ import annotations

import difflib
import importlib
import json
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from vies_dev.catalogue.asyncapi import build_asyncapi
from vies_dev.catalogue.page import build_page
from vies_dev.catalogue.schemas import event_schema, example_payload
from vies_dev.catalogue.sources import Catalogue

# Sub-folders the generator owns entirely (stale files in them are removed); baseline/ is not one.
GENERATED_DIRS = ("schemas", "examples")
GENERATED_FILES = ("asyncapi.json", "README.md")


def to_json(data: Any) -> str:
    """Stable, readable JSON text: same input, same bytes."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render(catalogue: Catalogue) -> dict[str, str]:
    """Every generated file, by path relative to the output folder."""
    files = {
        "asyncapi.json": to_json(build_asyncapi(catalogue)),
        "README.md": build_page(catalogue),
    }
    for entry in catalogue.events:
        files[f"schemas/{entry.ref}.json"] = to_json(event_schema(entry))
        files[f"examples/{entry.ref}.json"] = to_json(example_payload(entry))
    return files


def write(catalogue: Catalogue, out: Path) -> list[Path]:
    """Write the catalogue into ``out``, removing generated files that no longer exist; returns what changed."""
    files = render(catalogue)
    changed: list[Path] = []
    for folder in GENERATED_DIRS:
        for stale in sorted((out / folder).glob("*")) if (out / folder).is_dir() else []:
            if f"{folder}/{stale.name}" not in files:
                stale.unlink()
                changed.append(stale)
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def generated_paths(folder: Path) -> set[str]:
    """The generator's files present in a folder, relative to it."""
    found = {name for name in GENERATED_FILES if (folder / name).is_file()}
    for sub in GENERATED_DIRS:
        if (folder / sub).is_dir():
            found |= {f"{sub}/{p.name}" for p in (folder / sub).iterdir() if p.is_file()}
    return found


def stale(catalogue: Catalogue, checked_in: Path) -> list[str]:
    """How the checked-in catalogue differs from a fresh one generated into a temporary folder."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vies-catalogue-") as tmp:
        fresh = Path(tmp)
        write(catalogue, fresh)
        expected, present = generated_paths(fresh), generated_paths(checked_in)
        problems += [f"missing: {checked_in / p}" for p in sorted(expected - present)]
        problems += [f"not generated any more: {checked_in / p}" for p in sorted(present - expected)]
        for relative in sorted(expected & present):
            new = (fresh / relative).read_text(encoding="utf-8")
            old = (checked_in / relative).read_text(encoding="utf-8")
            if new != old:
                diff = difflib.unified_diff(
                    old.splitlines(), new.splitlines(), f"{checked_in / relative}", "generated", lineterm="", n=1
                )
                problems.append(f"differs: {checked_in / relative}\n" + "\n".join(list(diff)[:40]))
    return problems


def validate(folder: Path) -> tuple[int, list[str]]:
    """Check every example against its JSON Schema with the ``jsonschema`` package (independent of pydantic).

    Covers ``examples/<ref>.json`` against ``schemas/<ref>.json``, the ``examples`` inside each schema, and
    the payload and headers of every message example in ``asyncapi.json``. Returns (checked, errors).
    """
    jsonschema: Any = importlib.import_module("jsonschema")
    checker = jsonschema.FormatChecker()
    # jsonschema checks date-time only with an optional package installed: check RFC 3339 here instead.
    checker.checks("date-time", raises=ValueError)(_is_rfc3339)
    errors: list[str] = []
    checked = 0

    def check(instance: Any, schema: dict[str, Any], what: str) -> None:
        nonlocal checked
        checked += 1
        validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
        errors.extend(f"{what}: {e.json_path}: {e.message}" for e in validator.iter_errors(instance))

    schemas_dir = folder / "schemas"
    for path in sorted(schemas_dir.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            errors.append(f"{path}: not a valid JSON Schema: {exc.message}")
            continue
        example = folder / "examples" / path.name
        if not example.is_file():
            errors.append(f"{path}: no example {example}")
        else:
            check(json.loads(example.read_text(encoding="utf-8")), schema, str(example))
        for index, instance in enumerate(schema.get("examples", [])):
            check(instance, schema, f"{path} examples[{index}]")
    document = json.loads((folder / "asyncapi.json").read_text(encoding="utf-8"))
    components = document["components"]
    for name, message in components["messages"].items():
        payload_schema = _resolve_component(message.get("payload", {}), components)
        headers_schema = _resolve_component(message.get("headers", {}), components)
        for index, example in enumerate(message.get("examples", [])):
            where = f"asyncapi.json components.messages.{name}.examples[{index}]"
            if "payload" in example:
                check(example["payload"], payload_schema, f"{where}.payload")
            if "headers" in example:
                check(example["headers"], headers_schema, f"{where}.headers")
    return checked, errors


def _resolve_component(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Inline ``#/components/schemas/...`` references so a plain JSON Schema validator can use the schema."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                return walk(components["schemas"][ref.removeprefix("#/components/schemas/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    resolved: dict[str, Any] = walk(schema)
    return resolved


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_rfc3339(value: object) -> bool:
    """Whether a string is an RFC 3339 date-time (other types are left to the ``type`` keyword)."""
    if not isinstance(value, str):
        return True
    if RFC3339.match(value) is None:
        return False
    datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    return True


def guide_includes(guide: Path, example: Path) -> bool:
    """Whether the subscriber guide quotes the example program verbatim."""
    return example.read_text(encoding="utf-8").strip() in guide.read_text(encoding="utf-8")
