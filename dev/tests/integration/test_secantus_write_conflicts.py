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
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from vies_dev.devstack import LocalStack, StackConfig

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
# Far longer than the test: the transaction's lifetime is not what frees anything here.
LIFETIME = 120.0


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
