"""Operator tools for dead letters: list what a service parked, replay it (fixed if need be).

A replay publishes the original key, value (or a corrected one) and headers,
without the ``dlq_*`` headers, back to the topic it came from, plus a
``dlq_replayed_from`` header. The ``ce_id`` is unchanged: a dead-lettered
message never reached the inbox, so the consumer processes it once.

The replay also carries where the record first was (``dlq_original_partition``,
``dlq_original_offset``, kept across repeated dead-lettering): the consumer parks it
again (reason ``stale_replay``) when a later record of its key was already applied and
its handler is not order-safe; ``force_stale`` adds ``dlq_replay_force`` to apply it anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from vies_shared.events.topics import dlq_topic
from vies_shared.messaging.broker import aiokafka_security, create_broker
from vies_shared.settings import ServiceSettings


@dataclass(frozen=True)
class DeadLetter:
    """One message in a service's dead-letter topic."""

    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def ref(self) -> str:
        """``partition:offset``, how an operator names it."""
        return f"{self.partition}:{self.offset}"

    @property
    def original_headers(self) -> dict[str, str]:
        """The headers the message had before it was dead-lettered."""
        return {k: v for k, v in self.headers.items() if not k.startswith("dlq_")}

    def summary(self) -> dict[str, Any]:
        """What an operator needs to decide: where it came from, why, what it is."""
        return {
            "ref": self.ref,
            "reason": self.headers.get("dlq_reason"),
            "error": self.headers.get("dlq_error"),
            "from": "{}[{}]@{}".format(
                self.headers.get("dlq_topic"), self.headers.get("dlq_partition"), self.headers.get("dlq_offset")
            ),
            "consumer": self.headers.get("dlq_consumer"),
            "ce_type": self.headers.get("ce_type"),
            "ce_id": self.headers.get("ce_id"),
            "key": self.key,
            "value": (self.value or b"").decode(errors="replace")[:500],
        }


async def list_dead_letters(settings: ServiceSettings, service: str) -> list[DeadLetter]:
    """Every message currently in ``vies.<service>.dlq``, oldest first per partition."""
    topic = dlq_topic(service, settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_security(settings),
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assigned:
            return []
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        letters: list[DeadLetter] = []
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    letters.append(
                        DeadLetter(
                            partition=record.partition,
                            offset=record.offset,
                            key=record.key.decode(errors="replace") if record.key is not None else None,
                            value=record.value,
                            headers={k: (v or b"").decode(errors="replace") for k, v in record.headers},
                        )
                    )
        return sorted(letters, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


async def replay_dead_letters(
    settings: ServiceSettings,
    service: str,
    refs: Iterable[str] | None = None,
    *,
    value_override: bytes | None = None,
    force_stale: bool = False,
) -> list[DeadLetter]:
    """Publish the chosen dead letters (all when ``refs`` is None) back to their original topics."""
    wanted = set(refs) if refs is not None else None
    letters = [d for d in await list_dead_letters(settings, service) if wanted is None or d.ref in wanted]
    if wanted is not None and len(letters) != len(wanted):
        missing = wanted - {d.ref for d in letters}
        raise LookupError(f"no dead letter at {', '.join(sorted(missing))}")
    if value_override is not None:
        json.loads(value_override)  # refuse a "fix" that is not even JSON before publishing it
    broker = create_broker(settings, client_id=f"vies-dlq-replay-{service}")
    await broker.start()
    try:
        for letter in letters:
            topic = letter.headers.get("dlq_topic")
            if not topic:
                raise ValueError(f"dead letter {letter.ref} has no dlq_topic header")
            first = letter.headers
            headers = {
                **letter.original_headers,
                "dlq_replayed_from": f"{service}:{letter.ref}",
                "dlq_original_partition": first.get("dlq_original_partition") or first.get("dlq_partition", ""),
                "dlq_original_offset": first.get("dlq_original_offset") or first.get("dlq_offset", ""),
            }
            if force_stale:
                headers["dlq_replay_force"] = "true"
            value = value_override if value_override is not None else letter.value
            await broker.publish(
                value,
                topic=topic,
                key=(letter.key or "").encode(),
                headers=headers,
            )
    finally:
        await broker.stop()
    return letters
