"""Publishing conditions from the partners directory's events, search and visibility of positions."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, publish, seed_directory
from vies_recruitment import store
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.events.partners import (
    PartnerRegistered,
    PartnerReinstated,
    PartnershipEstablished,
    PartnerSuspended,
    SendingOrganisationApprovalChanged,
)
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


def reasons(response: Any) -> set[str]:
    assert response.status_code == 409, response.text
    return {r["code"] for r in response.json()["details"]["reasons"]}


async def test_publishing_follows_the_directory_and_the_scheme_rules(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        # the sending organisation's approval ends before the mission starts
        await seed_directory(svc, bootstrap, topic_prefix, approved_until=date(2026, 12, 31))
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        c = svc.client
        db = svc.runtime.db

        async def draft(**overrides: Any) -> str:
            r = await c.post("/positions", json=position(**overrides), headers=authority)
            assert r.status_code == 201, r.text
            return str(r.json()["position_id"])

        vsi = await draft()
        assert reasons(await c.post(f"/positions/{vsi}/publish", headers=authority)) == {
            "position.sending_organisation_not_approved"
        }
        await publish(
            bootstrap,
            topic_prefix,
            SendingOrganisationApprovalChanged(
                organisation_id="org-1", approval_number="VSI-2027-02", approved_from=date(2025, 1, 1)
            ),
        )

        async def renewed() -> bool:
            org = await db[store.SENDING_ORGANISATIONS].find_one({"_id": "org-1"})
            return bool(org and org["approved_until"] is None)

        await wait_until(renewed, message="approval renewed")
        assert (await c.post(f"/positions/{vsi}/publish", headers=authority)).status_code == 200

        # scheme rules about the placement: VSI needs a sending organisation, 24 months at most
        assert reasons(
            await c.post(f"/positions/{await draft(sending_organisation_id=None)}/publish", headers=authority)
        ) == {"position.sending_organisation_missing"}
        assert reasons(await c.post(f"/positions/{await draft(duration_months=25)}/publish", headers=authority)) == {
            "vsi.contract_max"
        }
        sc = await draft(scheme="service_civique", duration_months=13, sending_organisation_id=None)
        assert reasons(await c.post(f"/positions/{sc}/publish", headers=authority)) == {"service_civique.duration"}
        r = await c.post("/positions", json=position(scheme="jsi_vvvsi"), headers=authority)
        assert r.status_code == 422

        # partner suspended, then reinstated
        await publish(bootstrap, topic_prefix, PartnerSuspended(partner_id="partner-1", reason="audit"))

        async def partner_is(suspended: bool) -> bool:
            partner = await db[store.PARTNERS].find_one({"_id": "partner-1"})
            return bool(partner and partner.get("suspended") is suspended)

        await wait_until(lambda: partner_is(True), message="suspended")
        second = await draft(title="Second")
        assert reasons(await c.post(f"/positions/{second}/publish", headers=authority)) == {
            "position.partner_suspended"
        }
        await publish(bootstrap, topic_prefix, PartnerReinstated(partner_id="partner-1"))
        await wait_until(lambda: partner_is(False), message="reinstated")
        assert (await c.post(f"/positions/{second}/publish", headers=authority)).status_code == 200

        # a partner never approved; a partnership in the EEA
        await publish(
            bootstrap,
            topic_prefix,
            PartnerRegistered(
                partner_id="partner-pt",
                name="Câmara",
                kind="local_authority",
                country="PT",
                city="Porto",
                themes=[],
                languages=["pt"],
                hosting_capacity=2,
                reciprocity=False,
            ),
        )
        await publish(
            bootstrap,
            topic_prefix,
            PartnershipEstablished(
                partnership_id="ps-pt",
                authority_id="auth-1",
                partner_id="partner-pt",
                country="PT",
                themes=[],
                starts_on=date(2026, 1, 1),
                region="FR-ARA",
            ),
        )

        async def pt_known() -> bool:
            partnerships: int = await db[store.PARTNERSHIPS].count_documents({"_id": "ps-pt"})
            partners: int = await db[store.PARTNERS].count_documents({"_id": "partner-pt"})
            return partnerships == 1 and partners == 1

        await wait_until(pt_known, message="PT partnership")
        pt = await draft(partnership_id="ps-pt")
        assert reasons(await c.post(f"/positions/{pt}/publish", headers=authority)) == {
            "vsi.outside_eea",
            "position.partner_not_approved",
        }

        # closing: the authority only, once
        other = svc.auth("authority", "agent-2", authority_id="auth-2")
        assert (await c.post(f"/positions/{second}/close", json={"reason": "budget"}, headers=other)).status_code == 403
        assert (await c.post(f"/positions/{second}/close", json={}, headers=authority)).status_code == 422
        r = await c.post(f"/positions/{second}/close", json={"reason": "budget"}, headers=authority)
        assert r.status_code == 200 and r.json()["close_cause"] == "cancelled"
        assert (
            await c.post(f"/positions/{second}/close", json={"reason": "again"}, headers=authority)
        ).status_code == 409
        r = await c.post(
            f"/positions/{second}/applications",
            json=candidate("Late Comer", "late@example.org"),
            headers=svc.auth("candidate", "late"),
        )
        assert r.status_code == 409

        probe = KafkaProbe(bootstrap, [events_topic("recruitment", topic_prefix)])
        published = await probe.wait_for("recruitment.PositionPublished", 2)
        assert {e["key"] for e in published} == {vsi, second}
        [closed] = await probe.wait_for("recruitment.PositionClosed")
        assert closed["value"] == {"position_id": second, "reason": "budget", "cause": "cancelled"}


async def test_search_filters_pagination_and_draft_visibility(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        bootstrap = vies_stack.kafka_bootstrap
        await seed_directory(svc, bootstrap, topic_prefix)
        await seed_directory(
            svc,
            bootstrap,
            topic_prefix,
            authority_id="auth-2",
            region="FR-IDF",
            partner_id="partner-2",
            partnership_id="ps-2",
            country="MA",
            organisation_id=None,
        )
        a1 = svc.auth("authority", "agent-1", authority_id="auth-1")
        a2 = svc.auth("authority", "agent-2", authority_id="auth-2")
        c = svc.client
        made = {}
        for key, body, auth, publish_it in [
            ("vsi_sn", position(), a1, True),
            (
                "sc_sn",
                position(
                    scheme="service_civique", title="Youth health", languages=["fr"], skills=[], starts_on="2027-06-01"
                ),
                a1,
                True,
            ),
            ("draft_sn", position(title="Draft water"), a1, False),
            (
                "rec_ma",
                position(
                    "ps-2",
                    scheme="reciprocity",
                    title="Hosting in Paris",
                    languages=["ar"],
                    sending_organisation_id=None,
                ),
                a2,
                True,
            ),
        ]:
            r = await c.post("/positions", json=body, headers=auth)
            assert r.status_code == 201, r.text
            made[key] = r.json()["position_id"]
            if publish_it:
                assert (await c.post(f"/positions/{made[key]}/publish", headers=auth)).status_code == 200, key

        anyone = svc.auth("volunteer", "v-1")

        async def ids(query: str, headers: dict[str, str]) -> set[str]:
            r = await c.get(f"/positions?{query}", headers=headers)
            assert r.status_code == 200, r.text
            return {p["position_id"] for p in r.json()["items"]}

        assert (await c.get("/positions", headers={"Authorization": "Bearer nope"})).status_code == 401
        assert await ids("", {}) == {made["vsi_sn"], made["sc_sn"], made["rec_ma"]}  # anonymous: published only
        assert await ids("", anyone) == {made["vsi_sn"], made["sc_sn"], made["rec_ma"]}
        assert await ids("", a1) == set(made.values())
        assert await ids("", a2) == {made["vsi_sn"], made["sc_sn"], made["rec_ma"]}
        assert await ids("status=draft", svc.auth("staff")) == {made["draft_sn"]}
        assert await ids("status=draft", anyone) == set()
        assert await ids("country=sn", anyone) == {made["vsi_sn"], made["sc_sn"]}
        assert await ids("country=FR", anyone) == {made["rec_ma"]}  # reciprocity is hosted in France
        assert await ids("scheme=service_civique", anyone) == {made["sc_sn"]}
        assert await ids("region=FR-IDF", anyone) == {made["rec_ma"]}
        assert await ids("language=wo", anyone) == {made["vsi_sn"]}
        assert await ids("q=HEALTH", anyone) == {made["sc_sn"]}
        assert await ids("q=draft", a1) == {made["draft_sn"]}
        assert await ids("q=draft", a2) == set()
        # start dates, both ends included (the others start on 2027-03-01), filtered by the API for paging
        assert await ids("starts_from=2027-03-01", {}) == {made["vsi_sn"], made["sc_sn"], made["rec_ma"]}
        assert await ids("starts_from=2027-03-02", {}) == {made["sc_sn"]}
        assert await ids("starts_until=2027-03-01", anyone) == {made["vsi_sn"], made["rec_ma"]}
        assert await ids("starts_from=2027-04-01&starts_until=2027-06-01&country=SN", anyone) == {made["sc_sn"]}
        assert await ids("starts_until=2027-02-28", a1) == set()
        r = await c.get("/positions?starts_from=2027-03-02&limit=1", headers=anyone)
        assert r.json()["total"] == 1
        assert (await c.get("/positions?starts_from=2027-13-01", headers=anyone)).status_code == 422
        r = await c.get("/positions?starts_from=2027-06-02&starts_until=2027-06-01", headers=anyone)
        assert r.status_code == 422 and "starts_from" in r.text, r.text
        r = await c.get("/positions?limit=2&offset=2", headers=anyone)
        assert r.json()["total"] == 3 and len(r.json()["items"]) == 1
        assert (await c.get("/positions?limit=0", headers=anyone)).status_code == 422
        assert (await c.get("/positions?scheme=nope", headers=anyone)).status_code == 422

        # reciprocity: a candidate from the partner's country is eligible, one from elsewhere is not
        rec = made["rec_ma"]
        r = await c.post(
            f"/positions/{rec}/applications",
            json=candidate("Youssef A.", "y@example.org", nationality="MA", residence_country="MA", languages=["ar"]),
            headers=svc.auth("candidate", "c-ma"),
        )
        assert r.status_code == 201 and r.json()["eligible"] is True, r.text
        r = await c.post(
            f"/positions/{rec}/applications",
            json=candidate("Amadou B.", "a@example.org", nationality="SN", residence_country="SN"),
            headers=svc.auth("candidate", "c-sn"),
        )
        assert [x["code"] for x in r.json()["reasons"]] == ["reciprocity.from_partner_country"]
        # branch scope on applications
        assert (await c.get("/applications", headers=svc.auth("branch", region="FR-IDF"))).json()["total"] == 2
        assert (await c.get("/applications", headers=svc.auth("branch", region="FR-ARA"))).json()["total"] == 0
        assert (await c.get("/applications", headers=anyone)).status_code == 403


async def test_a_draft_is_corrected_by_its_authority_until_it_is_published(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        await seed_directory(svc, vies_stack.kafka_bootstrap, topic_prefix)
        a1, c = svc.auth("authority", "agent-1", authority_id="auth-1"), svc.client
        r = await c.post("/positions", json=position(), headers=a1)
        assert r.status_code == 201, r.text
        url = f"/positions/{r.json()['position_id']}"

        r = await c.patch(
            url,
            json={"title": "Water network engineer", "starts_on": "2027-04-01", "places": 2, "languages": ["WO", "fr"]},
            headers=a1,
        )
        assert r.status_code == 200, r.text
        saved = (await c.get(url, headers=a1)).json()
        assert (saved["title"], saved["starts_on"], saved["places"]) == ("Water network engineer", "2027-04-01", 2)
        assert saved["languages"] == ["fr", "wo"] and saved["skills"] == ["water"]  # the rest kept
        assert saved["status"] == "draft" and saved["updated_at"]
        assert (await c.patch(url, json={"sending_organisation_id": None}, headers=a1)).status_code == 200
        assert (await c.get(url, headers=a1)).json()["sending_organisation_id"] is None

        # bad input names the field and changes nothing; the partnership and the scheme stay
        for body in ({}, {"title": None}, {"places": 0}, {"scheme": "service_civique"}, {"partnership_id": "ps-9"}):
            assert (await c.patch(url, json=body, headers=a1)).status_code == 422, body
        r = await c.patch(url, json={"place": {"city": "Rabat", "subdivision": "MA-04"}}, headers=a1)
        assert r.status_code == 422 and "place.subdivision" in r.text, r.text
        assert (await c.get(url, headers=a1)).json()["title"] == "Water network engineer"

        # only its authority and staff; another authority's officer is refused
        other = svc.auth("authority", "agent-2", authority_id="auth-2")
        assert (await c.patch(url, json={"places": 3}, headers=other)).status_code == 403
        assert (await c.patch(url, json={"places": 3}, headers=svc.auth("staff"))).status_code == 200
        assert (await c.patch("/positions/pos-none", json={"places": 3}, headers=a1)).status_code == 404

        # once published, a correction is a 409: applicants saw what was published
        r = await c.post(f"{url}/publish", headers=a1)
        assert r.status_code == 409 and "sending" in r.text, r.text  # a VSI needs its sending organisation back
        assert (await c.patch(url, json={"sending_organisation_id": "org-1"}, headers=a1)).status_code == 200
        assert (await c.post(f"{url}/publish", headers=a1)).status_code == 200
        r = await c.patch(url, json={"places": 5}, headers=a1)
        assert r.status_code == 409 and "draft" in r.text, r.text
        assert (await c.get(url, headers=a1)).json()["places"] == 3
