"""``vies run`` supervises its services, with real processes on free ports.

The supervision loop of ``vies run`` (``vies_dev.platform.run_services``) runs in its own process over
two stand-in services (``fake_service.py``: /readyz 200, graceful on SIGTERM). A service SIGKILLed
is reported and restarted; one that keeps crashing is restarted with a growing backoff and comes
back once it can; every change prints which services are up; SIGINT (Ctrl-C) drains them all.
An exit the supervisor caused (its own SIGTERM) is neither reported as unexpected nor restarted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from vies_dev.service_process import ServiceProcess, Supervisor, wait_all_ready
from vies_dev.testing import free_port

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_vies_run_restarts_a_killed_service_with_backoff_shows_states_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {"alpha": free_port(), "beta": free_port()}
    out = tmp_path / "console.log"
    with out.open("wb") as console:
        platform = subprocess.Popen(
            [sys.executable, str(HERE / "supervised_platform.py"), json.dumps(ports), str(tmp_path)],
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    text = lambda: out.read_text(errors="replace")  # noqa: E731
    pid_of = lambda name: int((tmp_path / f"{name}.pid").read_text())  # noqa: E731
    try:
        wait_for(lambda: "services: alpha up; beta up" in text(), 30, "both services up")

        # SIGKILL: reported with the signal, restarted after the first backoff step, up again on its port.
        killed = pid_of("alpha")
        started = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: "alpha: exited unexpectedly (killed by SIGKILL); restarting in 0.5s" in text(), 10, "report")
        wait_for(lambda: text().count("alpha: up at") == 2 and pid_of("alpha") != killed, 20, "alpha back up")
        back_after = time.monotonic() - started
        assert httpx.get(f"http://127.0.0.1:{ports['alpha']}/readyz", timeout=2).status_code == 200
        assert "services: alpha waiting to restart, 1 restart(s); beta up" in text()
        # The states line follows the "up at" line: wait for it rather than read once.
        wait_for(lambda: "services: alpha up, 1 restart(s); beta up" in text(), 10, "states after the restart")

        # A crash loop: restarted with a growing backoff, and up again once it can start.
        (tmp_path / "beta.crash").touch()
        os.kill(pid_of("beta"), signal.SIGKILL)
        wait_for(lambda: len(re.findall(r"beta: exited unexpectedly \(exit code 3\)", text())) >= 3, 30, "crash loop")
        delays = [float(d) for d in re.findall(r"beta: exited unexpectedly \([^)]*\); restarting in ([\d.]+)s", text())]
        assert delays[:4] == [0.5, 1.0, 2.0, 4.0][: len(delays[:4])] and len(delays) >= 3
        (tmp_path / "beta.crash").unlink()
        wait_for(lambda: text().count("beta: up at") == 2, 30, "beta up after its crash loop")
        print(f"alpha back up {back_after:.1f}s after SIGKILL; beta backoff delays {delays}")

        # Ctrl-C: everything drains (SIGTERM, graceful) and the supervisor does not restart anything.
        children = [pid_of("alpha"), pid_of("beta")]
        os.kill(platform.pid, signal.SIGINT)
        assert platform.wait(timeout=60) == 0
        assert "Services stopped." in text()
        assert not [pid for pid in children if alive(pid)]
        for name in ports:
            assert f"{name}: drained" in (tmp_path / f"{name}.log").read_text()
        assert text().count("restarted (pid") == 1 + len(delays)
    finally:
        if platform.poll() is None:
            os.killpg(platform.pid, signal.SIGKILL)
            platform.wait()
        print(text())


class FakeProcess(ServiceProcess):
    def command(self) -> list[str]:
        return [sys.executable, str(HERE / "fake_service.py")]


def test_supervisor_reports_only_the_exits_it_did_not_cause(tmp_path: Path) -> None:
    lines: list[str] = []
    processes: list[ServiceProcess] = [
        FakeProcess(name, free_port(), {"FAKE_SERVICE": name, "FAKE_HOME": str(tmp_path)}, tmp_path / f"{name}.log")
        for name in ("alpha", "beta")
    ]
    supervisor = Supervisor(processes, report=lines.append, backoff_initial=0.2, probe_every=0.2)
    alpha, beta = processes
    try:
        supervisor.start_all()
        wait_all_ready(processes, 30)

        def polled_until(check: Callable[[], bool], what: str) -> None:
            def round_done() -> bool:
                supervisor.poll()
                return check()

            wait_for(round_done, 10, what)

        polled_until(lambda: supervisor.states() == {"alpha": "up", "beta": "up"}, "both up")

        # Stopped by the platform (what ``stop`` does on Ctrl-C, while a round of polling may still be
        # under way in the supervising thread): the SIGTERM's exit is no crash, nothing restarts it.
        alpha.stop(10)
        supervisor.poll()
        assert "alpha: stopped (exit code 0)" in lines
        assert not [line for line in lines if "unexpectedly" in line]
        time.sleep(0.5)  # past the first backoff step: a scheduled restart would be due
        supervisor.poll()
        assert supervisor.states()["alpha"] == "stopped" and alpha.process is not None and alpha.process.poll() == 0
        assert not [line for line in lines if "restarted" in line]

        # A SIGTERM the supervisor did not send is an unexpected exit: reported and restarted.
        assert beta.process is not None
        beta.process.send_signal(signal.SIGTERM)
        polled_until(lambda: any("beta: exited unexpectedly" in line for line in lines), "beta's exit reported")
        polled_until(lambda: supervisor.states()["beta"] == "up", "beta restarted")
        assert any(line.startswith("beta: restarted (pid") for line in lines)
        assert not [line for line in lines if line.startswith("alpha") and "unexpectedly" in line]
    finally:
        supervisor.stop(10)
    assert not [line for line in lines if "unexpectedly" in line and not line.startswith("beta")]
    print("\n".join(lines))
