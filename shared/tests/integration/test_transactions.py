"""The transaction runner against SecantusDB: PyMongo's ``with_transaction`` semantics.

The body runs again on a write conflict or a ``RaceLost``, the commit alone on an unknown commit
result, and after-commit callbacks run only once the server acknowledged the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from vies_shared.errors import NotFound
from vies_shared.events.partners import PartnerApproved
from vies_shared.messaging.outbox import Outbox
from vies_shared.settings import ServiceSettings
from vies_shared.storage import RaceLost, Transactions, UnitOfWork, create_mongo_client, transactional

pytestmark = pytest.mark.integration


class Kit:
    """A database, its outbox and transactions, counting commits and relay wake-ups."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.client = create_mongo_client(settings.mongodb_uri)
        self.db = self.client[f"{settings.mongodb_db}_transactions"]
        self.outbox = Outbox(self.db, service="partners", topic_prefix=settings.topic_prefix)
        self.woken = 0
        self.transactions = Transactions(self.client, self.db, self.outbox, settings=settings, on_commit=self.wake)

    def wake(self) -> None:
        self.woken += 1

    async def count(self, name: str) -> int:
        return await self.db[name].count_documents({})


@pytest_asyncio.fixture
async def kit(vies_settings: Any) -> AsyncIterator[Kit]:
    k = Kit(vies_settings("partners"))
    yield k
    await k.client.drop_database(k.db.name)
    await k.client.close()


def _unknown_commit_result() -> PyMongoError:
    return PyMongoError("connection lost during commit", error_labels=["UnknownTransactionCommitResult"])


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """Make the first commit end with an unknown result, ``"after"`` or ``"before"`` really committing it."""

    def arrange(when: str) -> list[str]:
        calls: list[str] = []
        real: Callable[[AsyncClientSession], Awaitable[None]] = AsyncClientSession.commit_transaction

        async def commit(session: AsyncClientSession) -> None:
            calls.append("commit")
            if len(calls) == 1 and when == "before":
                raise _unknown_commit_result()  # the network dropped the command: nothing committed
            await real(session)
            calls.append("committed")
            if len(calls) == 2 and when == "after":
                raise _unknown_commit_result()  # committed, but the reply was lost

        monkeypatch.setattr(AsyncClientSession, "commit_transaction", commit)
        return calls

    return arrange


@pytest.mark.parametrize("when", ["before", "after"])
async def test_an_unknown_commit_result_retries_the_commit_not_the_body(
    kit: Kit, commits: Callable[[str], list[str]], when: str
) -> None:
    calls = commits(when)
    bodies: list[int] = []
    callbacks: list[list[str]] = []

    async def work(uow: UnitOfWork) -> str:
        bodies.append(1)
        await uow["counters"].update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True)
        uow.emit(PartnerApproved(partner_id="p-1"))
        uow.after_commit(lambda: callbacks.append(list(calls)))
        return "done"

    assert await kit.transactions.run(work) == "done"
    assert len(bodies) == 1, "the body ran again although its commit may have been applied"
    assert calls[0] == "commit" and calls.count("commit") == 2 and "committed" in calls
    assert (await kit.db["counters"].find_one({"_id": "c"}) or {}).get("n") == 1
    assert await kit.count("outbox") == 1
    assert callbacks == [calls] and kit.woken == 1  # once, after the commit that returned


async def test_a_write_conflict_runs_the_whole_body_again(kit: Kit) -> None:
    await kit.db["stock"].insert_one({"_id": "s", "left": 1, "version": 0})
    bodies: list[int] = []

    async def meanwhile(uow: UnitOfWork) -> None:
        await uow["stock"].update_one({"_id": "s"}, {"$inc": {"version": 1}})

    async def take(uow: UnitOfWork) -> int:
        bodies.append(1)
        doc = await uow.get("stock", "s", "stock")  # the transaction's snapshot starts here
        if len(bodies) == 1:
            await kit.transactions.run(meanwhile)  # another transaction commits a change of it
        await uow["stock"].update_one({"_id": "s"}, {"$set": {"version": doc["version"] + 1}, "$inc": {"left": -1}})
        uow.emit(PartnerApproved(partner_id=f"p-{len(bodies)}"))
        return len(bodies)

    assert await kit.transactions.run(take) == 2
    assert await kit.db["stock"].find_one({"_id": "s"}) == {"_id": "s", "left": 0, "version": 2}
    # Only the attempt that committed left its event in the outbox.
    assert [d["key"] async for d in kit.db["outbox"].find({"type": PartnerApproved.TYPE})] == ["p-2"]


async def test_a_lost_race_runs_the_body_again_and_only_the_last_attempt_counts(kit: Kit) -> None:
    callbacks: list[int] = []
    bodies: list[int] = []

    async def guarded(uow: UnitOfWork) -> None:
        bodies.append(1)
        attempt = len(bodies)
        await uow["log"].insert_one({"attempt": attempt})
        uow.emit(PartnerApproved(partner_id=f"p-{attempt}"))
        uow.after_commit(lambda: callbacks.append(attempt))
        if attempt < 3:
            raise RaceLost("the guarded update matched nothing")

    await kit.transactions.run(guarded)
    assert len(bodies) == 3
    assert [d["attempt"] async for d in kit.db["log"].find()] == [3]
    assert await kit.count("outbox") == 1 and callbacks == [3] and kit.woken == 1


async def test_retries_are_bounded(kit: Kit) -> None:
    kit.transactions.attempts = 4
    bodies: list[int] = []

    async def always_loses(uow: UnitOfWork) -> None:
        bodies.append(1)
        raise RaceLost("again")

    with pytest.raises(RaceLost):
        await kit.transactions.run(always_loses)
    assert len(bodies) == 4


async def test_callbacks_never_run_for_a_transaction_that_did_not_commit(kit: Kit) -> None:
    callbacks: list[str] = []

    async def fails(uow: UnitOfWork) -> None:
        await uow["log"].insert_one({"what": "lost"})
        uow.emit(PartnerApproved(partner_id="p-x"))
        uow.after_commit(lambda: callbacks.append("called"))
        raise NotFound("partner p-x not found")

    with pytest.raises(NotFound):
        await kit.transactions.run(fails)
    assert callbacks == [] and kit.woken == 0
    assert await kit.count("log") == 0 and await kit.count("outbox") == 0


async def test_a_use_case_is_a_function_of_its_unit_of_work(kit: Kit) -> None:
    """``@transactional`` runs the body in the runtime's transactions; ``uow.get`` 404s with the kit's error."""

    @transactional
    async def rename(uow: UnitOfWork, partner_id: str, *, name: str) -> str:
        doc = await uow.get("partners", partner_id, "partner")
        await uow["partners"].update_one({"_id": doc["_id"]}, {"$set": {"name": name}})
        return f"{uow.settings.service}: {name}"

    runtime: Any = SimpleNamespace(transactions=kit.transactions)
    await kit.db["partners"].insert_one({"_id": "p-1", "name": "old"})
    assert await rename(runtime, "p-1", name="new") == "partners: new"
    assert (await kit.db["partners"].find_one({"_id": "p-1"}) or {})["name"] == "new"
    with pytest.raises(NotFound, match="partner p-2 not found"):
        await rename(runtime, "p-2", name="x")
