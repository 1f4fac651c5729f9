"""The generated catalogue: complete, up to date, valid, and its checks able to fail."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import ConfigDict, Field
from pymongo import AsyncMongoClient

from vies_dev.catalogue import generate
from vies_dev.catalogue.asyncapi import build_asyncapi, channel_id
from vies_dev.catalogue.cli import catalogue_app
from vies_dev.catalogue.schemas import event_schema, example_headers, example_payload
from vies_dev.catalogue.sources import Catalogue, build_catalogue, load_catalogue, load_service, topic_of
from vies_shared.events.base import Event, registered_models
from vies_shared.events.envelope import decode
from vies_shared.events.topics import SERVICES, all_topics
from vies_shared.messaging.outbox import Outbox


def vies_catalogue(args: list[str]) -> int:
    """Run ``vies catalogue <args>`` in this process (its output to this test's stdout); its exit status."""
    status = typer.main.get_command(catalogue_app).main(args, prog_name="vies catalogue", standalone_mode=False)
    return int(status or 0)


ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_DIR = ROOT / "docs/events"
VALIDATOR = ROOT / "tools/asyncapi-validate"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_every_registered_event_and_every_topic_is_in_the_catalogue(catalogue: Catalogue) -> None:
    assert [(e.ce_type, e.version) for e in catalogue.events] == [(m.TYPE, m.VERSION) for m in registered_models()]
    document = build_asyncapi(catalogue)
    assert {c["address"] for c in document["channels"].values()} == {t.name for t in all_topics()}
    for entry in catalogue.events:
        channel = document["channels"][channel_id(entry.topic)]
        assert f"{entry.name}.v{entry.version}" in channel["messages"]
        assert entry.ref in document["components"]["messages"]
        assert (CATALOGUE_DIR / "schemas" / f"{entry.ref}.json").is_file()


def test_publishers_and_consumers_come_from_the_service_definitions(catalogue: Catalogue) -> None:
    for service in SERVICES:
        info = load_service(service)
        if not info.loaded:
            continue
        for entry in catalogue.events:
            assert (service in entry.consumers) == (entry.ce_type in info.handles)
            if entry.ce_type in info.publishes:
                assert service in entry.publishers


def test_a_service_that_cannot_be_imported_is_tolerated() -> None:
    info = load_service("nonexistent")
    assert not info.loaded
    assert "ModuleNotFoundError" in info.error


def test_topics_match_the_outbox_routing() -> None:
    outbox = Outbox(AsyncMongoClient[dict[str, Any]](connect=False)["x"], service="x", topic_prefix="")
    for model in registered_models():
        assert topic_of(model) == outbox.topic_for(model.model_construct())


def test_examples_are_contract_events_the_platform_can_decode(catalogue: Catalogue) -> None:
    for entry in catalogue.events:
        payload = example_payload(entry)
        envelope = decode(json.dumps(payload).encode(), example_headers(entry, payload))
        assert type(envelope.event) is entry.model
        assert envelope.meta.subject == payload[entry.key]


def test_checked_in_catalogue_is_up_to_date(catalogue: Catalogue) -> None:
    assert generate.stale(catalogue, CATALOGUE_DIR) == [], "run `make catalogue` and commit docs/events"


def test_stale_catalogue_is_detected(catalogue: Catalogue, tmp_path: Path) -> None:
    out = tmp_path / "events"
    generate.write(catalogue, out)
    assert generate.stale(catalogue, out) == []
    readme = out / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("VIES event catalogue", "Edited by hand"))
    (out / "schemas" / "partners.PartnerApproved.v1.json").unlink()
    (out / "examples" / "partners.Removed.v1.json").write_text("{}")
    problems = generate.stale(catalogue, out)
    assert any(p.startswith("differs:") and "README.md" in p for p in problems)
    assert any(p.startswith("missing:") and "partners.PartnerApproved.v1.json" in p for p in problems)
    assert any(p.startswith("not generated any more:") and "partners.Removed.v1.json" in p for p in problems)
    # Writing again repairs it, stale files included.
    generate.write(catalogue, out)
    assert generate.stale(catalogue, out) == []


def test_every_example_validates_against_its_schema() -> None:
    checked, errors = generate.validate(CATALOGUE_DIR)
    assert errors == []
    assert checked >= 4 * len(registered_models())


def test_a_wrong_example_is_caught(tmp_path: Path) -> None:
    out = tmp_path / "events"
    shutil.copytree(CATALOGUE_DIR, out, ignore=shutil.ignore_patterns("baseline"))
    bad = out / "examples" / "missions.MissionPlanned.v1.json"
    example = json.loads(bad.read_text())
    example["starts_on"] = "next spring"
    del example["country"]
    bad.write_text(json.dumps(example))
    document = json.loads((out / "asyncapi.json").read_text())
    document["components"]["messages"]["missions.CheckInReceived.v1"]["examples"][0]["payload"]["status"] = "fine"
    document["components"]["messages"]["missions.CheckInReceived.v1"]["examples"][0]["headers"]["ce_type"] = "x.Y"
    document["components"]["messages"]["missions.CheckInReceived.v1"]["examples"][0]["headers"]["ce_time"] = "noon"
    document["components"]["messages"]["missions.SecurityAlertIssued.v1"]["examples"][0]["payload"]["respond_by"] = (
        "2026-02-30T25:00:00Z"
    )
    (out / "asyncapi.json").write_text(json.dumps(document))
    _, errors = generate.validate(out)
    assert any("MissionPlanned" in e and "'country' is a required property" in e for e in errors)
    assert any("MissionPlanned" in e and "'next spring' is not a 'date'" in e for e in errors)
    assert any("CheckInReceived.v1.examples[0].payload" in e and "'fine' is not one of" in e for e in errors)
    assert any(
        "CheckInReceived.v1.examples[0].headers" in e and "'missions.CheckInReceived' was expected" in e for e in errors
    )
    assert any("CheckInReceived.v1.examples[0].headers" in e and "'noon' is not a 'date-time'" in e for e in errors)
    assert any("SecurityAlertIssued.v1.examples[0].payload" in e and "is not a 'date-time'" in e for e in errors)


