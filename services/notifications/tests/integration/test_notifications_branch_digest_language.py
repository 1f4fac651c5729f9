"""A regional branch chooses the language of its office's messages (the daily digest): its own region's
preferences only, and the next digest comes in that language."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import Mailpit
from vies_notifications import scheduler
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.recruitment import PositionPublished
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def test_a_branch_sets_its_digest_language(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = vies_settings(
        "notifications",
        NotificationsSettings,
        mongodb_db=f"t{test_id}_notifications",
        delivery_poll_seconds=0.1,
        digest_hour=6,
    )
    async with running(create(settings), settings) as svc:
        branch = svc.auth("branch", "ara-adviser", region="FR-ARA")
        english = {"language": "en", "opt_out_categories": []}
        for region in ("FR-974", "ara-adviser-other"):
            r = await svc.client.put(f"/preferences/{region}", json=english, headers=branch)
            assert r.status_code == 403, r.text
        r = await svc.client.put("/preferences/FR-ARA", json=english, headers=branch)
        assert r.status_code == 200 and r.json()["language"] == "en"
        assert (await svc.client.get("/preferences/FR-ARA", headers=branch)).json()["language"] == "en"
        # Another region's branch cannot read or change it.
        other = svc.auth("branch", "reunion-adviser", region="FR-974")
        assert (await svc.client.get("/preferences/FR-ARA", headers=other)).status_code == 403

        await publish_event(
            vies_stack.kafka_bootstrap,
            events_topic("recruitment", topic_prefix),
            PositionPublished(
                position_id=f"pos-{test_id}",
                partnership_id="ps",
                authority_id="a",
                partner_id="p",
                country="SN",
                scheme="service_civique",
                title="Maraîchage",
                starts_on=date(2027, 3, 1),
                duration_months=8,
                places=1,
            ),
            region="FR-ARA",
        )

        async def recorded() -> bool:
            return bool(await svc.runtime.db["digest_entries"].count_documents({"region": "FR-ARA"}) == 1)

        await wait_until(recorded, message="digest entry recorded")
        tomorrow_morning = (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=1)).replace(hour=7, minute=0)
        assert await scheduler.send_daily_digests(svc.runtime, tomorrow_morning) == 1
        [mail] = await Mailpit(vies_stack.mailpit_url).wait_for(
            f"to:antenne.fr-ara@vies.example.org {test_id}", where=lambda m: m["Subject"].startswith("Activity")
        )
        assert "Auvergne" in mail["Subject"]
