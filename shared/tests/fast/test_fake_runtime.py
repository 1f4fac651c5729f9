"""The kit's transaction runner, unit of work and handler dispatch on the in-memory fakes.

These pin what the fakes promise the services' fast tests: a transaction's writes and events
are all or nothing, the runner's retries behave as on a server, the clock is the test's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure

from vies_dev.testing.fakes import FakeRuntime
from vies_shared.errors import NotFound
from vies_shared.events.recruitment import ApplicationShortlisted, PositionClosed
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.service import ServiceDefinition
from vies_shared.settings import ServiceSettings
from vies_shared.storage import FailedAtCommit, RaceLost, UnitOfWork, transactional

pytestmark = pytest.mark.fast


@transactional
async def close_position(uow: UnitOfWork, position_id: str, *, fail: bool = False) -> str:
    """A use case of the shape the services write: state, an event, an after-commit callback."""
    await uow["positions"].update_one(
        {"_id": position_id}, {"$set": {"status": "closed", "closed_at": uow.now()}}, upsert=True
    )
    uow.emit(PositionClosed(position_id=position_id, reason="filled", cause="filled"))
    uow.after_commit(lambda: CALLBACKS.append(position_id))
    if fail:
        raise ValueError("refused after writing")
    return position_id


CALLBACKS: list[str] = []


async def on_shortlisted(ctx: HandlerContext, event: ApplicationShortlisted) -> None:
    """A handler that records and answers with an event caused by the one it handles."""
    await ctx.uow["seen"].insert_one({"_id": event.application_id, "causation": ctx.meta.id})
    ctx.emit(PositionClosed(position_id=f"p-{event.application_id}", reason="shortlist", cause="filled"))


def runtime() -> FakeRuntime[ServiceSettings]:
    settings = ServiceSettings(service="recruitment", env="dev", mongodb_db="fake_recruitment")
    return FakeRuntime(ServiceDefinition(name="recruitment", title="t", handlers=[on_shortlisted]), settings)


@pytest.fixture(autouse=True)
def _forget_callbacks() -> None:
    CALLBACKS.clear()


async def test_a_committed_use_case_keeps_its_writes_events_and_callbacks() -> None:
    fake = runtime()
    fake.clock.set(datetime(2031, 5, 1, 8, 30, tzinfo=UTC))
    assert await close_position(fake, "p1") == "p1"
    doc = await fake.collection("positions").find_one({"_id": "p1"})
    assert doc is not None and doc["status"] == "closed"
    assert doc["closed_at"] == datetime(2031, 5, 1, 8, 30, tzinfo=UTC)
    assert fake.events == [PositionClosed(position_id="p1", reason="filled", cause="filled")]
    assert fake.types() == ["recruitment.PositionClosed"]
    assert CALLBACKS == ["p1"]
    # The outbox holds the same event for the relay, ordered per aggregate.
    assert await fake.collection("outbox").count_documents({"type": "recruitment.PositionClosed"}) == 1


async def test_a_failed_use_case_leaves_nothing_behind() -> None:
    fake = runtime()
    await close_position(fake, "p0")
    with pytest.raises(ValueError, match="refused"):
        await close_position(fake, "p1", fail=True)
    assert await fake.collection("positions").find_one({"_id": "p1"}) is None
    assert await fake.collection("positions").count_documents({}) == 1
    assert fake.events_of(PositionClosed) == [PositionClosed(position_id="p0", reason="filled", cause="filled")]
    assert await fake.collection("outbox").count_documents({}) == 1
    assert CALLBACKS == ["p0"]


async def test_a_lost_race_runs_the_whole_body_again() -> None:
    fake = runtime()
    attempts: list[int] = []

    @transactional
    async def guarded(uow: UnitOfWork) -> None:
        attempts.append(len(attempts) + 1)
        await uow["counters"].update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True)
        uow.emit(PositionClosed(position_id="p", reason="race", cause="filled"))
        if len(attempts) == 1:
            raise RaceLost("a concurrent transaction committed first")

    await guarded(fake)
    assert attempts == [1, 2]
    counter = await fake.collection("counters").find_one({"_id": "c"})
    assert counter is not None and counter["n"] == 1  # the first attempt's write was rolled back
    assert len(fake.events) == 1


async def test_an_unknown_commit_result_retries_the_commit_not_the_body() -> None:
    fake = runtime()
    unknown = OperationFailure("commit may have applied")
    unknown._add_error_label("UnknownTransactionCommitResult")
    fake.fake_client.commit_errors.append(unknown)
    bodies: list[str] = []

    @transactional
    async def once(uow: UnitOfWork) -> None:
        bodies.append("run")
        await uow["counters"].update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True)

    await once(fake)
    assert bodies == ["run"]
    assert fake.fake_client.sessions[-1].commits == 2
    counter = await fake.collection("counters").find_one({"_id": "c"})
    assert counter is not None and counter["n"] == 1


async def test_a_write_conflict_at_commit_runs_the_body_again() -> None:
    fake = runtime()
    conflict = OperationFailure("write conflict")
    conflict._add_error_label("TransientTransactionError")
    fake.fake_client.commit_errors.append(conflict)
    bodies: list[str] = []

    @transactional
    async def twice(uow: UnitOfWork) -> None:
        bodies.append("run")
        await uow["counters"].update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True)

    await twice(fake)
    assert bodies == ["run", "run"]
    counter = await fake.collection("counters").find_one({"_id": "c"})
    assert counter is not None and counter["n"] == 1


async def test_get_loads_or_raises_not_found_and_unique_indexes_hold() -> None:
    fake = runtime()
    await fake.collection("positions").create_index("slug", unique=True)

    @transactional
    async def load(uow: UnitOfWork, doc_id: str) -> dict[str, object]:
        return await uow.get("positions", doc_id, "position")

    @transactional
    async def insert(uow: UnitOfWork, doc_id: str) -> None:
        await uow["positions"].insert_one({"_id": doc_id, "slug": "same"})

    await insert(fake, "a")
    assert (await load(fake, "a"))["slug"] == "same"
    with pytest.raises(NotFound, match="position b not found"):
        await load(fake, "b")
    with pytest.raises(DuplicateKeyError):
        await insert(fake, "b")


async def test_deliver_calls_the_handler_of_the_event_class_with_causation() -> None:
    fake = runtime()
    meta = await fake.deliver(ApplicationShortlisted(application_id="a1"), correlation_id="corr-1")
    seen = await fake.collection("seen").find_one({"_id": "a1"})
    assert seen is not None and seen["causation"] == meta.id
    [envelope] = fake.envelopes
    assert envelope.event == PositionClosed(position_id="p-a1", reason="shortlist", cause="filled")
    assert envelope.meta.causation_id == meta.id
    assert envelope.meta.correlation_id == "corr-1"
    with pytest.raises(LookupError, match="no handler"):
        await fake.deliver(PositionClosed(position_id="p", reason="r", cause="filled"))


async def test_the_clock_moves_only_when_the_test_moves_it() -> None:
    fake = runtime()
    start = fake.now()
    assert fake.now() == start
    fake.clock.advance(hours=2)
    assert fake.now() == start + timedelta(hours=2)


async def test_reads_sort_skip_limit_and_aggregate_like_the_driver() -> None:
    fake = runtime()
    await fake.collection("items").insert_many([{"_id": i, "n": i % 3} for i in range(10)])
    page = await fake.reads["items"].find({"n": {"$gte": 1}}).sort("_id", -1).skip(1).limit(3).to_list()
    assert [d["_id"] for d in page] == [7, 5, 4]
    ids = [d["_id"] async for d in fake.reads["items"].find({"n": 0}, {"_id": 1})]
    assert ids == [0, 3, 6, 9]
    cursor = await fake.reads["items"].aggregate([{"$group": {"_id": "$n", "count": {"$sum": 1}}}])
    assert sorted((d["_id"], d["count"]) for d in await cursor.to_list()) == [(0, 4), (1, 3), (2, 3)]


async def test_an_update_pipeline_is_evaluated_on_the_matched_document_or_the_upserted_one() -> None:
    fake = runtime()
    contacts = fake.collection("contacts")
    t0 = datetime(2031, 5, 1, tzinfo=UTC)

    async def write(name: str, at: datetime) -> None:
        fields = {"_id": "p1", "name": name, "updated_at": at}
        newer = {"$gt": ["$updated_at", at]}
        literal = {k: {"$literal": v} for k, v in fields.items()}
        await contacts.update_one({"_id": "p1"}, [{"$replaceWith": {"$cond": [newer, "$$ROOT", literal]}}], upsert=True)

    await write("$first", t0)  # upserted; a literal is not read as a field path
    await write("older", t0 - timedelta(hours=1))
    assert await contacts.find_one({"_id": "p1"}) == {"_id": "p1", "name": "$first", "updated_at": t0}
    await write("newer", t0 + timedelta(hours=1))
    await contacts.update_many({"_id": "p1"}, [{"$set": {"seen": True}}, {"$unset": "updated_at"}])
    assert await contacts.find_one({"_id": "p1"}) == {"_id": "p1", "name": "newer", "seen": True}


async def test_writes_at_commit_are_applied_in_order_with_the_events_or_not_at_all() -> None:
    """On the fakes they go one collection at a time; a duplicate key is the plain write's, with its collection."""
    fake = runtime()

    @transactional
    async def project(uow: UnitOfWork, position_id: str, *, again: bool = False) -> None:
        uow.at_commit("views").update_one({"_id": position_id}, [{"$set": {"seen": True}}], upsert=True)
        uow.at_commit("views").delete_one({"_id": "gone"})
        uow.at_commit("log").insert_one({"_id": position_id})
        uow.emit(PositionClosed(position_id=position_id, reason="filled", cause="filled"))
        if again:
            uow.at_commit("log").insert_one({"_id": position_id})

    await fake.collection("views").insert_one({"_id": "gone"})
    await project(fake, "p1")
    assert await fake.collection("views").find({}).to_list() == [{"_id": "p1", "seen": True}]
    with pytest.raises(DuplicateKeyError) as raised:
        await project(fake, "p2", again=True)
    assert isinstance(raised.value, FailedAtCommit) and raised.value.collection == "log"
    assert await fake.collection("log").distinct("_id") == ["p1"]
    assert [envelope.meta.subject for envelope in fake.envelopes] == ["p1"]
