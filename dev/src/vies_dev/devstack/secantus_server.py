"""SecantusDB for the local stack, with a transaction lifetime that does not wait for traffic.

SecantusDB 0.7 (``secantus/transactions.py``) aborts a transaction idle past its lifetime
(60 s, like mongod's ``transactionLifetimeLimitSeconds``) only *opportunistically*, when
another transactional statement reaches its registry; a closed connection never aborts one.
A client SIGKILLed inside a transaction therefore keeps its write locks, and a plain write
on the same document retries its write conflict inside the server until a transaction
happens to come by: measured, a plain ``update_one`` was still blocked after 170 s
(``deploy/local/README.md``, "SecantusDB and killed clients"). Its command line has no
option for the lifetime either, although the server class takes one.

This entry point runs SecantusDB's own command line with two changes: the server is built
with ``--transaction-lifetime-seconds`` (default 30), and a daemon thread reaps expired
transactions every ``--reap-every-seconds`` (default 1). A killed client then blocks the
others for at most about the lifetime plus one second.

It also mends a deadlock of SecantusDB's locking (found by ``make chaos``, reproduced by
``dev/tests/integration/test_secantus_write_conflicts.py``). A plain ``update_many`` or
``delete_many`` runs in chunks while holding its collection's lock, and retries a chunk's write
conflict without limit *still holding that lock*; a transaction that wrote one of its documents
and needs the lock for its next write then never moves, is never idle (so its lifetime never ends
it), and the reaper, waiting for that transaction while it holds the registry lock, stops every
other transaction of the server. Here a conflicting chunk gives the collection's lock up while it
waits, as mongod yields on a write conflict (the chunk re-reads and re-matches its documents
anyway), and the reaper passes over a transaction that is running a statement (not idle).

And it answers a commit that WiredTiger refuses for a write conflict as mongod does: ``WriteConflict``
(112) with the ``TransientTransactionError`` label, so that drivers and the kit's transaction runner
run the transaction again. SecantusDB trims its oplog every 1000 entries from inside the write that
crosses the mark, a transaction's commit included, and ignores a conflict on a row it deletes there;
WiredTiger then refuses the whole commit with a bare "Invalid argument", which SecantusDB does not
recognise and reports as ``InternalError`` (code 1, no label: found under load, reproduced by the same
test file). The refused commit was rolled back; only the answer changes.

    python -m vies_dev.devstack.secantus_server --transaction-lifetime-seconds 30 <secantus options>
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

DEFAULT_TRANSACTION_LIFETIME_SECONDS = 30.0
DEFAULT_REAP_EVERY_SECONDS = 1.0
# Waits between a conflicting chunk's attempts (SecantusDB's own), and how often a long wait is logged.
CONFLICT_DELAY_SECONDS = (0.005, 0.02)
CONFLICT_LOG_EVERY_SECONDS = 5.0
# WiredTiger's whole message (EINVAL) when it refuses to commit a transaction an ignored conflict doomed.
ROLLBACK_REQUIRED = "Invalid argument"

log = logging.getLogger("vies.secantus_server")


def yield_on_write_conflicts(storage_class: Any) -> list[str]:
    """Make the chunked multi-document writes give their collection's lock up between conflicting attempts.

    Returns the methods changed (none when this SecantusDB has another shape: then it runs as shipped).
    """
    from secantus import storage

    changed: list[str] = []
    for name in ("_update_chunk", "_delete_chunk"):
        once = getattr(getattr(storage_class, name, None), "__wrapped__", None)
        if once is not None:
            setattr(storage_class, name, _yielding(once, storage))
            changed.append(name)
    return changed


def _yielding(once: Callable[..., Any], storage: Any) -> Callable[..., Any]:
    conflicts = logging.getLogger("secantus.storage.conflict")

    @functools.wraps(once)
    def chunk(self: Any, db: str, coll: str, *args: Any, **kwargs: Any) -> Any:
        delay, longest = CONFLICT_DELAY_SECONDS
        started = logged = time.monotonic()
        while True:
            try:
                return once(self, db, coll, *args, **kwargs)
            except (storage.WriteConflictError, storage.wt.WiredTigerError) as exc:
                if not isinstance(exc, storage.WriteConflictError) and not storage._is_wt_rollback(exc):
                    raise
                now = time.monotonic()
                if now - logged >= CONFLICT_LOG_EVERY_SECONDS:
                    logged = now
                    # The same words as SecantusDB's own warning, which the chaos report looks for.
                    waited = now - started
                    conflicts.warning("%s retrying on write conflicts for %.1fs (%s)", once.__name__, waited, exc)
                # The caller holds the collection's lock (an RLock, maybe more than once): free it while waiting.
                lock = self._coll_lock(db, coll)
                held = lock._release_save()
                try:
                    time.sleep(delay)
                finally:
                    lock._acquire_restore(held)
                delay = min(delay * 2, longest)

    return chunk


def reap_only_idle(registry_class: Any) -> bool:
    """Make the reaper pass over a transaction running a statement instead of waiting for it under the registry lock."""
    from secantus.transactions import TxnState

    if not hasattr(registry_class, "_prune_locked"):
        return False

    def prune(self: Any) -> int:
        cutoff = self._time() - self._lifetime
        reaped = 0
        for txn in list(self._txns.values()):
            if not txn.mutex.acquire(blocking=False):
                continue  # a statement of it is running: not idle
            try:
                if txn.state is TxnState.IN_PROGRESS and txn.last_use < cutoff:
                    self._rollback_quietly(txn)
                    txn.state = TxnState.ABORTED
                    reaped += 1
            finally:
                txn.mutex.release()
        return reaped

    registry_class._prune_locked = prune
    return True


def answer_commit_conflicts_as_write_conflicts(storage_class: Any) -> list[str]:
    """Make a transaction's commit that WiredTiger refused for a conflict raise SecantusDB's write conflict.

    SecantusDB's ``commitTransaction`` answers that error as mongod does (``WriteConflict`` with the
    ``TransientTransactionError`` label). Returns the methods changed (none when this SecantusDB has
    another shape: then it runs as shipped).
    """
    from secantus import storage

    once = getattr(storage_class, "commit_user_transaction", None)
    if once is None or not all(hasattr(storage, name) for name in ("wt", "WriteConflictError", "_is_wt_rollback")):
        return []
    storage_class.commit_user_transaction = _conflicts_answered(once, storage)
    return ["commit_user_transaction"]


def _conflicts_answered(once: Callable[..., Any], storage: Any) -> Callable[..., Any]:
    @functools.wraps(once)
    def commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return once(self, *args, **kwargs)
        except storage.wt.WiredTigerError as exc:
            # Not committed: only in-memory bookkeeping follows WiredTiger's commit, a commit it refuses
            # is rolled back, and SecantusDB has closed the transaction. Other storage errors stay loud.
            if storage._is_wt_rollback(exc) or str(exc).strip() == ROLLBACK_REQUIRED:
                raise storage.WriteConflictError(str(exc)) from exc
            raise

    return commit


def _mended(mend: str, changed: object) -> None:
    if not changed:
        import secantus

        log.warning("SecantusDB %s has another shape: %s is not applied", secantus.__version__, mend)


def main(argv: list[str] | None = None) -> int:
    """Run the SecantusDB daemon with a bounded transaction lifetime, a background reaper and the mends above."""
    import secantus.cli as secantus_cli
    from secantus.server import SecantusDBServer
    from secantus.storage import Storage
    from secantus.transactions import TransactionRegistry

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--transaction-lifetime-seconds", type=float, default=DEFAULT_TRANSACTION_LIFETIME_SECONDS)
    parser.add_argument("--reap-every-seconds", type=float, default=DEFAULT_REAP_EVERY_SECONDS)
    ours, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    lifetime: float = ours.transaction_lifetime_seconds
    every: float = ours.reap_every_seconds

    class ReapingServer(SecantusDBServer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("transaction_lifetime_seconds", lifetime)
            super().__init__(*args, **kwargs)
            self._vies_reaper = threading.Thread(target=self._vies_reap, name="vies-txn-reaper", daemon=True)

        def start(self) -> None:
            super().start()
            self._vies_reaper.start()

        def _vies_reap(self) -> None:
            stop = threading.Event()
            while not stop.wait(every):
                try:
                    self.transactions.prune_expired()
                except Exception:  # noqa: BLE001, S112 - the next tick tries again
                    continue

    secantus_cli.SecantusDBServer = ReapingServer
    _mended("yielding on write conflicts", yield_on_write_conflicts(Storage))
    _mended("reaping only idle transactions", reap_only_idle(TransactionRegistry))
    _mended("commit conflicts as WriteConflict", answer_commit_conflicts_as_write_conflicts(Storage))
    return int(secantus_cli.main(rest))


if __name__ == "__main__":
    sys.exit(main())
