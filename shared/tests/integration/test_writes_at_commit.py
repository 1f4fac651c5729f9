"""Writes at commit (``uow.at_commit``) against SecantusDB: one command for a transaction's blind writes.

A consumed batch's inbox records, its handlers' writes at commit and its outbox documents go in one
client-level ``bulkWrite``, and commit or abort together; a redelivered record is found by that write
and skipped once; a write at commit fails as the same write done at once fails (duplicate key, write
conflict). Each test runs on the client-level ``bulkWrite`` and on the fallback for servers before
MongoDB 8.0 (one bulk write per collection), forced.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiokafka.structs import ConsumerRecord
from pymongo import monitoring
from pymongo.errors import ClientBulkWriteException, DuplicateKeyError, InvalidOperation, PyMongoError

from vies_shared.events.envelope import encode
from vies_shared.events.missions import MissionStarted
from vies_shared.events.partners import PartnerApproved, PartnerSuspended
from vies_shared.messaging.broker import create_broker
from vies_shared.messaging.consumer import EventConsumer, HandlerContext
from vies_shared.messaging.outbox import Outbox
from vies_shared.settings import ServiceSettings
from vies_shared.storage import (
    COMMAND_OBSERVERS,
    FailedAtCommit,
    Transactions,
    UnitOfWork,
    create_mongo_client,
)

pytestmark = pytest.mark.integration

WRITES = {"insert", "update", "delete", "bulkWrite"}


class Kit:
    """A database with its outbox and transactions, a consumer on it, and the commands it sends."""

    def __init__(self, settings: ServiceSettings, *, client_bulk_write: bool | None) -> None:
        self.client = create_mongo_client(settings.mongodb_uri)
        self.db = self.client[f"{settings.mongodb_db}_at_commit"]
        self.outbox = Outbox(self.db, service="missions", topic_prefix=settings.topic_prefix)
        self.transactions = Transactions(self.client, self.db, self.outbox, client_bulk_write=client_bulk_write)
        self.commands: list[str] = []
        self.dead_letters: list[tuple[str, str]] = []
        self.calls: list[str] = []
        self.consumer = EventConsumer(
            service="missions",
            name="missions",
            transactions=self.transactions,
            broker=create_broker(settings),  # never started: dead letters are recorded below
            topics=["t"],
            group_id="g",
            dlq_topic="dlq",
            handlers=[self.on_approved, self.on_suspended],
            attempts=1,
            retry_initial=0.01,
        )

        async def dead_letter(record: Any, reason: str, error: str) -> None:
            self.dead_letters.append((reason, error))

        self.consumer.dead_letter = dead_letter  # type: ignore[method-assign]

    async def on_approved(self, ctx: HandlerContext, event: PartnerApproved) -> None:
        """A blind projection write at commit and an event: once per ce_id."""
        self.calls.append(event.partner_id)
        ctx.uow.at_commit("approvals").update_one({"_id": event.partner_id}, {"$inc": {"times": 1}}, upsert=True)
        ctx.emit(MissionStarted(mission_id=f"m-{event.partner_id}", departed_on="2026-01-01"))  # type: ignore[arg-type]

    async def on_suspended(self, ctx: HandlerContext, event: PartnerSuspended) -> None:
        """Reason "insert": a plain insert with the partner's id, which fails when the record is handled again;
        reason "taken": a write at commit that meets a unique index."""
        self.calls.append(event.partner_id)
        if event.reason == "insert":
            await ctx.uow["suspensions"].insert_one({"_id": event.partner_id})
        else:
            ctx.uow.at_commit("suspensions").insert_one({"_id": "taken"})

    def observe(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name in (self.db.name, "admin") and event.command_name != "endSessions":
            self.commands.append(event.command_name)

    def writes(self) -> list[str]:
        return [name for name in self.commands if name in WRITES]


@contextlib.asynccontextmanager
async def kit_on(settings: ServiceSettings, *, client_bulk_write: bool | None) -> AsyncIterator[Kit]:
    k = Kit(settings, client_bulk_write=client_bulk_write)
    COMMAND_OBSERVERS.append(k.observe)
    try:
        yield k
    finally:
        COMMAND_OBSERVERS.remove(k.observe)
        await k.client.drop_database(k.db.name)
        await k.client.close()


@pytest_asyncio.fixture(params=[None, False], ids=["client_bulk_write", "per_collection"])
async def kit(vies_settings: Any, request: pytest.FixtureRequest) -> AsyncIterator[Kit]:
    """On the client-level bulkWrite (found out at the first commit), then on the fallback, forced."""
    async with kit_on(vies_settings("missions"), client_bulk_write=request.param) as k:
        yield k


@pytest_asyncio.fixture
async def bulk_kit(vies_settings: Any) -> AsyncIterator[Kit]:
    """On the client-level bulkWrite only."""
    async with kit_on(vies_settings("missions"), client_bulk_write=None) as k:
        yield k


def records(*events: Any, offset: int = 0) -> list[ConsumerRecord[bytes, bytes]]:
    """Kafka records of contract events (one partition, consecutive offsets), as the subscriber hands them over."""
    out = []
    for position, event in enumerate(events):
        _, message = encode(event)
        headers = [(name, value.encode()) for name, value in message.headers.items()]
        value = message.value
        out.append(
            ConsumerRecord(
                "t", 0, offset + position, int(time.time() * 1000), 0, b"k", value, None, 1, len(value), headers
            )
        )
    return out


async def test_a_batch_sends_its_inbox_records_handler_writes_and_events_in_one_write_command(kit: Kit) -> None:
    batch = records(PartnerApproved(partner_id="a"), PartnerApproved(partner_id="b"))
    await kit.consumer.handle_records(batch)
    # Two aggregates' events: their last seq is read (find), then written with the outbox documents.
    if kit.transactions.client_bulk_write:
        assert kit.commands == ["find", "bulkWrite", "commitTransaction"], kit.commands
    else:  # one bulk write per collection, in the order they were declared: inbox, handler, outbox_keys, outbox
        assert kit.writes() == ["insert", "update", "update", "insert"], kit.commands
    assert await kit.db["inbox"].count_documents({}) == 2
    assert [d async for d in kit.db["approvals"].find({}, sort=[("_id", 1)])] == [
        {"_id": "a", "times": 1},
        {"_id": "b", "times": 1},
    ]
    assert await kit.outbox.backlog() == 2


async def test_a_transaction_of_writes_at_commit_alone_is_one_write_and_the_commit(kit: Kit) -> None:
    """The write at commit may be the transaction's first command (it starts the transaction)."""

    async def work(uow: UnitOfWork) -> None:
        uow.at_commit("views").update_one({"_id": "v"}, {"$set": {"n": 1}}, upsert=True)
        uow.at_commit("log").insert_one({"_id": "l"})
        uow.at_commit("views").delete_many({"_id": {"$ne": "v"}})

    await kit.db["views"].insert_one({"_id": "old"})
    kit.commands.clear()
    await kit.transactions.run(work)
    if kit.transactions.client_bulk_write:
        assert kit.commands == ["bulkWrite", "commitTransaction"], kit.commands
    else:  # runs of one collection: views, log, views
        assert kit.commands == ["update", "insert", "delete", "commitTransaction"], kit.commands
    assert await kit.db["views"].find({}).to_list() == [{"_id": "v", "n": 1}]
    assert await kit.db["log"].count_documents({}) == 1


