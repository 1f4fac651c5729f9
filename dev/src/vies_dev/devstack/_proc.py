"""Process and port helpers for the local stack (POSIX only)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# The shell backgrounds the real server and prints its pid, then exits at once:
# the server is re-parented to init, so it outlives us, never becomes our zombie
# and Python never warns about a still-running Popen.
_LAUNCHER = 'log=$1; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!'


@dataclass(frozen=True)
class ProcRef:
    """A server process we started: its pid, process group and an argv marker.

    The marker is one argument of the command line (a path under the stack
    root), so a recycled pid belonging to some other program is never
    mistaken for ours and never signalled.
    """

    pid: int
    pgid: int
    marker: str


def spawn(argv: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> ProcRef:
    """Start ``argv`` detached in its own session, appending output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        stamp = datetime.now().isoformat(timespec="seconds")
        fh.write(f"--- {stamp} vies devstack starting: {' '.join(argv)}\n")
    out = subprocess.run(
        ["/bin/sh", "-c", _LAUNCHER, "sh", str(log), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        start_new_session=True,  # own session: a Ctrl-C in the caller's terminal does not reach it
        check=True,
        text=True,
        timeout=30,
    )
    pid = int(out.stdout.strip())
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = pid  # already gone; the caller's health wait reports it with the log
    return ProcRef(pid=pid, pgid=pgid, marker=argv[-1] if argv else "")


def is_alive(ref: ProcRef) -> bool:
    """True if the process runs (not a zombie) and its command line carries the marker."""
    proc = Path(f"/proc/{ref.pid}")
    if Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
                return False
            args = _command_line(proc)
        except OSError:
            return False
        return not ref.marker or ref.marker.encode() in args
    try:  # no /proc (macOS): best effort
        os.kill(ref.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _command_line(proc: Path, settle: float = 1.0) -> list[bytes]:
    """The arguments of ``/proc/<pid>``'s process, waiting out the instant of an ``execve``.

    While the launcher's shell turns into the server, the kernel has switched to the new program's
    memory but not yet laid out its arguments: the command line reads empty. Taken as "not ours",
    that instant made a healthy server look dead at start-up (a large binary under load widens it).
    """
    deadline = time.monotonic() + settle
    while True:
        raw = (proc / "cmdline").read_bytes()
        if raw or time.monotonic() >= deadline:
            return raw.split(b"\0")
        time.sleep(0.01)


def _signal(ref: ProcRef, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # Signal the whole group so helper children die with the server.
        if os.getpgid(ref.pid) == ref.pgid and ref.pgid not in (0, 1, os.getpgid(0)):
            os.killpg(ref.pgid, sig)
        else:
            os.kill(ref.pid, sig)


def terminate(refs: Iterable[ProcRef], timeout: float) -> list[ProcRef]:
    """SIGTERM every live process, wait up to ``timeout`` s, then SIGKILL the rest.

    Returns the processes that had to be killed.
    """
    live = [r for r in refs if is_alive(r)]
    for ref in live:
        _signal(ref, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [r for r in live if is_alive(r)]
    killed = list(live)
    for ref in live:
        _signal(ref, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [r for r in live if is_alive(r)]
    return killed


def wait_lock_released(path: Path, timeout: float) -> bool:
    """Wait until no process holds a POSIX lock on ``path`` (absent counts as free); False on timeout.

    A server killed a moment ago may still hold its data directory's lock while the kernel
    finishes its exit; a new server started then refuses the directory.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True  # closing the descriptor below releases it at once
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
        finally:
            os.close(fd)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on ``host:port`` (a bind test, as the server would do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR like the servers themselves: TIME_WAIT leftovers of a
        # previous run must not count as "taken".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(exclude: set[int], host: str = "127.0.0.1") -> int:
    """A port the kernel considers free right now, not in ``exclude``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise RuntimeError("could not find a free TCP port")


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(log: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {log})"
    return "\n".join(text.splitlines()[-lines:])
