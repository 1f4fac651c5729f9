"""What the chaos run breaks, and the outside world it plays: an SMS provider that can fail, a webhook that never ends.

``FaultInjector`` runs a schedule of faults against the run's own stack and service processes,
and measures for each fault the time from its end until the platform answers end to end again
(a canary command acknowledged and its event kept by the regional consumer).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from chaos.checker import Delivery, Poison
from vies_dev.service_process import ServiceProcess
from vies_dev.testing import free_port, wait_until
from vies_dev.testing.helpers import publish_raw
from vies_shared.events.topics import SERVICES, events_topic
from vies_shared.storage import create_mongo_client


class SmsProvider:
    """A local SMS gateway: keeps what it accepts; ``mode`` 500 or 401 refuses everything meanwhile."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.refused: dict[int, int] = {500: 0, 401: 0}
        self.mode = 200
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                status = provider.mode
                if status == 200:
                    message = json.loads(body)
                    message["received_at"] = time.time()
                    provider.received.append(message)
                    payload = b'{"status": "queued"}'
                else:
                    provider.refused[status] = provider.refused.get(status, 0) + 1
                    payload = b'{"error": "chaos"}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def deliveries(self) -> list[Delivery]:
        """What was accepted, as the checker counts it (``ref`` = the notification's reference)."""
        return [Delivery("sms", str(m.get("to", "")), str(m.get("reference", ""))) for m in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TricklingWebhook:
    """A webhook endpoint that answers 200 and then sends its body one byte a second, forever."""

    def __init__(self) -> None:
        self.requests = 0
        self.stopping = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                endpoint.requests += 1
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                try:
                    while not endpoint.stopping.wait(1.0):
                        self.wfile.write(b".")
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up: what it should do

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


async def inject_poison(bootstrap: str, run_id: str, number: int, region: str) -> list[Poison]:
    """One record on each events topic that looks like a contract event but whose value is not JSON."""
    poison: list[Poison] = []
    for service in SERVICES:
        topic = events_topic(service)
        ce_id = f"chaos-poison-{run_id}-{service}-{number}"
        headers = {
            "ce_specversion": "1.0",
            "ce_id": ce_id,
            "ce_source": "/vies/chaos",
            "ce_type": f"{service}.ChaosPoison",
            "ce_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "ce_subject": ce_id,
            "ce_schemaversion": "1",
            "ce_region": region,
        }
        # A known type makes every consumer decode it (an unknown one is ignored by consumers without a handler).
        headers["ce_type"] = {
            "partners": "partners.AuthorityRegistered",
            "recruitment": "recruitment.ApplicationSubmitted",
            "missions": "missions.MissionStarted",
            "notifications": "notifications.NotificationSent",
        }[service]
        await publish_raw(
            bootstrap,
            topic,
            key=ce_id.encode(),
            value=b"\x00chaos: not JSON",
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
        poison.append(Poison(topic, ce_id, region))
    return poison


@dataclass
class Fault:
    """One scheduled fault: when (seconds after the workload starts), what, and for how long."""

    at: float
    kind: str
    seconds: float = 0.0
    target: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    recovered_after: float | None = None
    error: str | None = None

    def report(self) -> dict[str, Any]:
        """The fault as the JSON report shows it."""
        return {
            "kind": self.kind,
            "target": self.target or None,
            "at_s": round(self.at, 1),
            "lasted_s": round(self.ended_at - self.started_at, 1) if self.ended_at and self.started_at else None,
            "recovered_after_s": round(self.recovered_after, 1) if self.recovered_after is not None else None,
            "error": self.error,
        }


def schedule(profile: str, duration: float, rng: random.Random) -> list[Fault]:
    """The faults of a profile, spread over the workload's ``duration``."""
    if profile == "short":
        return [
            Fault(20, "sigkill"),
            Fault(40, "poison"),
            Fault(50, "kafka_stop", rng.uniform(30, 45)),
            Fault(110, "sigterm"),
            Fault(125, "mongodb_restart"),
            Fault(150, "mailpit_stop", 120),
            Fault(160, "sms_errors", 40),
            Fault(200, "sigkill"),
            Fault(215, "poison"),
        ]
    faults: list[Fault] = []
    t = 20.0
    kinds = ["sigkill", "sigterm", "poison", "kafka_stop", "mongodb_restart", "mailpit_stop", "sms_errors", "sigkill"]
    while t < duration - 60:
        for kind in kinds:
            seconds = {"kafka_stop": rng.uniform(30, 90), "mailpit_stop": 120.0, "sms_errors": 60.0}.get(kind, 0.0)
            faults.append(Fault(t, kind, seconds))
            t += max(40.0, seconds + 30.0)
            if t >= duration - 60:
                break
    return faults


@dataclass
class FaultInjector:
    """Runs the schedule; each fault ends with everything back (processes restarted by the run's supervisor)."""

    stack: Any
    processes: list[ServiceProcess]
    sms: SmsProvider
    run_id: str
    region: str
    canary: Callable[[], Awaitable[None]]
    rng: random.Random
    poison: list[Poison] = field(default_factory=list)
    done: list[Fault] = field(default_factory=list)
    log: Callable[[str], None] = lambda line: print(line, flush=True)
    # Longer than this is reported as "no recovery" and the schedule goes on.
    recovery_timeout: float = 180.0

    async def run(self, faults: list[Fault], started: float) -> None:
        """Inject every fault at its time, one after the other (a late one as soon as the previous is over)."""
        for fault in faults:
            wait = started + fault.at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.inject(fault)

    async def inject(self, fault: Fault) -> None:
        """One fault: break, wait, repair, then measure the recovery."""
        fault.started_at = time.monotonic()
        self.log(f"chaos: fault {fault.kind} {fault.seconds and round(fault.seconds)} s")
        back: Callable[[], Awaitable[bool]] | None = None
        try:
            if fault.kind in ("sigkill", "sigterm"):
                victim = self.rng.choice([p for p in self.processes if p.process and p.process.poll() is None])
                fault.target = f"{victim.service}:{victim.port}"
                killed = victim.process
                assert killed is not None
                killed.send_signal(signal.SIGKILL if fault.kind == "sigkill" else signal.SIGTERM)
                back = _restarted(victim, killed)
            elif fault.kind == "kafka_stop":
                await asyncio.to_thread(self.stack.stop_kafka)
                await asyncio.sleep(fault.seconds)
                await self.start("kafka")
            elif fault.kind == "mongodb_restart":
                await asyncio.to_thread(self.stack.stop_mongodb)
                await self.start("mongodb")
            elif fault.kind == "mailpit_stop":
                await asyncio.to_thread(self.stack.stop_mailpit)
                await asyncio.sleep(fault.seconds)
                await self.start("mailpit")
                back = _mail_arrives(self.stack.mailpit_url, await _mail_count(self.stack.mailpit_url), self.waiting)
            elif fault.kind == "sms_errors":
                self.sms.mode = 500
                await asyncio.sleep(fault.seconds / 2)
                self.sms.mode = 401
                await asyncio.sleep(fault.seconds / 2)
                self.sms.mode = 200
                accepted = len(self.sms.received)

                async def sms_arrives() -> bool:
                    return len(self.sms.received) > accepted or not await self.waiting("sms")

                back = sms_arrives
            elif fault.kind == "poison":
                self.poison += await inject_poison(
                    self.stack.kafka_bootstrap, self.run_id, len(self.poison), self.region
                )
        except Exception as exc:
            fault.error = repr(exc)
        fault.ended_at = time.monotonic()
        try:
            await asyncio.wait_for(self._recovered(back), timeout=self.recovery_timeout)
            fault.recovered_after = time.monotonic() - fault.ended_at
        except Exception as exc:
            fault.error = (fault.error or "") + f" no recovery: {exc!r}"
        self.done.append(fault)
        self.log(f"chaos: {fault.kind} over, recovered after {fault.recovered_after}")

    async def start(self, component: str) -> None:
        """Start a component again; on a loaded machine its start may outlast the stack's timeout, so try again."""
        for attempt in range(1, 4):
            try:
                await asyncio.to_thread(getattr(self.stack, f"start_{component}"))
                return
            except Exception as exc:
                self.log(f"chaos: {component} did not start (attempt {attempt}): {str(exc)[:200]}")
        raise RuntimeError(f"{component} did not start after 3 attempts")

    async def waiting(self, channel: str) -> bool:
        """Whether messages of ``channel`` are due and not sent yet (read in the notifications database)."""
        client = create_mongo_client(self.stack.mongodb_uri)
        try:
            due = await client["vies_notifications"]["notifications"].count_documents(
                {
                    "channel": channel,
                    "status": {"$in": ["pending", "sending"]},
                    "next_attempt_at": {"$lte": datetime.now(UTC)},
                }
            )
        except Exception:
            return True  # cannot tell: not recovered yet
        finally:
            await client.close()
        return due > 0

    async def _recovered(self, back: Callable[[], Awaitable[bool]] | None) -> None:
        """What the fault broke works again (a restarted process ready, a message delivered), then the canary."""
        if back is not None:
            await wait_until(back, timeout=self.recovery_timeout, interval=0.5, message="the broken part working again")
        await self.canary()


def _restarted(victim: ServiceProcess, killed: Any) -> Callable[[], Awaitable[bool]]:
    """True once the supervisor has started the victim again and it answers ``/readyz``."""

    async def check() -> bool:
        if victim.process is killed:
            return False
        try:
            return await asyncio.to_thread(victim.ready)
        except RuntimeError:
            return False

    return check


async def _mail_count(mailpit_url: str) -> int:
    async with httpx.AsyncClient(base_url=mailpit_url, timeout=10) as client:
        for _ in range(60):
            try:
                return int((await client.get("/api/v1/messages", params={"limit": 1})).json()["total"])
            except (httpx.HTTPError, KeyError, ValueError):
                await asyncio.sleep(1)
    return 0


def _mail_arrives(
    mailpit_url: str, before: int, waiting: Callable[[str], Awaitable[bool]]
) -> Callable[[], Awaitable[bool]]:
    """True once Mailpit holds more mail than ``before`` (the queue flows again), or no email is due."""

    async def check() -> bool:
        return await _mail_count(mailpit_url) > before or not await waiting("email")

    return check
