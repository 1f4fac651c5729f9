"""Sign-in tests against a real Keycloak (the plugin's ``vies_keycloak``) and a real service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from vies_dev.testing.helpers import ServiceHarness, running
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.keycloak import KeycloakEndpoints


@pytest_asyncio.fixture
async def recruitment(vies_settings: Any, vies_keycloak: KeycloakEndpoints) -> AsyncIterator[ServiceHarness]:
    """Recruitment as in production (VIES_ENV=production), trusting only the Keycloak issuer, with demo data."""
    settings = vies_settings(
        "recruitment",
        RecruitmentSettings,
        env="production",
        oidc_issuer=vies_keycloak.issuer,
        oidc_audience="vies-api",
        demo_data=True,
    )
    async with running(create(settings), settings) as svc:
        yield svc
