"""Helpers of the partners fast tests: the service on in-memory fakes, bodies, approved partners, callers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from vies_dev.testing.fakes import FakeClock, FakeRuntime
from vies_partners import use_cases
from vies_partners.app import definition
from vies_partners.schemas import AuthorityIn, PartnerIn, PartnershipIn
from vies_partners.settings import PartnersSettings
from vies_shared.events.missions import MissionPlanned
from vies_shared.tokens import Principal

Partners = FakeRuntime[PartnersSettings]

BRANCH_ARA = Principal(sub="branch-ara", role="branch", region="FR-ARA")
AUTHORITY = Principal(sub="agent-1", role="authority", authority_id="auth-1", region="FR-ARA")
CENTRE_SN = Principal(sub="centre-sn", role="centre", country="SN")
STAFF = Principal(sub="staff-1", role="staff")


async def partners_runtime(**overrides: Any) -> Partners:
    """Partners on fakes (clock at 2026-05-04 09:00 UTC), its indexes created."""
    settings = PartnersSettings(**{"env": "dev", "mongodb_db": "fake_partners", **overrides})
    runtime = FakeRuntime(definition, settings, clock=FakeClock(datetime(2026, 5, 4, 9, tzinfo=UTC)))
    await runtime.start()
    return runtime


def authority_body(**overrides: Any) -> AuthorityIn:
    """A regional authority of Auvergne-Rhône-Alpes."""
    body: dict[str, Any] = {
        "name": "Région Auvergne-Rhône-Alpes",
        "kind": "region",
        "region": "FR-ARA",
        "contact": {"name": "Claire Dubois", "email": "claire@region.example"},
        "territoires_volontaires": True,
    }
    return AuthorityIn.model_validate({**body, **overrides})


def partner_body(name: str = "Eau Vive Saint-Louis", **overrides: Any) -> PartnerIn:
    """A water NGO in Senegal."""
    body: dict[str, Any] = {
        "name": name,
        "kind": "ngo",
        "country": "SN",
        "city": "Saint-Louis",
        "themes": ["water_sanitation"],
        "languages": ["fr", "wo"],
        "hosting_capacity": 3,
    }
    return PartnerIn.model_validate({**body, **overrides})


async def approved_partner(runtime: Partners, name: str = "Eau Vive Saint-Louis", **overrides: Any) -> str:
    """A registered partner that staff approved (a partner in Senegal unless told)."""
    partner = await use_cases.register_partner(runtime, STAFF, partner_body(name, **overrides))
    await use_cases.vet_partner(runtime, STAFF, partner["partner_id"], "approve", None)
    return str(partner["partner_id"])


async def registered_authority(
    runtime: Partners, name: str = "Figeac", region: str = "FR-OCC", **overrides: Any
) -> str:
    """An authority registered by staff (enrolled in Territoires Volontaires unless told)."""
    body = authority_body(name=name, region=region, **overrides)
    return str((await use_cases.register_authority(runtime, STAFF, body))["authority_id"])


async def partnership(runtime: Partners, authority_id: str, partner_id: str, **overrides: Any) -> str:
    """A partnership established by staff from 2026-06-01."""
    body = {"authority_id": authority_id, "partner_id": partner_id, "themes": ["education"], "starts_on": "2026-06-01"}
    created = await use_cases.establish_partnership(runtime, STAFF, PartnershipIn.model_validate({**body, **overrides}))
    return str(created["partnership_id"])


def mission_planned(
    mission_id: str, authority_id: str, partner_id: str, scheme: str = "vsi", country: str = "TG"
) -> MissionPlanned:
    """``missions.MissionPlanned`` of a year from 2026-09-01."""
    return MissionPlanned(
        mission_id=mission_id,
        engagement_id=f"eng-{mission_id}",
        volunteer_id=f"vol-{mission_id}",
        authority_id=authority_id,
        partner_id=partner_id,
        country=country,
        scheme=scheme,  # type: ignore[arg-type]
        starts_on=date(2026, 9, 1),
        ends_on=date(2027, 8, 31),
    )
