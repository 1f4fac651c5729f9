"""``vies regional ...``: run a branch's regional consumer and print its view (mounted by ``vies_shared.cli``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from vies_shared.regional.settings import RegionalSettings

regional_app = typer.Typer(
    help="Regional consumer of a branch: keep the region's events in your MongoDB, a file, a webhook.",
    no_args_is_help=True,
    add_completion=False,
)

RegionOpt = Annotated[
    str | None,
    typer.Option("--region", envvar="VIES_REGION", help="ISO 3166-2 code of your region, e.g. FR-ARA"),
]


def load_settings(region: str | None, **overrides: Any) -> RegionalSettings:
    """Settings from ``VIES_*`` variables, with the command line's options on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if region is not None:
        values["region"] = region
    try:
        return RegionalSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: {problems}", err=True)
        raise typer.Exit(2) from exc


@regional_app.command("run")
def run(
    region: RegionOpt = None,
    jsonl: Annotated[
        Path | None, typer.Option("--jsonl", help="also append kept events to this JSON Lines file")
    ] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="also POST kept events to this URL")] = None,
) -> None:
    """Consume the region's events until stopped (SIGTERM/Ctrl-C finish the batch in flight)."""
    from vies_shared.regional.app import run as run_consumer

    run_consumer(load_settings(region, regional_jsonl_path=jsonl, regional_webhook_url=webhook))


@regional_app.command("report")
def report(
    region: RegionOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Print a summary of the regional view kept in your MongoDB."""
    from pymongo.errors import PyMongoError

    from vies_shared.regional.report import format_report, read_summary

    settings = load_settings(region)
    try:
        summary = asyncio.run(read_summary(settings))
    except PyMongoError as exc:
        typer.echo(f"error: cannot read the database {settings.mongodb_db}: {exc}", err=True)  # URI not shown: password
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(summary, indent=2) if as_json else format_report(summary))


@regional_app.command("replay-skipped")
def replay_skipped(
    region: RegionOpt = None,
    force_stale: Annotated[
        bool, typer.Option("--force-stale", help="apply even records older than what their aggregate already shows")
    ] = False,
) -> None:
    """Run the events the consumer skipped through it again (after a kit upgrade or a fixed rule)."""
    from vies_shared.regional.consumer import replay_skipped as replay

    outcome = asyncio.run(replay(load_settings(region), force_stale=force_stale))
    typer.echo(f"applied {outcome['applied']}; still skipped {outcome['still_skipped']}")
