"""Whether a server the stack launched is still its own: the instant of an ``execve`` is not a death."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from vies_dev.devstack._proc import ProcRef, _command_line, is_alive


def test_an_empty_command_line_is_read_again_until_the_program_has_laid_out_its_arguments(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"")  # what /proc shows between the switch to the new program and its arguments
    later = threading.Timer(0.1, cmdline.write_bytes, args=(b"/bin/jaeger\0--config\0/stack/conf/jaeger.yaml\0",))
    later.start()
    try:
        assert b"/stack/conf/jaeger.yaml" in _command_line(tmp_path)
    finally:
        later.cancel()


def test_a_command_line_that_stays_empty_is_given_up_after_the_settling_time(tmp_path: Path) -> None:
    (tmp_path / "cmdline").write_bytes(b"")
    assert _command_line(tmp_path, settle=0.05) == [b""]


def test_a_running_process_is_ours_by_its_marker_and_a_finished_one_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "marker-arg"])
    try:
        assert is_alive(ProcRef(pid=child.pid, pgid=os.getpgid(child.pid), marker="marker-arg"))
        assert not is_alive(ProcRef(pid=child.pid, pgid=os.getpgid(child.pid), marker="someone-else"))
    finally:
        child.kill()
        child.wait()
    assert not is_alive(ProcRef(pid=child.pid, pgid=child.pid, marker="marker-arg"))