async def test_a_redelivered_record_is_found_at_commit_and_skipped_once(kit: Kit) -> None:
    first = records(PartnerApproved(partner_id="a"))
    await kit.consumer.handle_records(first)
    kit.commands.clear()
    # The same record again with a new one: the write at commit meets its inbox record, nothing of that
    # attempt is kept, and the batch runs again reading the inbox first.
    await kit.consumer.handle_records([*first, *records(PartnerApproved(partner_id="b"), offset=1)])
    assert kit.calls == ["a", "a", "b", "b"]  # the aborted attempt, then the lookup
    assert "find" in kit.commands and "abortTransaction" in kit.commands
    assert [d async for d in kit.db["approvals"].find({}, sort=[("_id", 1)])] == [
        {"_id": "a", "times": 1},
        {"_id": "b", "times": 1},
    ]
    assert await kit.db["inbox"].count_documents({}) == 2
    assert await kit.outbox.backlog() == 2
    assert kit.dead_letters == []


async def test_a_handler_failing_on_a_record_it_handled_before_is_a_redelivery_not_a_dead_letter(kit: Kit) -> None:
    """Its plain insert meets what it wrote the first time before the inbox write does: the inbox is read then."""
    first = records(PartnerSuspended(partner_id="s1", reason="insert"))
    await kit.consumer.handle_records(first)
    await kit.consumer.handle_records(first)
    assert kit.calls == ["s1", "s1"]
    assert kit.dead_letters == []
    assert await kit.db["inbox"].count_documents({}) == 1


