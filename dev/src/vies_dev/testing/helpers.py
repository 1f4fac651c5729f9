"""Helpers for tests against the real broker and database.

A test that publishes or reads Kafka uses plain aiokafka with the contract's
headers, as an outside subscriber would (docs/ARCHITECTURE.md 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI

from vies_shared.events.base import Event
from vies_shared.events.envelope import encode
from vies_shared.settings import ServiceSettings
from vies_shared.web import issue_token

T = TypeVar("T")


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
    message: str = "condition",
) -> Any:
    """Poll ``check`` until it returns a truthy value, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        last = result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last value: {last!r})")
        await asyncio.sleep(interval)


async def create_contract_topics(bootstrap: str, prefix: str, partitions: int = 3) -> None:
    """Every contract topic under ``prefix`` (compacted where the contract says so), with leaders elected."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from vies_shared.events.topics import all_topics

    specs = all_topics(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=partitions,
                    replication_factor=1,
                    topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
                )
                for spec in specs
            ]
        )
        await _wait_for_leaders(admin, [spec.name for spec in specs])
    finally:
        await admin.close()


async def delete_contract_topics(bootstrap: str, prefix: str) -> None:
    """Delete the contract topics under ``prefix``, best effort: leftovers only cost the broker memory."""
    from aiokafka.admin import AIOKafkaAdminClient

    from vies_shared.events.topics import all_topics

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(admin.start(), timeout=10)
        await asyncio.wait_for(admin.delete_topics([spec.name for spec in all_topics(prefix)]), timeout=10)
    with contextlib.suppress(Exception):
        await admin.close()


async def _wait_for_leaders(admin: Any, topics: list[str], timeout: float = 20.0) -> None:
    """New topics answer NotLeaderForPartition until their leaders are elected: wait for them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        described = await admin.describe_topics(topics)
        ready = all(
            t.get("error_code", 0) == 0
            and t.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        )
        if ready or loop.time() > deadline:
            return
        await asyncio.sleep(0.1)


async def publish_raw(
    bootstrap: str,
    topic: str,
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Send one record with a plain aiokafka producer (for garbage and hand-made messages)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=list(headers))
    finally:
        await producer.stop()


async def publish_event(
    bootstrap: str,
    topic: str,
    event: Event,
    *,
    region: str | None = None,
    event_id: str | None = None,
    times: int = 1,
    at: datetime | None = None,
) -> str:
    """Publish a contract event with a plain producer (``times`` > 1 redelivers the same ce_id).

    ``at`` sets its ``ce_time`` (default now), e.g. an event produced earlier and delivered late.
    """
    meta, message = encode(event, region=region, event_id=event_id, time=at)
    headers = [(k, v.encode()) for k, v in message.headers.items()]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for _ in range(times):
            await producer.send_and_wait(topic, value=message.value, key=message.key.encode(), headers=headers)
    finally:
        await producer.stop()
    return meta.id


@dataclass
class KafkaProbe:
    """A plain aiokafka reader of whole topics, knowing nothing of the project."""

    bootstrap: str
    topics: Sequence[str]
    records: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)

    async def read(self, *, idle: float = 0.5) -> list[ConsumerRecord[bytes, bytes]]:
        """Read every record from the start of the topics to their current end."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in (consumer.partitions_for_topic(topic) or set())
            ]
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = [
                    TopicPartition(topic, p)
                    for topic in self.topics
                    for p in (consumer.partitions_for_topic(topic) or set())
                ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            records: list[ConsumerRecord[bytes, bytes]] = []
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=int(idle * 1000))
                for recs in batch.values():
                    records.extend(recs)
            self.records = records
            return records
        finally:
            await consumer.stop()

    async def events(self, ce_type: str | None = None) -> list[dict[str, Any]]:
        """Records as ``{"key", "headers", "value"}`` dicts, optionally of one ``ce_type``."""
        out = []
        for record in await self.read():
            headers = {k: v.decode() for k, v in record.headers}
            if ce_type and headers.get("ce_type") != ce_type:
                continue
            out.append(
                {
                    "key": record.key.decode() if record.key else None,
                    "headers": headers,
                    "value": json.loads(record.value) if record.value else None,
                    "partition": record.partition,
                    "offset": record.offset,
                }
            )
        return out

    async def wait_for(
        self,
        ce_type: str,
        count: int = 1,
        *,
        timeout: float = 20.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` events of ``ce_type`` (matching ``where``) are on the topics."""

        async def found() -> list[dict[str, Any]] | None:
            events = [e for e in await self.events(ce_type) if where is None or where(e)]
            return events if len(events) >= count else None

        result: list[dict[str, Any]] = await wait_until(found, timeout=timeout, message=f"{count} x {ce_type}")
        return result


class ServiceHarness:
    """One service running in this process on a real port, with an HTTP client and tokens."""

    def __init__(self, app: FastAPI, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.AsyncClient(base_url=self.base_url, timeout=30.0)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def runtime(self) -> Any:
        """The service's ``Runtime`` (db, outbox, relay, consumer)."""
        return self.app.state.runtime

    def token(
        self,
        role: str,
        sub: str = "tester",
        *,
        authority_id: str | None = None,
        region: str | None = None,
        country: str | None = None,
        partner_id: str | None = None,
        email: str | None = None,
        email_verified: bool | None = None,
    ) -> str:
        """A signed development token for ``role`` with optional scope claims."""
        return issue_token(
            self.settings,
            sub=sub,
            role=role,
            authority_id=authority_id,
            region=region,
            country=country,
            partner_id=partner_id,
            email=email,
            email_verified=email_verified,
        )

    def auth(
        self,
        role: str,
        sub: str = "tester",
        *,
        authority_id: str | None = None,
        region: str | None = None,
        country: str | None = None,
        partner_id: str | None = None,
        email: str | None = None,
        email_verified: bool | None = None,
    ) -> dict[str, str]:
        """An ``Authorization`` header for ``role``."""
        token = self.token(
            role,
            sub,
            authority_id=authority_id,
            region=region,
            country=country,
            partner_id=partner_id,
            email=email,
            email_verified=email_verified,
        )
        return {"Authorization": f"Bearer {token}"}

    async def start(self) -> None:
        """Start uvicorn and wait until ``/readyz`` answers 200."""
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())

        async def ready() -> bool:
            if self._task is not None and self._task.done():
                self._task.result()
                raise RuntimeError("service exited during start-up")
            with contextlib.suppress(httpx.HTTPError):
                return (await self.client.get("/readyz")).status_code == 200
            return False

        await wait_until(ready, timeout=60, message=f"{self.settings.service} ready")

    async def stop(self) -> None:
        """Graceful shutdown, as on SIGTERM."""
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task
        await self.client.aclose()


@contextlib.asynccontextmanager
async def running(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[ServiceHarness]:
    """Run a service app for the duration of a ``with`` block."""
    harness = ServiceHarness(app, settings)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
