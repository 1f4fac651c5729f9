"""``vies run``: the whole platform on one machine, as ``make run`` starts it.

Starts the local stack, then the four services as separate processes with demo
data, waits until every ``/readyz`` answers, prints where to look, and stops it
all cleanly on Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

from vies_shared.devstack import LocalStack, StackConfig, find_repo_root
from vies_shared.service_process import SERVICE_PORTS, ServiceProcess, stop_all, wait_all_ready
from vies_shared.settings import DEV_JWT_SECRET


def run_platform(root: Path | None = None, *, demo: bool = True) -> int:
    """Run everything until SIGINT/SIGTERM; returns the process exit code."""
    repo = root or find_repo_root()
    stack = LocalStack(StackConfig(root=repo / ".stack", libs_dir=repo / ".stack" / "kafka" / "libs"))
    print("Starting Kafka, SecantusDB and Mailpit ...", flush=True)
    stack.fetch()
    stack.up()
    env = {
        "VIES_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "VIES_MONGODB_URI": stack.mongodb_uri,
        "VIES_SMTP_HOST": stack.smtp_host,
        "VIES_SMTP_PORT": str(stack.smtp_port),
        "VIES_DEMO_DATA": "true" if demo else "false",
    }
    logs = repo / ".stack" / "logs"
    services = [ServiceProcess(name, port, env, logs / f"{name}.log") for name, port in SERVICE_PORTS.items()]
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        for service in services:
            service.start()
        print("Starting the four services ...", flush=True)
        wait_all_ready(services)
        print(banner(stack, services), flush=True)
        stop.wait()
    except (RuntimeError, TimeoutError) as exc:
        print(f"\nThe platform did not start: {exc}", flush=True)
        code = 1
    finally:
        print("\nStopping the services (graceful drain) ...", flush=True)
        stop_all(services)
        print("Stopping the stack ...", flush=True)
        stack.down()
    return code


def banner(stack: LocalStack, services: list[ServiceProcess]) -> str:
    """Where to look, how to get a token, and three commands to explore the demo."""
    lines = ["", "VIES platform is running (Ctrl-C stops everything).", ""]
    for service in services:
        lines.append(f"  {service.service:<14} {service.url}/docs   (logs: {service.log_path})")
    lines += [
        "",
        f"  Kafka          {stack.kafka_bootstrap}",
        f"  MongoDB        {stack.mongodb_uri}",
        f"  Mail (SMTP)    {stack.smtp_host}:{stack.smtp_port}  -> read it at {stack.mailpit_url}",
        "",
        "  Tokens: .venv/bin/vies token --role staff",
        "          .venv/bin/vies token --role authority --authority-id auth-lyon --region FR-ARA",
        f"  (signed with VIES_JWT_SECRET, default {DEV_JWT_SECRET!r})",
        "",
        "  Try:",
        "    TOKEN=$(.venv/bin/vies token --role staff)",
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
