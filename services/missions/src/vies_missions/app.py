"""Composition root of the missions service: settings → definition → FastAPI app."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from vies_missions import api, handlers, safety_links, scheduler, store
from vies_missions.settings import MissionsSettings
from vies_shared.events import missions as events
from vies_shared.events.base import events_in
from vies_shared.messaging import dead_letter_api
from vies_shared.service import PeriodicJob, Runtime, ServiceDefinition, create_app, serve
from vies_shared.tokens import InsecureSettings


async def setup(runtime: Runtime[MissionsSettings]) -> None:
    """Indexes, then the demo data when ``VIES_DEMO_DATA`` is on."""
    await store.ensure_indexes(runtime.db)
    if runtime.settings.demo_data:
        from vies_missions import demo

        await demo.seed(runtime)


async def _missed_check_ins(runtime: Runtime[MissionsSettings]) -> None:
    await scheduler.emit_missed_check_ins(runtime)


async def _safety_deadlines(runtime: Runtime[MissionsSettings]) -> None:
    await scheduler.close_due_safety_checks(runtime)


async def _safety_ladder(runtime: Runtime[MissionsSettings]) -> None:
    await scheduler.remind_unanswered_volunteers(runtime)
    await scheduler.escalate_unaccounted_to_head_office(runtime)


async def _overdue_follow_ups(runtime: Runtime[MissionsSettings]) -> None:
    await scheduler.report_overdue_follow_ups(runtime)


async def _escalations(runtime: Runtime[MissionsSettings]) -> None:
    await scheduler.escalate_unacknowledged_incidents(runtime)


def build_definition(settings: MissionsSettings | None = None) -> ServiceDefinition[MissionsSettings]:
    """The service's definition; its handlers and job intervals follow ``settings``."""
    settings = settings or MissionsSettings()
    return ServiceDefinition(
        name="missions",
        title="VIES missions",
        routers=[api.router, safety_links.router, dead_letter_api.router],
        handlers=handlers.HANDLERS,
        tombstone_handler=handlers.on_contact_tombstone,
        publishes=events_in(events),
        jobs=[
            PeriodicJob(
                "missed-check-ins",
                settings.check_in_scan_seconds,
                _missed_check_ins,
                exclusive=settings.check_in_scan_exclusive,
            ),
            PeriodicJob("safety-check-deadlines", settings.safety_deadline_scan_seconds, _safety_deadlines),
            PeriodicJob(
                "safety-check-ladder",
                settings.safety_deadline_scan_seconds,
                _safety_ladder,
                exclusive=settings.safety_ladder_exclusive,
            ),
            PeriodicJob("incident-escalations", settings.incident_escalation_scan_seconds, _escalations),
            PeriodicJob("overdue-follow-ups", settings.follow_up_scan_seconds, _overdue_follow_ups),
        ],
        setup=setup,
        settings_factory=MissionsSettings,
    )


def create(settings: MissionsSettings | None = None) -> FastAPI:
    """The FastAPI app of the missions service (settings from the environment by default)."""
    settings = settings or MissionsSettings()
    safety_links.check_settings(settings)
    return create_app(build_definition(settings), settings)


definition = build_definition()


def main() -> None:
    """Console script ``vies-missions``."""
    settings = MissionsSettings()
    try:
        safety_links.check_settings(settings)
    except InsecureSettings as exc:
        print(f"vies-missions: refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc
    serve(build_definition(settings), settings)
