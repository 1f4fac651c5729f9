"""Published positions are public: an anonymous visitor lists and reads them, never a draft or an internal field."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing.helpers import running
from vies_dev.testing.recruitment import position, seed_directory
from vies_recruitment.app import create
from vies_recruitment.settings import RecruitmentSettings

pytestmark = pytest.mark.integration

INTERNAL = {"authority_id", "partnership_id", "partner_id", "sending_organisation_id", "close_reason", "created_at"}


async def test_anonymous_visitors_see_published_positions_only(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    settings = vies_settings("recruitment", RecruitmentSettings)
    async with running(create(settings), settings) as svc:
        await seed_directory(svc, vies_stack.kafka_bootstrap, topic_prefix)
        authority = svc.auth("authority", "agent-1", authority_id="auth-1")
        c = svc.client
        published = (await c.post("/positions", json=position(title="Published one"), headers=authority)).json()
        r = await c.post(f"/positions/{published['position_id']}/publish", headers=authority)
        assert r.status_code == 200, r.text
        draft = (await c.post("/positions", json=position(title="Draft one"), headers=authority)).json()

        listed = await c.get("/positions")
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert [p["position_id"] for p in items] == [published["position_id"]]
        assert not INTERNAL & set(items[0])
        assert items[0]["title"] == "Published one" and items[0]["status"] == "published"
        # asking for drafts anonymously still gives published ones only
        assert (await c.get("/positions", params={"status": "draft"})).json()["items"] == []

        one = await c.get(f"/positions/{published['position_id']}")
        assert one.status_code == 200 and not INTERNAL & set(one.json())
        assert (await c.get(f"/positions/{draft['position_id']}")).status_code == 404
        assert (await c.get("/positions/pos-missing")).status_code == 404
        # a defective token is still refused; with a token, as before (internal fields, own drafts)
        assert (await c.get("/positions", headers={"Authorization": "Bearer nope"})).status_code == 401
        mine = (await c.get("/positions", headers=authority)).json()["items"]
        assert {p["position_id"] for p in mine} == {published["position_id"], draft["position_id"]}
        assert mine[0]["authority_id"] == "auth-1"
