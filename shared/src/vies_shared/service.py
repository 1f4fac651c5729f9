"""Composition root shared by the four services: settings → clients → broker → FastAPI app.

A service describes itself with a ``ServiceDefinition`` (routers, event
handlers, periodic jobs, start-up setup); ``create_app`` wires it to MongoDB,
Kafka, the outbox relay and the consumers. Nothing connects at import time:
connections open in the FastAPI lifespan and close on shutdown (SIGTERM stops
consuming, finishes the batch in flight, flushes the relay, closes clients).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, cast

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from typing_extensions import TypeVar

from vies_shared import tracing
from vies_shared.events.base import Event
from vies_shared.events.topics import contacts_topic, dlq_topic
from vies_shared.logging import configure_logging, get_logger
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.consumer import (
    EventConsumer,
    Handler,
    Handles,
    TombstoneHandler,
    handled_events,
    handler_table,
)
from vies_shared.messaging.outbox import Outbox
from vies_shared.messaging.relay import Lease, OutboxRelay, oldest_pending_seconds
from vies_shared.settings import ServiceSettings
from vies_shared.storage import Collections, Transactions, create_mongo_client
from vies_shared.tokens import InsecureSettings, TokenVerifier, check_token_settings
from vies_shared.web import (
    document_error_bodies,
    install_error_handlers,
    install_request_context,
    metrics_response,
)

Document = dict[str, Any]

# A service's settings type, e.g. ``Runtime[MissionsSettings]``: its routes, handlers and jobs read their
# settings without a downcast. ``Runtime`` alone means ``Runtime[ServiceSettings]``, which any service's
# runtime is (covariance), for code that needs only the kit's settings.
S = TypeVar("S", bound=ServiceSettings, default=ServiceSettings)
S_co = TypeVar("S_co", bound=ServiceSettings, default=ServiceSettings, covariant=True)
S_contra = TypeVar("S_contra", bound=ServiceSettings, default=ServiceSettings, contravariant=True)


@dataclass(frozen=True)
class PeriodicJob(Generic[S_contra]):
    """A job run every ``interval_seconds``; ``exclusive`` jobs run on one replica at a time (lease)."""

    name: str
    interval_seconds: float
    run: Callable[[Runtime[S_contra]], Awaitable[None]]
    exclusive: bool = True


@dataclass
class ServiceDefinition(Generic[S]):
    """What makes a service: its name, HTTP routers, event handlers, jobs and published events.

    ``handlers`` are functions keyed by the event class their event parameter is annotated with
    (``async def on_volunteer_engaged(ctx: HandlerContext, event: VolunteerEngaged)``), or a
    ``Handles(events, handler)`` for a catch-all; a handler without an event annotation, or two
    handlers of one type, raise ``InvalidHandler`` here, before the service starts.
    ``publishes`` is what the service's own event module defines (``events_in(module)``).
    """

    name: str
    title: str
    routers: Sequence[APIRouter] = ()
    handlers: Sequence[Handler[S] | Handles[S]] = ()
    tombstone_handler: TombstoneHandler | None = None
    publishes: Sequence[type[Event]] = ()
    jobs: Sequence[PeriodicJob[S]] = ()
    setup: Callable[[Runtime[S]], Awaitable[None]] | None = None
    settings_factory: Callable[[], S] | None = None
    version: str = "0.1.0"
    # A process that never publishes (no outbox events, no dead letters) needs no idempotent producer.
    publishes_nothing: bool = False
    # Builds (and registers) a consumer of its own instead of the kit's EventConsumer for ``handlers``.
    consumer_factory: Callable[[Runtime[S]], EventConsumer[S]] | None = None

    def __post_init__(self) -> None:
        handler_table(self.handlers)  # refuse an invalid handler now, not when its event never arrives

    def handled_types(self) -> list[str]:
        """The ``ce_type`` of every event the service handles, sorted."""
        return sorted(handler_table(self.handlers))

    def make_settings(self) -> S:
        """The service's settings from the environment (``settings_factory``), the kit's own without one."""
        if self.settings_factory is not None:
            return self.settings_factory()
        # Without a factory the definition is a ServiceDefinition[ServiceSettings]: S is ServiceSettings.
        return cast(S, ServiceSettings(service=self.name))


class Runtime(Generic[S_co]):
    """The live clients of one service process, shared by its routes, handlers and jobs."""

    def __init__(self, definition: ServiceDefinition[S_co], settings: S_co) -> None:
        self.definition = definition
        self.settings = settings
        self.client: AsyncMongoClient[Document] = create_mongo_client(settings.mongodb_uri, service=settings.service)
        self.db: AsyncDatabase[Document] = self.client[settings.mongodb_db]
        self.outbox = Outbox(self.db, service=settings.service, topic_prefix=settings.topic_prefix, now=self.now)
        # Use cases run in these (``@transactional``); their units of work carry the settings and the clock.
        self.transactions: Transactions[S_co] = Transactions(
            self.client, self.db, self.outbox, settings=settings, clock=self.now
        )
        # Reads outside a transaction (GET lists, lookups) through the same bound-collection API.
        self.reads = Collections(self.db)
        self.broker: KafkaBroker = create_broker(settings, idempotent=not definition.publishes_nothing)
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer[S_co] | None = None
        self.extras: dict[str, Any] = {}
        self._job_tasks: list[asyncio.Task[None]] = []
        self._job_leases: list[Lease] = []
        self._stopping = asyncio.Event()
        self.started = False
        # What makes /readyz answer 503 besides a plain false check, by check name (for operators).
        self.problems: dict[str, str] = {}
        # The consumers' progress is measured in the background: asking the broker for every
        # partition's committed offset can take seconds, longer than a probe may wait.
        self._progress_task: asyncio.Task[list[str]] | None = None
        self._stalled: list[str] = []
        self.log = get_logger(component="runtime")
        self._declare_publishers()
        if settings.runs_workers and definition.consumer_factory is not None:
            self.consumer = definition.consumer_factory(self)
        elif settings.runs_workers and (definition.handlers or definition.tombstone_handler):
            self.consumer = EventConsumer(
                service=settings.service,
                name=settings.service,
                transactions=self.transactions,
                broker=self.broker,
                topics=self.consumed_topics(),
                group_id=settings.consumer_group,
                dlq_topic=dlq_topic(settings.service, settings.topic_prefix),
                handlers=definition.handlers,
                tombstone_handler=definition.tombstone_handler,
                attempts=settings.handler_attempts,
                retry_initial=settings.retry_initial_seconds,
                retry_max=settings.retry_max_seconds,
                max_records=settings.consumer_max_records,
                batch_timeout_ms=settings.consumer_batch_timeout_ms,
                transient_attempts=settings.consumer_transient_attempts,
                runtime=self,
            )
            self.consumer.register()

    def now(self) -> datetime:
        """The current UTC time as the service sees it: wall time, or ``extras["clock"]`` set by tests."""
        clock: Callable[[], datetime] | None = self.extras.get("clock")
        return clock() if clock is not None else datetime.now(UTC)

    def consumed_topics(self) -> list[str]:
        """Topics holding the event types this service handles (each class names its topic)."""
        prefix = self.settings.topic_prefix
        topics = {model.topic(prefix) for model in handled_events(self.definition.handlers)}
        if self.definition.tombstone_handler is not None:
            topics.add(contacts_topic(prefix))
        return sorted(topics)

    def _declare_publishers(self) -> None:
        # Publisher objects document what the service publishes in its AsyncAPI; the relay sends.
        for model in self.definition.publishes:
            topic = self.outbox.topic_for(model.model_construct())
            self.broker.publisher(
                topic,
                title=f"{model.TYPE}:publish",
                description=(model.__doc__ or "").strip(),
                schema=model,
                include_in_schema=True,
            )

    async def start(self) -> None:
        """Connect, create indexes, run setup, start the relay, consumers and jobs."""
        await self.outbox.ensure_indexes(self.settings.outbox_retention_days)
        await self.db["inbox"].create_index("processed_at")
        # A replayed dead letter looks for a later record of its key (DLQ replay keeps order).
        await self.db["inbox"].create_index("key")
        if self.definition.setup is not None:
            await self.definition.setup(self)
        await self.broker.start()
        if self.settings.runs_workers:
            self.relay = OutboxRelay(
                self.outbox,
                self.broker,
                service=self.settings.service,
                batch_size=self.settings.relay_batch_size,
                poll_seconds=self.settings.relay_poll_seconds,
                lease_seconds=self.settings.relay_lease_seconds,
                stuck_failures=self.settings.relay_stuck_failures,
                # A worker's API runs in other processes: their commits reach it by a change stream.
                watch_commits=self.settings.role == "worker",
            )
            self.transactions.on_commit(self.relay.wake)
            self.relay.start()
            for job in self.definition.jobs:
                self._job_tasks.append(asyncio.create_task(self._run_job(job), name=job.name))
        self.started = True

    async def stop(self) -> None:
        """Graceful shutdown: stop consuming (the batch in flight finishes), flush the relay, close clients."""
        self._stopping.set()
        if self._progress_task is not None:
            self._progress_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._progress_task
        if self.consumer is not None:
            # Retry loops give up at their next pause; an un-acked batch is redelivered after restart.
            self.consumer.stopping = True
            if self.consumer.subscriber is not None:
                with contextlib.suppress(Exception):
                    await self.consumer.subscriber.stop()  # waits up to graceful_timeout for the batch in flight
        for task in self._job_tasks:
            task.cancel()
        for task in self._job_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for lease in self._job_leases:
            # Another replica (or this one restarted) takes the jobs over at once, not after expiry.
            with contextlib.suppress(Exception):
                await lease.release()
        if self.relay is not None:
            # A last pass publishes what the drained batch committed, while the producer is still up.
            await self.relay.stop(flush_seconds=self.settings.drain_seconds / 2)
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.client.close()

    async def _run_job(self, job: PeriodicJob[S_co]) -> None:
        lease = Lease(
            self.db["leases"],
            name=f"job:{job.name}",
            holder=self.relay.lease.holder if self.relay else job.name,
            seconds=max(job.interval_seconds * 3, 10.0),
        )
        self._job_leases.append(lease)
        log = get_logger(component="job", job=job.name)
        while not self._stopping.is_set():
            try:
                # Renewed only past half its life, not at every tick: an idle job costs no command for it.
                if not job.exclusive or lease.held(margin=lease.seconds / 2) or await lease.acquire():
                    await job.run(self)
            except Exception as exc:  # noqa: BLE001 - a failed run is retried at the next tick
                log.warning("job_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=job.interval_seconds)

    async def readiness(self) -> dict[str, bool]:
        """Whether MongoDB and Kafka answer and the consumers and relay run and make progress.

        Besides being alive, the relay must not be stuck on a record and its oldest pending
        event must be younger than ``relay_stale_seconds``; the consumer must not be blocked
        by refused dead letters, nor have a partition with lag that has not moved for
        ``consumer_stall_seconds``. ``problems`` says why, by check name.
        """
        checks: dict[str, bool] = {}
        problems: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.client.admin.command("ping"), timeout=2)
            checks["mongodb"] = True
        except Exception:  # noqa: BLE001
            checks["mongodb"] = False
        try:
            checks["kafka"] = bool(await self.broker.ping(timeout=2))
        except Exception:  # noqa: BLE001
            checks["kafka"] = False
        if self.settings.runs_workers:
            checks["relay"] = self.relay is not None and self.relay.running
            if self.relay is not None and self.relay.stuck is not None:
                checks["relay"] = False
                problems["relay"] = self.relay.stuck
            if self.relay is not None and checks["mongodb"]:
                await self._check_backlog(checks, problems, self.relay)
            if self.consumer is not None and self.consumer.subscriber is not None:
                checks["consumers"] = bool(self.consumer.subscriber.running)
                if self.consumer.blocked is not None:
                    checks["consumers"] = False
                    problems["consumers"] = self.consumer.blocked
                if checks["kafka"]:
                    await self._check_progress(checks, problems, self.consumer)
        checks["started"] = self.started
        self.problems = problems
        return checks

    async def _check_backlog(self, checks: dict[str, bool], problems: dict[str, str], relay: OutboxRelay) -> None:
        limit = self.settings.relay_stale_seconds
        try:
            age = await asyncio.wait_for(relay.oldest_pending_seconds(), timeout=2)
        except Exception:  # noqa: BLE001 - mongodb's own check reports the database
            return
        checks["relay_backlog"] = not (limit > 0 and age > limit)
        if not checks["relay_backlog"]:
            problems["relay_backlog"] = f"the oldest pending outbox event waits for {age:.0f}s (limit {limit:.0f}s)"

    async def _check_progress(
        self, checks: dict[str, bool], problems: dict[str, str], consumer: EventConsumer[S_co]
    ) -> None:
        task = self._progress_task
        if task is None or task.done():
            measure = consumer.stalled_partitions(self.settings.consumer_stall_seconds)
            task = self._progress_task = asyncio.create_task(asyncio.wait_for(measure, timeout=30))
            task.add_done_callback(self._progress_measured)
        # A fast broker answers within this probe; otherwise the last measurement stands.
        await asyncio.wait({task}, timeout=0.5)
        checks["consumer_progress"] = not self._stalled
        if self._stalled:
            problems["consumer_progress"] = "; ".join(self._stalled)

    def _progress_measured(self, task: asyncio.Task[list[str]]) -> None:
        if task.cancelled():
            return
        if task.exception() is None:
            self._stalled = task.result()
        else:  # kafka's own check reports the broker
            self.log.debug("consumer_progress_unknown", error=repr(task.exception()))

    def asyncapi(self) -> Any:
        """The AsyncAPI 3.0 document of what this service publishes and consumes."""
        spec = AsyncAPI(self.broker, title=self.definition.title, version=self.definition.version)
        return spec.to_specification().to_jsonable()


def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the service's runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime


# ``RuntimeDep[MissionsSettings]`` in a route gives that service's runtime, its settings typed; ``RuntimeDep``
# alone is ``Runtime[ServiceSettings]``, for the kit's own routes.
RuntimeDep = Annotated[Runtime[S], Depends(get_runtime)]


def create_app(definition: ServiceDefinition[S], settings: S | None = None) -> FastAPI:
    """Build the FastAPI app of a service; connections open in its lifespan."""
    settings = settings or definition.make_settings()
    configure_logging(settings.service, settings.log_level)
    tracing.setup(settings.service)  # before the clients: their commands are traced from the start
    if definition.routers:
        # A process with no API (a regional consumer) checks no tokens and needs no issuer.
        check_token_settings(settings)
    runtime = Runtime(definition, settings)
    app = FastAPI(title=definition.title, version=definition.version, lifespan=_lifespan(runtime))
    tracing.instrument_app(app)
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app)
    document_error_bodies(app)
    install_request_context(app, settings.service, settings.trusted_request_id_from)
    _add_operator_routes(app, runtime)
    if settings.runs_api:
        for router in definition.routers:
            app.include_router(router)
    return app


def _lifespan(runtime: Runtime[S]) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: the runtime starts before the first request and stops after the last."""
    settings = runtime.settings

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        runtime.log.info("service_started", role=settings.role, port=settings.http_port)
        try:
            yield
        finally:
            runtime.log.info("service_stopping")
            await runtime.stop()

    return lifespan


def _add_operator_routes(app: FastAPI, runtime: Runtime[S]) -> None:
    """Liveness, readiness, metrics and the AsyncAPI document (outside the public OpenAPI schema)."""
    settings = runtime.settings

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        content: dict[str, Any] = {"ready": ready, "checks": checks}
        if runtime.problems:
            content["problems"] = runtime.problems
        return JSONResponse(status_code=200 if ready else 503, content=content)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        if runtime.started and runtime.settings.runs_workers:
            with contextlib.suppress(Exception):
                from vies_shared import metrics

                metrics.OUTBOX_BACKLOG.labels(settings.service).set(await runtime.outbox.backlog())
                await oldest_pending_seconds(runtime.outbox)
        return metrics_response()

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> Any:
        return runtime.asyncapi()


def serve(definition: ServiceDefinition[S], settings: S | None = None) -> None:
    """Run a service with uvicorn (SIGTERM/SIGINT trigger the graceful shutdown)."""
    settings = settings or definition.make_settings()
    try:
        app = create_app(definition, settings)
    except InsecureSettings as exc:
        print(f"vies-{settings.service}: refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.drain_seconds),
    )
