"""The ``vies`` command of the runtime kit: dead letters, the outbox, regional consumers.

What a running platform's operators need; other installed packages add theirs (see ``COMMANDS_GROUP``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Final

import typer

from vies_shared.settings import ServiceSettings

app = typer.Typer(help="VIES platform tools.", no_args_is_help=True, add_completion=False)
dlq_app = typer.Typer(help="Inspect and replay dead letters.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
outbox_app = typer.Typer(help="Inspect a service's outbox.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")

# Entry point group of the packages that add commands: ``register(app: typer.Typer) -> None``.
COMMANDS_GROUP: Final = "vies.commands"


def _register_sub_apps() -> None:
    from vies_shared.regional.cli import regional_app

    app.add_typer(regional_app, name="regional", help="A regional branch's consumer: run it, print its report.")
    # Installed packages add their commands through this entry point group: a service its operations
    # (vies notifications redrive), the development package (vies-dev) the local stack, vies run, dev tokens
    # and the catalogue. The runtime kit never imports them, so its images stay free of development tools.
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        register: Callable[[typer.Typer], None] = entry.load()
        register(app)


_register_sub_apps()


ServiceOpt = Annotated[str, typer.Option("--service", "-s", help="recruitment | partners | missions | notifications")]


@dlq_app.command("list")
def dlq_list(service: ServiceOpt, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the dead letters of a service (reference partition:offset, reason, error, origin)."""
    from vies_shared.messaging.dead_letters import list_dead_letters

    letters = asyncio.run(list_dead_letters(ServiceSettings(service=service), service))
    if as_json:
        typer.echo(json.dumps([d.summary() for d in letters], indent=2))
        return
    if not letters:
        typer.echo(f"no dead letters for {service}")
        return
    for d in letters:
        s = d.summary()
        typer.echo(f"{s['ref']:>8}  {s['reason']:<24} {s['ce_type'] or '-':<36} {s['from']}  {s['error']}")


@dlq_app.command("replay")
def dlq_replay(
    service: ServiceOpt,
    ref: Annotated[list[str] | None, typer.Option("--ref", help="partition:offset (repeatable)")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="replay every dead letter")] = False,
    value_file: Annotated[
        Path | None, typer.Option("--value-file", help="corrected JSON value to publish instead (one --ref)")
    ] = None,
    force_stale: Annotated[
        bool,
        typer.Option(
            "--force-stale",
            help="apply it even if a later event of its aggregate was applied (parked as stale_replay otherwise)",
        ),
    ] = False,
) -> None:
    """Publish dead letters back to their original topic, optionally with a corrected value."""
    from vies_shared.messaging.dead_letters import replay_dead_letters

    if not ref and not replay_all:
        raise typer.BadParameter("give --ref partition:offset or --all")
    if value_file is not None and (replay_all or not ref or len(ref) != 1):
        raise typer.BadParameter("--value-file goes with exactly one --ref")
    override = value_file.read_bytes() if value_file is not None else None
    try:
        letters = asyncio.run(
            replay_dead_letters(
                ServiceSettings(service=service),
                service,
                None if replay_all else ref,
                value_override=override,
                force_stale=force_stale,
            )
        )
    except (LookupError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"replayed {len(letters)} dead letter(s) of {service}")


@outbox_app.command("stuck")
def outbox_stuck(
    service: ServiceOpt,
    db: Annotated[str | None, typer.Option("--db", help="database (default: vies_<service>)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the outbox records the relay failed to publish (oldest first), the backlog and its oldest age.

    Exit status 1 when a record is stuck (Kafka refused it, or it failed VIES_RELAY_STUCK_FAILURES times).
    """
    from vies_shared.messaging.outbox import Outbox
    from vies_shared.messaging.relay import oldest_pending_seconds, stuck_records
    from vies_shared.storage import create_mongo_client

    settings = ServiceSettings(service=service)
    if db:
        settings.mongodb_db = db

    async def look() -> tuple[list[dict[str, object]], int, float]:
        client = create_mongo_client(settings.mongodb_uri)
        try:
            outbox = Outbox(client[settings.mongodb_db], service=service, topic_prefix=settings.topic_prefix)
            return await stuck_records(outbox), await outbox.backlog(), await oldest_pending_seconds(outbox)
        finally:
            await client.close()

    records, backlog, oldest = asyncio.run(look())
    rows = [
        {
            "id": r["_id"],
            "type": r.get("type"),
            "topic": r.get("topic"),
            "key": r.get("key"),
            "failures": r.get("failures", 0),
            "refused": bool(r.get("refused")),
            "stuck": bool(r.get("refused")) or int(str(r.get("failures", 0))) >= settings.relay_stuck_failures,
            "last_error": r.get("last_error"),
            "created_at": str(r.get("created_at")),
            "last_failed_at": str(r.get("last_failed_at")),
        }
        for r in records
    ]
    stuck = any(row["stuck"] for row in rows)
    if as_json:
        summary = {"backlog": backlog, "oldest_pending_seconds": round(oldest, 1), "records": rows}
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"{service}: {backlog} pending event(s), the oldest waiting {oldest:.0f}s")
        if not rows:
            typer.echo("no outbox record failed to publish")
        for row in rows:
            state = "STUCK" if row["stuck"] else "retrying"
            typer.echo(
                f"{state:<8} {row['id']}  {row['type']}  {row['topic']} key={row['key']}  "
                f"failures={row['failures']}  {row['last_error']}"
            )
    if stuck:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``vies`` console script."""
    app()
