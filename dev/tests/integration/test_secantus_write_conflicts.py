"""A plain ``update_many`` that meets a transaction's write does not wedge the local SecantusDB.

Found by ``make chaos``: notifications renews a delivery claim with a plain ``update_many`` while
the same pass records its outcomes in a transaction (one bulk update, several documents of the
collection). SecantusDB 0.7 runs a plain multi-document update in chunks *holding the collection's
lock* and retries a chunk's write conflict without limit; the transaction, having written one
document, waits for that lock to write the next. Neither moves, the transaction is never idle so
its lifetime never ends it, and the reaper, waiting for that transaction under the registry lock,
then holds up every other transaction of the server. The local stack's entry point
(``vies_dev.devstack.secantus_server``) lets the chunk give the lock up while it waits, as mongod
yields on a write conflict, and the reaper pass over a transaction that is running a statement.

Found under load (2 of 600 applications answered 500): a commit that WiredTiger refuses for a
write conflict reached the client as ``InternalError`` (code 1, no label), so neither PyMongo nor
the kit's transaction runner ran the transaction again. SecantusDB 0.7 trims its oplog every 1000
entries from inside the write that crosses the mark, a transaction's commit included, and ignores
a conflict on a row it deletes there; WiredTiger then refuses the commit with a bare "Invalid
argument" that SecantusDB does not recognise as a conflict. A store whose oplog is at its cap
(here a cap of a few entries, so that every commit of 1000 entries trims it) and concurrent
commits reproduce it within seconds. The entry point answers such a commit as mongod does:
``WriteConflict`` (112) with the ``TransientTransactionError`` label.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from vies_dev.devstack import LocalStack, StackConfig
from vies_dev.devstack._proc import log_tail, port_accepts
from vies_dev.testing.helpers import free_port
from vies_shared.messaging.outbox import Outbox
from vies_shared.storage import Transactions, UnitOfWork, create_mongo_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
# Far longer than the test: the transaction's lifetime is not what frees anything here.
LIFETIME = 120.0
# SecantusDB trims its oplog every 1000 entries: a transaction of this many inserts trims it in its commit.
BATCH = 1000
# The oplog's cap: a store at its cap, as a long-running local stack's is (100 000 entries by default).
OPLOG_ENTRIES = 10


def test_plain_update_many_waiting_on_a_transaction_lets_the_transaction_go_on(tmp_path: Path) -> None:
    stack = LocalStack(
        StackConfig(
            root=tmp_path / "stack",
            kafka_port=0,
            kafka_controller_port=0,
            mongodb_port=0,
            smtp_port=0,
            mailpit_http_port=0,
            components=("mongodb",),
            libs_dir=ROOT / ".stack" / "kafka" / "libs",
            transaction_lifetime_seconds=LIFETIME,
        )
    )
    stack.up()
    try:
        # A socket timeout turns a wedged server into a failure instead of a hung test.
        client: MongoClient[dict[str, object]] = MongoClient(
            stack.mongodb_uri, serverSelectionTimeoutMS=10_000, socketTimeoutMS=20_000, retryWrites=False
        )
        docs = client["conflicts"]["docs"]
        docs.insert_many([{"_id": "x", "claim": "c"}, {"_id": "y", "claim": "c"}])
        outcome: dict[str, object] = {}

        def renew() -> None:
            started = time.monotonic()
            try:
                docs.update_many({"claim": "c"}, {"$set": {"renewed": True}})
                outcome["renewed_after"] = time.monotonic() - started
            except Exception as exc:  # reported by the assertion below
                outcome["renew_error"] = repr(exc)

        with client.start_session() as session:
            session.start_transaction()
            docs.update_one({"_id": "x"}, {"$set": {"outcome": "sent"}}, session=session)
            renewal = threading.Thread(target=renew, daemon=True)
            renewal.start()
            time.sleep(1.0)  # the plain update now retries its conflict on x
            started = time.monotonic()
            docs.update_one({"_id": "y"}, {"$set": {"outcome": "sent"}}, session=session)
            session.commit_transaction()
            committed_after = time.monotonic() - started
        renewal.join(timeout=25)
        # Another client's transaction goes through too (the reaper did not hold the registry).
        with client.start_session() as other:
            other.with_transaction(lambda s: docs.update_one({"_id": "x"}, {"$set": {"seen": 1}}, session=s))
        print(f"transaction committed after {committed_after:.2f}s; renewal {outcome}")
        assert committed_after < 5
        assert "renewed_after" in outcome, outcome
        assert sorted(docs.find({}, {"_id": 1, "outcome": 1, "renewed": 1}), key=lambda d: str(d["_id"])) == [
            {"_id": "x", "outcome": "sent", "renewed": True},
            {"_id": "y", "outcome": "sent", "renewed": True},
        ]
        client.close()
    finally:
        stack.down(True)


@pytest.fixture(scope="module")
def oplog_at_its_cap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local stack's SecantusDB entry point on a store whose oplog is kept to a few entries; its URI."""
    root = tmp_path_factory.mktemp("secantus")
    # An explicit empty config, as the local stack passes: no ./secantusd.toml or ~/.secantus one.
    config = root / "secantusd.toml"
    config.write_text("", encoding="utf-8")
    port = free_port()
    argv = [
        sys.executable, "-m", "vies_dev.devstack.secantus_server",
        "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING",
        "--oplog-max-entries", str(OPLOG_ENTRIES), "--storage-path", str(root / "data"),
    ]  # fmt: skip
    log = root / "secantus.log"
    with log.open("wb") as out:
        server = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not port_accepts(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"SecantusDB did not start:\n{log_tail(log)}")
            time.sleep(0.1)
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_a_conflict_found_at_commit_is_a_transient_write_conflict(oplog_at_its_cap: str) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(
        oplog_at_its_cap, serverSelectionTimeoutMS=10_000, socketTimeoutMS=30_000, retryWrites=False
    )
    db = client["commit_conflicts"]
    # Two writers per counter: some transactions conflict on a write, the others reach their commits together.
    writers = 4
    db.counters.insert_many([{"_id": f"c{n}", "n": 0} for n in range(writers // 2)])
    failures: list[tuple[str, int | None, bool]] = []
    committed: list[int] = []
    deadline = time.monotonic() + 30

    def at_commit() -> int:
        return sum(1 for stage, _code, _transient in failures if stage == "commit")

    def write(writer: int) -> None:
        while at_commit() < 3 and time.monotonic() < deadline:
            with client.start_session() as session:
                session.start_transaction()
                stage = "statement"
                try:
                    db.rows.insert_many([{"writer": writer} for _ in range(BATCH)], session=session)
                    db.counters.update_one({"_id": f"c{writer % 2}"}, {"$inc": {"n": 1}}, session=session)
                    stage = "commit"
                    session.commit_transaction()
                except OperationFailure as exc:  # ending the session aborts what is left of the transaction
                    failures.append((stage, exc.code, exc.has_error_label("TransientTransactionError")))
                else:
                    committed.append(writer)

    threads = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    print(f"{len(committed)} committed; failures (stage, code, transient): {sorted(set(failures))}")
    assert at_commit() >= 1, "no commit met a conflict: the reproduction did not reproduce"
    assert {(code, transient) for _stage, code, transient in failures} == {(112, True)}, failures
    # What a refused commit wrote is gone: the counters and rows are those of the acknowledged commits.
    assert sum(int(str(doc["n"])) for doc in db.counters.find()) == len(committed)
    assert db.rows.count_documents({}) == len(committed) * BATCH
    client.close()


async def test_the_transaction_runner_carries_commit_conflicts_through(oplog_at_its_cap: str) -> None:
    client = create_mongo_client(oplog_at_its_cap, timeout_ms=30_000)
    db = client["commit_conflicts_runner"]
    # The runner gives up after 20 s by default; so many conflicting transactions may take longer on a busy machine.
    transactions: Transactions = Transactions(client, db, Outbox(db, service="bench"), retry_seconds=60)
    units = 6
    attempts: list[int] = []

    async def work(uow: UnitOfWork, unit: int) -> None:
        attempts.append(unit)
        await uow["rows"].insert_many([{"unit": unit} for _ in range(BATCH)])
        await uow["counters"].update_one({"_id": f"c{unit % 3}"}, {"$inc": {"n": 1}}, upsert=True)

    async def run(unit: int) -> None:
        await transactions.run(lambda uow: work(uow, unit))

    try:
        # Every unit of work commits in the end: no error escapes the runner.
        outcomes = await asyncio.gather(*(run(unit) for unit in range(units)), return_exceptions=True)
        print(f"{units} units of work, {len(attempts)} attempts")
        assert [outcome for outcome in outcomes if outcome is not None] == []
        counters = {doc["_id"]: doc["n"] async for doc in db["counters"].find()}
        assert counters == {f"c{n}": units // 3 for n in range(3)}
        assert await db["rows"].count_documents({}) == units * BATCH
    finally:
        await client.close()
