"""The ``vies`` command: local stack, development tokens, dead letters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from vies_shared.settings import ServiceSettings
from vies_shared.web import ROLES, issue_token

app = typer.Typer(help="VIES platform tools.", no_args_is_help=True, add_completion=False)
dlq_app = typer.Typer(help="Inspect and replay dead letters.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
outbox_app = typer.Typer(help="Inspect a service's outbox.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


def _register_sub_apps() -> None:
    from vies_shared.devstack.cli import stack_app
    from vies_shared.regional.cli import regional_app

    app.add_typer(stack_app, name="stack", help="Start, stop and check the local Kafka, MongoDB and SMTP stack.")
    app.add_typer(regional_app, name="regional", help="A regional branch's consumer: run it, print its report.")
    try:  # the notifications service's own operations, where it is installed (vies notifications redrive)
        from vies_notifications.redrive import notifications_app
    except ImportError:
        return
    app.add_typer(notifications_app, name="notifications", help="Re-drive failed notifications.")


_register_sub_apps()


@app.command()
def token(
    role: Annotated[str | None, typer.Option(help=f"one of {', '.join(ROLES)} (dev token)")] = None,
    sub: Annotated[str, typer.Option(help="subject (user id) of a dev token")] = "dev-user",
    authority_id: Annotated[str | None, typer.Option("--authority-id")] = None,
    region: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option()] = None,
    hours: Annotated[int, typer.Option(help="validity of a dev token")] = 12,
    user: Annotated[
        str | None,
        typer.Option(help="a Keycloak user (e.g. amina.candidate): a real token from the local Keycloak"),
    ] = None,
    password: Annotated[str | None, typer.Option(help="the user's password (default: its demo password)")] = None,
    keycloak_url: Annotated[
        str | None,
        typer.Option(
            "--keycloak-url",
            envvar="VIES_KEYCLOAK_URL",
            help="Keycloak base URL (default: the local stack's, else http://127.0.0.1:8080)",
        ),
    ] = None,
) -> None:
    """Print a bearer token: a real one from Keycloak with --user, else a dev JWT signed with VIES_JWT_SECRET."""
    if user is not None:
        from vies_shared.keycloak import KeycloakEndpoints, KeycloakError

        endpoints = KeycloakEndpoints(url=(keycloak_url or _local_keycloak_url()).rstrip("/"))
        try:
            typer.echo(endpoints.token(user, password))
        except KeycloakError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        return
    if role is None or role not in ROLES:
        raise typer.BadParameter(f"give --user, or --role with one of {', '.join(ROLES)}", param_hint="--role")
    settings = ServiceSettings()
    typer.echo(
        issue_token(
            settings,
            sub=sub,
            role=role,
            authority_id=authority_id,
            region=region,
            country=country,
            ttl_seconds=hours * 3600,
        )
    )


def _local_keycloak_url() -> str:
    """The Keycloak of the local stack (``.stack/state.json``), else the default port."""
    from vies_shared.devstack import find_repo_root

    try:
        state = json.loads((find_repo_root() / ".stack" / "state.json").read_text(encoding="utf-8"))
        port = int(state["ports"]["keycloak_port"])
    except (OSError, ValueError, KeyError, TypeError):
        port = 8080
    return f"http://127.0.0.1:{port}"


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


@app.command()
def run(demo: Annotated[bool, typer.Option(help="seed demo data")] = True) -> None:
    """Start the stack and the four services with demo data; Ctrl-C stops everything."""
    from vies_shared.dev_platform import run_platform

    raise typer.Exit(run_platform(demo=demo))


def main() -> None:
    """Entry point of the ``vies`` console script."""
    app()
