"""Composition root of the partners service (nothing connects at import time)."""

from __future__ import annotations

from fastapi import FastAPI

from vies_partners import api, handlers, store
from vies_partners.settings import PartnersSettings
from vies_shared.events import partners as partner_events
from vies_shared.events.base import events_in
from vies_shared.messaging import dead_letter_api
from vies_shared.service import ServiceDefinition, create_app, serve

definition = ServiceDefinition(
    name="partners",
    title="VIES partners",
    routers=[api.router, dead_letter_api.router],
    handlers=handlers.HANDLERS,
    publishes=events_in(partner_events),
    setup=store.setup,
    settings_factory=PartnersSettings,
)


def create(settings: PartnersSettings | None = None) -> FastAPI:
    """The partners service's FastAPI app."""
    return create_app(definition, settings)


def main() -> None:
    """Console script ``vies-partners``."""
    serve(definition)
