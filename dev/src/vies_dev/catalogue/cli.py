"""``vies catalogue ...``: generate, check and validate the event catalogue, and run the compat gate.

Mounted by the development CLI (``vies_dev.cli``) under ``vies catalogue``; ``catalogue.mk`` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vies_dev.catalogue import compat, generate
from vies_dev.catalogue.schemas import event_schema
from vies_dev.catalogue.sources import load_catalogue

DEFAULT_OUT = Path("docs/events")
DEFAULT_BASELINE = DEFAULT_OUT / "baseline"

catalogue_app = typer.Typer(
    help="The event catalogue (docs/events/) from the contract's pydantic models, and the compat gate.",
    no_args_is_help=True,
)

OutOpt = Annotated[Path, typer.Option("--out", help="the catalogue's folder")]
BaselineOpt = Annotated[Path, typer.Option("--baseline", help="the released schemas' folder")]


def current_schemas() -> dict[str, dict[str, object]]:
    """The schemas of every registered event type and version, by ref."""
    return {entry.ref: event_schema(entry) for entry in load_catalogue().events}


@catalogue_app.command("generate")
def generate_command(out: OutOpt = DEFAULT_OUT) -> None:
    """Write the catalogue: AsyncAPI document, a JSON Schema and an example per event type and version, a page."""
    catalogue = load_catalogue()
    for service in catalogue.services:
        if not service.loaded:
            typer.echo(f"warning: service {service.name} not loaded ({service.error})", err=True)
    changed = generate.write(catalogue, out)
    typer.echo(f"catalogue: {len(catalogue.events)} event types/versions in {out}, {len(changed)} file(s) changed")


@catalogue_app.command()
def check(out: OutOpt = DEFAULT_OUT) -> None:
    """Fail if the checked-in catalogue is stale."""
    problems = generate.stale(load_catalogue(), out)
    for problem in problems:
        typer.echo(problem)
    if problems:
        typer.echo(f"{out} is stale: run `make catalogue` and commit the result")
        raise typer.Exit(1)
    typer.echo(f"catalogue: {out} is up to date")


@catalogue_app.command()
def validate(out: OutOpt = DEFAULT_OUT) -> None:
    """Check every example against its JSON Schema with the jsonschema package."""
    checked, errors = generate.validate(out)
    for error in errors:
        typer.echo(error)
    typer.echo(f"catalogue: {checked} example(s) checked against their JSON Schemas, {len(errors)} error(s)")
    if errors or checked == 0:
        raise typer.Exit(1)


@catalogue_app.command()
def guide(
    guide: Annotated[Path, typer.Option("--guide", help="the subscribers' guide (Markdown)")],
    example: Annotated[Path, typer.Option("--example", help="the example subscriber it must quote")],
) -> None:
    """Fail unless the guide quotes the example verbatim."""
    if not generate.guide_includes(guide, example):
        typer.echo(f"{guide} does not quote {example} verbatim: paste the example into the guide")
        raise typer.Exit(1)
    typer.echo(f"{guide} quotes {example}")


@catalogue_app.command("compat")
def compat_command(baseline: BaselineOpt = DEFAULT_BASELINE) -> None:
    """Fail on a breaking change to a published event (the baseline holds the released schemas)."""
    if not baseline.is_dir():
        typer.echo(f"no baseline in {baseline}: run `make compat-baseline` at the first release")
        raise typer.Exit(1)
    changes = compat.compare(compat.load_schemas(baseline), current_schemas())
    for change in changes:
        typer.echo(str(change))
    broken = compat.breaking(changes)
    if broken:
        typer.echo(
            f"compat: {len(broken)} breaking change(s) to published events. Make the change additive "
            "(new optional field, new enum value, new event type) or add a new schema version (a model with "
            "VERSION = n + 1) and keep the old version registered, produced or upcast."
        )
        raise typer.Exit(1)
    typer.echo(f"compat: no breaking change ({len(changes)} additive change(s))")


@catalogue_app.command()
def baseline(baseline: BaselineOpt = DEFAULT_BASELINE) -> None:
    """Record the current schemas as the published ones (after a release)."""
    baseline.mkdir(parents=True, exist_ok=True)
    schemas = current_schemas()
    for old in baseline.glob("*.json"):
        if old.name.removesuffix(".json") not in schemas:
            old.unlink()
    for ref, schema in schemas.items():
        (baseline / f"{ref}.json").write_text(generate.to_json(schema), encoding="utf-8")
    typer.echo(f"compat: baseline of {len(schemas)} schema(s) written to {baseline}")
