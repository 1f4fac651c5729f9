"""A client SIGKILLed inside a transaction blocks the others only for the stack's transaction lifetime.

SecantusDB reaps an idle transaction only when another transaction comes by,
and a plain write on a document the dead transaction wrote retries inside the server until then
(still blocked after 170 s when measured: ``deploy/local/README.md``). The local stack runs SecantusDB through
``vies_dev.devstack.secantus_server``: a transaction lifetime (30 s by default, 5 s here) and a
reaper thread. This test starts such a server with the stack's own code, kills a client in the
middle of a transaction that updated a document and created a collection, and times the writers
that come next: blocked for about the lifetime, then free, and the dead transaction's writes gone.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from vies_dev.devstack import LocalStack, StackConfig
from vies_dev.devstack.secantus_server import DEFAULT_TRANSACTION_LIFETIME_SECONDS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
LIFETIME = 5.0

CHILD = """
import os, signal, sys
from pymongo import MongoClient
client = MongoClient(sys.argv[1])
db = client["killed"]
with client.start_session() as session:
    session.start_transaction()
    db["docs"].update_one({"_id": "x"}, {"$inc": {"n": 1}}, session=session)
    db["fresh"].insert_one({"_id": "made-by-the-dead"}, session=session)
    print("in transaction", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_local_stack_bounds_a_killed_clients_transaction_well_under_a_minute() -> None:
    assert DEFAULT_TRANSACTION_LIFETIME_SECONDS <= 30
    assert StackConfig().transaction_lifetime_seconds <= 30


def test_sigkilled_client_blocks_other_writers_only_for_the_transaction_lifetime(tmp_path: Path) -> None:
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
        uri = stack.mongodb_uri
        client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=10_000)
        db = client["killed"]
        db["docs"].insert_one({"_id": "x", "n": 0})
        child = subprocess.run(
            [sys.executable, "-c", CHILD, uri], capture_output=True, text=True, timeout=60, check=False
        )
        assert child.returncode == -9 and "in transaction" in child.stdout, child.stderr
        killed_at = time.monotonic()

        # A plain update of the document the dead transaction wrote: the server retries it until the reaper runs.
        db["docs"].update_one({"_id": "x"}, {"$inc": {"n": 10}})
        blocked = time.monotonic() - killed_at
        # A write into the collection the dead transaction created, and a transaction of our own: free now.
        started = time.monotonic()
        db["fresh"].insert_one({"_id": "made-by-the-living"})
        with client.start_session() as session:
            session.with_transaction(lambda s: db["docs"].update_one({"_id": "x"}, {"$inc": {"n": 100}}, session=s))
        after = time.monotonic() - started
        print(f"blocked {blocked:.1f}s by the killed transaction (lifetime {LIFETIME}s); then {after:.2f}s")
        assert LIFETIME - 1 <= blocked <= LIFETIME + 5
        assert after < 2
        assert db["docs"].find_one({"_id": "x"}) == {"_id": "x", "n": 110}  # the dead transaction's +1 is gone
        assert [d["_id"] for d in db["fresh"].find()] == ["made-by-the-living"]
        client.close()
    finally:
        stack.down(True)
