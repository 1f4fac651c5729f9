"""Guidance on the schemes, eligibility checks, and the lifetime VSI cap fed by the missions' events."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from vies_dev.testing import wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, publish, seed_directory
from vies_recruitment import store
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.missions import MissionEnded, MissionExtended, MissionPlanned

pytestmark = pytest.mark.integration


def check_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "birth_date": "2001-03-02",
        "nationality": "FR",
        "residence_country": "FR",
        "destination_country": "SN",
        "starts_on": "2027-03-01",
        "duration_months": 6,
    }
    body.update(overrides)
    return body


async def test_schemes_and_eligibility_checks(vies_settings: Any, vies_stack: Any, topic_prefix: str) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings, service_civique_min_age=18)
    async with running(create(settings), settings) as svc:
        c = svc.client
        anyone = svc.auth("partner", "p-1")
        assert (await c.get("/schemes", headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await c.get("/schemes")).json() == (await c.get("/schemes", headers=anyone)).json()  # public
        schemes = (await c.get("/schemes", headers=anyone)).json()["schemes"]
        assert [s["code"] for s in schemes] == [
            "vsi",
            "service_civique",
            "vec",
            "jsi_vvvsi",
            "reciprocity",
            "service_civique_reciprocity",
            "european_solidarity_corps",
            "international_work_camps",
        ]
        assert all(s["costs"]["fr"] and s["approval"]["en"] for s in schemes)
        sc = schemes[1]
        assert sc["ages"]["fr"].startswith("18 à 25") and sc["ages"]["en"].startswith("18 to 25")  # from settings
        assert all(rule["source"] and rule["fr"] and rule["en"] for s in schemes for rule in s["rules"])

        # 25 the day before the 26th birthday: eligible; the day after: not
        r = await c.post("/eligibility-checks", json=check_body(scheme="service_civique"), headers=anyone)
        assert r.status_code == 200, r.text
        assert r.json()["results"] == [{"scheme": "service_civique", "eligible": True, "reasons": []}]
        r = await c.post(
            "/eligibility-checks", json=check_body(scheme="service_civique", birth_date="2001-02-28"), headers=anyone
        )
        [result] = r.json()["results"]
        assert result["eligible"] is False
        assert [x["code"] for x in result["reasons"]] == ["service_civique.max_age"]
        assert "25" in result["reasons"][0]["fr"] and "25" in result["reasons"][0]["en"]

        # every scheme at once, with every reason
        r = await c.post("/eligibility-checks", json=check_body(destination_country="DE"), headers=anyone)
        results = {x["scheme"]: {y["code"] for y in x["reasons"]} for x in r.json()["results"]}
        assert results["vsi"] == {"vsi.outside_eea"}
        assert results["service_civique"] == set()
        assert results["vec"] == {"vec.employee_or_retiree"}
        assert results["jsi_vvvsi"] == {"jsi_vvvsi.action_days", "jsi_vvvsi.destination"}  # no maximum length
        assert results["reciprocity"] == {"reciprocity.hosted_in_france", "reciprocity.from_partner_country"}
        assert results["service_civique_reciprocity"] == {
            "service_civique_reciprocity.open",
            "service_civique_reciprocity.hosted_in_france",
            "service_civique_reciprocity.from_partner_country",
        }

        assert "/eligibility-checks" in (await c.get("/openapi.json")).json()["paths"]
        channels = json.dumps((await c.get("/asyncapi.json")).json()["channels"])
        assert f"{topic_prefix}vies.recruitment.contacts" in channels
        assert "recruitment.VolunteerEngaged" in channels and "partners.PartnershipEnded" in channels

        r = await c.post("/eligibility-checks", json=check_body(nationality="FRA", starts_on="x"), headers=anyone)
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"nationality", "starts_on"}


async def test_lifetime_vsi_cap_counts_time_actually_served(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        await seed_directory(svc, bootstrap, topic_prefix)
        c = svc.client
        db = svc.runtime.db
        veteran = svc.auth("candidate", "cand-veteran")

        async def vsi_check(months: int) -> set[str]:
            body = check_body(birth_date="1980-01-01", scheme="vsi", duration_months=months)
            r = await c.post("/eligibility-checks", json=body, headers=veteran)
            assert r.status_code == 200, r.text
            return {x["code"] for x in r.json()["results"][0]["reasons"]}

        # A VSI engagement made before (another organisation), planned for 5 years, extended to 6,
        # then ended after 5 years 11 months: only the time actually served counts.
        await publish(
            bootstrap,
            topic_prefix,
            MissionPlanned(
                mission_id="m-old",
                engagement_id="eng-old",
                volunteer_id="cand-veteran",
                authority_id="auth-x",
                partner_id="partner-x",
                country="BF",
                scheme="vsi",
                starts_on=date(2020, 1, 1),
                ends_on=date(2024, 12, 31),
            ),
        )

        async def engagement(field: str, value: str) -> bool:
            doc = await db[store.ENGAGEMENTS].find_one({"_id": "eng-old"})
            return bool(doc and doc.get(field) == value)

        await wait_until(lambda: engagement("ends_on", "2024-12-31"), message="mission planned")
        assert await vsi_check(12) == set()  # 60 + 12 = 72 months
        assert await vsi_check(13) == {"vsi.lifetime_cap"}
        await publish(bootstrap, topic_prefix, MissionExtended(mission_id="m-old", ends_on=date(2025, 12, 31)))
        await wait_until(lambda: engagement("ends_on", "2025-12-31"), message="mission extended")
        assert await vsi_check(1) == {"vsi.lifetime_cap"}  # 72 + 1
        await publish(bootstrap, topic_prefix, MissionEnded(mission_id="m-old", ended_on=date(2025, 11, 30)))
        await wait_until(lambda: engagement("served_until", "2025-11-30"), message="mission ended")
        assert await vsi_check(1) == set()  # 5y11m + 1 month
        assert await vsi_check(2) == {"vsi.lifetime_cap"}  # 5y11m + 2 months

        # screening applies the same cap to a 2-month VSI position
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        pid = (await c.post("/positions", json=position(duration_months=2), headers=authority)).json()["position_id"]
        assert (await c.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200
        r = await c.post(
            f"/positions/{pid}/applications",
            json=candidate("Vétéran", "veteran@example.org", birth_date="1980-01-01"),
            headers=veteran,
        )
        assert r.status_code == 201
        assert r.json()["eligible"] is False
        assert [x["code"] for x in r.json()["reasons"]] == ["vsi.lifetime_cap"]
        person = (await c.get("/persons/cand-veteran", headers=veteran)).json()
        assert person["vsi_months_served"] == 71.0
        assert (await c.get("/persons/cand-veteran", headers=svc.auth("candidate", "someone"))).status_code == 403
