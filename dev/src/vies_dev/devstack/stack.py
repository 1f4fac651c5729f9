"""The local real stack: Apache Kafka (KRaft), SecantusDB, Mailpit, Keycloak and Jaeger as plain processes.

Everything lives under one root folder::

    <root>/state.json          ports, pids and log paths (lets other processes attach)
    <root>/run/<component>.pid one pid per running component, for humans
    <root>/conf/               generated configuration files
    <root>/data/{kafka,mongodb,mailpit}/
    <root>/data/keycloak/      Keycloak's home for this root (jars linked from the fetched
                               distribution), its H2 database and the realm it imports
    <root>/conf/jaeger.yaml    Jaeger's configuration (traces kept in memory only)
    <root>/logs/<component>.log

Servers are started detached, in their own session, so they outlive the Python
process that started them until :meth:`LocalStack.down`.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from vies_dev.devstack import _proc
from vies_dev.devstack._proc import ProcRef
from vies_shared.events.topics import TopicSpec, all_topics

Component = Literal["kafka", "mongodb", "mailpit", "keycloak", "jaeger"]
COMPONENTS: Final[tuple[Component, ...]] = ("kafka", "mongodb", "mailpit", "keycloak", "jaeger")
# What a StackConfig starts unless told otherwise; `vies stack up` adds Keycloak (and Jaeger with
# --with-tracing), `vies run` both.
BASE_COMPONENTS: Final[tuple[Component, ...]] = ("kafka", "mongodb", "mailpit")
KEYCLOAK_VERSION: Final = "26.7.3"
KEYCLOAK_REALM: Final = "vies"
KEYCLOAK_ADMIN: Final = ("admin", "admin")  # local only: the bootstrap admin of the master realm

# Which resolved ports belong to which component (first one is "the" port).
_PORTS: Final[dict[Component, tuple[str, ...]]] = {
    "kafka": ("kafka_port", "kafka_controller_port"),
    "mongodb": ("mongodb_port",),
    "mailpit": ("smtp_port", "mailpit_http_port"),
    "keycloak": ("keycloak_port",),
    "jaeger": ("jaeger_otlp_port", "jaeger_ui_port", "jaeger_grpc_port"),
}
_PORT_ENV: Final[dict[str, str]] = {
    "kafka_port": "VIES_KAFKA_PORT",
    "kafka_controller_port": "VIES_KAFKA_CONTROLLER_PORT",
    "mongodb_port": "VIES_MONGODB_PORT",
    "smtp_port": "VIES_SMTP_PORT",
    "mailpit_http_port": "VIES_MAILPIT_HTTP_PORT",
    "keycloak_port": "VIES_KEYCLOAK_PORT",
    "jaeger_otlp_port": "VIES_JAEGER_OTLP_PORT",
    "jaeger_ui_port": "VIES_JAEGER_UI_PORT",
    "jaeger_grpc_port": "VIES_JAEGER_GRPC_PORT",
}
_STATE_VERSION: Final = 1
_TOPIC_EXISTS: Final = 36  # Kafka error code TOPIC_ALREADY_EXISTS
_MAILPIT_HINT: Final = "build it with `make setup`, or `GOBIN=<root>/bin go install github.com/axllent/mailpit@v1.33.1`"
_JAEGER_HINT: Final = "build it with `make jaeger` (Go; see the Makefile)"

T = TypeVar("T")


class StackError(RuntimeError):
    """The local stack could not do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class StackConfig:
    """How to run the local stack. A port of 0 means "pick a free port" (kept across restarts)."""

    root: Path = Path(".stack")
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    mongodb_port: int = 27017
    smtp_port: int = 1025
    mailpit_http_port: int = 8025
    keycloak_port: int = 8080
    jaeger_otlp_port: int = 4318
    """Jaeger's OTLP receiver (HTTP/protobuf): the services' ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    jaeger_ui_port: int = 16686
    """Jaeger's web UI and query API (``/api/traces``)."""
    jaeger_grpc_port: int = 16685
    """Jaeger's query API over gRPC (unused here, but it listens)."""
    components: tuple[Component, ...] = BASE_COMPONENTS
    """What :meth:`LocalStack.up` starts (``COMPONENTS`` for all, Keycloak included)."""
    partitions: int = 6
    topic_prefix: str = ""
    libs_dir: Path | None = None
    """Kafka jars; default ``<root>/kafka/libs``."""
    mailpit_bin: Path | None = None
    """Mailpit binary; default ``<root>/bin/mailpit``, then ``mailpit`` on PATH."""
    jaeger_bin: Path | None = None
    """Jaeger (v2, all-in-one) binary; default ``<root>/bin/jaeger``, then ``jaeger`` on PATH."""
    pom_file: Path | None = None
    """Maven file for :meth:`LocalStack.fetch`; default ``deploy/local/pom.xml`` of the repo."""
    java: str | None = None
    """Java 17+ binary; default ``$JAVA_HOME/bin/java``, then ``java`` on PATH."""
    keycloak_dist: Path | None = None
    """Unzipped Keycloak distribution; default ``<root>/keycloak/keycloak-<version>``."""
    realm_file: Path | None = None
    """Realm imported at Keycloak's first start; default ``deploy/local/realm-vies.json`` of the repo."""
    keycloak_java_opts: str = "-XX:TieredStopAtLevel=1"
    """Appended to Keycloak's JVM options: a quicker start on a small machine."""
    mvn: str = "mvn"
    python: str = sys.executable
    """Interpreter that has the ``secantusdb`` package (runs ``vies_dev.devstack.secantus_server``)."""
    transaction_lifetime_seconds: float = 30.0
    """SecantusDB aborts a transaction idle this long (a SIGKILLed client's), checked every second."""
    auto_create_topics: bool = False
    kafka_log_level: str = "WARN"
    kafka_jvm_opts: tuple[str, ...] = (
        # Fast start and small footprint on a 2-core laptop or CI runner.
        "-XX:+UseSerialGC",
        "-Xms256m",
        "-Xmx512m",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
    )
    start_timeout: float = 120.0
    stop_timeout: float = 20.0


