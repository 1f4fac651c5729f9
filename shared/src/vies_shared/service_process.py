"""Run a service as its own operating-system process (``make run`` and the end-to-end tests)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICE_PORTS = {"recruitment": 8001, "partners": 8002, "missions": 8003, "notifications": 8004}


@dataclass
class ServiceProcess:
    """One service process: its console script, environment, log file and readiness."""

    service: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The ``vies-<service>`` console script next to this interpreter (or on PATH)."""
        script = Path(sys.executable).with_name(f"vies-{self.service}")
        if script.exists():
            return [str(script)]
        found = shutil.which(f"vies-{self.service}")
        if found:
            return [found]
        return [sys.executable, "-c", f"from vies_{self.service}.app import main; main()"]

    def start(self) -> None:
        """Start the process in its own session, logging to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "VIES_HTTP_PORT": str(self.port), "VIES_HTTP_HOST": "127.0.0.1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200; raises if the process died."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.service} exited with code {self.process.returncode}; last log lines:\n{self.log_tail()}"
            )
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def terminate(self) -> None:
        """Ask for a graceful drain (SIGTERM) without waiting."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM (graceful drain), then SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def stop_all(processes: list[ServiceProcess], timeout: float = 40.0) -> None:
    """Drain every process at once (SIGTERM to all, then wait), so shutdown takes the longest drain, not the sum."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop(timeout)


def wait_all_ready(processes: list[ServiceProcess], timeout: float = 180.0) -> None:
    """Block until every process is ready, or raise with the log of the one that is not."""
    deadline = time.monotonic() + timeout
    pending = list(processes)
    while pending:
        pending = [p for p in pending if not p.ready()]
        if pending and time.monotonic() > deadline:
            names = ", ".join(p.service for p in pending)
            raise TimeoutError(f"not ready after {timeout}s: {names}\n{pending[0].log_tail()}")
        if pending:
            time.sleep(0.5)
