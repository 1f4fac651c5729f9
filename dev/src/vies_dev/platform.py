"""``vies run``: the whole platform on one machine, as ``make run`` starts it.

Starts the local stack (Keycloak included, and Jaeger when ``make jaeger`` has built it), then
the four services as separate processes with demo data, exporting their traces to Jaeger and
trusting the local Keycloak's tokens (and dev HS256 tokens: ``VIES_ENV=dev``), waits until every
``/readyz`` answers and Keycloak serves the realm, prints where to look (Jaeger's URL included)
and how to sign in, and stops it all cleanly on Ctrl-C.

While it runs, the services are supervised (``service_process.Supervisor``): one
that exits unexpectedly is reported on the console with the end of its log and
restarted with a capped exponential backoff (1 s, 2 s, 4 s ... 30 s; the count
starts again once it stayed up a minute), and every change of state prints one
line saying which services are up.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from vies_dev.devstack import COMPONENTS, LocalStack, StackConfig, find_repo_root
from vies_dev.service_process import SERVICE_PORTS, ServiceProcess, Supervisor, wait_all_ready
from vies_shared.keycloak import DEMO_USERS, NOTIFICATIONS_CLIENT, NOTIFICATIONS_SECRET, PORTAL_SECRET
from vies_shared.settings import DEV_JWT_SECRET

PORTAL_PORT = 8000


def run_platform(root: Path | None = None, *, demo: bool = True) -> int:
    """Run everything until SIGINT/SIGTERM; returns the process exit code."""
    repo = root or find_repo_root()
    started = time.monotonic()
    config = StackConfig(root=repo / ".stack", libs_dir=repo / ".stack" / "kafka" / "libs", components=COMPONENTS)
    stack = LocalStack(config)
    tracing = stack.jaeger_available()
    if not tracing:
        print("Jaeger not built (`make jaeger`): running without tracing.", flush=True)
        stack = LocalStack(dataclasses.replace(config, components=tuple(c for c in COMPONENTS if c != "jaeger")))
    print(f"Starting Kafka, SecantusDB, Mailpit, Keycloak{' and Jaeger' if tracing else ''} ...", flush=True)
    stack.fetch_all()
    # Keycloak is waited for below, while the services start: it is the slowest to get ready.
    stack.up(wait_keycloak=False)
    env = {
        "VIES_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "VIES_MONGODB_URI": stack.mongodb_uri,
        "VIES_SMTP_HOST": stack.smtp_host,
        "VIES_SMTP_PORT": str(stack.smtp_port),
        "VIES_DEMO_DATA": "true" if demo else "false",
        "VIES_ENV": "dev",
        "VIES_OIDC_ISSUER": stack.keycloak_issuer,
        "VIES_OIDC_AUDIENCE": "vies-api",
        # The kit traces every service once this names an OTLP receiver (vies_shared.tracing).
        **({"OTEL_EXPORTER_OTLP_ENDPOINT": stack.otlp_endpoint} if tracing else {}),
    }
    # Notifications checks webhook owners against Keycloak (realm URL defaults to the issuer).
    notifications_env = {
        "VIES_OWNER_DIRECTORY_CLIENT_ID": NOTIFICATIONS_CLIENT,
        "VIES_OWNER_DIRECTORY_CLIENT_SECRET": NOTIFICATIONS_SECRET,
        # Alert and reminder messages link the local portal's one-tap answer page (VIES_ENV=dev: the
        # development link key, the same in missions, which checks the links).
        "VIES_SAFETY_CHECK_URL": f"http://127.0.0.1:{PORTAL_PORT}/s/{{token}}",
        "VIES_SAFETY_CHECK_SIGNED_IN_URL": f"http://127.0.0.1:{PORTAL_PORT}/volunteer",
    }
    logs = repo / ".stack" / "logs"
    services = [
        ServiceProcess(
            name, port, {**env, **(notifications_env if name == "notifications" else {})}, logs / f"{name}.log"
        )
        for name, port in SERVICE_PORTS.items()
    ]
    # The web portal (services/portal) signs people in at Keycloak and calls the four APIs.
    portal_env = {
        "VIES_MONGODB_URI": stack.mongodb_uri,
        "VIES_OIDC_ISSUER": stack.keycloak_issuer,
        "VIES_PORTAL_CLIENT_SECRET": PORTAL_SECRET,
        "VIES_PUBLIC_URL": f"http://127.0.0.1:{PORTAL_PORT}",
        **{f"VIES_{s.service.upper()}_URL": s.url for s in services},
    }
    services.append(ServiceProcess("portal", PORTAL_PORT, portal_env, logs / "portal.log"))

    def on_ready() -> None:
        stack.wait_keycloak()
        print(banner(stack, services), flush=True)
        print(f"Ready in {time.monotonic() - started:.1f} s.", flush=True)

    try:
        return run_services(services, on_ready=on_ready)
    finally:
        print("Stopping the stack ...", flush=True)
        stack.down()


def run_services(
    services: list[ServiceProcess],
    *,
    on_ready: Callable[[], None] = lambda: None,
    report: Callable[[str], None] = lambda line: print(line, flush=True),
    **supervisor_options: Any,
) -> int:
    """Start ``services``, wait until ready, supervise them until SIGINT/SIGTERM, then drain them all.

    Returns 0 after a requested stop, 1 when the services did not start.
    """
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor = Supervisor(services, report=report, **supervisor_options)
    code = 0
    try:
        supervisor.start_all()
        report(f"Starting {len(services)} services ...")
        wait_all_ready(services)
        on_ready()
        supervisor.poll()
        report(supervisor.status_line())
        supervisor.run(stop)
    except (RuntimeError, TimeoutError) as exc:  # StackError is a RuntimeError
        report(f"\nThe platform did not start: {exc}")
        code = 1
    finally:
        report("\nStopping the services (graceful drain) ...")
        supervisor.stop()
        report("Services stopped.")
    return code


def banner(stack: LocalStack, services: list[ServiceProcess]) -> str:
    """Where to look, how to get a token, and three commands to explore the demo."""
    lines = [
        "",
        f"Open http://127.0.0.1:{PORTAL_PORT}   (the web portal; sign in as a demo user below)",
        "",
        "VIES platform is running (Ctrl-C stops everything).",
        "",
    ]
    for service in services:
        docs = "" if service.service == "portal" else "/docs"
        lines.append(f"  {service.service:<14} {service.url}{docs}   (logs: {service.log_path})")
    lines += [
        "",
        f"  Kafka          {stack.kafka_bootstrap}",
        f"  MongoDB        {stack.mongodb_uri}",
        f"  Mail (SMTP)    {stack.smtp_host}:{stack.smtp_port}  -> read it at {stack.mailpit_url}",
        *(
            [
                f"  Traces         {stack.jaeger_url}   (Jaeger: a trace per request, across Kafka to the email)",
                f"                 e.g. {stack.jaeger_url}/api/traces?service=vies-recruitment&limit=5",
            ]
            if "jaeger" in stack.config.components
            else []
        ),
        "",
        "  Sign in (Keycloak, realm vies; passwords for this machine only):",
        f"    Keycloak       {stack.keycloak_url}   issuer {stack.keycloak_issuer}",
        f"    admin console  {stack.keycloak_url}/admin   admin / admin",
        "    demo users     user                 password             role",
        *(f"                   {u.username:<20} {u.password:<20} {u.role}" for u in DEMO_USERS.values()),
        "    self-registration: the login page's Register link; the verification mail is in Mailpit",
        "",
        "  Tokens: .venv/bin/vies token --user amina.candidate     (a real one from Keycloak)",
        "          .venv/bin/vies token --role staff                (a dev token: VIES_ENV=dev)",
        "          .venv/bin/vies token --role authority --authority-id aut-demo-ara --region FR-ARA",
        f"  (dev tokens are signed with VIES_JWT_SECRET, default {DEV_JWT_SECRET!r})",
        "",
        "  Try:",
        "    TOKEN=$(.venv/bin/vies token --user staff.agency)",
        *(
            f'    curl -s -H "Authorization: Bearer $TOKEN" "{url}" | python3 -m json.tool'
            for url in (
                "http://127.0.0.1:8002/partners?status=approved",
                "http://127.0.0.1:8001/positions?status=published",
                "http://127.0.0.1:8003/missions?status=started",
            )
        ),
        "",
    ]
    return "\n".join(lines)