class LocalStack:
    """Kafka, SecantusDB, Mailpit, Keycloak and Jaeger for development and tests, driven synchronously."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.root = config.root.expanduser().resolve()
        self.libs_dir = (config.libs_dir or self.root / "kafka" / "libs").expanduser().resolve()
        self.keycloak_dist = (
            (config.keycloak_dist or self.root / "keycloak" / f"keycloak-{KEYCLOAK_VERSION}").expanduser().resolve()
        )
        self.keycloak_home = self.root / "data" / "keycloak"
        self._lock_depth = 0
        self._java_checked = False
        state = self._read_state()
        recorded: dict[str, int] = state.get("ports", {})
        # Explicit ports win; a 0 reuses what this root used before, if anything.
        self._ports: dict[str, int] = {key: getattr(config, key) or int(recorded.get(key, 0)) for key in _PORT_ENV}

    # ------------------------------------------------------------------ attach

    @classmethod
    def from_state(cls, root: Path) -> LocalStack:
        """Attach to a stack another process started under ``root`` (reads its state.json)."""
        path = root.expanduser().resolve() / "state.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StackError(f"no local stack state at {path}: run `vies stack up` first") from None
        except json.JSONDecodeError as exc:
            raise StackError(f"{path} is not valid JSON ({exc}); remove it and run up again") from None
        ports = state.get("ports", {})
        saved = state.get("config", {})
        cfg = StackConfig(
            root=root,
            partitions=int(saved.get("partitions", 6)),
            topic_prefix=str(saved.get("topic_prefix", "")),
            libs_dir=Path(saved["libs_dir"]) if saved.get("libs_dir") else None,
            mailpit_bin=Path(saved["mailpit_bin"]) if saved.get("mailpit_bin") else None,
            jaeger_bin=Path(saved["jaeger_bin"]) if saved.get("jaeger_bin") else None,
            python=str(saved.get("python", sys.executable)),
            auto_create_topics=bool(saved.get("auto_create_topics", False)),
            components=tuple(c for c in COMPONENTS if c in saved.get("components", BASE_COMPONENTS)),
            keycloak_dist=Path(saved["keycloak_dist"]) if saved.get("keycloak_dist") else None,
            realm_file=Path(saved["realm_file"]) if saved.get("realm_file") else None,
            keycloak_port=int(ports.get("keycloak_port", 0)),
            kafka_port=int(ports.get("kafka_port", 0)),
            kafka_controller_port=int(ports.get("kafka_controller_port", 0)),
            mongodb_port=int(ports.get("mongodb_port", 0)),
            smtp_port=int(ports.get("smtp_port", 0)),
            mailpit_http_port=int(ports.get("mailpit_http_port", 0)),
            jaeger_otlp_port=int(ports.get("jaeger_otlp_port", 0)),
            jaeger_ui_port=int(ports.get("jaeger_ui_port", 0)),
            jaeger_grpc_port=int(ports.get("jaeger_grpc_port", 0)),
        )
        return cls(cfg)

    # --------------------------------------------------------------- endpoints

    def _port(self, key: str) -> int:
        port = self._ports[key]
        if not port:
            raise StackError(f"{key} is not chosen yet (configured as 0): call up() first")
        return port

    @property
    def kafka_bootstrap(self) -> str:
        """Kafka bootstrap servers, ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self._port('kafka_port')}"

    @property
    def mongodb_uri(self) -> str:
        """MongoDB URI; multi-document transactions work on it (SecantusDB is a one-node replica set)."""
        # directConnection: never depend on the host names the server advertises.
        return f"mongodb://127.0.0.1:{self._port('mongodb_port')}/?directConnection=true"

    @property
    def smtp_host(self) -> str:
        """SMTP host of the Mailpit sink."""
        return "127.0.0.1"

    @property
    def smtp_port(self) -> int:
        """SMTP port of the Mailpit sink (plain SMTP, any login accepted)."""
        return self._port("smtp_port")

    @property
    def mailpit_url(self) -> str:
        """Mailpit web UI and API base URL, e.g. ``http://127.0.0.1:8025``."""
        return f"http://127.0.0.1:{self._port('mailpit_http_port')}"

    @property
    def keycloak_url(self) -> str:
        """Keycloak's base URL, e.g. ``http://127.0.0.1:8080`` (admin console at ``/admin``)."""
        return f"http://127.0.0.1:{self._port('keycloak_port')}"

    @property
    def keycloak_issuer(self) -> str:
        """The issuer of the ``vies`` realm's tokens (``VIES_OIDC_ISSUER`` of the services)."""
        return f"{self.keycloak_url}/realms/{KEYCLOAK_REALM}"

    @property
    def otlp_endpoint(self) -> str:
        """Jaeger's OTLP receiver, the services' ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        return f"http://127.0.0.1:{self._port('jaeger_otlp_port')}"

    @property
    def jaeger_url(self) -> str:
        """Jaeger's web UI and query API base URL, e.g. ``http://127.0.0.1:16686``."""
        return f"http://127.0.0.1:{self._port('jaeger_ui_port')}"

    @property
    def ports(self) -> dict[str, int]:
        """Resolved ports by name (0 = not chosen yet)."""
        return dict(self._ports)

    def log_path(self, component: Component) -> Path:
        """The log file of a component."""
        return self.root / "logs" / f"{component}.log"

    # ------------------------------------------------------------------- fetch

    def fetch(self, force: bool = False) -> None:
        """Download the Kafka server jars with Maven into ``libs_dir`` unless already there."""
        self._check_java()
        # Locked on the jar folder, not the root: stacks with different roots share the jars.
        self.libs_dir.parent.mkdir(parents=True, exist_ok=True)
        with _flock(self.libs_dir.parent / f".{self.libs_dir.name}.lock"):
            pom = self._find_pom()
            digest = hashlib.sha256(pom.read_bytes()).hexdigest() if pom else None
            stamp = self.libs_dir / ".pom-sha256"
            # Only a folder holding our stamp is ours to wipe; libs_dir may also point
            # at the libs/ of a Kafka distribution, which we must never delete.
            ours = stamp.exists()
            stale = ours and stamp.read_text().strip() != digest and digest is not None
            have_kafka = any(self.libs_dir.glob("kafka_2.13-*.jar"))
            # Without an SLF4J binding Kafka runs but logs nothing (an early fetch lacked it).
            have_binding = any(self.libs_dir.glob("log4j-slf4j*-impl-*.jar"))
            if not (force or stale or not have_kafka or not have_binding):
                return
            mvn = shutil.which(self.config.mvn)
            if pom is None or mvn is None:
                if have_kafka:
                    return  # no way to refresh: use what is there
                if pom is None:
                    raise StackError(
                        f"Kafka jars missing in {self.libs_dir} and deploy/local/pom.xml not found; "
                        "pass StackConfig(pom_file=...) or libs_dir= pointing at Kafka's libs/"
                    )
                raise StackError(
                    f"Maven ({self.config.mvn}) not found: install it (e.g. `apt-get install maven`) "
                    f"to download the Kafka jars into {self.libs_dir}"
                )
            if stale:
                # A changed pom (new Kafka version) must not leave two versions on the classpath.
                shutil.rmtree(self.libs_dir)
            self.libs_dir.mkdir(parents=True, exist_ok=True)
            cmd = [
                mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={self.libs_dir}",
            ]  # fmt: skip
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if res.returncode != 0 or not any(self.libs_dir.glob("kafka_2.13-*.jar")):
                out = (res.stdout + res.stderr).strip().splitlines()[-30:]
                raise StackError(f"Maven could not fetch the Kafka jars ({' '.join(cmd)}):\n" + "\n".join(out))
            if ours or stale or not have_kafka:
                stamp.write_text(f"{digest}\n")

    def fetch_all(self, force: bool = False) -> None:
        """The Kafka jars, and Keycloak's distribution when this stack runs Keycloak."""
        self.fetch(force)
        if "keycloak" in self.config.components:
            self.fetch_keycloak(force)

    def fetch_keycloak(self, force: bool = False) -> None:
        """Download Keycloak (``keycloak-quarkus-dist`` zip, Maven Central) and unzip it into ``keycloak_dist``."""
        dist = self.keycloak_dist
        if (dist / "bin" / "kc.sh").is_file() and not force:
            return
        self._check_java()
        dist.parent.mkdir(parents=True, exist_ok=True)
        with _flock(dist.parent / f".{dist.name}.lock"):
            if (dist / "bin" / "kc.sh").is_file() and not force:
                return  # another process fetched it while we waited
            mvn = shutil.which(self.config.mvn)
            if mvn is None:
                raise StackError(
                    f"Maven ({self.config.mvn}) not found: install it (e.g. `apt-get install maven`) "
                    f"to download Keycloak into {dist}"
                )
            download = dist.parent / "download"
            download.mkdir(parents=True, exist_ok=True)
            artifact = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
            cmd = [
                mvn, "-q", "-B", "dependency:copy", f"-Dartifact={artifact}",
                "-Dtransitive=false", f"-DoutputDirectory={download}",
            ]  # fmt: skip
            # Run where no pom.xml is, so Maven needs no project.
            res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=download)
            archive = download / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
            if res.returncode != 0 or not archive.is_file():
                out = (res.stdout + res.stderr).strip().splitlines()[-30:]
                raise StackError(f"Maven could not fetch Keycloak ({' '.join(cmd)}):\n" + "\n".join(out))
            tmp = dist.parent / f".{dist.name}.unzipping"
            shutil.rmtree(tmp, ignore_errors=True)
            top = _unzip(archive, tmp)
            shutil.rmtree(dist, ignore_errors=True)
            os.replace(top, dist)
            shutil.rmtree(tmp, ignore_errors=True)
            archive.unlink(missing_ok=True)  # Maven keeps its own copy in ~/.m2

    def _find_pom(self) -> Path | None:
        if self.config.pom_file is not None:
            if not self.config.pom_file.is_file():
                raise StackError(f"pom file {self.config.pom_file} does not exist")
            return self.config.pom_file.resolve()
        # The root usually sits in the repo (.stack); an editable install sits in dev/src.
        for start in (self.root, Path.cwd().resolve(), Path(__file__).resolve().parent):
            for folder in (start, *start.parents):
                candidate = folder / "deploy" / "local" / "pom.xml"
                if candidate.is_file():
                    return candidate
        return None

    def _java(self) -> str:
        if self.config.java:
            return self.config.java
        home = os.environ.get("JAVA_HOME")
        if home and (Path(home) / "bin" / "java").exists():
            return str(Path(home) / "bin" / "java")
        return "java"

    def _check_java(self) -> None:
        if self._java_checked:
            return
        java = self._java()
        try:
            res = subprocess.run(
                [java, "-version"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except FileNotFoundError:
            raise StackError(
                f"Java not found ({java}): Kafka 4 needs Java 17 or newer "
                "(e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME)"
            ) from None
        match = re.search(r'version "(\d+)(?:\.(\d+))?', res.stderr + res.stdout)
        if not match:
            raise StackError(f"cannot tell the Java version of {java}: {res.stderr.strip()[:200]}")
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_x" style
            major = int(match.group(2))
        if major < 17:
            raise StackError(f"Kafka 4 needs Java 17 or newer; {java} is Java {major} (set JAVA_HOME)")
        self._java_checked = True

    def _mailpit_bin(self) -> str:
        if self.config.mailpit_bin is not None:
            path = self.config.mailpit_bin.expanduser().resolve()
            if not path.is_file():
                raise StackError(f"Mailpit binary {path} not found: {_MAILPIT_HINT}")
            return str(path)
        default = self.root / "bin" / "mailpit"
        if default.is_file():
            return str(default)
        found = shutil.which("mailpit")
        if found is None:
            raise StackError(f"Mailpit not found at {default} nor on PATH: {_MAILPIT_HINT}")
        return found

    def jaeger_available(self) -> bool:
        """Whether the Jaeger binary is there (``make jaeger`` builds it)."""
        try:
            self._jaeger_bin()
        except StackError:
            return False
        return True

    def _jaeger_bin(self) -> str:
        if self.config.jaeger_bin is not None:
            path = self.config.jaeger_bin.expanduser().resolve()
            if not path.is_file():
                raise StackError(f"Jaeger binary {path} not found: {_JAEGER_HINT}")
            return str(path)
        default = self.root / "bin" / "jaeger"
        if default.is_file():
            return str(default)
        found = shutil.which("jaeger")
        if found is None:
            raise StackError(f"Jaeger not found at {default} nor on PATH: {_JAEGER_HINT}")
        return found

    # ---------------------------------------------------------------- up/down

    def up(self, *, wait_keycloak: bool = True) -> None:
        """Start whatever is not running, wait until all is healthy, create the contract topics.

        Idempotent; also repairs a partly stopped stack. Raises :class:`StackError`.
        Keycloak (when in ``config.components``) starts alongside the others and is waited
        for last; with ``wait_keycloak=False`` the caller waits with :meth:`wait_keycloak`.
        """
        wanted = [c for c in COMPONENTS if c in self.config.components]
        with self._lock():
            self.fetch_all()
            state = self._read_state()
            to_start = [c for c in wanted if not self._is_running(c, state)]
            self._adopt_running_ports(state)
            self._resolve_ports(to_start)
            self._check_startable(to_start)
            launched = self._launch_and_wait(wanted, to_start)
        try:
            if "kafka" in wanted:
                self.create_topics(all_topics(self.config.topic_prefix))
                self._warm_coordinators()
            if "keycloak" in wanted and wait_keycloak:
                self.wait_keycloak()
        except BaseException:
            with self._lock():
                self._stop_many(launched)
            raise

    def _check_startable(self, to_start: list[Component]) -> None:
        """Check what we can before launching anything, so a failure leaves nothing behind."""
        for comp in to_start:
            self._check_ports_free(comp)
        if "mailpit" in to_start:
            self._mailpit_bin()
        if "jaeger" in to_start:
            self._jaeger_bin()
        if "mongodb" in to_start:
            self._check_secantus()
        if "keycloak" in to_start:
            self._find_realm_file()

    def _launch_and_wait(self, wanted: list[Component], to_start: list[Component]) -> list[Component]:
        """Launch ``to_start``, wait until every wanted component but Keycloak is healthy; the ones launched."""
        launched: list[Component] = []
        try:
            # Launch the quick ones first, then Keycloak (the slowest to get ready);
            # Kafka's one-off format then runs in their shadow.
            for comp in ("mailpit", "jaeger", "mongodb", "keycloak", "kafka"):
                if comp in to_start:
                    self._launch(comp)
                    launched.append(comp)
            for comp in wanted:
                if comp != "keycloak":
                    self._wait_healthy(comp)
        except BaseException:
            # Leave nothing half-started behind (callers often have no `finally` yet).
            self._stop_many(launched)
            raise
        return launched

    def wait_keycloak(self) -> None:
        """Block until Keycloak serves the ``vies`` realm (raises :class:`StackError` if it dies or times out)."""
        self._wait_healthy("keycloak")
        self._share_keycloak_build()

    def down(self, wipe: bool = False) -> None:
        """Stop every component (also those started by another process); ``wipe`` deletes data/."""
        with self._lock():
            self._stop_many(COMPONENTS)
            if wipe:
                shutil.rmtree(self.root / "data", ignore_errors=True)
                (self.root / "state.json").unlink(missing_ok=True)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per component: ``running``, ``healthy``, ``pid``, ``port``, ``ports``, ``log``.

        Covers the configured components and any other one that runs (Keycloak started on demand).
        """
        state = self._read_state()
        self._adopt_running_ports(state)
        out: dict[str, dict[str, Any]] = {}
        for comp in COMPONENTS:
            if comp not in self.config.components and not self._is_running(comp, state):
                continue
            ref = self._ref(comp, state)
            running = ref is not None and _proc.is_alive(ref)
            ports = {key: self._ports[key] for key in _PORTS[comp]}
            out[comp] = {
                "running": running,
                "healthy": running and self._healthy(comp),
                "pid": ref.pid if ref else None,
                "port": ports[_PORTS[comp][0]] or None,
                "ports": ports,
                "log": str(self.log_path(comp)),
            }
        return out

    # ------------------------------------------------------ outage simulation

    def stop_kafka(self) -> None:
        """Stop Kafka (SIGTERM, SIGKILL after the stop timeout); data and port are kept."""
        self._stop("kafka")

    def start_kafka(self) -> None:
        """Start Kafka again with the same data and port; returns once it is healthy."""
        self._start("kafka")

    def stop_mongodb(self) -> None:
        """Stop SecantusDB; data and port are kept."""
        self._stop("mongodb")

    def start_mongodb(self) -> None:
        """Start SecantusDB again with the same data and port; returns once it is healthy."""
        self._start("mongodb")

    def stop_mailpit(self) -> None:
        """Stop the Mailpit SMTP sink; stored mail and ports are kept."""
        self._stop("mailpit")

    def start_mailpit(self) -> None:
        """Start Mailpit again on the same ports; returns once it is healthy."""
        self._start("mailpit")

    def start_jaeger(self) -> None:
        """Start Jaeger (its traces are kept in memory: a restart forgets them); returns once it answers."""
        self._start("jaeger")

    def stop_jaeger(self) -> None:
        """Stop Jaeger."""
        self._stop("jaeger")

    def start_keycloak(self) -> None:
        """Start Keycloak (fetched first if needed) with the realm imported; returns once it serves the realm.

        Its realm sends mail to this stack's SMTP port. Used on demand by the test plugin.
        """
        self.fetch_keycloak()
        self._start("keycloak")
        self._share_keycloak_build()

    def launch_keycloak(self) -> None:
        """Start Keycloak without waiting for it: it boots while other work runs; ``start_keycloak`` then waits."""
        self.fetch_keycloak()
        with self._lock():
            self._launch_if_down("keycloak")

    def stop_keycloak(self) -> None:
        """Stop Keycloak; its database and port are kept."""
        self._stop("keycloak")

    def _stop(self, comp: Component) -> None:
        with self._lock():
            self._stop_many([comp])

    def _stop_many(self, comps: Iterable[Component]) -> None:
        # All at once: SecantusDB takes ~2 s to stop, Kafka ~1 s; in parallel that is ~2 s.
        state = self._read_state()
        refs = {c: r for c in comps if (r := self._ref(c, state)) is not None}
        _proc.terminate(refs.values(), self.config.stop_timeout)
        for comp in refs:
            self._forget(comp)

    def _start(self, comp: Component) -> None:
        with self._lock():
            self._launch_if_down(comp)
            self._wait_healthy(comp)

    def _launch_if_down(self, comp: Component) -> None:
        state = self._read_state()
        self._adopt_running_ports(state)
        if not self._is_running(comp, state):
            self._resolve_ports([comp])
            self._launch(comp)

    # ------------------------------------------------------------------ topics

    def create_topics(self, specs: Iterable[TopicSpec], partitions: int | None = None) -> list[str]:
        """Create the topics that do not exist yet (compacted ones with cleanup.policy=compact).

        Waits until every topic has a leader for each partition; returns the names created.
        """
        wanted = list(specs)
        count = partitions or self.config.partitions
        return _run_async(_create_topics(self.kafka_bootstrap, wanted, count))

    def _warm_coordinators(self) -> None:
        # The first consumer group (or transactional producer) makes Kafka create its
        # internal topic and waits for it; asking for the coordinators now starts that
        # work during up() instead of inside the first test's timeout.
        _run_async(_find_coordinators(self.kafka_bootstrap))

    # ----------------------------------------------------------------- launch

    def _launch(self, comp: Component) -> None:
        self._check_ports_free(comp)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        env: dict[str, str] | None = None
        if comp == "kafka":
            argv = self._kafka_argv()
        elif comp == "mongodb":
            argv = self._mongodb_argv()
        elif comp == "keycloak":
            argv, env = self._keycloak_argv()
        elif comp == "jaeger":
            argv = self._jaeger_argv()
        else:
            argv = self._mailpit_argv()
        ref = _proc.spawn(argv, self.log_path(comp), cwd=self.root, env=env)
        self._remember(comp, ref)

    def _check_ports_free(self, comp: Component) -> None:
        for key in _PORTS[comp]:
            port = self._ports[key]
            if not _proc.port_is_free(port):
                env = _PORT_ENV[key]
                raise StackError(
                    f"port {port} ({key}, for {comp}) is already in use by a process that is not "
                    f"this stack's; stop it or choose another port (--{key.replace('_', '-')} / "
                    f"{env}; 0 picks a free one)"
                )

    def _kafka_argv(self) -> list[str]:
        self._check_java()
        if not any(self.libs_dir.glob("kafka_2.13-*.jar")):
            raise StackError(f"no Kafka jars in {self.libs_dir}: run `vies stack fetch`")
        conf = self.root / "conf"
        data = self.root / "data" / "kafka"
        conf.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        props = conf / "kafka-server.properties"
        log4j = conf / "kafka-log4j2.properties"
        # Kafka started while the previous broker still holds its data directory (killed, but not yet
        # gone) shuts its broker down and keeps only the controller: a restart that never gets healthy.
        if not _proc.wait_lock_released(data / ".lock", self.config.stop_timeout):
            raise StackError(f"another process still holds Kafka's data directory {data} (its .lock file)")
        props.write_text(self._kafka_properties(data), encoding="utf-8")
        log4j.write_text(_LOG4J2.format(level=self.config.kafka_log_level), encoding="utf-8")
        java = [
            self._java(),
            *self.config.kafka_jvm_opts,
            f"-Dlog4j2.configurationFile={log4j}",
            # Kafka stops logging itself; log4j's own hook only races with it
            # ("Unable to register Log4j shutdown hook because JVM is shutting down").
            "-Dlog4j2.shutdownHookEnabled=false",
        ]
        classpath = ["-cp", str(self.libs_dir / "*")]  # the JVM expands the wildcard itself
        if not (data / "meta.properties").exists():
            # KRaft needs its storage formatted once; later starts reuse data and cluster id.
            cmd = [
                *java,
                *classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                _cluster_id(),
                "-c",
                str(props),
                "--ignore-formatted",  # a format interrupted before meta.properties can be redone
            ]
            res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
            with self.log_path("kafka").open("a", encoding="utf-8") as fh:
                fh.write(f"--- format: {' '.join(cmd)}\n{res.stdout}{res.stderr}")
            if res.returncode != 0:
                raise StackError(f"formatting Kafka storage failed:\n{(res.stdout + res.stderr).strip()}")
        return [*java, *classpath, "kafka.Kafka", str(props)]

    def _kafka_properties(self, data: Path) -> str:
        port, cport = self._ports["kafka_port"], self._ports["kafka_controller_port"]
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Static quorum: the voter set comes from this file, so a changed controller
            # port (0 = free port) never disagrees with what the metadata log recorded.
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": str(self.config.partitions),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            # Internal topics default to 50 partitions: slow to create on a laptop.
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "6",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # The broker is unfenced on its next heartbeat after catching up (default
            # 2 s): a shorter interval makes every (re)start about a second faster.
            "broker.heartbeat.interval.ms": "500",
            "auto.create.topics.enable": str(self.config.auto_create_topics).lower(),
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }
        return "".join(f"{k}={v}\n" for k, v in lines.items())

    def _check_secantus(self) -> None:
        probe = [
            self.config.python,
            "-c",
            "import importlib.util,sys; sys.exit(importlib.util.find_spec('secantus') is None)",
        ]
        if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
            raise StackError(
                f"SecantusDB is not installed for {self.config.python}: `pip install secantusdb` "
                "(or pass StackConfig(python=...))"
            )

    def _mongodb_argv(self) -> list[str]:
        conf = self.root / "conf"
        data = self.root / "data" / "mongodb"
        conf.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        # An explicit (empty) config file: otherwise SecantusDB picks up ./secantusd.toml or
        # ~/.secantus/secantusd.toml from wherever it happens to run.
        toml = conf / "secantusd.toml"
        toml.write_text(
            "# generated by vies devstack; settings are on the command line\n",
            encoding="utf-8",
        )
        return [
            # SecantusDB's own command line, plus a transaction lifetime and a reaper that runs without
            # traffic (its own only runs when another transaction comes by): see secantus_server.py.
            self.config.python, "-m", "vies_dev.devstack.secantus_server",
            "--transaction-lifetime-seconds", str(self.config.transaction_lifetime_seconds),
            "--config", str(toml),
            "--host", "127.0.0.1", "--port", str(self._ports["mongodb_port"]),
            "--log-level", "WARNING", "--cache-size", secantus_cache_size(),
            "--storage-path", str(data),  # last: it is the process marker
        ]  # fmt: skip

    def _mailpit_argv(self) -> list[str]:
        data = self.root / "data" / "mailpit"
        data.mkdir(parents=True, exist_ok=True)
        return [
            self._mailpit_bin(),
            "--smtp", f"127.0.0.1:{self._ports['smtp_port']}",
            "--listen", f"127.0.0.1:{self._ports['mailpit_http_port']}",
            # Tests log in without STARTTLS: accept any user, allow plain auth.
            "--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
            "--smtp-disable-rdns", "--disable-version-check", "--max", "5000",
            "--database", str(data / "mailpit.db"),  # last: it is the process marker
        ]  # fmt: skip

    def _jaeger_argv(self) -> list[str]:
        conf = self.root / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        config = conf / "jaeger.yaml"
        config.write_text(
            jaeger_config(
                self._ports["jaeger_otlp_port"], self._ports["jaeger_ui_port"], self._ports["jaeger_grpc_port"]
            ),
            encoding="utf-8",
        )
        return [self._jaeger_bin(), "--config", str(config)]  # last: it is the process marker

    def _find_realm_file(self) -> Path:
        if self.config.realm_file is not None:
            if not self.config.realm_file.is_file():
                raise StackError(f"realm file {self.config.realm_file} does not exist")
            return self.config.realm_file.resolve()
        for start in (self.root, Path.cwd().resolve(), Path(__file__).resolve().parent):
            for folder in (start, *start.parents):
                candidate = folder / "deploy" / "local" / "realm-vies.json"
                if candidate.is_file():
                    return candidate
        raise StackError("deploy/local/realm-vies.json not found; pass StackConfig(realm_file=...)")

    def _prepare_keycloak_home(self) -> Path:
        """This root's Keycloak home: the distribution's jars hard-linked, the rest copied, its own data/."""
        dist, home = self.keycloak_dist, self.keycloak_home
        if not (dist / "bin" / "kc.sh").is_file():
            raise StackError(f"Keycloak not found in {dist}: run `vies stack fetch`")
        if not (home / "bin" / "kc.sh").is_file():
            tmp = home.with_name(f"{home.name}.preparing")
            shutil.rmtree(tmp, ignore_errors=True)
            with _flock(dist.parent / f".{dist.name}.lock"):
                _link_tree(dist, tmp)
            data = home / "data"
            if data.is_dir():  # a database kept from before (e.g. a home deleted by hand): keep it
                shutil.move(str(data), str(tmp / "data"))
            shutil.rmtree(home, ignore_errors=True)
            os.replace(tmp, home)
        return home

    def _keycloak_argv(self) -> tuple[list[str], dict[str, str]]:
        home = self._prepare_keycloak_home()
        realm = json.loads(self._find_realm_file().read_text(encoding="utf-8"))
        # The realm's mail goes to this stack's Mailpit, whatever its port.
        smtp = dict(realm.get("smtpServer") or {})
        smtp.update(host=self.smtp_host, port=str(self._ports["smtp_port"] or 1025))
        realm["smtpServer"] = smtp
        imports = home / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        (imports / f"realm-{KEYCLOAK_REALM}.json").write_text(json.dumps(realm, indent=2), encoding="utf-8")
        port = self._ports["keycloak_port"]
        env = {
            **os.environ,
            "KC_BOOTSTRAP_ADMIN_USERNAME": KEYCLOAK_ADMIN[0],
            "KC_BOOTSTRAP_ADMIN_PASSWORD": KEYCLOAK_ADMIN[1],
            "JAVA_OPTS_APPEND": self.config.keycloak_java_opts,
        }
        java = self._java()
        if java != "java":
            env["JAVA"] = java
        argv = [
            str(home / "bin" / "kc.sh"), "start-dev",
            "--http-host=127.0.0.1", f"--http-port={port}",
            # One issuer whatever host name a client uses (localhost or 127.0.0.1).
            f"--hostname=http://127.0.0.1:{port}",
            "--import-realm",  # from data/import, once: an existing realm is kept
            f"-Dvies.devstack.home={home}",  # last: it is the process marker
        ]  # fmt: skip
        return argv, env

    def _share_keycloak_build(self) -> None:
        """Keep the home's dev-mode build in the distribution: later homes start without re-augmenting (~30 s)."""
        built = self.keycloak_home / "lib" / "quarkus"
        target = self.keycloak_dist / "lib" / "quarkus"
        if (target / _DEV_BUILD_MARK).exists() or not built.is_dir():
            return
        with _flock(self.keycloak_dist.parent / f".{self.keycloak_dist.name}.lock"):
            if (target / _DEV_BUILD_MARK).exists():
                return
            fresh = target.with_name("quarkus.vies-new")
            old = target.with_name("quarkus.vies-old")
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
            shutil.copytree(built, fresh)
            (fresh / _DEV_BUILD_MARK).write_text(f"built for start-dev by {self.root}\n", encoding="utf-8")
            os.replace(target, old)
            os.replace(fresh, target)
            shutil.rmtree(old, ignore_errors=True)

    # ----------------------------------------------------------------- health

    def _healthy(self, comp: Component) -> bool:
        if comp == "kafka":
            return _proc.port_accepts(self._ports["kafka_port"]) and _run_async(_kafka_ready(self.kafka_bootstrap))
        if comp == "mongodb":
            return _proc.port_accepts(self._ports["mongodb_port"]) and _mongo_ready(self.mongodb_uri)
        if comp == "keycloak":
            return _proc.port_accepts(self._ports["keycloak_port"]) and _keycloak_ready(self.keycloak_issuer)
        if comp == "jaeger":
            return _proc.port_accepts(self._ports["jaeger_otlp_port"]) and _jaeger_ready(self.jaeger_url)
        return _mailpit_ready(self.mailpit_url)

    def _wait_healthy(self, comp: Component) -> None:
        # Keycloak's very first start builds itself (~30 s) and creates its database.
        timeout = max(self.config.start_timeout, 300.0) if comp == "keycloak" else self.config.start_timeout
        deadline = time.monotonic() + timeout
        log = self.log_path(comp)
        while not self._healthy(comp):
            ref = self._ref(comp, self._read_state())
            if ref is None or not _proc.is_alive(ref):
                self._forget(comp)
                raise StackError(f"{comp} exited during start-up; last lines of {log}:\n{_proc.log_tail(log)}")
            if time.monotonic() > deadline:
                raise StackError(
                    f"{comp} not healthy after {timeout:.0f} s; last lines of {log}:\n{_proc.log_tail(log)}"
                )
            time.sleep(0.5 if comp == "keycloak" else 0.1)

    # ------------------------------------------------------------ ports/state

    def _adopt_running_ports(self, state: dict[str, Any]) -> None:
        recorded: dict[str, int] = state.get("ports", {})
        for comp in COMPONENTS:
            if not self._is_running(comp, state):
                continue
            for key in _PORTS[comp]:
                wanted, actual = getattr(self.config, key), int(recorded.get(key, 0))
                if wanted and actual and wanted != actual:
                    raise StackError(
                        f"{comp} of {self.root} already runs with {key}={actual}, not {wanted}: "
                        "run `vies stack down` first or use the running port"
                    )
                self._ports[key] = actual or self._ports[key]

    def _resolve_ports(self, comps: Iterable[Component]) -> None:
        keys = [k for c in comps for k in _PORTS[c]]
        taken = {p for k, p in self._ports.items() if p and k not in keys}
        for key in keys:
            configured = getattr(self.config, key)
            port = self._ports[key]
            if not configured and (not port or port in taken or not _proc.port_is_free(port)):
                port = _proc.free_port(taken)
            taken.add(port)
            self._ports[key] = port

    def _ref(self, comp: Component, state: dict[str, Any]) -> ProcRef | None:
        rec = state.get("components", {}).get(comp)
        if not rec or not rec.get("pid"):
            return None
        return ProcRef(pid=int(rec["pid"]), pgid=int(rec["pgid"]), marker=str(rec["marker"]))

    def _is_running(self, comp: Component, state: dict[str, Any]) -> bool:
        ref = self._ref(comp, state)
        return ref is not None and _proc.is_alive(ref)

    def _read_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.root / "state.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data

    def _write_state(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"state.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.root / "state.json")  # atomic: readers never see half a file

    def _base_state(self) -> dict[str, Any]:
        state = self._read_state()
        state["version"] = _STATE_VERSION
        state["root"] = str(self.root)
        state["ports"] = {
            **state.get("ports", {}),
            **{k: p for k, p in self._ports.items() if p},
        }
        state["config"] = {
            "partitions": self.config.partitions,
            "topic_prefix": self.config.topic_prefix,
            "libs_dir": str(self.libs_dir),
            "mailpit_bin": str(self.config.mailpit_bin.resolve()) if self.config.mailpit_bin else None,
            "jaeger_bin": str(self.config.jaeger_bin.resolve()) if self.config.jaeger_bin else None,
            "python": self.config.python,
            "auto_create_topics": self.config.auto_create_topics,
            "components": sorted(set(state.get("config", {}).get("components", [])) | set(self.config.components)),
            "keycloak_dist": str(self.keycloak_dist),
            "realm_file": str(self.config.realm_file.resolve()) if self.config.realm_file else None,
        }
        state["endpoints"] = {
            "kafka_bootstrap": f"127.0.0.1:{self._ports['kafka_port']}",
            "mongodb_uri": f"mongodb://127.0.0.1:{self._ports['mongodb_port']}/?directConnection=true",
            "smtp": f"127.0.0.1:{self._ports['smtp_port']}",
            "mailpit_url": f"http://127.0.0.1:{self._ports['mailpit_http_port']}",
            "keycloak_url": f"http://127.0.0.1:{self._ports['keycloak_port']}",
            "otlp_endpoint": f"http://127.0.0.1:{self._ports['jaeger_otlp_port']}",
            "jaeger_url": f"http://127.0.0.1:{self._ports['jaeger_ui_port']}",
        }
        state.setdefault("components", {})
        return state

    def _remember(self, comp: Component, ref: ProcRef) -> None:
        state = self._base_state()
        state["components"][comp] = {
            "pid": ref.pid,
            "pgid": ref.pgid,
            "marker": ref.marker,
            "log": str(self.log_path(comp)),
            "ports": {key: self._ports[key] for key in _PORTS[comp]},
            "started_at": time.time(),
        }
        self._write_state(state)
        run = self.root / "run"
        run.mkdir(exist_ok=True)
        (run / f"{comp}.pid").write_text(f"{ref.pid}\n")

    def _forget(self, comp: Component) -> None:
        state = self._base_state()
        state["components"].pop(comp, None)
        self._write_state(state)
        (self.root / "run" / f"{comp}.pid").unlink(missing_ok=True)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # One stack operation at a time per root, across processes (pytest-xdist
        # workers, a CLI next to a test run); re-entrant within this object.
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with _flock(self.root / ".lock"):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0


# ---------------------------------------------------------------------- helpers


def secantus_cache_size(total_bytes: int | None = None) -> str:
    """SecantusDB's storage cache for this machine: a quarter of its memory, from 256 MiB to 2 GiB.

    ``VIES_SECANTUS_CACHE_SIZE`` (e.g. ``1G``) overrides it. The former fixed 256 MiB filled up
    under load: the storage engine then evicted in the foreground, 10-40 s during which every
    request waited. Production MongoDB sizes its own cache (deploy/README.md).
    """
    configured = os.environ.get("VIES_SECANTUS_CACHE_SIZE")
    if configured:
        return configured
    if total_bytes is None:
        total_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mib = min(2048, max(256, total_bytes // 4 // (1024 * 1024)))
    return f"{mib}M"


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path``, across processes; released even on a crash."""
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_DEV_BUILD_MARK: Final = ".vies-start-dev-build"


def _unzip(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` into ``dest`` keeping Unix permissions (``bin/kc.sh`` stays executable).

    Returns the archive's top folder.
    """
    dest.mkdir(parents=True, exist_ok=True)
    tops: set[str] = set()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))  # extract() keeps every path inside dest
            tops.add(info.filename.split("/", 1)[0])
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)
    if len(tops) != 1:
        raise StackError(f"{archive} does not hold one top folder: {sorted(tops)[:5]}")
    return dest / tops.pop()


def _link_tree(src: Path, dest: Path) -> None:
    """Copy ``src`` into ``dest`` (without its data/), hard-linking the jars of lib/lib (never written to)."""
    for folder, dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d != "data"]
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            source, target = Path(folder) / name, dest / rel / name
            if rel.parts[:2] == ("lib", "lib"):
                try:
                    os.link(source, target)
                    continue
                except OSError:
                    pass  # another file system: copy
            shutil.copy2(source, target)


_LOG4J2: Final = """\
status = warn
name = vies-devstack
appender.out.type = Console
appender.out.name = out
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
# keep the start-up and shut-down lines even when the rest is quiet
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
"""


def _cluster_id() -> str:
    """A Kafka cluster id: a random UUID, URL-safe base64 without padding (like ``random-uuid``)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka avoids these too: they look like CLI flags
            return cid


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _admin(bootstrap: str) -> Any:
    # aiokafka ships no type information: keep it behind ``Any`` in one place.
    from aiokafka.admin import AIOKafkaAdminClient

    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="vies-devstack")


def _kafka_errors() -> tuple[type[Exception], ...]:
    from aiokafka.errors import KafkaError

    # Connection refused and timeouts surface as plain OSError / TimeoutError.
    return (KafkaError, OSError, TimeoutError)


async def _kafka_ready(bootstrap: str) -> bool:
    admin = _admin(bootstrap)
    try:
        await asyncio.wait_for(admin.start(), 5)
        meta = await asyncio.wait_for(admin.describe_cluster(), 5)
        return bool(meta.get("brokers"))
    except _kafka_errors():  # any failure means "not yet"
        return False
    finally:
        with contextlib.suppress(*_kafka_errors()):
            await admin.close()


async def _create_topics(bootstrap: str, specs: list[TopicSpec], partitions: int) -> list[str]:
    from aiokafka.admin import NewTopic

    admin = _admin(bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                s.name,
                partitions,
                1,
                topic_configs={"cleanup.policy": "compact"} if s.compacted else {},
            )
            for s in specs
            if s.name not in existing
        ]
        created: list[str] = []
        if new:
            resp = await admin.create_topics(new, timeout_ms=15000)
            for name, code, message in resp.topic_errors:
                if code == 0:
                    created.append(name)
                elif code != _TOPIC_EXISTS:  # a concurrent creator won the race: fine
                    raise StackError(f"creating topic {name} failed: error {code} {message}")
        await _wait_for_leaders(admin, [s.name for s in specs])
        return created
    finally:
        await admin.close()


async def _wait_for_leaders(admin: Any, names: list[str], wait_s: float = 15.0) -> None:
    # CreateTopics returns before every partition has a leader in the broker's
    # metadata; a producer started at once would first see UNKNOWN_TOPIC.
    if not names:
        return
    deadline = time.monotonic() + wait_s
    while True:
        topics = await admin.describe_topics(names)
        ready = {
            t["topic"]
            for t in topics
            if t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
        }
        missing = sorted(set(names) - ready)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise StackError(f"topics without a leader after {wait_s:.0f} s: {', '.join(missing)}")
        await asyncio.sleep(0.1)


async def _find_coordinators(bootstrap: str) -> None:
    admin = _admin(bootstrap)
    try:
        await admin.start()
        for key_type in (0, 1):  # 0: consumer groups, 1: transactions
            with contextlib.suppress(*_kafka_errors()):  # "not available yet" is expected
                await admin.find_coordinator("vies-devstack-warmup", key_type)
    except _kafka_errors():  # best effort only
        return
    finally:
        with contextlib.suppress(*_kafka_errors()):
            await admin.close()


def _mongo_ready(uri: str) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    # A socket timeout too: a server that accepts but never answers is not healthy (make chaos waited forever).
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000, socketTimeoutMS=10_000
    )
    try:
        client.admin.command("ping")
        # The services need transactions, so "healthy" means a transaction commits.
        coll = client["vies_devstack"]["healthcheck"]
        with client.start_session() as session, session.start_transaction():
            coll.update_one({"_id": "probe"}, {"$inc": {"n": 1}}, upsert=True, session=session)
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _keycloak_ready(issuer: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _mailpit_ready(base_url: str) -> bool:
    import httpx

    try:
        resp = httpx.get(f"{base_url}/api/v1/info", timeout=2)
        return resp.status_code == 200 and "Version" in resp.json()
    except (httpx.HTTPError, ValueError):
        return False


def _jaeger_ready(base_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base_url}/api/services", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def jaeger_config(otlp_port: int, ui_port: int, grpc_port: int) -> str:
    """Jaeger v2's configuration for the local stack: OTLP over HTTP in, traces in memory, the UI and query API.

    Only these three ports on 127.0.0.1: no other receiver (gRPC OTLP, Jaeger, Zipkin), no
    sampling or health endpoints and no metrics port, so two stacks (development, tests) can run side by side.
    """
    return f"""\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 20000
  jaeger_query:
    enable_tracing: false  # its own traces would go to an OTLP receiver on 4317 that is not there
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{ui_port}
    grpc:
      endpoint: 127.0.0.1:{grpc_port}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``shared/`` and ``services/``; else cwd."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "shared").is_dir() and (folder / "services").is_dir():
            return folder
    return here
