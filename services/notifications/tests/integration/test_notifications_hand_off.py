"""Notifications queued by this process go straight to its delivery lane (issue 17): real Kafka, MongoDB, SMTP.

- A notification the intake queues while this process's lane has room is written already claimed
  for it and sent with no claim query or update, with the documents the intake read (the authority,
  its preferences) instead of reading them again; the SMTP server's acceptances of its batch are
  marked in one write.
- A worker stopping with hand-offs not tried yet releases their claims (pending again, no attempt
  used); the next process sends each once.
- A hand-off whose worker died (its claim no longer renewed) is taken over once the claim expires,
  its attempt counted, and sent once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pymongo import monitoring

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import free_port, running
from vies_dev.testing.notifications import CountingSmtp, Mailpit
from vies_notifications import delivery
from vies_notifications.app import create
from vies_notifications.domain.delivery import message_id
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.partners import AuthorityRegistered, MatchesProposed
from vies_shared.events.topics import events_topic
from vies_shared.storage import COMMAND_OBSERVERS, create_mongo_client

pytestmark = pytest.mark.integration


class Commands:
    """The commands sent to one database: (name, collection, filters, whether inside a transaction)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.seen: list[tuple[str, str, list[dict[str, Any]], bool]] = []

    def __call__(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database:
            return
        command = event.command
        name = event.command_name
        filters = [statement.get("q", {}) for statement in command.get("updates") or []]
        if name in ("find", "count", "aggregate"):
            filters = [command.get("filter") or {}]
        self.seen.append((name, str(command.get(name)), filters, "autocommit" in command))

    def of(self, name: str, collection: str, *, in_transaction: bool | None = None) -> list[dict[str, Any]]:
        """The filters of the ``name`` commands on ``collection`` (inside or outside a transaction)."""
        return [
            f
            for n, c, filters, txn in self.seen
            if n == name and c == collection and in_transaction in (None, txn)
            for f in filters
        ]


async def _register(bootstrap: str, prefix: str, authority: str, address: str) -> None:
    registered = AuthorityRegistered(
        authority_id=authority,
        name="Commune de Rennes",
        kind="commune",
        region="FR-BRE",
        contact_email=address,
        territoires_volontaires=False,
    )
    await publish_event(bootstrap, events_topic("partners", prefix), registered)


async def _propose(bootstrap: str, prefix: str, authority: str) -> None:
    """Matches proposed to the authority: an email to it and one to the Bretagne branch."""
    proposed = MatchesProposed(request_id=f"r-{authority}", authority_id=authority, suggestions=[])
    await publish_event(bootstrap, events_topic("partners", prefix), proposed)


async def _docs(svc: Any, **query: Any) -> list[dict[str, Any]]:
    return [doc async for doc in svc.runtime.db["notifications"].find(query)]


def _claim_filters(commands: Commands) -> list[dict[str, Any]]:
    """The lanes' claims: the query for what is due (or stale) and the update taking it."""
    claims = commands.of("find", "notifications") + commands.of("update", "notifications")
    return [f for f in claims if "next_attempt_at" in f or "claimed_until" in f]


async def test_a_notification_queued_here_is_sent_unclaimed_with_what_the_intake_read(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No poll meanwhile; acceptances wait for their batch's end, so the two emails' marks are one write.
    monkeypatch.setattr(delivery, "ACCEPTANCE_MARK_SECONDS", 30.0)
    settings = vies_settings("notifications", NotificationsSettings, delivery_poll_seconds=60.0)
    bootstrap, authority, address = vies_stack.kafka_bootstrap, f"auth-{test_id}", f"a-{test_id}@example.org"
    async with running(create(settings), settings) as svc:
        worker = svc.runtime.extras["delivery"]
        await wait_until(lambda: all(lane.next_poll > 0 for lane in worker.lanes.values()), message="first claims")
        await _register(bootstrap, topic_prefix, authority, address)
        await wait_until(lambda: svc.runtime.db["authorities"].find_one({"_id": authority}), message="authority known")
        commands = Commands(svc.runtime.db.name)
        COMMAND_OBSERVERS.append(commands)
        try:
            await _propose(bootstrap, topic_prefix, authority)

            async def both_sent() -> list[dict[str, Any]] | None:
                docs = await _docs(svc, event_type="partners.MatchesProposed", **{"context.authority_id": authority})
                return docs if len(docs) == 2 and all(d["status"] == "sent" for d in docs) else None

            docs = await wait_until(both_sent, timeout=20, message="both emails recorded as sent")
        finally:
            COMMAND_OBSERVERS.remove(commands)
    assert sorted(d["recipient"]["kind"] for d in docs) == ["authority", "branch"]
    assert all(d["attempts"] == 1 and d["claim"] is None for d in docs)  # one attempt, counted at the hand-off
    assert _claim_filters(commands) == []  # neither asked for nor claimed: handed to the lane
    assert [n for n, c, _, txn in commands.seen if (n, c, txn) == ("insert", "notifications", True)]  # the intake's
    # What the intake read is not read again: the authority, its preferences (the branch's were not read).
    assert commands.of("find", "authorities", in_transaction=False) == []
    asked = [f["_id"]["$in"] for f in commands.of("find", "preferences", in_transaction=False)]
    assert asked == [["FR-BRE"]]
    marks = [f for f in commands.of("update", "notifications", in_transaction=False) if set(f) == {"_id", "claim"}]
    assert [len(f["_id"]["$in"]) for f in marks] == [2]  # both acceptances in one write as the batch ended
    mailpit = Mailpit(vies_stack.mailpit_url)
    await mailpit.wait_for(f"to:{address}")
    assert len(await mailpit.search(f"to:{address}")) == 1


async def test_a_worker_stopping_releases_what_was_handed_to_it_and_the_next_sends_each_once(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    slow = CountingSmtp(delay=1.0)
    controller = Controller(slow, hostname="127.0.0.1", port=free_port())
    controller.start()
    bootstrap = vies_stack.kafka_bootstrap
    authorities = [f"auth{n}-{test_id}" for n in range(3)]
    try:
        settings = vies_settings("notifications", NotificationsSettings, smtp_port=controller.port)
        handed: list[str] = []
        released: list[str] = []
        async with running(create(settings), settings) as svc:
            worker = svc.runtime.extras["delivery"]
            take, release = worker.take, worker.release

            def counted_take(channel: str, token: str, docs: list[dict[str, Any]], known: Any) -> None:
                handed.append(token)
                take(channel, token, docs, known)

            async def counted_release(token: str) -> None:
                released.append(token)
                await release(token)

            worker.take, worker.release = counted_take, counted_release
            for n, authority in enumerate(authorities):
                await _register(bootstrap, topic_prefix, authority, f"a{n}-{test_id}@example.org")
            await _propose(bootstrap, topic_prefix, authorities[0])
            await wait_until(lambda: handed, timeout=20, message="the first emails handed off")
            for authority in authorities[1:]:  # while the first are sent (a second each)
                await _propose(bootstrap, topic_prefix, authority)
            lane = worker.lanes["email"]

            def later_ones_waiting() -> bool:
                return sum(len(h.notifications) for h in lane.handed) == 4

            await wait_until(later_ones_waiting, timeout=20, message="the later emails handed off, waiting")
            waiting = [h.token for h in lane.handed]
            # Leaving the block stops the service: the message in flight finishes, the hand-offs are released.
        assert waiting and set(waiting) <= set(released) and set(handed) == {*waiting, handed[0]}
        client = create_mongo_client(vies_stack.mongodb_uri)
        try:
            docs = [doc async for doc in client[settings.mongodb_db]["notifications"].find()]
        finally:
            await client.close()
        assert len(docs) == 6 and not [d for d in docs if d["status"] == "sending"]  # nothing left claimed
        given_back = [d for d in docs if d["status"] == "pending"]
        assert len(given_back) >= 4 and all(d["attempts"] == 0 and d["claim"] is None for d in given_back)
        accepted = list(slow.message_ids)
        sent_before = {message_id(d["_id"], settings.message_id_domain) for d in docs if d["status"] == "sent"}
        assert sent_before == set(accepted)  # what went was recorded
        slow.delay = 0.0
        async with running(create(settings), settings) as again:

            async def all_sent() -> bool:
                return [d["status"] for d in await _docs(again)] == ["sent"] * 6

            await wait_until(all_sent, timeout=30, message="the rest sent by the next process")
        assert len(slow.message_ids) == len(set(slow.message_ids)) == 6  # none twice
    finally:
        controller.stop()


async def test_a_hand_off_whose_worker_died_is_taken_over_once_its_claim_expired_and_sent_once(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    claim_seconds = 1.0
    settings = vies_settings(
        "notifications", NotificationsSettings, delivery_poll_seconds=0.2, delivery_claim_seconds=claim_seconds
    )
    bootstrap, authority, address = vies_stack.kafka_bootstrap, f"auth-{test_id}", f"a-{test_id}@example.org"
    async with running(create(settings), settings) as svc:
        worker = svc.runtime.extras["delivery"]
        take: Callable[..., None] = worker.take
        died: list[Any] = []

        def dies_after_the_commit(channel: str, token: str, docs: list[dict[str, Any]], known: Any) -> None:
            take(channel, token, docs, known)
            if not died:
                # The process is gone right after its hand-off: nothing sends it, nothing renews its claim.
                lost = worker.lanes[channel].handed.pop()
                lost.renewal.cancel()
                died.append(lost)

        worker.take = dies_after_the_commit
        await _register(bootstrap, topic_prefix, authority, address)
        await _propose(bootstrap, topic_prefix, authority)
        await wait_until(lambda: died, timeout=20, message="the emails handed off")
        [lost] = died
        handed = lost.notifications
        assert len(handed) == 2 and all(n.status == "sending" and n.claim == lost.token for n in handed)

        async def both_sent() -> list[dict[str, Any]] | None:
            docs = await _docs(svc, **{"_id": {"$in": [n.notification_id for n in lost.notifications]}})
            return docs if len(docs) == 2 and all(d["status"] == "sent" for d in docs) else None

        docs = await wait_until(both_sent, timeout=30, message="taken over once expired, then sent")
        await asyncio.sleep(1.0)  # a second copy would have gone by now
    expired = lost.notifications[0].claimed_until
    assert expired is not None
    for doc in docs:
        assert doc["attempts"] == 2  # counted at the hand-off and at the take-over, like a crashed pass's
        assert doc["sent_at"].replace(tzinfo=UTC) > expired  # taken over once the claim had expired
    assert len(await Mailpit(vies_stack.mailpit_url).search(f"to:{address}")) == 1
