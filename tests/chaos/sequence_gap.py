"""Reproduces what stalled a relay in ``make chaos``: with aiokafka's idempotent producer, a batch that
expires while its partition has no leader (the metadata during a broker's shutdown or start) is failed
*after* it took its sequence numbers, so every later batch of that partition is refused with
``OutOfOrderSequenceNumber`` until the producer is replaced (a new producer id).

    .venv/bin/python tests/chaos/sequence_gap.py --bootstrap 127.0.0.1:9092

Creates a one-partition topic ``chaosrepro-<random>``, deletes it afterwards; prints each send's outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def reproduce(bootstrap: str) -> list[str]:
    """The outcomes of: one send, one send while no leader is known (expires), three sends after."""
    topic = f"chaosrepro-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await asyncio.sleep(2)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=2000
    )
    outcomes: list[str] = []
    try:
        await producer.start()
        for step, value in (
            ("before", b"one"),
            ("no leader", b"two"),
            ("after", b"3"),
            ("after", b"4"),
            ("after", b"5"),
        ):
            cluster = producer.client.cluster
            real = cluster.leader_for_partition
            if step == "no leader":
                cluster.leader_for_partition = lambda tp: -1
            try:
                sent = await producer.send_and_wait(topic, value)
                outcomes.append(f"{step}: offset {sent.offset}")
            except Exception as exc:
                outcomes.append(f"{step}: {exc!r}")
            finally:
                cluster.leader_for_partition = real
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return outcomes


def main() -> None:
    """Command line: ``--bootstrap``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    for line in asyncio.run(reproduce(parser.parse_args().bootstrap)):
        print(line)


if __name__ == "__main__":
    main()
