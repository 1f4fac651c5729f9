"""``vies run`` supervises its services, with real processes on free ports.

The supervision loop of ``vies run`` (``vies_dev.platform.run_services``) runs in its own process over
two stand-in services (``fake_service.py``: /readyz 200, graceful on SIGTERM). A service SIGKILLed
is reported and restarted; one that keeps crashing is restarted with a growing backoff and comes
back once it can; every change prints which services are up; SIGINT (Ctrl-C) drains them all.
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
