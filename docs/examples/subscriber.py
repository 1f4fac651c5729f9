"""Print each VIES event once, as a JSON line: a plain aiokafka subscriber (docs/SUBSCRIBERS.md)."""

import asyncio
import json
import os

from aiokafka import AIOKafkaConsumer


async def subscribe(bootstrap: str, topics: list[str], group: str, stop_when_idle: float = 0) -> None:
    """Read the topics with your own consumer group; stop after ``stop_when_idle`` seconds without events (0: never)."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,  # <org>.<purpose>: offsets are kept per group
        enable_auto_commit=False,  # commit after handling, below
        auto_offset_reset="earliest",  # a new group starts from the oldest retained event
    )
    seen: set[str] = set()  # in production: a table with a unique index on ce_id, written with your effect
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(stop_when_idle * 1000) or 1000)
            if not batch and stop_when_idle and consumer.assignment():  # idle once its partitions are assigned
                return
            for record in [r for records in batch.values() for r in records]:
                headers = {name: value.decode() for name, value in record.headers}
                ce_id = headers.get("ce_id")
                if ce_id is None or ce_id in seen:  # at-least-once delivery: skip what you already handled
                    continue
                seen.add(ce_id)
                data = json.loads(record.value)  # check ce_schemaversion; ignore fields you do not know
                line = {"ce_id": ce_id, "ce_type": headers["ce_type"], "key": record.key.decode(), "data": data}
                print(json.dumps({**line, "version": headers["ce_schemaversion"]}), flush=True)
            await consumer.commit()  # only after handling: a crash re-reads, never skips
    finally:
        await consumer.stop()


if __name__ == "__main__":
    bootstrap = os.environ.get("VIES_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    topics = os.environ.get("VIES_TOPICS", "vies.missions.events").split(",")
    idle = float(os.environ.get("VIES_STOP_WHEN_IDLE", "0"))
    asyncio.run(subscribe(bootstrap, topics, os.environ.get("VIES_GROUP", "example-org.audit"), idle))
