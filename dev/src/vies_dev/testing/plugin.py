"""pytest plugin: the real local stack (Kafka, SecantusDB, Mailpit) once per test session.

The stack starts on free ports under ``.stack-test-<pid>/`` and is stopped and
wiped at the end of the session, even when tests fail. Set
``VIES_TEST_KAFKA_BOOTSTRAP`` and ``VIES_TEST_MONGODB_URI`` (and optionally
``VIES_TEST_SMTP_PORT``, ``VIES_TEST_MAILPIT_URL``) to use a stack that is
already running instead. Each test gets a unique topic prefix and database
names, so tests never see each other's data.

Keycloak starts lazily, only when a test asks for ``vies_keycloak`` (about 20-50 s):
on a free port, with the ``vies`` realm imported and its mail going to the
session's Mailpit; it stops at the end of the session. ``VIES_TEST_KEYCLOAK_URL``
points at a running one instead (it must have the realm of deploy/local).

Jaeger starts lazily too, for a test asking for ``vies_jaeger`` (the binary ``make jaeger``
builds), on free ports; ``VIES_TEST_JAEGER_URL`` and ``VIES_TEST_OTLP_ENDPOINT`` name a running one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from vies_dev.testing.helpers import create_contract_topics, delete_contract_topics
from vies_shared.keycloak import KeycloakEndpoints
from vies_shared.settings import ServiceSettings
from vies_shared.storage import create_mongo_client

S = TypeVar("S", bound=ServiceSettings)


@dataclass
class StackEndpoints:
    """Where the test stack listens; ``stack`` is the controllable LocalStack when we started it."""

    kafka_bootstrap: str
    mongodb_uri: str
    smtp_host: str
    smtp_port: int
    mailpit_url: str
    stack: Any | None = None


@dataclass
class JaegerEndpoints:
    """Where the test Jaeger receives traces (``OTEL_EXPORTER_OTLP_ENDPOINT``) and answers queries."""

    otlp_endpoint: str
    url: str


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs the real Kafka broker and MongoDB server")
    config.addinivalue_line("markers", "e2e: runs services as separate processes")
    config.addinivalue_line("markers", "outage: stops and restarts a component of the stack")
    config.addinivalue_line("markers", "fast: service-layer test on in-memory fakes, no server (`pytest -m fast`)")


# Seconds of quick modules handed out before the slow ones (Keycloak boots in 60-100 s on two busy cores).
IDENTITY_PROVIDER_HEAD_START = 60.0
# The xdist worker that runs the modules needing Keycloak, and the only one that starts it.
IDENTITY_WORKER = "gw0"
# The fixtures that start or reach a server: a fast test asking for one is refused before it runs.
SERVER_FIXTURES = frozenset({"vies_stack", "vies_keycloak", "vies_jaeger", "topic_prefix", "vies_settings"})


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``fast`` must not start the stack: it would no longer be fast, nor run without servers."""
    if item.get_closest_marker("fast") is None:
        return
    wanted = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if wanted:
        pytest.fail(f"a fast test may not use the server fixtures {sorted(wanted)}", pytrace=False)


def _needs_identity_provider(module: Path) -> bool:
    """True when a test module or a conftest.py above it uses the ``vies_keycloak`` fixture."""
    folders = [module.parent, *module.parent.parents]
    texts = [module, *(folder / "conftest.py" for folder in folders)]
    return any(path.is_file() and "vies_keycloak" in path.read_text(encoding="utf-8") for path in texts)


