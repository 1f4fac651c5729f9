"""Composition root of the notifications service."""

from __future__ import annotations

from fastapi import FastAPI

from vies_notifications import api, delivery, handlers, scheduler, store
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.notifications import NotificationFailed, NotificationSent
from vies_shared.service import PeriodicJob, Runtime, ServiceDefinition, create_app, serve


def _settings() -> NotificationsSettings:
    return NotificationsSettings()


def _jobs(settings: NotificationsSettings) -> list[PeriodicJob]:
    return [
        # Every replica delivers; the atomic claim keeps two from sending the same notification.
        PeriodicJob("deliver-notifications", settings.delivery_poll_seconds, delivery.deliver_due, exclusive=False),
        # One replica at a time (lease), and once per region and day whatever happens (unique key).
        PeriodicJob("regional-digest", settings.digest_check_seconds, scheduler.regional_digest_job),
    ]


async def setup(runtime: Runtime) -> None:
    """Indexes, and the delivery worker's state."""
    await store.ensure_indexes(runtime)
    runtime.extras["delivery"] = delivery.DeliveryWorker(runtime)


def build(settings: NotificationsSettings | None = None) -> ServiceDefinition:
    """The service definition; job intervals come from settings."""
    settings = settings or _settings()
    return ServiceDefinition(
        name="notifications",
        title="VIES notifications",
        routers=[api.router],
        handlers=handlers.handlers(),
        tombstone_handler=handlers.on_tombstone,
        publishes=[NotificationSent, NotificationFailed],
        jobs=_jobs(settings),
        setup=setup,
        settings_factory=_settings,
    )


definition = build(NotificationsSettings.model_construct())  # defaults only: the environment is read in create()


def create(settings: NotificationsSettings | None = None) -> FastAPI:
    """The FastAPI app (connections open in its lifespan)."""
    settings = settings or _settings()
    return create_app(build(settings), settings)


def main() -> None:
    """Console script ``vies-notifications``."""
    settings = _settings()
    serve(build(settings), settings)
