"""A directory people keep up to date: PATCH partners and authorities, each change
published as an additive event, the next match answer and the journey following it."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_partners.app import create
from vies_partners.settings import PartnersSettings
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration

AUTHORITY = "aut-grenoble"


def partner_body(name: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "kind": "ngo",
        "country": "SN",
        "city": f"{name} city",
        "themes": ["health"],
        "languages": ["fr"],
        "hosting_capacity": 1,
        "reciprocity": False,
        "contacts": [{"name": "Awa Ndiaye", "email": "awa@partner.example.sn"}],
    }
    body.update(over)
    return body


async def test_a_partner_keeps_its_entry_up_to_date_and_the_next_match_follows(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        c, staff = svc.client, svc.auth("staff")
        authority = svc.auth("authority", authority_id=AUTHORITY, region="FR-ARA")
        r = await c.post(
            "/authorities",
            json={
                "name": "Ville de Grenoble",
                "kind": "commune",
                "region": "FR-ARA",
                "contact": {"name": "Relations internationales", "email": "ri@grenoble.example.fr"},
            },
            headers=authority,
        )
        assert r.status_code == 201, r.text
        small = (await c.post("/partners", json=partner_body("Kaolack Santé"), headers=staff)).json()["partner_id"]
        other = (await c.post("/partners", json=partner_body("Thiès Santé", hosting_capacity=3), headers=staff)).json()
        for partner_id in (small, other["partner_id"]):
            assert (await c.post(f"/partners/{partner_id}/approve", headers=staff)).status_code == 200
        request = {"authority_id": AUTHORITY, "countries": ["SN"], "themes": ["health"], "volunteers": 4}

        async def ranking() -> list[dict[str, Any]]:
            r = await c.post("/match-requests", json=request, headers=authority)
            assert r.status_code == 201, r.text
            suggestions: list[dict[str, Any]] = r.json()["suggestions"]
            return suggestions

        before = await ranking()
        assert [s["partner_id"] for s in before] == [other["partner_id"], small]

        # who may: the partner itself, the centre of its country, staff; not another partner, centre or authority
        change = {"hosting_capacity": 4, "themes": ["health", "education"]}
        for refused in (
            svc.auth("partner", partner_id="par-other"),
            svc.auth("centre", country="MG"),
            authority,
        ):
            assert (await c.patch(f"/partners/{small}", json=change, headers=refused)).status_code == 403
        assert (await c.patch(f"/partners/{small}", json={}, headers=staff)).status_code == 422
        assert (await c.patch(f"/partners/{small}", json={"hosting_capacity": -1}, headers=staff)).status_code == 422
        assert (await c.patch("/partners/par-nope", json=change, headers=staff)).status_code == 404
        r = await c.patch(f"/partners/{small}", json=change, headers=svc.auth("partner", partner_id=small))
        assert r.status_code == 200, r.text
        assert r.json()["hosting_capacity"] == 4 and r.json()["themes"] == ["education", "health"]
        r = await c.patch(
            f"/partners/{small}",
            json={"contacts": [{"name": "Moussa Fall", "email": "moussa@partner.example.sn"}], "reciprocity": True},
            headers=svc.auth("centre", country="SN"),
        )
        assert r.status_code == 200 and r.json()["contacts"][0]["name"] == "Moussa Fall"
        # the same values again: nothing changes, no event
        assert (await c.patch(f"/partners/{small}", json={"hosting_capacity": 4}, headers=staff)).status_code == 200

        after = await ranking()
        assert [s["partner_id"] for s in after] == [small, other["partner_id"]]
        assert any("capacity for 4" in reason for reason in after[0]["reasons"])

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        updates = await probe.wait_for("partners.PartnerUpdated", 2)
        assert len(updates) == 2
        first, second = (u["value"] for u in updates)
        assert first["changed"] == ["hosting_capacity", "themes"] and first["hosting_capacity"] == 4
        assert second["changed"] == ["contacts", "reciprocity"] and second["reciprocity"] is True
        # contact persons are personal data: never on the events topic
        assert "Moussa" not in str(updates) and second.get("contacts") is None
        assert updates[0]["key"] == small and updates[0]["headers"]["ce_region"] == "none"

        # a partner in La Réunion is in France: refused
        r = await c.post("/partners", json=partner_body("Saint-Denis Santé", country="RE"), headers=staff)
        assert r.status_code == 422 and "French territory" in r.text


async def test_an_authority_corrects_its_record_and_the_branch_records_its_enrolment(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        c = svc.client
        authority = svc.auth("authority", authority_id=AUTHORITY, region="FR-ARA")
        r = await c.post(
            "/authorities",
            json={
                "name": "Ville de Grenoble",
                "kind": "commune",
                "region": "FR-ARA",
                "contact": {"name": "Relations internationales", "email": "ri@grenoble.example.fr"},
            },
            headers=authority,
        )
        assert r.status_code == 201, r.text
        assert (await c.get(f"/authorities/{AUTHORITY}/journey", headers=authority)).json()[
            "territoires_volontaires"
        ] is False

        contact = {"contact": {"name": "Nouvelle chargée de mission", "email": "cm@grenoble.example.fr"}}
        r = await c.patch(f"/authorities/{AUTHORITY}", json={**contact, "new_to_cooperation": True}, headers=authority)
        assert r.status_code == 200, r.text
        assert r.json()["contact_email"] == "cm@grenoble.example.fr" and r.json()["new_to_cooperation"] is True
        enrol = {"territoires_volontaires": True, "territoires_volontaires_since": "2026-11-02"}
        # the enrolment is the branch's or staff's to record; scopes hold
        assert (await c.patch(f"/authorities/{AUTHORITY}", json=enrol, headers=authority)).status_code == 403
        foreign_branch = svc.auth("branch", region="FR-974")
        assert (await c.patch(f"/authorities/{AUTHORITY}", json=enrol, headers=foreign_branch)).status_code == 403
        other = svc.auth("authority", authority_id="aut-other", region="FR-ARA")
        assert (await c.patch(f"/authorities/{AUTHORITY}", json=contact, headers=other)).status_code == 403
        assert (
            await c.patch(f"/authorities/{AUTHORITY}", json={"kind": "region"}, headers=authority)
        ).status_code == 422
        branch = svc.auth("branch", region="FR-ARA")
        r = await c.patch(f"/authorities/{AUTHORITY}", json=enrol, headers=branch)
        assert r.status_code == 200, r.text
        assert r.json()["territoires_volontaires"] is True and r.json()["territoires_volontaires_since"] == "2026-11-02"

        journey = (await c.get(f"/authorities/{AUTHORITY}/journey", headers=branch)).json()
        assert journey["territoires_volontaires"] is True and journey["territoires_volontaires_since"] == "2026-11-02"

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        updates = [u["value"] for u in await probe.wait_for("partners.AuthorityUpdated", 2)]
        assert updates[0]["changed"] == ["contact", "new_to_cooperation"]
        assert updates[0]["contact_email"] == "cm@grenoble.example.fr"
        assert updates[1]["changed"] == ["territoires_volontaires", "territoires_volontaires_since"]
        assert updates[1]["territoires_volontaires_since"] == "2026-11-02"
        assert all(u["region"] == "FR-ARA" for u in updates)


async def test_a_partner_registered_with_its_address_carries_it_in_the_event(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    """A host partner is told about its volunteers from registration on: ``PartnerRegistered.contact_email``."""
    settings = vies_settings("partners", PartnersSettings)
    async with running(create(settings), settings) as svc:
        c, staff = svc.client, svc.auth("staff")
        centre = svc.auth("centre", country="SN")
        address = "accueil@ziguinchor-sante.example.sn"
        for bad in ("not-an-address", "a@b." + "c" * 260, 3):
            r = await c.post("/partners", json=partner_body("Ziguinchor Santé", contact_email=bad), headers=centre)
            assert r.status_code == 422, (bad, r.text)
        r = await c.post(
            "/partners", json=partner_body("Ziguinchor Santé", contact_email=f" {address} "), headers=centre
        )
        assert r.status_code == 201, r.text
        with_address = r.json()["partner_id"]
        assert r.json()["contact_email"] == address  # the centre of its country sees it with the contacts
        without = (await c.post("/partners", json=partner_body("Bignona Santé"), headers=staff)).json()["partner_id"]
        assert (await c.post(f"/partners/{with_address}/approve", headers=staff)).status_code == 200
        listed = (
            await c.get(f"/partners/{with_address}", headers=svc.auth("authority", authority_id=AUTHORITY))
        ).json()
        assert (
            "contact_email" not in listed and "contacts" not in listed
        )  # like the contact persons: not to authorities

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
        registered = {e["key"]: e["value"] for e in await probe.wait_for("partners.PartnerRegistered", 2)}
        assert registered[with_address]["contact_email"] == address
        # no address given: none invented from a contact person (personal data stays off the events topic)
        assert registered[without]["contact_email"] is None
        assert "awa@partner.example.sn" not in str(registered[without])
