"""Composition root of the notifications service."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from vies_notifications import answer_links, api, delivery, handlers, owners, scheduler, sealing, store
from vies_notifications.settings import NotificationsSettings
from vies_shared.events import notifications as events
from vies_shared.events.base import events_in
from vies_shared.messaging import dead_letter_api
from vies_shared.service import PeriodicJob, Runtime, ServiceDefinition, create_app, serve
from vies_shared.tokens import InsecureSettings, check_token_settings


def _settings() -> NotificationsSettings:
    return NotificationsSettings()


def _jobs(settings: NotificationsSettings) -> list[PeriodicJob[NotificationsSettings]]:
    return [
        # Every replica delivers; the atomic claim keeps two from sending the same notification. The job runs
        # the delivery lanes until the service stops (woken by commits); it is started again if it fails.
        PeriodicJob("deliver-notifications", settings.delivery_poll_seconds, delivery.deliver_due, exclusive=False),
        # One replica at a time (lease), and once per region and day whatever happens (unique key).
        PeriodicJob("regional-digest", settings.digest_check_seconds, scheduler.regional_digest_job),
    ]


async def setup(runtime: Runtime[NotificationsSettings]) -> None:
    """Indexes, subscription secrets sealed with the current key, the owners' directory, the delivery worker."""
    await store.ensure_indexes(runtime)
    settings = runtime.settings
    box = runtime.extras["secret_box"] = sealing.box_from_settings(settings)
    await sealing.reseal_subscriptions(runtime, box)
    # None only in development without an identity provider: owners are then not checked.
    runtime.extras.setdefault("owner_directory", owners.directory_from_settings(settings))
    runtime.extras["delivery"] = delivery.DeliveryWorker(runtime)
    await delivery.mark_waiting_persons(runtime)


def check_settings(settings: NotificationsSettings) -> None:
    """The service's own start-up refusals (after the platform's token checks): ``InsecureSettings``."""
    sealing.check_settings(settings)
    owners.check_settings(settings)
    answer_links.check_settings(settings)


def build(settings: NotificationsSettings | None = None) -> ServiceDefinition[NotificationsSettings]:
    """The service definition; job intervals come from settings."""
    settings = settings or _settings()
    return ServiceDefinition(
        name="notifications",
        title="VIES notifications",
        routers=[api.router, dead_letter_api.router],
        handlers=handlers.HANDLERS,
        tombstone_handler=handlers.on_tombstone,
        publishes=events_in(events),
        jobs=_jobs(settings),
        setup=setup,
        settings_factory=_settings,
    )


definition = build(NotificationsSettings.model_construct())  # defaults only: the environment is read in create()


def create(settings: NotificationsSettings | None = None) -> FastAPI:
    """The FastAPI app (connections open in its lifespan)."""
    settings = settings or _settings()
    check_token_settings(settings)
    check_settings(settings)
    return create_app(build(settings), settings)


def main() -> None:
    """Console script ``vies-notifications``."""
    settings = _settings()
    try:
        check_token_settings(settings)  # the platform's refusals first, with their own messages
        check_settings(settings)
    except InsecureSettings as exc:
        print(f"vies-notifications: refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc
    serve(build(settings), settings)