def _session_needs_identity_provider(session: pytest.Session) -> bool:
    """True when a test this process will run needs Keycloak.

    Under xdist every worker collects every test, but only the identity worker is handed the modules
    needing Keycloak (see ``pytest_xdist_make_scheduler``), so only it launches one at start-up.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is not None and worker != IDENTITY_WORKER:
        return False
    modules = {Path(str(item.path)) for item in session.items}
    return any(_needs_identity_provider(module) for module in modules)


def next_module_for(worker: str, queue: list[str], identity: Callable[[str], bool], booting: bool) -> str | None:
    """Which queued module ``worker`` runs next, or None when nothing left is for it.

    The identity worker takes the modules needing Keycloak first, except while its Keycloak boots;
    the other workers take the quick ones only.
    """
    quick_ones = [module for module in queue if not identity(module)]
    if worker != IDENTITY_WORKER:
        return quick_ones[0] if quick_ones else None
    identity_ones = [module for module in queue if identity(module)]
    if identity_ones and (not booting or not quick_ones):
        return identity_ones[0]
    return quick_ones[0] if quick_ones else None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist with ``--dist loadscope``: a module's tests run on one worker (they may build on
    each other through a module-scoped fixture, as the development stack's do), and the modules needing
    the identity provider (browser journeys, services started with it) all go to one worker.

    Each worker starts a stack of its own; a Keycloak is a JVM that takes a minute or more of CPU to
    boot, so only the identity worker runs one. It is handed quick modules for the first
    ``IDENTITY_PROVIDER_HEAD_START`` seconds while its Keycloak boots, then the identity modules first.
    The other worker stops once no quick module is left rather than boot a Keycloak of its own for
    the last identity modules. (xdist's own ``loadscope`` orders modules by their number of tests,
    which puts the many quick unit tests first.)
    """
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    root = config.rootpath
    started = time.monotonic()

    @functools.cache
    def identity(module: str) -> bool:
        return _needs_identity_provider(root / module)

    class IdentityModulesOnOneWorker(LoadScopeScheduling):  # type: ignore[misc]
        def _next_module(self, node: Any) -> str | None:
            booting = time.monotonic() - started < IDENTITY_PROVIDER_HEAD_START
            return next_module_for(node.gateway.id, list(self.workqueue), identity, booting)

        def _assign_work_unit(self, node: Any) -> None:
            module = self._next_module(node) or next(iter(self.workqueue))
            work_unit = self.workqueue.pop(module)
            self.assigned_work.setdefault(node, {})[module] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if not self.workqueue or self._next_module(node) is None:
                node.shutdown()  # it finishes what it holds; the identity worker takes what is left
            elif self._pending_of(self.assigned_work[node]) <= 2:
                self._assign_work_unit(node)

        def _split_scope(self, nodeid: str) -> str:
            return nodeid.split("::", maxsplit=1)[0]

    return IdentityModulesOnOneWorker(config, log)


def _repo_root() -> Path:
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "shared").is_dir() and (folder / "services").is_dir():
            return folder
    return here


@pytest.fixture(scope="session")
def vies_stack(request: pytest.FixtureRequest) -> Iterator[StackEndpoints]:
    """The session's stack: an external one from ``VIES_TEST_*`` variables, or one started here."""
    external = os.environ.get("VIES_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield StackEndpoints(
            kafka_bootstrap=external,
            mongodb_uri=os.environ.get("VIES_TEST_MONGODB_URI", "mongodb://127.0.0.1:27017/?directConnection=true"),
            smtp_host="127.0.0.1",
            smtp_port=int(os.environ.get("VIES_TEST_SMTP_PORT", "1025")),
            mailpit_url=os.environ.get("VIES_TEST_MAILPIT_URL", "http://127.0.0.1:8025"),
        )
        return
    from vies_dev.devstack import KEYCLOAK_VERSION, LocalStack, StackConfig

    root = _repo_root()
    config = StackConfig(
        root=root / f".stack-test-{os.getpid()}",
        kafka_port=0,
        kafka_controller_port=0,
        mongodb_port=0,
        smtp_port=0,
        mailpit_http_port=0,
        partitions=3,
        libs_dir=root / ".stack" / "kafka" / "libs",
        mailpit_bin=root / ".stack" / "bin" / "mailpit",
        keycloak_port=0,
        keycloak_dist=root / ".stack" / "keycloak" / f"keycloak-{KEYCLOAK_VERSION}",
        jaeger_otlp_port=0,
        jaeger_ui_port=0,
        jaeger_grpc_port=0,
        jaeger_bin=root / ".stack" / "bin" / "jaeger",
    )
    stack = LocalStack(config)
    stack.fetch()
    stack.up()
    if _session_needs_identity_provider(request.session):
        stack.launch_keycloak()  # boots while the first modules run; vies_keycloak waits for it
    try:
        yield StackEndpoints(
            kafka_bootstrap=stack.kafka_bootstrap,
            mongodb_uri=stack.mongodb_uri,
            smtp_host=stack.smtp_host,
            smtp_port=stack.smtp_port,
            mailpit_url=stack.mailpit_url,
            stack=stack,
        )
    finally:
        stack.down(wipe=True)


