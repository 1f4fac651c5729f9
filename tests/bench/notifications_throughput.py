"""Benchmark: email throughput of the notifications service.

Publishes 10,000 notification-producing contract events (``missions.MissionPlanned``,
each routed to the Volunteering Centre of its country: one email) with a plain
Kafka producer, lets the service running in this process consume them and
deliver the emails, and prints as JSON the number of emails accepted by the
local SMTP server per second and the number of SMTP connections used.

By default the SMTP server is a dedicated aiosmtpd sink started in a child
process (so the shared Mailpit, which keeps a bounded number of messages, is
not flooded); ``--smtp HOST:PORT`` sends to another local server instead.

Run against the local stack (not part of the test suite):
    VIES_KAFKA_BOOTSTRAP=127.0.0.1:19092 VIES_MONGODB_URI='mongodb://127.0.0.1:27117/?directConnection=true' \
        python tests/bench/notifications_throughput.py [--events 10000] [--smtp 127.0.0.1:11025]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from typing import Any

from aiokafka import AIOKafkaProducer

from vies_dev.testing.helpers import create_contract_topics, delete_contract_topics, free_port, running
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.envelope import encode
from vies_shared.events.missions import MissionPlanned
from vies_shared.events.topics import events_topic
from vies_shared.reference import centres
from vies_shared.storage import create_mongo_client


def run_sink(port: int) -> None:
    """Child process: an SMTP server that accepts everything and, on SIGTERM, prints what it counted."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    counts = {"messages": 0, "connections": 0}

    class Counting(SMTP):
        def connection_made(self, transport: Any) -> None:
            counts["connections"] += 1
            super().connection_made(transport)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            counts["messages"] += 1
            return "250 OK"

    class CountingController(Controller):
        def factory(self) -> SMTP:
            return Counting(self.handler)

    controller = CountingController(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = {"done": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(done=True))
    while not stop["done"]:
        time.sleep(0.1)
    controller.stop()
    print(json.dumps(counts), flush=True)


async def _publish(bootstrap: str, topic: str, count: int, run: str) -> None:
    countries = [c.country for c in centres()]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for n in range(count):
            event = MissionPlanned(
                mission_id=f"bench-{run}-{n}",
                engagement_id=f"e{n}",
                volunteer_id=f"v{n}",
                authority_id="a-bench",
                partner_id="p-bench",
                country=countries[n % len(countries)],
                scheme="vsi",
                starts_on=date(2027, 1, 1),
                ends_on=date(2027, 12, 31),
            )
            _, message = encode(event, region="FR-IDF")
            headers = [(k, v.encode()) for k, v in message.headers.items()]
            futures.append(await producer.send(topic, value=message.value, key=message.key.encode(), headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def bench(events: int, smtp: str | None, timeout: float) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    bootstrap = os.environ.get("VIES_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    mongodb_uri = os.environ.get("VIES_MONGODB_URI", "mongodb://127.0.0.1:27117/?directConnection=true")
    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}."
    sink: subprocess.Popen[str] | None = None
    if smtp:
        smtp_host, smtp_port = smtp.rsplit(":", 1)[0], int(smtp.rsplit(":", 1)[1])
    else:
        smtp_host, smtp_port = "127.0.0.1", free_port()
        sink = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured part
            [sys.executable, __file__, "--sink", str(smtp_port)], stdout=subprocess.PIPE, text=True
        )
        assert sink.stdout is not None
        assert sink.stdout.readline().strip() == "ready"
    await create_contract_topics(bootstrap, prefix)
    settings = NotificationsSettings(
        env="dev",
        kafka_bootstrap=bootstrap,
        mongodb_uri=mongodb_uri,
        mongodb_db=f"bench_{run}_notifications",
        topic_prefix=prefix,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        log_level="WARNING",
        delivery_poll_seconds=0.05,
        consumer_max_records=500,
        relay_poll_seconds=0.1,
    )
    app = create(settings)
    client = create_mongo_client(mongodb_uri)
    notifications = client[settings.mongodb_db]["notifications"]
    result: dict[str, Any] = {"events": events, "smtp_server": "aiosmtpd sink" if sink else f"{smtp_host}:{smtp_port}"}
    try:
        async with running(app, settings) as svc:
            started = time.perf_counter()
            await _publish(bootstrap, events_topic("missions", prefix), events, run)
            published = time.perf_counter()
            deadline = started + timeout
            worker = svc.runtime.extras["delivery"]
            while time.perf_counter() < deadline and worker.sent < events:  # noqa: ASYNC110 - a counter, not an event
                await asyncio.sleep(0.2)  # the worker's own counter: polling the database would slow it down
            finished = time.perf_counter()
            pipeline = [
                {"$match": {"status": "sent"}},
                {
                    "$group": {
                        "_id": None,
                        "first": {"$min": "$sent_at"},
                        "last": {"$max": "$sent_at"},
                        "n": {"$sum": 1},
                    }
                },
            ]
            [stats] = await (await notifications.aggregate(pipeline)).to_list() or [
                {"n": 0, "first": None, "last": None}
            ]
            sent = int(stats["n"])
            window = (stats["last"] - stats["first"]).total_seconds() if sent > 1 else 0.0
            result.update(
                emails_accepted=sent,
                emails_failed=await notifications.count_documents({"status": "failed"}),
                smtp_connections=worker.email.connections,
                emails_per_second=round(sent / window, 1) if window else None,
                sending_window_seconds=round(window, 2),
                end_to_end_seconds=round(finished - started, 2),
                end_to_end_emails_per_second=round(sent / (finished - started), 1),
                publish_seconds=round(published - started, 2),
                smtp_batch_size=settings.delivery_batch_size,
                smtp_parallel_connections=settings.smtp_connections,
            )
    finally:
        await client.drop_database(settings.mongodb_db)
        await client.close()
        await delete_contract_topics(bootstrap, prefix)
        if sink is not None:
            sink.send_signal(signal.SIGTERM)
            out, _ = sink.communicate(timeout=10)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if lines:
                counted = json.loads(lines[-1])
                result["sink_messages"] = counted["messages"]
                result["sink_connections"] = counted["connections"]
    return result


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--smtp", default=None, help="HOST:PORT of an SMTP server to use instead of the sink")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--sink", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink is not None:
        run_sink(args.sink)
        return
    print(json.dumps(asyncio.run(bench(args.events, args.smtp, args.timeout)), indent=2))


if __name__ == "__main__":
    main()