async def test_a_handler_write_at_commit_that_fails_is_that_handler_failing(kit: Kit) -> None:
    """Isolated and dead-lettered like any handler error; the others of its batch commit; nothing of it is kept."""
    await kit.db["suspensions"].insert_one({"_id": "taken"})
    batch = records(PartnerApproved(partner_id="a"), PartnerSuspended(partner_id="s1", reason="taken"))
    await kit.consumer.handle_records(batch)
    assert [reason for reason, _ in kit.dead_letters] == ["handler_failed"]
    assert "E11000" in kit.dead_letters[0][1]
    assert await kit.db["inbox"].distinct("type") == [PartnerApproved.TYPE]
    assert await kit.db["approvals"].count_documents({}) == 1
    assert await kit.outbox.backlog() == 1


async def test_a_duplicate_key_at_commit_is_the_duplicate_key_error_of_the_same_write_done_at_once(kit: Kit) -> None:
    await kit.db["things"].insert_one({"_id": "x"})

    async def at_once(uow: UnitOfWork) -> None:
        await uow["things"].insert_one({"_id": "x"})

    async def at_commit(uow: UnitOfWork) -> None:
        uow.at_commit("things").insert_one({"_id": "y"})
        uow.at_commit("others").update_one({"_id": "o"}, {"$set": {"seen": True}}, upsert=True)
        uow.at_commit("things").insert_one({"_id": "x"})
        uow.emit(PartnerApproved(partner_id="p"))

    with pytest.raises(DuplicateKeyError) as plain:
        await kit.transactions.run(at_once)
    with pytest.raises(DuplicateKeyError) as raised:
        await kit.transactions.run(at_commit)
    assert isinstance(raised.value, FailedAtCommit) and raised.value.collection == "things"
    assert raised.value.details == plain.value.details
    assert raised.value.code == plain.value.code == 11000
    for label in ("TransientTransactionError", "RetryableWriteError"):
        assert raised.value.has_error_label(label) == plain.value.has_error_label(label)
    # Nothing of that transaction is kept: the writes before the failed one, the others, its event.
    assert await kit.db["things"].distinct("_id") == ["x"]
    assert await kit.db["others"].count_documents({}) == 0
    assert await kit.outbox.backlog() == 0