def test_subscriber_guide_quotes_the_example_verbatim(tmp_path: Path) -> None:
    example = ROOT / "docs/examples/subscriber.py"
    guide = ROOT / "docs/SUBSCRIBERS.md"
    assert generate.guide_includes(guide, example)
    edited = tmp_path / "subscriber.py"
    edited.write_text(example.read_text().replace("ce_id in seen", "ce_id in handled"))
    assert not generate.guide_includes(guide, edited)


def test_catalogue_page_lists_meaning_fields_publishers_and_consumers(catalogue: Catalogue) -> None:
    page = (CATALOGUE_DIR / "README.md").read_text(encoding="utf-8")
    for entry in catalogue.events:
        start = page.index(f"### {entry.ce_type} v{entry.version}\n")
        section = page[start : page.find("\n### ", start + 1)]
        assert entry.summary in section
        assert f"**published by**: {', '.join(entry.publishers)}" in section
        for consumer in entry.consumers:
            assert consumer in section.split("**consumed by**:")[1].splitlines()[0]
        for field in entry.model.model_fields:
            assert f"| `{field}` |" in section


def _node_validator_ready() -> bool:
    return shutil.which("node") is not None and (VALIDATOR / "node_modules/@asyncapi/parser").is_dir()


@pytest.mark.skipif(not _node_validator_ready(), reason="`make catalogue-check` installs the AsyncAPI parser")
def test_official_parser_accepts_the_document_and_rejects_a_broken_one(tmp_path: Path) -> None:
    document = json.loads((CATALOGUE_DIR / "asyncapi.json").read_text())
    document["operations"]["missions.send.missions.events"]["channel"] = {"$ref": "#/channels/nowhere"}
    document["components"]["schemas"]["missions.CheckInMissed.v1"]["properties"]["due_on"]["type"] = "day"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    good = str(CATALOGUE_DIR / "asyncapi.json")
    # One run for both documents: loading the parser's rules takes seconds.
    run = subprocess.run(
        ["node", "validate.mjs", good, str(broken)], check=False, cwd=VALIDATOR, capture_output=True, text=True
    )
    assert run.returncode == 1, run.stdout + run.stderr
    about_good = [line for line in run.stdout.splitlines() if line.startswith(good)]
    about_broken = [line for line in run.stdout.splitlines() if line.startswith(str(broken))]
    assert any("valid AsyncAPI 3.0.0" in line for line in about_good)
    assert not any(" error " in line for line in about_good), about_good
    assert any("error invalid-ref: '#/channels/nowhere' does not exist" in line for line in about_broken)
    assert any(" error " in line and "due_on.type" in line for line in about_broken)


def test_commands_fail_on_a_stale_or_invalid_catalogue(
    catalogue: Catalogue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "events"
    generate.write(catalogue, out)
    assert vies_catalogue(["check", "--out", str(out)]) == 0
    assert vies_catalogue(["validate", "--out", str(out)]) == 0
    example = out / "examples" / "partners.PartnerApproved.v1.json"
    example.write_text(json.dumps({"partner_id": 7}))
    assert vies_catalogue(["check", "--out", str(out)]) == 1
    assert vies_catalogue(["validate", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "is stale: run `make catalogue`" in printed
    assert "partners.PartnerApproved.v1.json: $.partner_id: 7 is not of type 'string'" in printed
    assert vies_catalogue(["generate", "--out", str(out)]) == 0
    assert vies_catalogue(["check", "--out", str(out)]) == 0


class _Declared(Event):
    """A fixture event that declares its own example."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"thing_id": "thing-42", "level": 3, "at": "2026-01-02T03:04:05Z"}]}
    )
    thing_id: str
    level: int = Field(ge=1, le=5)
    at: datetime
    note: str | None = None


class _Synthesised(Event):
    """A fixture event without an example."""

    thing_id: str
    score: float = Field(ge=0.9, le=1)
    countries: list[str]
    region: str


def test_example_is_the_models_own_when_it_declares_one_else_synthesised() -> None:
    for model in (_Declared, _Synthesised):
        model.TYPE, model.KEY = f"partners.{model.__name__.strip('_')}", "thing_id"  # never registered
    declared, synthesised = build_catalogue([_Declared, _Synthesised], []).events
    assert example_payload(declared) == {"thing_id": "thing-42", "level": 3, "at": "2026-01-02T03:04:05Z", "note": None}
    example = example_payload(synthesised)
    assert example == {"thing_id": "thing-123", "score": 0.9, "countries": ["SN"], "region": "FR-ARA"}
    assert "examples" not in event_schema(declared)["properties"]
    assert event_schema(declared)["examples"] == [example_payload(declared)]
