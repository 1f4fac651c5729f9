"""Run a service as its own operating-system process (``make run`` and the end-to-end tests).

``Supervisor`` keeps such processes running for ``vies run``: a process that
exits unexpectedly is reported and restarted with a capped exponential backoff, every change of
a service's state (up, not answering, exited, restarted) is printed, and ``stop`` drains them all.
An exit the platform caused itself (``terminate``/``stop``: Ctrl-C, shutdown, an ordered restart)
is no crash: it is neither reported as unexpected nor restarted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from vies_shared.settings import DEFAULT_HTTP_PORTS

# The services' usual ports: one map, the settings' defaults.
SERVICE_PORTS = DEFAULT_HTTP_PORTS


@dataclass
class ServiceProcess:
    """One service process: its console script, environment, log file and readiness."""

    service: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Set before the SIGTERM we send, so a supervisor that sees the exit (from another thread too) knows we caused it.
    stop_requested: bool = field(default=False, repr=False)

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
        self.stop_requested = False
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
            self.stop_requested = True
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


def describe_exit(code: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL``, from a ``Popen.returncode``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class _Watch:
    process: ServiceProcess
    state: str = "starting"  # starting | up | not answering | waiting to restart | stopped
    restarts: int = 0  # restarts in a row (reset once the process stayed up ``stable_seconds``)
    total_restarts: int = 0
    started_at: float = 0.0
    restart_at: float | None = None
    last_probe: float = 0.0


class Supervisor:
    """Starts service processes, restarts the ones that exit unexpectedly, reports their states.

    ``poll`` does one round (call it every fraction of a second); ``run`` loops until an event is
    set. Nothing here restarts a process during ``stop``: it is a deliberate stop, not a crash.
    """

    def __init__(
        self,
        processes: list[ServiceProcess],
        *,
        report: Callable[[str], None] = lambda line: print(line, flush=True),
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_seconds: float = 60.0,
        probe_every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watches = [_Watch(p) for p in processes]
        self.report = report
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_seconds = stable_seconds
        self.probe_every = probe_every
        self.clock = clock
        self.stopping = False

    @property
    def processes(self) -> list[ServiceProcess]:
        """The supervised processes."""
        return [w.process for w in self.watches]

    def start_all(self) -> None:
        """Start every process (not yet waiting for readiness)."""
        for watch in self.watches:
            self._start(watch)

    def _start(self, watch: _Watch) -> None:
        watch.process.start()
        watch.started_at = self.clock()
        watch.restart_at = None
        watch.state = "starting"
        watch.last_probe = 0.0

    def states(self) -> dict[str, str]:
        """Each service's state: ``up``, ``starting``, ``not answering``, ``waiting to restart`` or ``stopped``."""
        return {w.process.service: w.state for w in self.watches}

    def status_line(self) -> str:
        """One line saying which services are up."""
        parts = []
        for w in self.watches:
            extra = f", {w.total_restarts} restart(s)" if w.total_restarts else ""
            parts.append(f"{w.process.service} {w.state}{extra}")
        return "services: " + "; ".join(parts)

    def poll(self) -> None:
        """One supervision round: notice exits, restart when their backoff is over, probe readiness."""
        if self.stopping:
            return
        now = self.clock()
        changed = False
        for watch in self.watches:
            changed = self._poll_watch(watch, now) or changed
        if changed:
            self.report(self.status_line())

    def _poll_watch(self, watch: _Watch, now: float) -> bool:
        """One service's part of the round; whether its state changed."""
        if watch.restart_at is not None:
            if now < watch.restart_at:
                return False
            self._restart(watch)
            return True
        process = watch.process.process
        if process is not None and process.poll() is not None:
            if watch.process.stop_requested:
                return self._stopped(watch, process.returncode)
            self._schedule_restart(watch, process.returncode, now)
            return True
        if now - watch.last_probe >= self.probe_every or watch.state == "starting":
            return self._probe(watch, now)
        return False

    def _restart(self, watch: _Watch) -> None:
        self._start(watch)
        pid = watch.process.process.pid if watch.process.process else "?"
        self.report(f"{watch.process.service}: restarted (pid {pid}, restart {watch.total_restarts})")

    def _stopped(self, watch: _Watch, returncode: int) -> bool:
        """A process we asked to stop has exited: say so once, restart nothing."""
        if watch.state == "stopped":
            return False
        watch.state = "stopped"
        self.report(f"{watch.process.service}: stopped ({describe_exit(returncode)})")
        return True

    def _schedule_restart(self, watch: _Watch, returncode: int, now: float) -> None:
        """An unexpected exit: restart after a backoff that doubles while the process keeps dying young."""
        if now - watch.started_at >= self.stable_seconds:
            watch.restarts = 0
        watch.restarts += 1
        watch.total_restarts += 1
        delay = min(self.backoff_max, self.backoff_initial * 2 ** (watch.restarts - 1))
        watch.restart_at = now + delay
        watch.state = "waiting to restart"
        self.report(
            f"{watch.process.service}: exited unexpectedly ({describe_exit(returncode)}); "
            f"restarting in {delay:.1f}s; last log lines:\n{_indent(watch.process.log_tail(5))}"
        )

    def _probe(self, watch: _Watch, now: float) -> bool:
        """Ask ``/readyz`` and report a change of state; whether there was one."""
        watch.last_probe = now
        try:
            ready = watch.process.ready()
        except RuntimeError:
            return False  # it died meanwhile: the next round sees it
        state = "up" if ready else ("starting" if watch.state == "starting" else "not answering")
        if state == watch.state:
            return False
        watch.state = state
        if state == "up":
            self.report(f"{watch.process.service}: up at {watch.process.url}")
        elif state == "not answering":
            self.report(f"{watch.process.service}: running but /readyz does not answer 200")
        return True

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        """Supervise until ``stop`` is set."""
        while not stop.wait(interval):
            self.poll()

    def stop(self, timeout: float = 40.0) -> None:
        """Drain every process (SIGTERM, then SIGKILL after ``timeout``); no restart from now on."""
        self.stopping = True
        stop_all(self.processes, timeout)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
