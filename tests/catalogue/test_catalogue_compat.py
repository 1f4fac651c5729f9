"""The schema compatibility gate: breaking fixtures fail, additive changes and version bumps pass."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pytest
import typer
from pydantic import BaseModel, Field

from vies_dev.catalogue import compat
from vies_dev.catalogue.cli import catalogue_app, current_schemas
from vies_dev.catalogue.schemas import event_schema
from vies_dev.catalogue.sources import ServiceInfo, build_catalogue
from vies_shared.events.base import Event, registered_models
from vies_shared.events.topics import SERVICES


def vies_catalogue(args: list[str]) -> int:
    """Run ``vies catalogue <args>`` in this process (its output to this test's stdout); its exit status."""
    status = typer.main.get_command(catalogue_app).main(args, prog_name="vies catalogue", standalone_mode=False)
    return int(status or 0)


ROOT = Path(__file__).resolve().parents[2]
NO_SERVICES = [ServiceInfo(name=s, loaded=False) for s in SERVICES]


def unregistered(model: type[Event], ce_type: str, version: int, key: str) -> type[Event]:
    """Give a fixture model its type after class creation, so it never enters the platform's registry."""
    model.TYPE = ce_type
    model.VERSION = version
    model.KEY = key
    return model


def schemas_of(*models: type[Event]) -> dict[str, dict[str, Any]]:
    catalogue = build_catalogue(models, NO_SERVICES)
    return {entry.ref: event_schema(entry) for entry in catalogue.events}


# --- Fixture models: a published v1, then the changes a developer might make to it. ---


class SuggestionV1(BaseModel):
    partner_id: str
    score: float


class PlannedV1(Event):
    """Published: a fixture mission was planned."""

    mission_id: str
    country: str
    starts_on: date
    status: Literal["planned", "started"]
    centre_id: str | None = None
    suggestions: list[SuggestionV1] = Field(default_factory=list)


class PlannedAdditive(Event):
    """Same type and version, with an optional field and an enum value added."""

    mission_id: str
    country: str
    starts_on: date
    status: Literal["planned", "started", "paused"]
    centre_id: str | None = None
    suggestions: list[SuggestionV1] = Field(default_factory=list)
    origin_country: str | None = None


class PlannedFieldRemoved(Event):
    """Breaking: ``country`` removed."""

    mission_id: str
    starts_on: date
    status: Literal["planned", "started"]
    centre_id: str | None = None
    suggestions: list[SuggestionV1] = Field(default_factory=list)


class PlannedV2(Event):
    """Version 2: ``country`` renamed ``host_country`` (breaking, hence a new version)."""

    mission_id: str
    host_country: str
    starts_on: date
    status: Literal["planned", "started"]
    centre_id: str | None = None
    suggestions: list[SuggestionV1] = Field(default_factory=list)


TYPE = "missions.FixturePlanned"
for _model in (PlannedV1, PlannedAdditive, PlannedFieldRemoved):
    unregistered(_model, TYPE, 1, "mission_id")
unregistered(PlannedV2, TYPE, 2, "mission_id")


def test_fixture_models_stay_out_of_the_registry() -> None:
    assert all(m.TYPE != TYPE for m in registered_models())


def test_published_schemas_compared_with_themselves_have_no_change() -> None:
    baseline = schemas_of(PlannedV1)
    assert compat.compare(baseline, schemas_of(PlannedV1)) == []


def test_additive_change_passes() -> None:
    changes = compat.compare(schemas_of(PlannedV1), schemas_of(PlannedAdditive))
    assert compat.breaking(changes) == []
    assert {(c.kind, c.path) for c in changes} == {("field_added", "origin_country"), ("enum_value_added", "status")}


def test_breaking_fixture_fails() -> None:
    changes = compat.compare(schemas_of(PlannedV1), schemas_of(PlannedFieldRemoved))
    assert [(c.kind, c.path) for c in compat.breaking(changes)] == [("field_removed", "country")]


def test_bumped_version_with_the_old_one_kept_passes() -> None:
    changes = compat.compare(schemas_of(PlannedV1), schemas_of(PlannedV1, PlannedV2))
    assert compat.breaking(changes) == []
    assert [c.kind for c in changes] == ["new_version"]


def test_bumped_version_without_the_old_one_fails() -> None:
    changes = compat.compare(schemas_of(PlannedV1), schemas_of(PlannedV2))
    assert [(c.ref, c.kind) for c in compat.breaking(changes)] == [(f"{TYPE}.v1", "version_dropped")]


def test_removed_event_type_fails() -> None:
    changes = compat.compare(schemas_of(PlannedV1), {})
    assert [c.kind for c in compat.breaking(changes)] == ["event_type_removed"]


def test_new_event_type_passes() -> None:
    changes = compat.compare({}, schemas_of(PlannedV1))
    assert [(c.kind, c.breaking) for c in changes] == [("new_event_type", False)]


# --- Table of single edits to a real published schema (missions.MissionPlanned v1 and partners.MatchesProposed v1). ---


def _edit(ref: str, change: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    baseline = {ref: current_schemas_cache()[ref]}
    current = copy.deepcopy(baseline)
    change(current[ref])
    return baseline, current


_CACHE: dict[str, dict[str, Any]] = {}


def current_schemas_cache() -> dict[str, dict[str, Any]]:
    if not _CACHE:
        _CACHE.update({e.ref: event_schema(e) for e in build_catalogue(registered_models(), NO_SERVICES).events})
    return _CACHE


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema["properties"]
    return props


def _rename(schema: dict[str, Any], old: str, new: str) -> None:
    schema["properties"] = {new if k == old else k: v for k, v in schema["properties"].items()}
    schema["required"] = [new if r == old else r for r in schema["required"]]


PLANNED = "missions.MissionPlanned.v1"
PROPOSED = "partners.MatchesProposed.v1"
CLOSED = "recruitment.PositionClosed.v1"

BREAKING = [
    ("field removed", PLANNED, lambda s: (_props(s).pop("country"), s["required"].remove("country")), "field_removed"),
    ("field renamed", PLANNED, lambda s: _rename(s, "country", "host_country"), "field_renamed"),
    (
        "type changed",
        PLANNED,
        lambda s: _props(s)["volunteer_id"].update(type="integer"),
        "type_changed",
    ),
    ("format changed", PLANNED, lambda s: _props(s)["starts_on"].update(format="date-time"), "type_changed"),
    (
        "may now be null",
        PLANNED,
        lambda s: _props(s).update(country={"anyOf": [{"type": "string"}, {"type": "null"}]}),
        "type_changed",
    ),
    ("optional made required", PLANNED, lambda s: s["required"].append("centre_id"), "made_required"),
    (
        "new required field",
        PLANNED,
        lambda s: (_props(s).update(visa={"type": "string"}), s["required"].append("visa")),
        "new_required_field",
    ),
    ("enum value removed", PLANNED, lambda s: _props(s)["scheme"]["enum"].remove("vec"), "enum_value_removed"),
    (
        "enum value removed inside anyOf",
        CLOSED,
        lambda s: _props(s)["cause"]["anyOf"][0]["enum"].remove("filled"),
        "enum_value_removed",
    ),
    (
        "nested field removed",
        PROPOSED,
        lambda s: (
            s["$defs"]["MatchSuggestion"]["properties"].pop("score"),
            s["$defs"]["MatchSuggestion"]["required"].remove("score"),
        ),
        "field_removed",
    ),
    (
        "constraint tightened",
        PROPOSED,
        lambda s: s["$defs"]["MatchSuggestion"]["properties"]["score"].update(maximum=0.5),
        "constraint_tightened",
    ),
    ("key changed", PLANNED, lambda s: s.update({"x-vies-key": "engagement_id"}), "key_changed"),
    ("topic changed", PLANNED, lambda s: s.update({"x-vies-topic": "vies.other.events"}), "topic_changed"),
]

ADDITIVE = [
    ("new optional field", PLANNED, lambda s: _props(s).update(visa={"anyOf": [{"type": "string"}, {"type": "null"}]})),
    ("enum value added", PLANNED, lambda s: _props(s)["scheme"]["enum"].append("erasmus")),
    (
        "required made optional",
        PLANNED,
        lambda s: (
            s["required"].remove("centre_id") if "centre_id" in s["required"] else s["required"].remove("volunteer_id")
        ),
    ),
    ("constraint loosened", PROPOSED, lambda s: s["$defs"]["MatchSuggestion"]["properties"]["score"].pop("maximum")),
    ("description and example edited", PLANNED, lambda s: s.update(description="Reworded.", examples=[{}])),
]


@pytest.mark.parametrize(("case", "ref", "change", "kind"), BREAKING, ids=[c[0] for c in BREAKING])
def test_breaking_edit_fails(case: str, ref: str, change: Any, kind: str) -> None:
    baseline, current = _edit(ref, change)
    found = compat.breaking(compat.compare(baseline, current))
    assert [c.kind for c in found] == [kind], case


@pytest.mark.parametrize(("case", "ref", "change"), ADDITIVE, ids=[c[0] for c in ADDITIVE])
def test_additive_edit_passes(case: str, ref: str, change: Any) -> None:
    baseline, current = _edit(ref, change)
    assert compat.breaking(compat.compare(baseline, current)) == [], case


# --- The command `make compat` runs, against baseline folders. ---


def _write(folder: Path, schemas: dict[str, dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ref, schema in schemas.items():
        (folder / f"{ref}.json").write_text(json.dumps(schema), encoding="utf-8")
    return folder


def test_compat_command_passes_on_the_committed_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    assert vies_catalogue(["compat", "--baseline", str(ROOT / "docs/events/baseline")]) == 0
    assert "no breaking change" in capsys.readouterr().out


def test_compat_command_fails_when_a_published_field_is_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The released baseline had a required field the code no longer has: as if it were removed.
    released = copy.deepcopy(current_schemas())
    released[PLANNED]["properties"]["legacy_ref"] = {"type": "string"}
    released[PLANNED]["required"].append("legacy_ref")
    assert vies_catalogue(["compat", "--baseline", str(_write(tmp_path / "baseline", released))]) == 1
    out = capsys.readouterr().out
    assert "BREAKING field_removed: missions.MissionPlanned.v1 legacy_ref" in out


def test_compat_command_passes_when_the_code_added_an_optional_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    released = copy.deepcopy(current_schemas())
    del released[PLANNED]["properties"]["origin_country"]
    assert vies_catalogue(["compat", "--baseline", str(_write(tmp_path / "baseline", released))]) == 0
    assert "ok field_added: missions.MissionPlanned.v1 origin_country" in capsys.readouterr().out


def test_compat_baseline_command_records_the_current_schemas(tmp_path: Path) -> None:
    folder = tmp_path / "baseline"
    _write(folder, {"missions.Gone.v1": {"type": "object"}})
    assert vies_catalogue(["baseline", "--baseline", str(folder)]) == 0
    assert {p.name.removesuffix(".json") for p in folder.glob("*.json")} == set(current_schemas())
    assert vies_catalogue(["compat", "--baseline", str(folder)]) == 0
