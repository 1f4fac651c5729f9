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

    python -m vies_dev.devstack.secantus_server --transaction-lifetime-seconds 30 <secantus options>
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

DEFAULT_TRANSACTION_LIFETIME_SECONDS = 30.0
DEFAULT_REAP_EVERY_SECONDS = 1.0


def main(argv: list[str] | None = None) -> int:
    """Run the SecantusDB daemon with a bounded transaction lifetime and a background reaper."""
    import secantus.cli as secantus_cli
    from secantus.server import SecantusDBServer

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
    return int(secantus_cli.main(rest))


if __name__ == "__main__":
    sys.exit(main())
