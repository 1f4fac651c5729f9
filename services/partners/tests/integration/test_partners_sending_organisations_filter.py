"""Sending organisations filtered by whether their approval is valid today, by the API and page by page.

Head office's page lists them; narrowing a fetched page in the portal could hide some.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vies_dev.testing.helpers import running
from vies_partners.app import create
from vies_partners.settings import PartnersSettings

pytestmark = pytest.mark.integration


async def test_approval_valid_filters_and_pages_on_the_server(vies_settings: Any, vies_stack: Any) -> None:
    settings = vies_settings("partners", PartnersSettings)
    today = datetime.now(UTC).date()  # the service's today (UTC)
    day = timedelta(days=1)
    year = timedelta(days=365)
    approvals: dict[str, tuple[date | None, date | None]] = {
        "Alpha": (today - year, today + year),
        "Bravo": (today - year, today + year),
        "Charlie": (today, today + year),  # begins today: valid
        "Delta": (today - year, today),  # ends today: still valid
        "Echo": (today - year, today + year),
        "Foxtrot": (today - 3 * year, today - day),  # expired yesterday
        "Golf": (today + day, today + year),  # not begun yet
        "Hotel": (None, None),  # none
    }
    valid = ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    async with running(create(settings), settings) as svc:
        staff = svc.auth("staff")
        for name, (start, end) in reversed(approvals.items()):
            body = {
                "name": f"Association {name}",
                "approval_number": f"VSI-{name}" if start else None,
                "approved_from": start.isoformat() if start else None,
                "approved_until": end.isoformat() if end else None,
            }
            r = await svc.client.post("/sending-organisations", json=body, headers=staff)
            assert r.status_code == 201, r.text

        async def pages(approval_valid: str, size: int) -> tuple[list[str], set[int]]:
            names: list[str] = []
            totals: set[int] = set()
            for offset in range(0, len(approvals), size):
                r = await svc.client.get(
                    "/sending-organisations",
                    params={"approval_valid": approval_valid, "limit": size, "offset": offset},
                    headers=svc.auth("centre", country="SN"),
                )
                assert r.status_code == 200, r.text
                totals.add(r.json()["total"])
                assert all(o["approval_valid"] is (approval_valid == "true") for o in r.json()["items"])
                names += [o["name"].removeprefix("Association ") for o in r.json()["items"]]
            return names, totals

        # Every page holds only what was asked for, by name, none left out, the total that of the filter.
        names, totals = await pages("true", 2)
        assert names == valid and totals == {len(valid)}
        names, totals = await pages("false", 2)
        assert names == ["Foxtrot", "Golf", "Hotel"] and totals == {3}
        r = await svc.client.get("/sending-organisations", params={"limit": 200}, headers=staff)
        assert r.json()["total"] == len(approvals)
        r = await svc.client.get("/sending-organisations", params={"approval_valid": "maybe"}, headers=staff)
        assert r.status_code == 422
