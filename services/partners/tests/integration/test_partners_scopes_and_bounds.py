"""Scopes that hold in the partner directory and bounded input."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing.helpers import running
from vies_partners.app import create
from vies_partners.settings import PartnersSettings

pytestmark = pytest.mark.integration

SECRET_EMAIL = "awa.sagna@kolda.example.sn"


def partner_body(name: str, country: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "kind": "association",
        "country": country,
        "city": "Kolda",
        "themes": ["health"],
        "languages": ["fr"],
        "hosting_capacity": 2,
        "contacts": [{"name": "Awa Sagna", "email": SECRET_EMAIL, "phone": "+221770000000"}],
    }
    body.update(over)
    return body


async def test_the_directory_shows_contacts_history_and_unvetted_partners_only_to_staff_and_the_centre(
    vies_settings: Any, test_id: str
) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        c = svc.client
        staff = svc.auth("staff")
        sn_centre = svc.auth("centre", "centre-sn", country="SN")

        async def register(name: str, country: str = "SN") -> str:
            body = partner_body(f"{name} {test_id}", country)
            if country != "SN":
                body["contacts"] = [{"name": "Hery Rakoto", "email": "hery@majunga.example.mg"}]
            r = await c.post("/partners", json=body, headers=staff)
            assert r.status_code == 201, r.text
            return str(r.json()["partner_id"])

        approved, pending, rejected, suspended = [
            await register(n) for n in ("Approved", "Pending", "Rejected", "Suspended")
        ]
        elsewhere = await register("Elsewhere", "MG")
        for pid, steps in (
            (approved, [("approve", {"notes": "visited the clinic"})]),
            (rejected, [("reject", {"reason": "no legal existence"})]),
            (suspended, [("approve", {}), ("suspend", {"reason": "audit"})]),
            (elsewhere, [("approve", {})]),
        ):
            for action, body in steps:
                assert (await c.post(f"/partners/{pid}/{action}", json=body, headers=staff)).status_code == 200

        authority = svc.auth("authority", "officer", authority_id="aut-x", region="FR-BRE")
        branch = svc.auth("branch", "branch-bre", region="FR-BRE")
        mg_centre = svc.auth("centre", "centre-mg", country="MG")
        for who in (authority, branch, mg_centre):
            # Approved and suspended partners: readable, without contact persons or vetting history.
            for pid in (approved, suspended):
                r = await c.get(f"/partners/{pid}", headers=who)
                assert r.status_code == 200, r.text
                assert "contacts" not in r.json() and "history" not in r.json()
                assert SECRET_EMAIL not in r.text and "visited the clinic" not in r.text
            # Pending and rejected partners do not exist for them.
            for pid in (pending, rejected):
                assert (await c.get(f"/partners/{pid}", headers=who)).status_code == 404
            r = await c.get(f"/partners?q={test_id}", headers=who)
            assert sorted(p["partner_id"] for p in r.json()["items"]) == sorted([approved, suspended, elsewhere])
            assert r.json()["total"] == 3 and SECRET_EMAIL not in r.text
            r = await c.get(f"/partners?q={test_id}&status=pending", headers=who)
            assert r.json()["items"] == [] and r.json()["total"] == 0

        # Staff and the centre of the partner's country: everything, contacts and history included.
        for who in (staff, sn_centre):
            for pid in (approved, pending, rejected, suspended):
                r = await c.get(f"/partners/{pid}", headers=who)
                assert r.status_code == 200
                assert r.json()["contacts"][0]["email"] == SECRET_EMAIL and r.json()["history"]
        r = await c.get(f"/partners?q={test_id}", headers=sn_centre)
        by_id = {p["partner_id"]: p for p in r.json()["items"]}
        assert set(by_id) == {approved, pending, rejected, suspended, elsewhere}
        assert "contacts" not in by_id[elsewhere], "another country's partner: no contacts for this centre"
        assert by_id[pending]["contacts"][0]["email"] == SECRET_EMAIL
        r = await c.get(f"/partners/{elsewhere}", headers=sn_centre)
        assert r.status_code == 200 and "history" not in r.json()

        # A partner reads its own record and nothing else.
        own = svc.auth("partner", "partner-user", partner_id=approved)
        r = await c.get(f"/partners/{approved}", headers=own)
        assert r.status_code == 200 and r.json()["partner_id"] == approved
        for pid in (suspended, elsewhere, pending, "par-unknown"):
            assert (await c.get(f"/partners/{pid}", headers=own)).status_code == 403
        r = await c.get("/partners", headers=own)
        assert [p["partner_id"] for p in r.json()["items"]] == [approved] and r.json()["total"] == 1
        nameless = svc.auth("partner", "partner-user")
        assert (await c.get("/partners", headers=nameless)).status_code == 403
        assert (await c.get(f"/partners/{approved}", headers=nameless)).status_code == 403

        # Duplicates say that the record exists, never whose (its id only to who may read it).
        r = await c.post("/partners", json=partner_body(f"PENDING {test_id}", "SN"), headers=authority)
        assert r.status_code == 409
        assert pending not in r.text and "Pending" not in r.json()["detail"]
        assert r.json().get("details") is None
        r = await c.post("/partners", json=partner_body(f"pending {test_id}", "SN"), headers=staff)
        assert r.status_code == 409 and r.json()["details"]["existing_id"] == pending
        assert pending not in r.json()["detail"]


async def test_an_authority_registers_itself_only_in_its_own_region(vies_settings: Any, test_id: str) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        c = svc.client
        body = {
            "name": f"Commune de Lannion {test_id}",
            "kind": "commune",
            "region": "FR-ARA",
            "contact": {"name": "Yann Le Bihan", "email": "international@lannion.example.fr"},
        }
        me = svc.auth("authority", "officer", authority_id=f"aut-lannion-{test_id}", region="FR-BRE")
        r = await c.post("/authorities", json=body, headers=me)
        assert r.status_code == 403 and "own region (FR-BRE)" in r.json()["detail"], r.text
        no_region = svc.auth("authority", "officer", authority_id=f"aut-lannion-{test_id}")
        assert (await c.post("/authorities", json=body, headers=no_region)).status_code == 403
        r = await c.post("/authorities", json={**body, "region": "FR-BRE"}, headers=me)
        assert r.status_code == 201 and r.json()["region"] == "FR-BRE"

        # Another authority with the same name in that region: 409 without the existing one's name or id.
        other = svc.auth("authority", "officer-2", authority_id=f"aut-other-{test_id}", region="FR-BRE")
        r = await c.post("/authorities", json={**body, "region": "FR-BRE"}, headers=other)
        assert r.status_code == 409, r.text
        assert f"aut-lannion-{test_id}" not in r.text and "Lannion" not in r.text
        r = await c.post("/authorities", json={**body, "region": "FR-BRE"}, headers=svc.auth("staff"))
        assert r.status_code == 409 and r.json()["details"]["existing_id"] == f"aut-lannion-{test_id}"
        assert "Lannion" not in r.json()["detail"]


async def test_request_bodies_paths_and_filters_are_bounded(vies_settings: Any, test_id: str) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        c = svc.client
        staff = svc.auth("staff")
        contact = {"name": "A", "email": "a@example.org"}
        too_many = [
            partner_body(f"Many {test_id}", "SN", contacts=[contact] * 21),
            partner_body(f"Many {test_id}", "SN", languages=["fr"] * 21),
            partner_body(f"Many {test_id}", "SN", themes=["health"] * 21),
            partner_body(f"Many {test_id}", "SN", contacts=[{**contact, "person_id": "p" * 101}]),
        ]
        for body in too_many:
            r = await c.post("/partners", json=body, headers=staff)
            assert r.status_code == 422, r.text
        r = await c.post(
            "/partners", json=partner_body(f"Many {test_id}", "SN", contacts=[contact] * 20), headers=staff
        )
        assert r.status_code == 201
        long_id = "x" * 101
        for body in (
            {"authority_id": long_id, "countries": ["SN"]},
            {"authority_id": "aut-x", "countries": ["SN"] * 51},
        ):
            assert (await c.post("/match-requests", json=body, headers=staff)).status_code == 422
        body = {"authority_id": "aut-x", "partner_id": long_id, "themes": ["health"], "starts_on": "2027-01-01"}
        assert (await c.post("/partnerships", json=body, headers=staff)).status_code == 422
        for path in (
            f"/partners/{long_id}",
            f"/authorities/{long_id}",
            f"/authorities/{long_id}/journey",
            f"/match-requests/{long_id}",
            f"/partnerships/{long_id}",
            f"/sending-organisations/{long_id}",
            f"/partnerships?authority_id={long_id}",
            f"/partnerships?partner_id={long_id}",
            "/journeys/stalled?limit=201",
            "/journeys/stalled?offset=99999999999999999999",
            "/partners?offset=99999999999999999999",
        ):
            r = await c.get(path, headers=staff)
            assert r.status_code == 422, (path, r.status_code, r.text)
        r = await c.get("/journeys/stalled?limit=1", headers=staff)
        assert r.status_code == 200 and r.json()["limit"] == 1 and "enrolled" in r.json()
