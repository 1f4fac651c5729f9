"""Helpers of the missions fast tests: the service on in-memory fakes, planned missions, callers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from vies_dev.testing.fakes import FakeClock, FakeRuntime
from vies_missions.app import build_definition
from vies_missions.domain.mission import mission_id_for
from vies_missions.settings import MissionsSettings
from vies_missions.use_cases import start_mission, tick_checklist
from vies_shared.events.recruitment import VolunteerEngaged
from vies_shared.tokens import Principal

ALL_ITEMS = ("training", "insurance", "visa", "travel_registration", "emergency_contact")
CENTRE_SN = Principal(sub="centre-sn", role="centre", country="SN")
STAFF = Principal(sub="staff-1", role="staff")


async def missions_runtime(**overrides: Any) -> FakeRuntime[MissionsSettings]:
    """The missions service on fakes, its indexes created, its clock at 2026-01-12 09:00 UTC."""
    settings = MissionsSettings(env="dev", mongodb_db="fake_missions", **overrides)
    runtime = FakeRuntime(build_definition(settings), settings, clock=FakeClock(datetime(2026, 1, 12, 9, tzinfo=UTC)))
    await runtime.start()
    return runtime


def engagement(
    *,
    country: str = "SN",
    scheme: str = "vsi",
    starts_on: date = date(2026, 1, 5),
    months: int = 12,
    authority_id: str = "auth-1",
    partner_id: str = "partner-1",
    **extra: Any,
) -> VolunteerEngaged:
    """A ``recruitment.VolunteerEngaged`` with fresh ids (``extra``: its optional fields)."""
    suffix = uuid.uuid4().hex[:8]
    return VolunteerEngaged(
        engagement_id=f"eng-{suffix}",
        application_id=f"app-{suffix}",
        volunteer_id=f"vol-{suffix}",
        position_id=f"pos-{suffix}",
        authority_id=authority_id,
        partner_id=partner_id,
        country=country,
        scheme=scheme,  # type: ignore[arg-type]
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=30 * months),
        **extra,
    )


def volunteer_of(event: VolunteerEngaged) -> Principal:
    """The engaged volunteer as a caller."""
    return Principal(sub=event.volunteer_id, role="volunteer")


async def planned(runtime: FakeRuntime[MissionsSettings], event: VolunteerEngaged | None = None) -> str:
    """Deliver an engagement to the handler and return the mission it planned."""
    event = event or engagement()
    await runtime.deliver(event)
    return mission_id_for(event.engagement_id)


async def started(runtime: FakeRuntime[MissionsSettings], mission_id: str, departed_on: date) -> None:
    """Tick the whole checklist as the centre, then record the departure."""
    for item in ALL_ITEMS:
        await tick_checklist(runtime, CENTRE_SN, mission_id, item, departed_on - timedelta(days=3))
    await start_mission(runtime, CENTRE_SN, mission_id, departed_on)
