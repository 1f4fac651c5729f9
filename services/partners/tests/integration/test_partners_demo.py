"""Demo data: seeded at start-up through the use cases, idempotent across restarts; service documents."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing.helpers import running
from vies_partners.app import create
from vies_partners.demo import AUTHORITIES, PARTNERS, PARTNERSHIPS
from vies_partners.settings import PartnersSettings

pytestmark = pytest.mark.integration


async def test_demo_data_is_seeded_once(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = vies_settings("partners", PartnersSettings, demo_data=True)
    for _ in range(2):  # a restart seeds nothing twice
        async with running(create(settings), settings) as svc:
            staff = svc.auth("staff")
            r = await svc.client.get("/partners?limit=200", headers=staff)
            partners = r.json()["items"]
            assert len(partners) == len(PARTNERS)
            assert {p["status"] for p in partners} == {"approved", "pending"}
            assert len({p["country"] for p in partners}) >= 12
            r = await svc.client.get("/authorities?limit=200", headers=staff)
            regions = {a["region"] for a in r.json()["items"]}
            assert len(r.json()["items"]) == len(AUTHORITIES) and {"FR-974", "FR-973"} <= regions
            assert (await svc.client.get("/partnerships", headers=staff)).json()["total"] == len(PARTNERSHIPS)
            r = await svc.client.get("/authorities/aut-demo-ara/journey", headers=staff)
            assert r.json()["next"]["step"] == "position_published"
            r = await svc.client.post(
                "/match-requests",
                json={"authority_id": "aut-demo-finistere", "themes": ["health"], "languages": ["fr"]},
                headers=staff,
            )
            assert r.status_code == 201 and r.json()["suggestions"][0]["partner_id"] == "par-demo-sn-ziguinchor"

            spec = (await svc.client.get("/asyncapi.json")).json()
            assert "partners.PartnershipEstablished:publish" in str(spec)
            paths = (await svc.client.get("/openapi.json")).json()["paths"]
            assert {"/authorities/{authority_id}/journey", "/journeys/stalled", "/programme/indicators"} <= set(paths)
