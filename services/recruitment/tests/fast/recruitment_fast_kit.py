"""Helpers of the recruitment fast tests: the service on in-memory fakes, its directory, positions, callers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from typing_extensions import Unpack

from vies_dev.testing.fakes import FakeClock, FakeRuntime
from vies_dev.testing.recruitment import Directory, candidate, directory_events, position
from vies_recruitment import use_cases
from vies_recruitment.app import definition
from vies_recruitment.schemas import ApplicationIn, EngagementIn, PositionIn
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.tokens import Principal

Recruitment = FakeRuntime[RecruitmentSettings]

AUTHORITY = Principal(sub="agent-1", role="authority", authority_id="auth-1")
OTHER_AUTHORITY = Principal(sub="agent-2", role="authority", authority_id="auth-2")
STAFF = Principal(sub="staff-1", role="staff")
CONTRACT = EngagementIn(starts_on=date(2027, 3, 1), ends_on=date(2028, 2, 29))


def person(sub: str, **claims: Any) -> Principal:
    """A candidate caller."""
    return Principal(sub=sub, role="candidate", **claims)


async def seed_directory(runtime: Recruitment, **directory: Unpack[Directory]) -> None:
    """An authority, an approved partner, their partnership and a sending organisation, through the handlers."""
    for event, region in directory_events(**directory):
        await runtime.deliver(event, region=region)


async def recruitment_runtime(*, directory: bool = True, **overrides: Any) -> Recruitment:
    """Recruitment on fakes (clock at 2026-11-02 09:00 UTC), with auth-1's directory projected unless told."""
    settings = RecruitmentSettings(**{"env": "dev", "mongodb_db": "fake_recruitment", **overrides})
    runtime = FakeRuntime(definition, settings, clock=FakeClock(datetime(2026, 11, 2, 9, tzinfo=UTC)))
    await runtime.start()
    if directory:
        await seed_directory(runtime)
        runtime.clear_events()
    return runtime


async def drafted(runtime: Recruitment, caller: Principal = AUTHORITY, **overrides: Any) -> str:
    """A draft position (a VSI of auth-1 in Senegal unless told)."""
    draft = await use_cases.create_position(runtime, caller, PositionIn.model_validate(position(**overrides)))
    return str(draft["position_id"])


async def published(runtime: Recruitment, caller: Principal = AUTHORITY, **overrides: Any) -> str:
    """A published position (a VSI of auth-1 in Senegal unless told)."""
    position_id = await drafted(runtime, caller, **overrides)
    await use_cases.publish_position(runtime, caller, position_id)
    return position_id


async def applied(runtime: Recruitment, position_id: str, sub: str, **profile: Any) -> Any:
    """An application of candidate ``sub`` (email ``<sub>@example.org``)."""
    body = ApplicationIn.model_validate(candidate(sub.title(), f"{sub}@example.org", **profile))
    return await use_cases.apply(runtime, person(sub), position_id, body)


async def selected(runtime: Recruitment, application_id: str, caller: Principal = AUTHORITY) -> None:
    """Shortlist, interview and select an application."""
    await use_cases.shortlist(runtime, caller, application_id)
    await use_cases.schedule_interview(runtime, caller, application_id, datetime(2026, 12, 10, 10, tzinfo=UTC))
    await use_cases.select(runtime, caller, application_id)


def reason_codes(details: Any) -> list[str]:
    """The rule codes of a 409's ``details.reasons``."""
    assert isinstance(details, dict), details
    return [reason["code"] for reason in details["reasons"]]
