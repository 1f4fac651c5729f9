"""The delivery log's ``retrying`` filter: the messages waiting for another attempt, chosen and paged by the API.

The duty officer's page lists them; filtering a first page in the portal could hide some.
"""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import free_port, running
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.partners import AuthorityRegistered, MatchesProposed
from vies_shared.events.recruitment import ApplicationSubmitted
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


async def test_retrying_lists_pending_messages_after_a_failed_attempt_page_by_page(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    settings = vies_settings(
        "notifications",
        NotificationsSettings,
        smtp_port=free_port(),  # nothing listens: every email attempt fails
        delivery_poll_seconds=0.1,
        delivery_retry_initial_seconds=600,  # the next attempt is far off: the log stays as it is
        delivery_retry_max_seconds=600,
    )
    bootstrap = vies_stack.kafka_bootstrap
    partners = events_topic("partners", topic_prefix)
    async with running(create(settings), settings) as svc:
        staff = svc.auth("staff")
        for n in range(3):
            authority = f"auth{n}-{test_id}"
            await publish_event(
                bootstrap,
                partners,
                AuthorityRegistered(
                    authority_id=authority,
                    name=f"Commune {n}",
                    kind="commune",
                    region="FR-BRE",
                    contact_email=f"a{n}-{test_id}@example.org",
                    territoires_volontaires=False,
                ),
            )
            # The authority and the Bretagne branch each hear of it: six emails that fail once.
            await publish_event(
                bootstrap,
                partners,
                MatchesProposed(request_id=f"req{n}-{test_id}", authority_id=authority, suggestions=[]),
                region="FR-BRE",
            )
        # A candidate whose contact data are not known: the email waits without using an attempt.
        waiting = await publish_event(
            bootstrap,
            events_topic("recruitment", topic_prefix),
            ApplicationSubmitted(
                application_id=f"app-{test_id}", position_id="pos", candidate_id=f"cand-{test_id}", authority_id="x"
            ),
        )

        async def log() -> list[dict[str, Any]]:
            r = await svc.client.get("/notifications", params={"limit": 200}, headers=staff)
            assert r.status_code == 200, r.text
            return list(r.json()["items"])

        async def settled() -> bool:
            items = await log()
            tried = [i for i in items if i["event_type"] == "partners.MatchesProposed"]
            untried = [i for i in items if i["event_id"] == waiting and i["recipient"]["role"] == "candidate"]
            return (
                len(tried) == 6
                and all(i["status"] == "pending" and i["attempts"] >= 1 for i in tried)
                and len(untried) == 1
                and untried[0]["status"] == "pending"
                and untried[0]["attempts"] == 0
            )

        await wait_until(settled, timeout=30, message="six emails failed once, one waiting for contact data")
        everything = await log()
        expected = {i["notification_id"] for i in everything if i["status"] == "pending" and i["attempts"] > 0}
        assert len(expected) >= 6

        # Two pages of four: each entry once, every one waiting for a retry, the total told.
        seen: list[str] = []
        for offset in (0, 4):
            r = await svc.client.get(
                "/notifications", params={"retrying": "true", "limit": 4, "offset": offset}, headers=staff
            )
            assert r.status_code == 200, r.text
            page = r.json()
            assert page["total"] == len(expected)
            assert all(i["status"] == "pending" and i["attempts"] >= 1 for i in page["items"])
            seen += [i["notification_id"] for i in page["items"]]
        assert len(seen) == len(set(seen)) and set(seen) == expected

        # Combined with other filters; false is the rest of the log; no other status goes with true.
        r = await svc.client.get(
            "/notifications", params={"retrying": "true", "status": "pending", "channel": "email"}, headers=staff
        )
        assert r.json()["total"] == len(expected)
        r = await svc.client.get("/notifications", params={"retrying": "false", "limit": 200}, headers=staff)
        rest = {i["notification_id"] for i in r.json()["items"]}
        assert rest == {i["notification_id"] for i in everything} - expected
        assert any(i["event_id"] == waiting for i in r.json()["items"])
        r = await svc.client.get("/notifications", params={"retrying": "true", "status": "failed"}, headers=staff)
        assert r.status_code == 422, r.text
        # A branch gets its own region's, addresses masked.
        r = await svc.client.get(
            "/notifications", params={"retrying": "true", "limit": 200}, headers=svc.auth("branch", region="FR-BRE")
        )
        in_region = {i["notification_id"] for i in everything if i["region"] == "FR-BRE"} & expected
        assert r.status_code == 200 and {i["notification_id"] for i in r.json()["items"]} == in_region
        assert all(
            "***" in i["recipient"]["address"] for i in r.json()["items"] if i["recipient"]["role"] == "authority"
        )
