"""Helpers shared by the missions integration tests (real Kafka and MongoDB)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import ServiceHarness
from vies_missions.app import create
from vies_missions.domain.mission import mission_id_for
from vies_missions.settings import MissionsSettings
from vies_shared.events.recruitment import Place, VolunteerEngaged
from vies_shared.events.topics import events_topic

ALL_ITEMS = ("training", "insurance", "visa", "travel_registration", "emergency_contact")


def settings_for(vies_settings: Any, **overrides: Any) -> MissionsSettings:
    """Missions settings on the test stack, with fast schedulers unless overridden."""
    values: dict[str, Any] = {
        "check_in_scan_seconds": 0.2,
        "safety_deadline_scan_seconds": 0.2,
        "incident_escalation_scan_seconds": 0.2,
    }
    values.update(overrides)
    settings: MissionsSettings = vies_settings("missions", MissionsSettings, **values)
    return settings


def app_for(settings: MissionsSettings) -> Any:
    """The missions app for these settings."""
    return create(settings)


def engagement(
    *,
    country: str = "SN",
    scheme: str = "vsi",
    starts_on: date | None = None,
    months: int = 12,
    authority_id: str = "auth-1",
    partner_id: str = "partner-1",
    volunteer_id: str | None = None,
    place: Place | None = None,
) -> VolunteerEngaged:
    """A ``recruitment.VolunteerEngaged`` event with fresh ids."""
    starts = starts_on or date(2026, 1, 5)
    suffix = uuid.uuid4().hex[:8]
    return VolunteerEngaged(
        engagement_id=f"eng-{suffix}",
        application_id=f"app-{suffix}",
        volunteer_id=volunteer_id or f"vol-{suffix}",
        position_id=f"pos-{suffix}",
        authority_id=authority_id,
        partner_id=partner_id,
        country=country,
        scheme=scheme,  # type: ignore[arg-type]
        starts_on=starts,
        ends_on=starts + timedelta(days=30 * months),
        place=place,
    )


async def count_is(collection: Any, query: dict[str, Any], expected: int) -> bool:
    """Whether ``collection`` holds exactly ``expected`` documents matching ``query``."""
    return bool(await collection.count_documents(query) == expected)


async def plan(svc: ServiceHarness, bootstrap: str, prefix: str, event: VolunteerEngaged) -> str:
    """Publish an engagement like recruitment would and wait until its mission exists."""
    await publish_event(bootstrap, events_topic("recruitment", prefix), event)
    mission_id = mission_id_for(event.engagement_id)
    await wait_until(
        lambda: svc.runtime.db["missions"].find_one({"_id": mission_id}), message=f"mission {mission_id} planned"
    )
    return mission_id


async def start(svc: ServiceHarness, mission_id: str, departed_on: date, country: str = "SN") -> dict[str, Any]:
    """Tick the whole checklist and start the mission as the centre of its country."""
    centre = svc.auth("centre", country=country)
    for item in ALL_ITEMS:
        r = await svc.client.post(
            f"/missions/{mission_id}/checklist", json={"item": item, "done_on": "2026-01-01"}, headers=centre
        )
        assert r.status_code == 200, r.text
    r = await svc.client.post(
        f"/missions/{mission_id}/start", json={"departed_on": departed_on.isoformat()}, headers=centre
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
