"""Candidates known by their account, their own data, the public eligibility check, bounds."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import candidate, position, seed_directory
from vies_recruitment import store
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings

pytestmark = pytest.mark.integration

CHECK = {
    "birth_date": "2001-03-02",
    "nationality": "FR",
    "residence_country": "FR",
    "destination_country": "SN",
    "starts_on": "2027-03-01",
    "duration_months": 6,
}


async def _published(svc: Any, authority: dict[str, str], partnership_id: str, title: str) -> str:
    r = await svc.client.post(
        "/positions",
        json=position(partnership_id, title=title, sending_organisation_id=None, scheme="service_civique"),
        headers=authority,
    )
    assert r.status_code == 201, r.text
    pid = str(r.json()["position_id"])
    assert (await svc.client.post(f"/positions/{pid}/publish", headers=authority)).status_code == 200
    return pid


async def test_candidates_apply_with_their_verified_account_email_and_are_never_merged_by_email(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        c = svc.client
        authority_id, partnership_id = f"aut-{test_id}", f"ps-{test_id}"
        await seed_directory(
            svc,
            vies_stack.kafka_bootstrap,
            topic_prefix,
            authority_id=authority_id,
            partner_id=f"par-{test_id}",
            partnership_id=partnership_id,
            organisation_id=None,
        )
        authority = svc.auth("authority", "officer", authority_id=authority_id)
        first = await _published(svc, authority, partnership_id, "Santé communautaire")
        second = await _published(svc, authority, partnership_id, "Éducation")
        victim_email, mallory_email = f"jeanne-{test_id}@example.org", f"mallory-{test_id}@example.org"

        # An unverified account cannot apply.
        unverified = svc.auth("candidate", f"u-{test_id}", email=f"u-{test_id}@example.org", email_verified=False)
        r = await c.post(f"/positions/{first}/applications", json=candidate("U", victim_email), headers=unverified)
        assert r.status_code == 403 and "verify your email address first" in r.json()["detail"], r.text

        # Mallory, verified, gives Jeanne's address in the body: her own account's address is used.
        mallory_sub = f"mallory-{test_id}"
        mallory = svc.auth("candidate", mallory_sub, email=mallory_email, email_verified=True)
        r = await c.post(f"/positions/{first}/applications", json=candidate("Mallory", victim_email), headers=mallory)
        assert r.status_code == 201, r.text
        assert r.json()["candidate"]["email"] == mallory_email and r.json()["candidate_id"] == mallory_sub
        person = await svc.runtime.db[store.PERSONS].find_one({"_id": mallory_sub})
        assert person["email"] == mallory_email
        # ... so Jeanne's address is not squatted: she applies to the same position.
        jeanne = svc.auth("candidate", f"jeanne-{test_id}", email=victim_email, email_verified=True)
        body = candidate("Jeanne Petit", victim_email)
        del body["candidate"]["email"]  # a candidate need not repeat it
        r = await c.post(f"/positions/{first}/applications", json=body, headers=jeanne)
        assert r.status_code == 201 and r.json()["candidate"]["email"] == victim_email, r.text
        assert (await c.post(f"/positions/{first}/applications", json=body, headers=jeanne)).status_code == 409

        # Staff apply on behalf of someone with Mallory's address: a new person, not Mallory's record.
        staff = svc.auth("staff")
        assert (await c.post(f"/positions/{second}/applications", json=body, headers=staff)).status_code == 422
        on_behalf = candidate("Marie Curie", mallory_email, birth_date="2000-01-01", disability=True)
        r = await c.post(f"/positions/{second}/applications", json=on_behalf, headers=staff)
        assert r.status_code == 201, r.text
        other_person = r.json()["candidate_id"]
        assert other_person != mallory_sub
        mine = (await c.get("/applications", headers=mallory)).json()["items"]
        assert [a["position_id"] for a in mine] == [first], "the on-behalf application is not Mallory's"
        profile = (await c.get(f"/persons/{mallory_sub}", headers=mallory)).json()
        assert profile["name"] == "Mallory" and profile["disability"] is False
        # On behalf again for the same address: the record this same flow made, not a third one.
        r = await c.post(f"/positions/{first}/applications", json=on_behalf, headers=staff)
        assert r.status_code == 409, "that address already applied to the first position (Mallory)"
        third = await _published(svc, authority, partnership_id, "Eau")
        r = await c.post(f"/positions/{third}/applications", json=on_behalf, headers=staff)
        assert r.status_code == 201 and r.json()["candidate_id"] == other_person


async def test_a_volunteer_reads_and_corrects_their_own_contact_data(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        c = svc.client
        authority_id, partnership_id = f"aut-{test_id}", f"ps-{test_id}"
        await seed_directory(
            svc,
            vies_stack.kafka_bootstrap,
            topic_prefix,
            authority_id=authority_id,
            partner_id=f"par-{test_id}",
            partnership_id=partnership_id,
            organisation_id=None,
        )
        authority = svc.auth("authority", "officer", authority_id=authority_id)
        pid = await _published(svc, authority, partnership_id, "Santé")
        me, email = f"vol-{test_id}", f"vol-{test_id}@example.org"
        r = await c.post(
            f"/positions/{pid}/applications",
            json=candidate("Awa Diallo", email),
            headers=svc.auth("candidate", me, email=email, email_verified=True),
        )
        assert r.status_code == 201, r.text
        volunteer = svc.auth("volunteer", me, email=email, email_verified=True)
        r = await c.get(f"/persons/{me}", headers=volunteer)
        assert r.status_code == 200 and r.json()["email"] == email
        r = await c.patch(f"/persons/{me}", json={"phone": "+221770000001", "language": "en"}, headers=volunteer)
        assert r.status_code == 200 and r.json()["phone"] == "+221770000001" and r.json()["language"] == "en"
        # The address is the account's: changed at the identity provider, where it is verified.
        r = await c.patch(f"/persons/{me}", json={"email": f"other-{test_id}@example.org"}, headers=volunteer)
        assert r.status_code == 422
        assert (await c.patch(f"/persons/{me}", json={"email": email.upper()}, headers=volunteer)).status_code == 200
        stranger = svc.auth("volunteer", f"vol-other-{test_id}")
        assert (await c.get(f"/persons/{me}", headers=stranger)).status_code == 403
        assert (await c.patch(f"/persons/{me}", json={"phone": "+1"}, headers=stranger)).status_code == 403
        assert (await c.delete(f"/persons/{me}", headers=volunteer)).status_code == 403


async def test_the_eligibility_check_is_public_and_rate_limited_per_address(vies_settings: Any) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings, eligibility_anonymous_per_minute=3)
    async with running(create(settings), settings) as svc:
        c = svc.client
        for _ in range(3):
            r = await c.post("/eligibility-checks", json=CHECK)
            assert r.status_code == 200 and len(r.json()["results"]) == 6, r.text
        r = await c.post("/eligibility-checks", json=CHECK)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, r.text
        assert r.json()["error"] == "too_many_requests"
        # Another client behind the trusted proxy has its own bucket; a token is not limited.
        r = await c.post("/eligibility-checks", json=CHECK, headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 200
        r = await c.post("/eligibility-checks", json=CHECK, headers=svc.auth("candidate", "c-1"))
        assert r.status_code == 200
        # A token that is there but bad is still refused; the input is still bounded.
        r = await c.post("/eligibility-checks", json=CHECK, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401
        r = await c.post(
            "/eligibility-checks", json={**CHECK, "duration_months": 1000}, headers=svc.auth("candidate", "c-1")
        )
        assert r.status_code == 422
        assert "429" in (await c.get("/openapi.json")).json()["paths"]["/eligibility-checks"]["post"]["responses"]


async def test_ids_filters_and_bodies_are_bounded(vies_settings: Any) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        c = svc.client
        staff = svc.auth("staff")
        long_id = "x" * 101
        for method, path in (
            ("GET", f"/positions/{long_id}"),
            ("POST", f"/positions/{long_id}/publish"),
            ("GET", f"/positions/{long_id}/applications"),
            ("GET", f"/applications/{long_id}"),
            ("POST", f"/applications/{long_id}/shortlist"),
            ("GET", f"/persons/{long_id}"),
            ("DELETE", f"/persons/{long_id}"),
            ("GET", f"/positions?authority_id={long_id}"),
            ("GET", f"/positions?partnership_id={long_id}"),
            ("GET", "/positions?country=FRA"),
            ("GET", "/positions?region=Bretagne"),
            ("GET", "/positions?language=french"),
            ("GET", f"/applications?position_id={long_id}"),
            ("GET", "/applications?status=" + "s" * 31),
            ("GET", "/positions?offset=99999999999999999999"),
        ):
            r = await c.request(method, path, headers=staff)
            assert r.status_code == 422, (method, path, r.status_code, r.text)
        for body in (position(sending_organisation_id=long_id), position(partnership_id=long_id)):
            assert (await c.post("/positions", json=body, headers=staff)).status_code == 422
