"""Forwarding kept events out of MongoDB: to the branch's webhook and to a JSON Lines file.

The consumer's transaction queues each kept event (``store.WEBHOOK_QUEUE``,
``store.JSONL_QUEUE``); these writers drain the queues in order and delete an
entry only once it is delivered. A webhook outage therefore delays events and
never loses them, and a crash between a delivery and its deletion at worst
delivers an event twice (receivers de-duplicate on the CloudEvents ``id``).
Both run as the kit's exclusive periodic jobs: one replica writes at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import Counter, Gauge

from vies_shared.logging import get_logger
from vies_shared.regional import store
from vies_shared.regional.cloudevents import MEDIA_TYPE
from vies_shared.regional.settings import RegionalSettings
from vies_shared.service import Runtime
from vies_shared.storage import backoff_delay

Document = dict[str, Any]

FORWARDED = Counter("vies_regional_forwarded_total", "Kept events forwarded", ["target", "outcome"])
QUEUED = Gauge("vies_regional_queue_length", "Kept events waiting to be forwarded", ["target"])
# A run stops after this long so that the job's lease (10 s) is renewed between runs and stays ours.
RUN_SECONDS = 3.0


class WebhookForwarder:
    """POSTs queued events, oldest first, one at a time; on failure waits (capped backoff) and retries."""

    def __init__(self, settings: RegionalSettings) -> None:
        assert settings.regional_webhook_url is not None
        self.url = settings.regional_webhook_url
        self.settings = settings
        self.failures = 0
        self.retry_at = 0.0
        self.log = get_logger(component="webhook")
        self.headers = {"Content-Type": MEDIA_TYPE}
        if settings.regional_webhook_token:
            self.headers["Authorization"] = f"Bearer {settings.regional_webhook_token}"

    async def run(self, runtime: Runtime) -> None:
        """Deliver what is queued, until the queue is empty, a delivery fails or the lease needs renewing."""
        if time.monotonic() < self.retry_at:
            return
        queue = runtime.db[store.WEBHOOK_QUEUE]
        QUEUED.labels("webhook").set(await queue.count_documents({}))
        deadline = time.monotonic() + RUN_SECONDS
        batch = await self._next_batch(queue)
        if not batch:
            return
        async with httpx.AsyncClient(timeout=self.settings.regional_webhook_timeout_seconds) as client:
            while batch:
                for doc in batch:
                    if not await self._deliver(client, doc):
                        await queue.update_one({"_id": doc["_id"]}, {"$inc": {"attempts": 1}})
                        return
                    await queue.delete_one({"_id": doc["_id"]})
                    if time.monotonic() >= deadline:
                        return
                batch = await self._next_batch(queue)

    async def _next_batch(self, queue: Any) -> list[Document]:
        cursor = queue.find({}).sort("seq", 1).limit(self.settings.regional_forward_batch)
        batch: list[Document] = await cursor.to_list()
        return batch

    async def _deliver(self, client: httpx.AsyncClient, doc: Document) -> bool:
        try:
            response = await client.post(self.url, content=json.dumps(doc["event"]), headers=self.headers)
            error = None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = repr(exc)
        if error is None:
            self.failures = 0
            FORWARDED.labels("webhook", "delivered").inc()
            return True
        # Order matters more than throughput: the head of the queue blocks until it is delivered.
        self.failures += 1
        delay = backoff_delay(
            self.failures,
            self.settings.regional_webhook_retry_initial_seconds,
            self.settings.regional_webhook_retry_max_seconds,
        )
        self.retry_at = time.monotonic() + delay
        FORWARDED.labels("webhook", "failed").inc()
        attempt = doc.get("attempts", 0) + 1
        self.log.warning("webhook_failed", ce_id=doc["_id"], error=error, attempt=attempt, retry_in=round(delay, 2))
        return False


class JsonlWriter:
    """Appends queued events to the file, one CloudEvents JSON per line, each event once."""

    def __init__(self, settings: RegionalSettings) -> None:
        assert settings.regional_jsonl_path is not None
        self.path = settings.regional_jsonl_path
        self.batch = settings.regional_forward_batch
        self.tail_checked = False

    async def run(self, runtime: Runtime) -> None:
        """Append what is queued, then forget it."""
        queue = runtime.db[store.JSONL_QUEUE]
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            batch = await queue.find({}).sort("seq", 1).limit(self.batch).to_list()
            QUEUED.labels("jsonl").set(len(batch))
            if not batch:
                return
            already: set[str] = set()
            if not self.tail_checked:
                # After a crash between an append and the queue's clean-up, the head of the queue
                # is the end of the file: do not write it twice.
                already = await asyncio.to_thread(tail_ids, self.path, self.batch)
                self.tail_checked = True
            lines = [json.dumps(doc["event"], ensure_ascii=False) for doc in batch if doc["_id"] not in already]
            await asyncio.to_thread(append_lines, self.path, lines)
            await queue.delete_many({"_id": {"$in": [doc["_id"] for doc in batch]}})
            FORWARDED.labels("jsonl", "delivered").inc(len(lines))


def append_lines(path: Path, lines: list[str]) -> None:
    """Append lines and fsync; a torn last line (crash mid-write) is closed first."""
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as file:
        file.seek(0, os.SEEK_END)
        prefix = b""
        if file.tell() > 0:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                prefix = b"\n"
        file.write(prefix + "".join(f"{line}\n" for line in lines).encode())
        file.flush()
        os.fsync(file.fileno())


def tail_ids(path: Path, lines: int, block: int = 65536) -> set[str]:
    """The CloudEvents ids of the last ``lines`` complete lines of a JSON Lines file."""
    if not path.exists():
        return set()
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        end = file.tell()
        data = b""
        while end > 0 and data.count(b"\n") <= lines:
            start = max(0, end - block)
            file.seek(start)
            data = file.read(end - start) + data
            end = start
    ids: set[str] = set()
    for raw in data.splitlines()[-lines:]:
        try:
            event = json.loads(raw)
        except ValueError:
            continue  # a torn line
        if isinstance(event, dict) and isinstance(event.get("id"), str):
            ids.add(event["id"])
    return ids