@pytest.fixture(scope="session")
def vies_keycloak(vies_stack: StackEndpoints) -> Iterator[KeycloakEndpoints]:
    """Keycloak with the ``vies`` realm, started on first use (``VIES_TEST_KEYCLOAK_URL`` for a running one).

    ``vies_keycloak.token("amina.candidate")`` gives a demo user's access token (password grant).
    """
    external = os.environ.get("VIES_TEST_KEYCLOAK_URL")
    if external:
        yield KeycloakEndpoints(url=external.rstrip("/"))
        return
    from vies_dev.devstack import KEYCLOAK_VERSION, LocalStack, StackConfig

    own = vies_stack.stack is None
    stack: LocalStack = vies_stack.stack  # type: ignore[assignment]  # replaced below when None
    if own:
        # The Kafka/MongoDB stack is someone else's: run Keycloak alone, mailing to that stack's Mailpit.
        root = _repo_root()
        stack = LocalStack(
            StackConfig(
                root=root / f".stack-test-{os.getpid()}-keycloak",
                components=("keycloak",),
                keycloak_port=0,
                smtp_port=vies_stack.smtp_port,
                keycloak_dist=root / ".stack" / "keycloak" / f"keycloak-{KEYCLOAK_VERSION}",
            )
        )
    try:
        stack.start_keycloak()
        yield KeycloakEndpoints(url=stack.keycloak_url)
    finally:
        stack.stop_keycloak()
        if own:
            stack.down(wipe=True)


@pytest.fixture(scope="session")
def vies_jaeger(vies_stack: StackEndpoints) -> Iterator[JaegerEndpoints]:
    """Jaeger (OTLP receiver, traces in memory, query API), started on first use on free ports."""
    url, otlp = os.environ.get("VIES_TEST_JAEGER_URL"), os.environ.get("VIES_TEST_OTLP_ENDPOINT")
    if url and otlp:
        yield JaegerEndpoints(otlp_endpoint=otlp.rstrip("/"), url=url.rstrip("/"))
        return
    from vies_dev.devstack import LocalStack, StackConfig

    own = vies_stack.stack is None
    stack: LocalStack = vies_stack.stack  # type: ignore[assignment]  # replaced below when None
    if own:
        root = _repo_root()
        stack = LocalStack(
            StackConfig(
                root=root / f".stack-test-{os.getpid()}-jaeger",
                components=("jaeger",),
                jaeger_otlp_port=0,
                jaeger_ui_port=0,
                jaeger_grpc_port=0,
                jaeger_bin=root / ".stack" / "bin" / "jaeger",
            )
        )
    try:
        stack.start_jaeger()
        yield JaegerEndpoints(otlp_endpoint=stack.otlp_endpoint, url=stack.jaeger_url)
    finally:
        stack.stop_jaeger()
        if own:
            stack.down(wipe=True)


@pytest.fixture
def test_id() -> str:
    """A short id unique to this test, used in topic prefixes and database names."""
    return uuid.uuid4().hex[:10]


@pytest_asyncio.fixture
async def topic_prefix(vies_stack: StackEndpoints, test_id: str) -> AsyncIterator[str]:
    """A topic prefix unique to this test, with every contract topic created under it (deleted afterwards)."""
    prefix = f"t{test_id}."
    await create_contract_topics(vies_stack.kafka_bootstrap, prefix)
    yield prefix
    # Thousands of leftover partitions make one broker slow to restart (outage tests) and hungry
    # for memory: delete this test's topics.
    await delete_contract_topics(vies_stack.kafka_bootstrap, prefix)


SettingsFactory = Callable[..., Any]


@pytest_asyncio.fixture
async def vies_settings(vies_stack: StackEndpoints, topic_prefix: str, test_id: str) -> AsyncIterator[SettingsFactory]:
    """Factory: ``vies_settings("missions", MissionsSettings, **overrides)`` on the test stack.

    Databases are unique to the test (``t<id>_<service>``) and dropped afterwards.
    Timings are short (relay poll, lease, retries) so tests stay fast.
    """
    databases: list[str] = []

    def make(service: str, cls: type[S] = ServiceSettings, **overrides: Any) -> S:  # type: ignore[assignment]
        db = overrides.pop("mongodb_db", f"t{test_id}_{service}")
        databases.append(db)
        values: dict[str, Any] = {
            "service": service,
            "env": "dev",
            "kafka_bootstrap": vies_stack.kafka_bootstrap,
            "mongodb_uri": vies_stack.mongodb_uri,
            "mongodb_db": db,
            "topic_prefix": topic_prefix,
            "smtp_host": vies_stack.smtp_host,
            "smtp_port": vies_stack.smtp_port,
            "relay_poll_seconds": 0.05,
            "relay_lease_seconds": 3.0,
            "retry_initial_seconds": 0.1,
            "retry_max_seconds": 1.0,
            "drain_seconds": 5.0,
            "consumer_batch_timeout_ms": 50,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return cls(**values)

    yield make
    client = create_mongo_client(vies_stack.mongodb_uri)
    try:
        for name in databases:
            # Best effort: an outage test may have left the server down.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.drop_database(name), timeout=10)
    finally:
        await client.close()
