"""A stand-in service process for the supervisor tests: answers /readyz 200, drains on SIGTERM.

It writes its pid to ``<log dir>/<service>.pid``; while ``<log dir>/<service>.crash`` exists it
exits at once with code 3 (a crash loop).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NAME = os.environ["FAKE_SERVICE"]
HOME = Path(os.environ["FAKE_HOME"])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"ready": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def main() -> int:
    if (HOME / f"{NAME}.crash").exists():
        print(f"{NAME}: crashing on purpose", flush=True)
        return 3
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["VIES_HTTP_PORT"])), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    (HOME / f"{NAME}.pid").write_text(str(os.getpid()))
    print(f"{NAME}: serving (pid {os.getpid()})", flush=True)
    server.serve_forever()
    print(f"{NAME}: drained", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
