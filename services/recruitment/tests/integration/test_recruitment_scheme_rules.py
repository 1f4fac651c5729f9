"""Scheme rules through the API: failing rules answered with their sources, the JSI group
position and its sponsor, and VSI months served elsewhere, declared, confirmed and published."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, seed_directory
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


def situation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "birth_date": "2005-05-01",
        "nationality": "FR",
        "residence_country": "FR",
        "destination_country": "SN",
        "starts_on": "2027-03-01",
        "duration_months": 6,
    }
    body.update(overrides)
    return body


async def test_eligibility_checks_answer_the_failing_rules_with_their_sources(
    vies_settings: Any, vies_stack: Any
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        c = svc.client

        async def failing(**overrides: Any) -> dict[str, str]:
            r = await c.post("/eligibility-checks", json=situation(**overrides))
            assert r.status_code == 200, r.text
            [result] = r.json()["results"]
            assert result["eligible"] is not result["reasons"]
            return {x["code"]: x["source"] for x in result["reasons"]}

        # a US national living in the US: not eligible for Service Civique (L120-4)
        us = await failing(scheme="service_civique", nationality="US", residence_country="US")
        assert list(us) == ["service_civique.nationality_or_residence"]
        assert "L120-4" in us["service_civique.nationality_or_residence"]
        # ... a foreigner living in France for two years with a listed permit is
        settled = {"residence_permit": "needs_one_year_in_france", "in_france_since": "2025-01-15"}
        assert await failing(scheme="service_civique", nationality="US", **settled) == {}
        # a French-Senegalese dual national: no VSI in Senegal
        dual = await failing(
            scheme="vsi", birth_date="1990-01-01", other_nationalities=["SN"], duration_months=12, nationality="FR"
        )
        assert list(dual) == ["vsi.not_nationality_country"] and "art. 2" in dual["vsi.not_nationality_country"]
        # La Réunion is France: no VSI there
        reunion = await failing(scheme="vsi", birth_date="1990-01-01", destination_country="RE", duration_months=12)
        assert set(reunion) == {"vsi.outside_eea", "vsi.not_nationality_country"}  # and a French national's own
        # JSI: 12 days, or a country off the DAC list of ODA recipients
        jsi = {"scheme": "jsi_vvvsi", "action_days": 10, "group_size": 8}
        assert list(await failing(**jsi, duration_days=12)) == ["jsi_vvvsi.duration"]
        non_oda = await failing(**jsi, duration_days=15, destination_country="CA")
        assert list(non_oda) == ["jsi_vvvsi.destination"] and "CAD" in non_oda["jsi_vvvsi.destination"]
        assert await failing(**jsi, duration_days=15) == {}
        # a 40-year-old on a 20-month Service Civique reciprocity placement (frozen, too, by default)
        scr = await failing(
            scheme="service_civique_reciprocity",
            birth_date="1986-06-01",
            nationality="SN",
            residence_country="SN",
            destination_country="FR",
            partner_country="SN",
            duration_months=20,
        )
        assert set(scr) == {
            "service_civique_reciprocity.max_age",
            "service_civique_reciprocity.duration",
            "service_civique_reciprocity.open",
        }
        assert all(scr.values())
        # VEC: a retiree for 9 months passes, an employee does not
        vec = {"scheme": "vec", "birth_date": "1960-01-01", "duration_months": 9}
        assert await failing(**vec, employment="retiree") == {}
        assert list(await failing(**vec, employment="employee", seniority_months=30)) == ["vec.leave_duration"]


async def test_jsi_group_position_needs_a_sponsor_and_takes_several_applications(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        await seed_directory(svc, vies_stack.kafka_bootstrap, topic_prefix, organisation_id=None)
        c = svc.client
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        group = position(scheme="jsi_vvvsi", duration_days=15, action_days=10, places=6, sending_organisation_id=None)
        pid = (await c.post("/positions", json=group, headers=authority)).json()["position_id"]
        r = await c.post(f"/positions/{pid}/publish", headers=authority)
        assert r.status_code == 409
        assert [x["code"] for x in r.json()["details"]["reasons"]] == ["position.sponsor_missing"]

        small = position(
            scheme="jsi_vvvsi",
            duration_days=15,
            action_days=10,
            places=3,
            sponsor="Parrain",
            sending_organisation_id=None,
        )
        small_id = (await c.post("/positions", json=small, headers=authority)).json()["position_id"]
        r = await c.post(f"/positions/{small_id}/publish", headers=authority)
        assert [x["code"] for x in r.json()["details"]["reasons"]] == ["jsi_vvvsi.group_size"]
        assert "groupes de 4 à 16" in r.json()["details"]["reasons"][0]["source"]

        group["sponsor"] = "Association marraine"
        pid = (await c.post("/positions", json=group, headers=authority)).json()["position_id"]
        assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200
        for n in range(3):
            young = svc.auth("candidate", f"cand-jsi-{n}")
            body = candidate(f"Jeune {n}", f"jeune{n}@example.org", birth_date="2008-01-01")
            r = await c.post(f"/positions/{pid}/applications", json=body, headers=young)
            assert r.status_code == 201 and r.json()["eligible"] is True, r.text
        pos = (await c.get(f"/positions/{pid}", headers=authority)).json()
        assert pos["sponsor"] == "Association marraine" and pos["action_days"] == 10


async def test_vsi_months_served_elsewhere_are_declared_confirmed_and_published(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        await seed_directory(svc, vies_stack.kafka_bootstrap, topic_prefix)
        c = svc.client
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        staff = svc.auth("staff", "adviser-1")
        pid = (await c.post("/positions", json=position(places=2), headers=authority)).json()["position_id"]
        assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200

        # 55 months elsewhere + 12: eligible on the declaration, engaged only once confirmed
        lea = svc.auth("candidate", "cand-lea")
        body = candidate("Léa", "lea@example.org", birth_date="1980-01-01", vsi_months_served_elsewhere=55)
        app = (await c.post(f"/positions/{pid}/applications", json=body, headers=lea)).json()
        aid = app["application_id"]
        assert app["eligible"] is True
        assert app["declarations"]["vsi_months_served_elsewhere"] == {"declared": 55.0, "confirmed": False}
        for step, payload in (("shortlist", None), ("interview", {"at": "2026-12-20T10:00:00Z"}), ("select", None)):
            assert (await c.post(f"/applications/{aid}/{step}", json=payload, headers=authority)).status_code == 200
        contract = {"starts_on": "2027-03-01", "ends_on": "2028-02-29"}
        r = await c.post(f"/applications/{aid}/engage", json=contract, headers=authority)
        assert r.status_code == 409 and r.json()["details"]["unconfirmed"] == ["vsi_months_served_elsewhere"]

        confirm = {"facts": ["vsi_months_served_elsewhere"]}
        assert (await c.post(f"/applications/{aid}/declarations/confirm", json=confirm, headers=lea)).status_code == 403
        other = svc.auth("authority", "agent-2", authority_id="auth-2")
        assert (
            await c.post(f"/applications/{aid}/declarations/confirm", json=confirm, headers=other)
        ).status_code == 403
        bad = await c.post(
            f"/applications/{aid}/declarations/confirm", json={"facts": ["residence_permit"]}, headers=authority
        )
        assert bad.status_code == 409
        r = await c.post(f"/applications/{aid}/declarations/confirm", json=confirm, headers=authority)
        assert r.status_code == 200, r.text
        fact = r.json()["declarations"]["vsi_months_served_elsewhere"]
        assert fact["confirmed"] is True and fact["confirmed_value"] == 55.0 and fact["confirmed_by"] == "agent-1"
        assert (await c.get("/persons/cand-lea", headers=lea)).json()["vsi_months_served"] == 55.0
        r = await c.post(f"/applications/{aid}/engage", json=contract, headers=authority)
        assert r.status_code == 200, r.text

        # staff correct another candidate's declaration from 50 to 61 months: 61 + 12 > 72, re-screened
        max_ = svc.auth("candidate", "cand-max")
        body = candidate("Max", "max@example.org", birth_date="1975-01-01", vsi_months_served_elsewhere=50)
        other_app = (await c.post(f"/positions/{pid}/applications", json=body, headers=max_)).json()
        assert other_app["eligible"] is True
        corrected = {"facts": ["vsi_months_served_elsewhere"], "vsi_months_served_elsewhere": 61}
        r = await c.post(
            f"/applications/{other_app['application_id']}/declarations/confirm", json=corrected, headers=staff
        )
        assert r.status_code == 200, r.text
        assert r.json()["eligible"] is False and r.json()["status"] == "ineligible"
        assert [x["code"] for x in r.json()["reasons"]] == ["vsi.lifetime_cap"]

        probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("recruitment", topic_prefix)])
        [engaged] = await probe.wait_for("recruitment.VolunteerEngaged")
        assert engaged["value"]["vsi_months_served_before"] == 55.0
        rescreened = await probe.wait_for(
            "recruitment.ApplicationScreened", where=lambda e: e["value"]["eligible"] is False
        )
        assert rescreened[0]["value"]["reason_codes"] == ["vsi.lifetime_cap"]
