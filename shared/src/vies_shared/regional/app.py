"""Composition root of a regional consumer: the kit's runtime (health, readiness, metrics, graceful
shutdown) with the regional consumer, the webhook forwarder and the JSON Lines writer."""

from __future__ import annotations

from fastapi import FastAPI

from vies_shared.regional import store
from vies_shared.regional.consumer import RegionalConsumer
from vies_shared.regional.forwarding import JsonlWriter, WebhookForwarder
from vies_shared.regional.settings import RegionalSettings
from vies_shared.service import PeriodicJob, Runtime, ServiceDefinition, create_app, serve


def definition(settings: RegionalSettings) -> ServiceDefinition:
    """The regional consumer as a kit service: no HTTP API of its own, one consumer, up to two writers."""
    jobs: list[PeriodicJob] = []
    if settings.regional_webhook_url is not None:
        jobs.append(PeriodicJob("webhook", settings.regional_forward_poll_seconds, WebhookForwarder(settings).run))
    if settings.regional_jsonl_path is not None:
        jobs.append(PeriodicJob("jsonl", settings.regional_forward_poll_seconds, JsonlWriter(settings).run))

    async def setup(runtime: Runtime) -> None:
        await store.ensure_indexes(runtime.db)
        await _warn_about_orphan_queues(runtime, settings)

    def regional_consumer(runtime: Runtime) -> RegionalConsumer:
        # A subclass of the kit's consumer: region filter, skip (never dead-letter) what it cannot read.
        consumer = RegionalConsumer(settings=settings, transactions=runtime.transactions, broker=runtime.broker)
        consumer.register()
        return consumer

    return ServiceDefinition(
        name="regional",
        title=f"VIES regional consumer {settings.region}",
        jobs=jobs,
        setup=setup,
        # Never produces: a read-only Kafka user is refused the producer id an idempotent producer asks for.
        publishes_nothing=True,
        consumer_factory=regional_consumer,
    )


async def _warn_about_orphan_queues(runtime: Runtime, settings: RegionalSettings) -> None:
    # Events queued for a target that is no longer configured stay queued (never silently dropped).
    targets = {store.WEBHOOK_QUEUE: settings.regional_webhook_url, store.JSONL_QUEUE: settings.regional_jsonl_path}
    for queue, target in targets.items():
        if target is None:
            waiting = await runtime.db[queue].count_documents({})
            if waiting:
                runtime.log.warning("queue_without_target", queue=queue, waiting=waiting)


def create(settings: RegionalSettings) -> FastAPI:
    """The FastAPI app serving ``/healthz``, ``/readyz`` and ``/metrics`` around the consumer."""
    return create_app(definition(settings), settings)


def run(settings: RegionalSettings) -> None:
    """Run until SIGTERM/SIGINT (the batch in flight finishes and commits first)."""
    serve(definition(settings), settings)
