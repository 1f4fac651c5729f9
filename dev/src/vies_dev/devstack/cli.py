"""``vies stack ...``: fetch, start, stop and inspect the local real stack.

Mounted by the top-level CLI with ``app.add_typer(stack_app, name="stack")``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from vies_dev.devstack.stack import (
    BASE_COMPONENTS,
    COMPONENTS,
    KEYCLOAK_ADMIN,
    KEYCLOAK_VERSION,
    LocalStack,
    StackConfig,
    StackError,
    find_repo_root,
)

stack_app = typer.Typer(
    name="stack",
    help=(
        "The local real stack: Apache Kafka (KRaft), SecantusDB (MongoDB API), Mailpit (SMTP sink), Keycloak (OIDC),"
        " Jaeger (traces, optional)."
    ),
    no_args_is_help=True,
)

_DEFAULT_PORTS = {
    "kafka_port": 9092,
    "kafka_controller_port": 9093,
    "mongodb_port": 27017,
    "smtp_port": 1025,
    "mailpit_http_port": 8025,
    "keycloak_port": 8080,
    "jaeger_otlp_port": 4318,
    "jaeger_ui_port": 16686,
    "jaeger_grpc_port": 16685,
}

RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        envvar="VIES_STACK_ROOT",
        help="Folder for data, logs and state (default: <repo>/.stack).",
    ),
]
LibsOpt = Annotated[
    Path | None,
    typer.Option(
        "--libs-dir",
        envvar="VIES_KAFKA_LIBS",
        help="Kafka jars (default: <root>/kafka/libs).",
    ),
]
_PORT_HELP = "0 picks a free port (default: the port this root used last, else {})."
KafkaPortOpt = Annotated[
    int | None,
    typer.Option(envvar="VIES_KAFKA_PORT", help="Kafka client port. " + _PORT_HELP.format(9092)),
]
KafkaControllerPortOpt = Annotated[
    int | None,
    typer.Option(
        envvar="VIES_KAFKA_CONTROLLER_PORT",
        help="Kafka KRaft controller port. " + _PORT_HELP.format(9093),
    ),
]
MongoPortOpt = Annotated[
    int | None,
    typer.Option(envvar="VIES_MONGODB_PORT", help="SecantusDB port. " + _PORT_HELP.format(27017)),
]
SmtpPortOpt = Annotated[
    int | None,
    typer.Option(envvar="VIES_SMTP_PORT", help="Mailpit SMTP port. " + _PORT_HELP.format(1025)),
]
MailpitHttpPortOpt = Annotated[
    int | None,
    typer.Option(
        envvar="VIES_MAILPIT_HTTP_PORT",
        help="Mailpit web UI / API port. " + _PORT_HELP.format(8025),
    ),
]
KeycloakPortOpt = Annotated[
    int | None,
    typer.Option(envvar="VIES_KEYCLOAK_PORT", help="Keycloak HTTP port. " + _PORT_HELP.format(8080)),
]
JaegerOtlpPortOpt = Annotated[
    int | None,
    typer.Option(envvar="VIES_JAEGER_OTLP_PORT", help="Jaeger's OTLP/HTTP receiver port. " + _PORT_HELP.format(4318)),
]
JaegerUiPortOpt = Annotated[
    int | None,
    typer.Option(envvar="VIES_JAEGER_UI_PORT", help="Jaeger's web UI / query API port. " + _PORT_HELP.format(16686)),
]
JaegerGrpcPortOpt = Annotated[
    int | None,
    typer.Option(envvar="VIES_JAEGER_GRPC_PORT", help="Jaeger's gRPC query port. " + _PORT_HELP.format(16685)),
]
TracingOpt = Annotated[
    bool,
    typer.Option(
        "--with-tracing/--without-tracing",
        help="Also run Jaeger (OTLP receiver, query API; `make jaeger` builds it); services export to it when "
        "OTEL_EXPORTER_OTLP_ENDPOINT names it.",
    ),
]
KeycloakOpt = Annotated[
    bool,
    typer.Option("--keycloak/--no-keycloak", help="Also run Keycloak (realm vies, demo users)."),
]
PartitionsOpt = Annotated[
    int,
    typer.Option(envvar="VIES_KAFKA_PARTITIONS", min=1, help="Partitions per created topic."),
]
PrefixOpt = Annotated[
    str,
    typer.Option(envvar="VIES_TOPIC_PREFIX", help="Prefix of the created topic names."),
]
MailpitOpt = Annotated[
    Path | None,
    typer.Option(
        "--mailpit-bin",
        envvar="VIES_MAILPIT_BIN",
        help="Mailpit binary (default: <root>/bin/mailpit, then PATH).",
    ),
]
JaegerBinOpt = Annotated[
    Path | None,
    typer.Option(
        "--jaeger-bin",
        envvar="VIES_JAEGER_BIN",
        help="Jaeger binary (default: <root>/bin/jaeger, then PATH).",
    ),
]


def default_root() -> Path:
    """``<repo>/.stack``, the repo being the nearest folder up holding shared/ and services/."""
    return find_repo_root() / ".stack"


def _recorded_ports(root: Path) -> dict[str, int]:
    try:
        state: dict[str, Any] = json.loads((root / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: int(v) for k, v in state.get("ports", {}).items() if k in _DEFAULT_PORTS}


def _fail(exc: StackError) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def _attach(root: Path | None) -> LocalStack:
    """The stack recorded under ``root``, or an unstarted one with default settings."""
    root = (root or default_root()).resolve()
    if (root / "state.json").exists():
        return LocalStack.from_state(root)
    return LocalStack(StackConfig(root=root, components=COMPONENTS))


@stack_app.command()
def fetch(root: RootOpt = None, libs_dir: LibsOpt = None, keycloak: KeycloakOpt = True) -> None:
    """Download the Kafka server jars and Keycloak from Maven Central (needs Java 17+ and Maven)."""
    components = COMPONENTS if keycloak else BASE_COMPONENTS
    stack = LocalStack(StackConfig(root=(root or default_root()), libs_dir=libs_dir, components=components))
    try:
        stack.fetch_all()
    except StackError as exc:
        raise _fail(exc) from None
    typer.echo(f"Kafka jars ready in {stack.libs_dir}")
    if keycloak:
        typer.echo(f"Keycloak {KEYCLOAK_VERSION} ready in {stack.keycloak_dist}")


@stack_app.command()
def up(  # options are keyword-only: typer maps them by name
    *,
    root: RootOpt = None,
    kafka_port: KafkaPortOpt = None,
    kafka_controller_port: KafkaControllerPortOpt = None,
    mongodb_port: MongoPortOpt = None,
    smtp_port: SmtpPortOpt = None,
    mailpit_http_port: MailpitHttpPortOpt = None,
    keycloak_port: KeycloakPortOpt = None,
    keycloak: KeycloakOpt = True,
    with_tracing: TracingOpt = False,
    jaeger_otlp_port: JaegerOtlpPortOpt = None,
    jaeger_ui_port: JaegerUiPortOpt = None,
    jaeger_grpc_port: JaegerGrpcPortOpt = None,
    partitions: PartitionsOpt = 6,
    topic_prefix: PrefixOpt = "",
    libs_dir: LibsOpt = None,
    mailpit_bin: MailpitOpt = None,
    jaeger_bin: JaegerBinOpt = None,
) -> None:
    """Start Kafka, SecantusDB, Mailpit and Keycloak (idempotent), wait until healthy, create the topics.

    ``--with-tracing`` also starts Jaeger.
    """
    root = (root or default_root()).resolve()
    given = {
        "kafka_port": kafka_port,
        "kafka_controller_port": kafka_controller_port,
        "mongodb_port": mongodb_port,
        "smtp_port": smtp_port,
        "mailpit_http_port": mailpit_http_port,
        "keycloak_port": keycloak_port,
        "jaeger_otlp_port": jaeger_otlp_port,
        "jaeger_ui_port": jaeger_ui_port,
        "jaeger_grpc_port": jaeger_grpc_port,
    }
    # Unset options keep the ports this root used before, so `up` after `up --kafka-port 0`
    # or after `down` finds the stack where clients expect it.
    recorded = _recorded_ports(root)
    ports = {k: v if v is not None else recorded.get(k, _DEFAULT_PORTS[k]) for k, v in given.items()}
    config = StackConfig(
        root=root,
        partitions=partitions,
        topic_prefix=topic_prefix,
        libs_dir=libs_dir,
        mailpit_bin=mailpit_bin,
        jaeger_bin=jaeger_bin,
        kafka_port=ports["kafka_port"],
        kafka_controller_port=ports["kafka_controller_port"],
        mongodb_port=ports["mongodb_port"],
        smtp_port=ports["smtp_port"],
        mailpit_http_port=ports["mailpit_http_port"],
        keycloak_port=ports["keycloak_port"],
        jaeger_otlp_port=ports["jaeger_otlp_port"],
        jaeger_ui_port=ports["jaeger_ui_port"],
        jaeger_grpc_port=ports["jaeger_grpc_port"],
        components=(*BASE_COMPONENTS, *(("keycloak",) if keycloak else ()), *(("jaeger",) if with_tracing else ())),
    )
    stack = LocalStack(config)
    started = time.monotonic()
    try:
        stack.up()
    except StackError as exc:
        raise _fail(exc) from None
    typer.echo(f"local stack up in {time.monotonic() - started:.1f} s (root {stack.root})")
    typer.echo(f"  Kafka bootstrap  {stack.kafka_bootstrap}")
    typer.echo(f"  MongoDB URI      {stack.mongodb_uri}")
    typer.echo(f"  SMTP             {stack.smtp_host}:{stack.smtp_port}")
    typer.echo(f"  Mailpit          {stack.mailpit_url}")
    if keycloak:
        admin = f"{KEYCLOAK_ADMIN[0]}/{KEYCLOAK_ADMIN[1]}"
        typer.echo(f"  Keycloak         {stack.keycloak_url}  (issuer {stack.keycloak_issuer})")
        typer.echo(f"  Keycloak admin   {stack.keycloak_url}/admin  ({admin}, local only)")
    if with_tracing:
        typer.echo(
            f"  Jaeger           {stack.jaeger_url}  (traces; OTEL_EXPORTER_OTLP_ENDPOINT={stack.otlp_endpoint})"
        )


@stack_app.command()
def down(
    root: RootOpt = None,
    wipe: Annotated[bool, typer.Option("--wipe", help="Also delete all data (topics, databases, mail).")] = False,
) -> None:
    """Stop every component of the stack (also when another process started it)."""
    stack = _attach(root)
    try:
        stack.down(wipe=wipe)
    except StackError as exc:
        raise _fail(exc) from None
    typer.echo(f"local stack down{' and wiped' if wipe else ''} (root {stack.root})")


@stack_app.command()
def status(
    root: RootOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show each component; exits 1 if any is not running or not healthy."""
    try:
        stack = _attach(root)
        info = stack.status()
    except StackError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        typer.echo(f"root {stack.root}")
        typer.echo(f"{'component':<10} {'state':<9} {'pid':>7}  {'ports':<22} log")
        for comp, row in info.items():
            state = "healthy" if row["healthy"] else ("unhealthy" if row["running"] else "down")
            ports = ",".join(str(p) for p in row["ports"].values() if p) or "-"
            pid = str(row["pid"]) if row["running"] else "-"
            typer.echo(f"{comp:<10} {state:<9} {pid:>7}  {ports:<22} {row['log']}")
    if not all(row["healthy"] for row in info.values()):
        raise typer.Exit(1)