async def test_a_write_conflict_at_commit_runs_the_whole_body_again(kit: Kit) -> None:
    await kit.db["stock"].insert_one({"_id": "s", "left": 2})
    bodies: list[int] = []

    async def meanwhile(uow: UnitOfWork) -> None:
        await uow["stock"].update_one({"_id": "s"}, {"$inc": {"left": -1}})

    async def take(uow: UnitOfWork) -> None:
        bodies.append(1)
        await uow["ledger"].find_one({"_id": "l"})  # the transaction's snapshot starts here
        if len(bodies) == 1:
            await kit.transactions.run(meanwhile)  # another transaction commits a change of the document
        uow.at_commit("stock").update_one({"_id": "s"}, {"$inc": {"left": -1}})
        uow.emit(PartnerApproved(partner_id=f"p-{len(bodies)}"))

    await kit.transactions.run(take)
    assert len(bodies) == 2
    assert await kit.db["stock"].find_one({"_id": "s"}) == {"_id": "s", "left": 0}
    assert [d["key"] async for d in kit.db["outbox"].find({})] == ["p-2"]


async def test_a_collection_written_at_commit_is_refused_for_the_rest_of_the_transaction(kit: Kit) -> None:
    async def work(uow: UnitOfWork) -> None:
        uow.at_commit("contacts").delete_one({"_id": "c"})
        await uow["contacts"].find_one({"_id": "c"})

    with pytest.raises(RuntimeError, match="contacts has writes declared with at_commit"):
        await kit.transactions.run(work)


async def test_a_server_without_the_client_bulk_write_is_found_out_once(
    bulk_kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a server before MongoDB 8.0: PyMongo refuses the command before sending it; one bulk write per
    collection from then on."""
    kit = bulk_kit
    refusals: list[int] = []

    async def refused(*args: Any, **kwargs: Any) -> Any:
        refusals.append(1)
        raise InvalidOperation("MongoClient.bulk_write requires MongoDB server version 8.0+.")

    monkeypatch.setattr(kit.client, "bulk_write", refused)
    monkeypatch.setattr(kit.transactions, "_server_has_client_bulk_write", lambda: False)

    async def work(uow: UnitOfWork) -> None:
        uow.at_commit("things").insert_one({"n": 1})
        uow.emit(PartnerApproved(partner_id="p"))

    await kit.transactions.run(work)
    await kit.transactions.run(work)
    assert refusals == [1] and kit.transactions.client_bulk_write is False
    assert await kit.db["things"].count_documents({}) == 2
    assert await kit.outbox.backlog() == 2


async def test_an_invalid_operation_on_a_server_that_has_the_command_is_raised(
    bulk_kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = bulk_kit

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise InvalidOperation("something else")

    monkeypatch.setattr(kit.client, "bulk_write", refused)

    async def work(uow: UnitOfWork) -> None:
        uow.at_commit("things").insert_one({"n": 1})

    await kit.db["things"].find_one({})  # the client knows its server
    with pytest.raises(PyMongoError, match="something else"):
        await kit.transactions.run(work)
    assert kit.transactions.client_bulk_write is None


async def test_a_write_conflict_reported_as_a_write_error_runs_the_whole_body_again(
    bulk_kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server may report a conflict of one write of the command among its write errors, unlabelled: it is
    raised labelled, as a write done at once reports it, so the transaction runs again."""
    kit = bulk_kit
    real = kit.client.bulk_write
    conflicts = [1]

    async def conflicting(models: Any, **kwargs: Any) -> Any:
        if conflicts:
            conflicts.pop()
            error = {"ok": 0.0, "idx": 1, "code": 112, "errmsg": "WriteConflict", "n": 0, "op": {}}
            raise ClientBulkWriteException({"error": None, "writeErrors": [error], "writeConcernErrors": []}, False)
        return await real(models, **kwargs)

    monkeypatch.setattr(kit.client, "bulk_write", conflicting)
    bodies: list[int] = []

    async def work(uow: UnitOfWork) -> None:
        bodies.append(1)
        await uow["things"].find_one({})
        uow.at_commit("things").insert_one({"_id": "t"})
        uow.emit(PartnerApproved(partner_id="p"))

    await kit.transactions.run(work)
    assert len(bodies) == 2
    assert await kit.db["things"].count_documents({}) == 1
    assert await kit.outbox.backlog() == 1
