"""Test doubles for the notifications service that are real servers: a recording HTTP endpoint, a stoppable
SMTP relay, Mailpit's API, and an owner directory in a dict.

Used by its integration tests, the cross-service tests (portal, end-to-end) and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vies_dev.testing import wait_until
from vies_dev.testing.helpers import free_port
from vies_notifications.owners import GONE, OwnerRights, OwnerRightsUnavailable


class CountingSmtp:
    """An SMTP server keeping each message's Message-ID; ``delay`` seconds per message."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.message_ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.message_ids.append(str(message["Message-ID"]).strip())
        return "250 OK"


@dataclass
class Received:
    """One request the recorder got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    """A real HTTP server on a free port that records requests and answers scripted status codes.

    ``script[path]`` is a list of status codes used one per request (the last one repeats); 200 by default.
    """

    script: dict[str, list[int]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def on(self, path: str) -> list[Received]:
        """Requests received on ``path``."""
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        self.received.append(Received(path, {k.lower(): v for k, v in request.headers.items()}, body))
        codes = self.script.get(path) or [200]
        status = codes.pop(0) if len(codes) > 1 else codes[0]
        return JSONResponse({"ok": 200 <= status < 300}, status_code=status)

    async def __aenter__(self) -> HttpRecorder:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "PUT"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        await wait_until(lambda: self._server is not None and self._server.started, timeout=10, message="recorder up")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task


class TcpRelay:
    """A TCP relay in front of a server (e.g. Mailpit's SMTP port) that can be stopped and started again."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        """Accept connections (again)."""
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        """Refuse connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            with contextlib.suppress(Exception):
                writer.close()
        self._writers.clear()


class Mailpit:
    """Reads what the SMTP server received, through Mailpit's HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def search(self, query: str, limit: int = 500) -> list[dict[str, Any]]:
        """Message summaries matching a Mailpit search query (e.g. ``to:someone@example.org``)."""
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(f"{self.url}/api/v1/search", params={"query": query, "limit": limit})
            r.raise_for_status()
            messages: list[dict[str, Any]] = r.json()["messages"]
            return messages

    async def message(self, message_id: str) -> dict[str, Any]:
        """One message in full (``Text``, ``HTML``, headers summary)."""
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(f"{self.url}/api/v1/message/{message_id}")
            r.raise_for_status()
            message: dict[str, Any] = r.json()
            return message

    async def headers(self, message_id: str) -> dict[str, list[str]]:
        """The message's headers."""
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(f"{self.url}/api/v1/message/{message_id}/headers")
            r.raise_for_status()
            headers: dict[str, list[str]] = r.json()
            return headers

    async def wait_for(
        self,
        query: str,
        count: int = 1,
        *,
        timeout: float = 30.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages match."""

        async def found() -> list[dict[str, Any]] | None:
            messages = [m for m in await self.search(query) if where is None or where(m)]
            return messages if len(messages) >= count else None

        result: list[dict[str, Any]] = await wait_until(
            found, timeout=timeout, interval=0.25, message=f"{count} mail(s) {query}"
        )
        return result


@dataclass
class FakeOwnerDirectory:
    """The owner-rights port without an identity provider: accounts kept in a dict, an outage switch.

    Put it in ``runtime.extras["owner_directory"]``; ``lookups`` counts the questions asked.
    """

    accounts: dict[str, OwnerRights] = field(default_factory=dict)
    outage: bool = False
    lookups: int = 0

    def branch(self, sub: str, region: str) -> None:
        """An enabled branch user of ``region``."""
        self.accounts[sub] = OwnerRights(exists=True, enabled=True, roles=frozenset({"branch"}), region=region)

    def staff(self, sub: str) -> None:
        """An enabled staff member."""
        self.accounts[sub] = OwnerRights(exists=True, enabled=True, roles=frozenset({"staff"}))

    def disable(self, sub: str) -> None:
        """The account is disabled."""
        current = self.accounts[sub]
        self.accounts[sub] = OwnerRights(True, False, current.roles, current.region)

    def move(self, sub: str, region: str) -> None:
        """The user now belongs to another region."""
        current = self.accounts[sub]
        self.accounts[sub] = OwnerRights(True, current.enabled, current.roles, region)

    def remove(self, sub: str) -> None:
        """The account is deleted."""
        self.accounts.pop(sub, None)

    async def rights(self, sub: str) -> OwnerRights:
        """The account's rights, or ``OwnerRightsUnavailable`` during an outage."""
        self.lookups += 1
        if self.outage:
            raise OwnerRightsUnavailable("identity provider unreachable (simulated outage)")
        return self.accounts.get(sub, GONE)
