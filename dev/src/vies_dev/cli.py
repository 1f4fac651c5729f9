"""The development commands of ``vies``: the local stack, ``vies run``, dev tokens, the event catalogue.

The runtime kit's ``vies`` command loads :func:`register` through the ``vies.commands`` entry point
when this package is installed (``make setup`` installs it; the service images do not).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vies_dev.catalogue.cli import catalogue_app
from vies_dev.devstack import find_repo_root
from vies_dev.devstack.cli import stack_app
from vies_shared.settings import ServiceSettings
from vies_shared.web import ROLES, issue_token


def register(app: typer.Typer) -> None:
    """Add the development commands to the ``vies`` command."""
    app.add_typer(stack_app, name="stack", help="Start, stop and check the local Kafka, MongoDB and SMTP stack.")
    app.add_typer(catalogue_app, name="catalogue", help="Generate and check the event catalogue; the compat gate.")
    app.command()(token)
    app.command()(run)


def run(demo: Annotated[bool, typer.Option(help="seed demo data")] = True) -> None:
    """Start the stack and the four services with demo data; Ctrl-C stops everything."""
    from vies_dev.platform import run_platform

    raise typer.Exit(run_platform(demo=demo))


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
    try:
        state = json.loads((find_repo_root() / ".stack" / "state.json").read_text(encoding="utf-8"))
        port = int(state["ports"]["keycloak_port"])
    except (OSError, ValueError, KeyError, TypeError):
        port = 8080
    return f"http://127.0.0.1:{port}"
