"""A notification orders its own outcome events: its last outbox ``seq`` is kept on its document.

Failed for good, then re-driven and sent: each notification's ``NotificationFailed`` comes before its
``NotificationSent`` on Kafka, its document holds the ``seq`` of the last one, and no ``outbox_keys``
entry is written for it. One re-driven before notifications kept that ``seq`` (no ``event_seq``)
stays ordered through ``outbox_keys``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import free_port, running
from vies_notifications import store
from vies_notifications.app import create
from vies_notifications.redrive import redrive
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.partners import AuthorityRegistered, MatchesProposed
from vies_shared.events.topics import events_topic
from vies_shared.messaging.outbox import KEYS_COLLECTION

pytestmark = pytest.mark.integration


class RefusesThenAccepts:
    """An SMTP server that refuses every recipient (550) until told to accept."""

    def __init__(self) -> None:
        self.accepting = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if not self.accepting:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"


async def test_failed_then_redriven_and_sent_keeps_each_notifications_event_order(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    smtp = RefusesThenAccepts()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = vies_settings("notifications", NotificationsSettings, smtp_port=controller.port)
        bootstrap = vies_stack.kafka_bootstrap
        async with running(create(settings), settings) as svc:
            authority = f"auth-{test_id}"
            await publish_event(
                bootstrap,
                events_topic("partners", topic_prefix),
                AuthorityRegistered(
                    authority_id=authority,
                    name="Commune de Brest",
                    kind="commune",
                    region="FR-BRE",
                    contact_email=f"{test_id}@example.org",
                    territoires_volontaires=False,
                ),
            )
            event_id = await publish_event(
                bootstrap,
                events_topic("partners", topic_prefix),
                MatchesProposed(request_id=f"req-{test_id}", authority_id=authority, suggestions=[]),
                region="FR-BRE",
            )
            probe = KafkaProbe(bootstrap, [events_topic("notifications", topic_prefix)])
            failed = await probe.wait_for("notifications.NotificationFailed", 2)
            db = svc.runtime.db
            docs = await db[store.NOTIFICATIONS].find({"event_id": event_id}).to_list()
            assert len(docs) == 2 and all(doc["status"] == "failed" for doc in docs)
            outbox = {doc["key"]: doc async for doc in db["outbox"].find({"type": "notifications.NotificationFailed"})}
            for doc in docs:
                assert doc["event_seq"] == outbox[doc["_id"]]["seq"]  # the notification holds its last seq

            # One of them as a notification failed before it kept its seq: re-driven, it stays on outbox_keys.
            legacy, current = sorted(docs, key=lambda doc: str(doc["_id"]))
            await db[store.NOTIFICATIONS].update_one({"_id": legacy["_id"]}, {"$unset": {"event_seq": ""}})
            smtp.accepting = True
            assert await redrive(db, since=datetime.now(UTC) - timedelta(minutes=5), category=None) == 2
            sent = await probe.wait_for("notifications.NotificationSent", 2, timeout=30)

            keys = {f"{events_topic('notifications', topic_prefix)} {doc['_id']}" for doc in docs}
            stored_keys = {doc["_id"] async for doc in db[KEYS_COLLECTION].find({"_id": {"$in": sorted(keys)}})}
            assert stored_keys == {f"{events_topic('notifications', topic_prefix)} {legacy['_id']}"}

            async def recorded() -> bool:
                found = await db[store.NOTIFICATIONS].find_one({"_id": current["_id"]})
                return bool(found and found["status"] == "sent")

            await wait_until(recorded, timeout=10, message="the re-driven notification recorded as sent")
            sent_docs = {doc["key"]: doc async for doc in db["outbox"].find({"type": "notifications.NotificationSent"})}
            after = await db[store.NOTIFICATIONS].find_one({"_id": current["_id"]})
            assert after is not None and after["event_seq"] == sent_docs[current["_id"]]["seq"]
            assert sent_docs[current["_id"]]["seq"] > outbox[current["_id"]]["seq"]

            # On Kafka, each notification's failure comes before its delivery.
            every = [e for e in await probe.events() if e["key"] in {doc["_id"] for doc in docs}]
            for doc in docs:
                types = [e["headers"]["ce_type"] for e in every if e["key"] == doc["_id"]]
                assert types == ["notifications.NotificationFailed", "notifications.NotificationSent"], types
            assert {e["value"]["notification_id"] for e in failed} == {e["value"]["notification_id"] for e in sent}
    finally:
        controller.stop()
