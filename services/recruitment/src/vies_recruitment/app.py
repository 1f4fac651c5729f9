"""Composition root of the recruitment service."""

from __future__ import annotations

from fastapi import FastAPI

from vies_recruitment import api, demo, handlers, store
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events import recruitment as events
from vies_shared.events.base import events_in
from vies_shared.messaging import dead_letter_api
from vies_shared.service import Runtime, ServiceDefinition, create_app, serve


async def setup(runtime: Runtime[RecruitmentSettings]) -> None:
    """Indexes, then demo data when ``VIES_DEMO_DATA`` is on."""
    await store.ensure_indexes(runtime)
    if runtime.settings.demo_data:
        await demo.seed(runtime)


definition = ServiceDefinition(
    name="recruitment",
    title="VIES recruitment",
    routers=[api.router, dead_letter_api.router],
    handlers=handlers.HANDLERS,
    publishes=events_in(events),
    setup=setup,
    settings_factory=RecruitmentSettings,
)


def create(settings: RecruitmentSettings | None = None) -> FastAPI:
    """The FastAPI app (for uvicorn factories and tests)."""
    return create_app(definition, settings)


def main() -> None:
    """Console script ``vies-recruitment``."""
    serve(definition)
