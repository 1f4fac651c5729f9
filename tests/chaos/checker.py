"""The chaos run's judge: what Kafka, the databases, Mailpit and the SMS provider hold, against what was acknowledged.

It reads the platform from the outside (raw Kafka records, MongoDB documents, Mailpit's API) and
knows nothing of the services' code: the routing rules it expects are written out here, from the
notifications README's table, for the kinds of events the workload causes.

``evaluate`` is pure (synthetic data in the unit test); ``gather`` collects the real observations.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Events a command or a consumer causes at most once per aggregate (the field names the aggregate).
ONCE_ONLY: tuple[tuple[str, str], ...] = (
    ("partners.AuthorityRegistered", "authority_id"),
    ("partners.PartnerRegistered", "partner_id"),
    ("partners.PartnerApproved", "partner_id"),
    ("partners.PartnershipEstablished", "partnership_id"),
    ("recruitment.PositionPublished", "position_id"),
    ("recruitment.ApplicationSubmitted", "application_id"),
    ("recruitment.ApplicationScreened", "application_id"),
    ("recruitment.ApplicationShortlisted", "application_id"),
    ("recruitment.CandidateSelected", "application_id"),
    ("recruitment.VolunteerEngaged", "application_id"),
    ("missions.MissionPlanned", "engagement_id"),
    ("missions.MissionStarted", "mission_id"),
    ("missions.MissionEnded", "mission_id"),
    ("missions.SecurityAlertIssued", "alert_id"),
    ("missions.SafetyCheckClosed", "alert_id"),
)


@dataclass(frozen=True)
class Record:
    """One Kafka record, decoded as far as a plain reader can."""

    topic: str
    partition: int
    offset: int
    key: str
    headers: Mapping[str, str]
    data: Mapping[str, Any] | None

    @property
    def ce_id(self) -> str:
        return self.headers.get("ce_id", f"{self.topic}:{self.partition}:{self.offset}")

    @property
    def ce_type(self) -> str:
        return self.headers.get("ce_type", "")


@dataclass(frozen=True)
class Ack:
    """An HTTP command the workload sent: ``acked`` (2xx) or ``uncertain`` (no answer, 5xx).

    ``seq`` orders acknowledgements in time; the command's effect is the event ``ce_type`` whose
    ``field`` is ``aggregate_id``.
    """

    seq: int
    ce_type: str
    field: str
    aggregate_id: str
    outcome: str = "acked"


@dataclass(frozen=True)
class Poison:
    """A record the fault injector put on an events topic: every consumer of the topic must dead-letter it."""

    topic: str
    ce_id: str
    region: str | None = None


@dataclass(frozen=True)
class Delivery:
    """An email in Mailpit (``ref`` = its Message-ID) or an SMS at the provider (``ref`` = its reference)."""

    channel: str
    address: str
    ref: str


@dataclass(frozen=True)
class Required:
    """A message the routing table requires: channel, address, and the event that requires it."""

    channel: str
    address: str
    event_id: str
    why: str


@dataclass
class Directory:
    """Who is who in the workload: addresses it gave, by the ids the platform answered."""

    authority_email: dict[str, str] = field(default_factory=dict)
    partner_email: dict[str, str] = field(default_factory=dict)
    # application id -> candidate id; candidate id -> (email, phone)
    application_candidate: dict[str, str] = field(default_factory=dict)
    person: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Observations:
    """Everything the checker looks at."""

    events: list[Record]
    dead_letters: list[Record]
    acks: list[Ack]
    poison: list[Poison]
    # consumer group -> topic -> lag (messages not committed yet)
    lags: dict[str, dict[str, int]]
    deliveries: list[Delivery]
    directory: Directory
    regional_region: str | None = None
    regional_journal: set[str] = field(default_factory=set)
    regional_skipped: set[str] = field(default_factory=set)
    # consumer-side duplicates found in the databases (e.g. two missions for one engagement)
    database_duplicates: list[str] = field(default_factory=list)


def dlq_group(service: str) -> str:
    """The consumer group whose dead letters go to ``vies.<service>.dlq``."""
    return f"vies.{service}"


def _distinct(records: Iterable[Record]) -> list[Record]:
    """First occurrence of each ce_id, in (topic, partition, offset) order: a redelivery is not a new event."""
    seen: set[str] = set()
    out: list[Record] = []
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        if record.ce_id not in seen:
            seen.add(record.ce_id)
            out.append(record)
    return out


def check_commands(events: Sequence[Record], acks: Sequence[Ack]) -> dict[str, Any]:
    """Lost (acknowledged, no event), applied twice (more events than commands sent), reordered (per key)."""
    distinct = _distinct(events)
    by_effect: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in distinct:
        if record.data is None:
            continue
        for name, value in _ids(record.data):
            by_effect[(record.ce_type, name, value)].append(record)
    acked: Counter[tuple[str, str, str]] = Counter()
    uncertain: Counter[tuple[str, str, str]] = Counter()
    for ack in acks:
        (acked if ack.outcome == "acked" else uncertain)[(ack.ce_type, ack.field, ack.aggregate_id)] += 1
    lost: list[str] = []
    twice: list[str] = []
    reported: set[tuple[str, str, str]] = set()
    for effect in set(acked) | set(uncertain):
        seen = len(by_effect.get(effect, []))
        if seen < acked[effect]:
            lost.append(f"{effect[0]} {effect[1]}={effect[2]}: {acked[effect]} acknowledged, {seen} published")
        if seen > acked[effect] + uncertain[effect]:
            twice.append(f"{effect[0]} {effect[1]}={effect[2]}: {seen} published for {acked[effect]} command(s)")
            reported.add(effect)
    # Events the platform causes by itself at most once per aggregate (consumers, schedulers).
    once_only = set(ONCE_ONLY)
    for effect, records in by_effect.items():
        if (effect[0], effect[1]) in once_only and len(records) > 1 and effect not in reported:
            twice.append(f"{effect[0]} {effect[1]}={effect[2]}: {len(records)} distinct events")
    reordered = check_order(distinct, acks)
    return {"lost": sorted(lost), "applied_twice": sorted(twice), "reordered": reordered}


def _ids(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in data.items() if k.endswith("_id") and isinstance(v, str)]


def check_order(distinct: Sequence[Record], acks: Sequence[Ack]) -> list[str]:
    """Per-key order: one key stays in one partition, and a key's events follow the order of their acknowledgements."""
    problems: list[str] = []
    partitions: dict[tuple[str, str], set[int]] = defaultdict(set)
    for record in distinct:
        partitions[(record.topic, record.key)].add(record.partition)
    for (topic, key), parts in sorted(partitions.items()):
        if len(parts) > 1:
            problems.append(f"{topic} key {key} spread over partitions {sorted(parts)}")
    position: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in distinct:
        if record.data is not None:
            for name, value in _ids(record.data):
                position[(record.ce_type, name, value)].append(record)
    # For each aggregate, its acknowledged commands in time order, paired with their events in order.
    per_aggregate: dict[tuple[str, str], list[Ack]] = defaultdict(list)
    for ack in sorted(acks, key=lambda a: a.seq):
        if ack.outcome == "acked":
            per_aggregate[(ack.field, ack.aggregate_id)].append(ack)
    for (name, value), ordered in per_aggregate.items():
        taken: Counter[str] = Counter()
        placed: list[tuple[Ack, Record]] = []
        for ack in ordered:
            candidates = sorted(position.get((ack.ce_type, name, value), []), key=lambda r: r.offset)
            index = taken[ack.ce_type]
            taken[ack.ce_type] += 1
            if index < len(candidates):
                placed.append((ack, candidates[index]))
        for (first, a), (second, b) in itertools.pairwise(placed):
            if (a.topic, a.key) != (b.topic, b.key):
                continue
            if b.offset < a.offset:
                problems.append(
                    f"{name}={value}: {second.ce_type} (acknowledged after {first.ce_type}) is at offset "
                    f"{b.offset}, before {a.offset} on {a.topic}[{a.partition}]"
                )
    return problems


def check_lags(lags: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Every consumer group has committed everything."""
    return [
        f"{group} {topic}: lag {lag}" for group, topics in sorted(lags.items()) for topic, lag in topics.items() if lag
    ]


def check_dead_letters(
    poison: Sequence[Poison],
    dead_letters: Sequence[Record],
    lags: Mapping[str, Mapping[str, int]],
    *,
    regional_region: str | None = None,
    regional_skipped: set[str] | None = None,
) -> dict[str, Any]:
    """Dead letters are exactly the poison messages, once per consumer group of their topic."""
    consumers: dict[str, set[str]] = defaultdict(set)  # topic -> groups
    for group, topics in lags.items():
        for topic in topics:
            consumers[topic].add(group)
    expected: set[tuple[str, str]] = set()
    for item in poison:
        for group in consumers.get(item.topic, set()):
            if group.startswith("vies.regional."):
                continue
            expected.add((group, item.ce_id))
    seen: Counter[tuple[str, str]] = Counter()
    for record in dead_letters:
        group = record.headers.get("dlq_consumer") or f"vies.{record.topic.rsplit('.', 2)[-2]}"
        seen[(group, record.ce_id)] += 1
    missing = sorted(f"{g} did not dead-letter {c}" for g, c in expected - set(seen))
    unexpected = sorted(f"{g} dead-lettered {c}" for g, c in set(seen) - expected)
    if regional_region is not None:
        for item in poison:
            if item.region == regional_region and item.ce_id not in (regional_skipped or set()):
                missing.append(f"regional {regional_region} did not keep {item.ce_id} as skipped")
        poison_ids = {p.ce_id for p in poison}
        unexpected += sorted(f"regional skipped {c}" for c in (regional_skipped or set()) - poison_ids)
    return {
        "expected": len(expected),
        "seen": len(seen),
        "missing": missing,
        "unexpected": unexpected,
        "repeated": sum(n - 1 for n in seen.values()),
    }


def required_notifications(events: Sequence[Record], directory: Directory) -> list[Required]:
    """What the routing table requires for the workload's people (README of notifications, routing table)."""
    distinct = [r for r in _distinct(events) if r.data is not None]
    missions: dict[str, Mapping[str, Any]] = {}
    for record in distinct:
        if record.ce_type == "missions.MissionPlanned" and record.data is not None:
            missions[str(record.data["mission_id"])] = record.data
    need: list[Required] = []

    def person(candidate_id: str | None, channels: Sequence[str], record: Record, why: str) -> None:
        if candidate_id is None or candidate_id not in directory.person:
            return
        email, phone = directory.person[candidate_id]
        for channel in channels:
            need.append(Required(channel, email if channel == "email" else phone, record.ce_id, why))

    def authority(authority_id: Any, record: Record, why: str) -> None:
        address = directory.authority_email.get(str(authority_id))
        if address:
            need.append(Required("email", address, record.ce_id, why))

    def partner(partner_id: Any, record: Record, why: str) -> None:
        address = directory.partner_email.get(str(partner_id))
        if address:
            need.append(Required("email", address, record.ce_id, why))

    for record in distinct:
        data = record.data or {}
        kind = record.ce_type
        candidate = directory.application_candidate.get(str(data.get("application_id")))
        if kind == "recruitment.ApplicationSubmitted":
            person(candidate, ["email"], record, "application_received")
            authority(data.get("authority_id"), record, "new_application")
        elif kind in ("recruitment.InterviewScheduled", "recruitment.CandidateSelected"):
            person(candidate, ["email"], record, kind.split(".")[1])
        elif kind == "recruitment.ApplicationScreened" and data.get("eligible") is False:
            person(candidate, ["email"], record, "application_ineligible")
        elif kind == "recruitment.VolunteerEngaged":
            person(str(data.get("volunteer_id")), ["email"], record, "volunteer_welcome")
            authority(data.get("authority_id"), record, "volunteer_engaged")
        elif kind == "partners.PartnershipEstablished":
            authority(data.get("authority_id"), record, "partnership_established")
        elif kind == "missions.CheckInMissed":
            mission = missions.get(str(data.get("mission_id")), {})
            person(mission.get("volunteer_id"), ["email", "sms"], record, "check_in_reminder")
        elif kind in ("missions.SecurityAlertIssued", "missions.SafetyCheckReminded"):
            for mission_id in data.get("mission_ids") or []:
                mission = missions.get(str(mission_id), {})
                person(mission.get("volunteer_id"), ["email", "sms"], record, kind.split(".")[1])
        elif kind == "missions.MissionStarted":
            mission = missions.get(str(data.get("mission_id")), {})
            partner(mission.get("partner_id"), record, "host_partner_update")
        elif kind == "missions.MissionEnded":
            mission = missions.get(str(data.get("mission_id")), {})
            person(mission.get("volunteer_id"), ["email"], record, "mission_ended_volunteer")
            authority(mission.get("authority_id"), record, "mission_ended")
            partner(mission.get("partner_id"), record, "host_partner_update")
        elif kind == "missions.SafetyCheckClosed":
            for mission_id in data.get("unaccounted_mission_ids") or []:
                authority(missions.get(str(mission_id), {}).get("authority_id"), record, "safety_check_unaccounted")
    return need


def check_notifications(required: Sequence[Required], deliveries: Sequence[Delivery]) -> dict[str, Any]:
    """Per address and channel: messages missing (fewer distinct than required) and duplicated (same message twice)."""
    wanted: Counter[tuple[str, str]] = Counter((r.channel, r.address.lower()) for r in required)
    copies: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for delivery in deliveries:
        copies[(delivery.channel, delivery.address.lower())][delivery.ref] += 1
    missing: list[str] = []
    extra: dict[str, int] = {}
    for target, count in sorted(wanted.items()):
        distinct = len(copies.get(target, Counter()))
        if distinct < count:
            whys = Counter(r.why for r in required if (r.channel, r.address.lower()) == target)
            missing.append(f"{target[0]} to {target[1]}: {distinct} of {count} ({dict(whys)})")
        if distinct > count:
            extra[f"{target[0]} to {target[1]}"] = distinct - count
    duplicated = {
        f"{channel} to {address}: {ref}": n
        for (channel, address), refs in sorted(copies.items())
        for ref, n in refs.items()
        if n > 1
    }
    return {
        "required": sum(wanted.values()),
        "delivered": sum(len(refs) for refs in copies.values()),
        "missing": missing,
        "duplicated": sum(n - 1 for n in duplicated.values()),
        "duplicated_examples": dict(list(duplicated.items())[:10]),
        # Messages the checker's table does not predict (offices' addresses are not counted at all).
        "more_than_required": sum(extra.values()),
        "more_than_required_examples": dict(list(extra.items())[:10]),
    }


def check_regional(events: Sequence[Record], region: str | None, journal: set[str]) -> list[str]:
    """Every event of the branch's region is in its journal."""
    if region is None:
        return []
    return sorted(
        f"{r.ce_type} {r.ce_id}"
        for r in _distinct(events)
        if r.headers.get("ce_region") == region and r.data is not None and r.ce_id not in journal
    )


def evaluate(obs: Observations) -> dict[str, Any]:
    """Every invariant, with its evidence; ``ok`` is false when any fails."""
    poison_ids = {p.ce_id for p in obs.poison}
    events = [r for r in obs.events if r.ce_id not in poison_ids]
    commands = check_commands(events, obs.acks)
    lags = check_lags(obs.lags)
    dead = check_dead_letters(
        obs.poison,
        obs.dead_letters,
        obs.lags,
        regional_region=obs.regional_region,
        regional_skipped=obs.regional_skipped,
    )
    notes = check_notifications(required_notifications(events, obs.directory), obs.deliveries)
    regional_missing = check_regional(events, obs.regional_region, obs.regional_journal)
    failures = {
        "lost": len(commands["lost"]),
        "applied_twice": len(commands["applied_twice"]) + len(obs.database_duplicates),
        "reordered": len(commands["reordered"]),
        "consumer_lag": len(lags),
        "dead_letters_missing": len(dead["missing"]),
        "dead_letters_unexpected": len(dead["unexpected"]),
        "notifications_missing": len(notes["missing"]),
        "regional_missing": len(regional_missing),
    }
    return {
        "ok": not any(failures.values()),
        "failures": failures,
        "commands": {
            "acknowledged": sum(1 for a in obs.acks if a.outcome == "acked"),
            "uncertain": sum(1 for a in obs.acks if a.outcome != "acked"),
            "events_distinct": len(_distinct(events)),
            "events_records": len(events),
            "lost": commands["lost"][:20],
            "applied_twice": (commands["applied_twice"] + obs.database_duplicates)[:20],
            "reordered": commands["reordered"][:20],
        },
        "consumer_lag": lags[:20],
        "dead_letters": dead,
        "notifications": notes,
        "regional": {
            "region": obs.regional_region,
            "journal": len(obs.regional_journal),
            "missing": regional_missing[:20],
        },
    }


def record_from_kafka(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
) -> Record:
    """A raw Kafka record as the checker sees it (a value that is not a JSON object has ``data`` None)."""
    decoded = {name: (raw or b"").decode(errors="replace") for name, raw in headers}
    data: Mapping[str, Any] | None = None
    if value:
        try:
            parsed = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        data = parsed if isinstance(parsed, dict) else None
    return Record(topic, partition, offset, (key or b"").decode(errors="replace"), decoded, data)


async def read_topics(bootstrap: str, topics: Sequence[str]) -> list[Record]:
    """Every record of ``topics`` from the beginning, with a plain reader (no consumer group)."""
    from vies_dev.testing import KafkaProbe

    raw = await KafkaProbe(bootstrap, list(topics)).read(idle=1.0)
    return [record_from_kafka(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in raw]


async def consumer_lags(bootstrap: str, ends: dict[Any, int] | None = None) -> dict[str, dict[str, int]]:
    """Per consumer group and topic it consumes: messages after its committed offsets (summed over partitions).

    A topic counts as consumed by a group once it committed on one of its partitions; a partition
    it never committed on counts from the beginning. ``ends`` (from ``end_offsets``) measures the
    lag against the topics' ends at an earlier moment instead of now.
    """
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.structs import TopicPartition

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await admin.start()
        await reader.start()
        # Without explicit partitions the broker answers no offsets at all (OffsetFetch as aiokafka sends it).
        metadata = await reader._client.fetch_all_metadata()
        every = [
            TopicPartition(topic, p)
            for topic in sorted(metadata.topics())
            if not topic.startswith("__")
            for p in sorted(metadata.partitions_for_topic(topic) or set())
        ]
        if not every:
            return {}
        ends = {**await reader.end_offsets(every), **(ends or {})}
        starts = await reader.beginning_offsets(every)
        out: dict[str, dict[str, int]] = {}
        for group, *_ in await admin.list_consumer_groups():
            committed = await admin.list_consumer_group_offsets(group, partitions=every)
            consumed = {tp.topic for tp, at in committed.items() if at.offset >= 0}
            lag: dict[str, int] = defaultdict(int)
            for tp in every:
                if tp.topic not in consumed:
                    continue
                at = committed.get(tp)
                done = at.offset if at is not None and at.offset >= 0 else starts[tp]
                lag[tp.topic] += max(0, ends[tp] - done)
            out[str(group)] = dict(lag)
        return out
    finally:
        await reader.stop()
        await admin.close()


async def end_offsets(bootstrap: str) -> dict[Any, int]:
    """Every partition's end offset now (the ``ends`` of ``consumer_lags``)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await reader.start()
        metadata = await reader._client.fetch_all_metadata()
        every = [
            TopicPartition(topic, p)
            for topic in sorted(metadata.topics())
            if not topic.startswith("__")
            for p in sorted(metadata.partitions_for_topic(topic) or set())
        ]
        return dict(await reader.end_offsets(every)) if every else {}
    finally:
        await reader.stop()


async def lags_behind_a_moment(bootstrap: str, wait: float = 60.0) -> dict[str, dict[str, int]]:
    """Each group's lag behind what the topics held at the start, given ``wait`` seconds to catch up.

    The schedulers keep emitting after the workload stops (reminders, missed check-ins): a lag read
    once can catch an event produced a moment before and not yet consumed. What counts is whether
    the consumers reach the ends of a fixed moment, not whether they are at the end at an instant.
    """
    import asyncio

    ends = await end_offsets(bootstrap)
    deadline = time.monotonic() + wait
    while True:
        lags = await consumer_lags(bootstrap, ends)
        if not any(lag for by_topic in lags.values() for lag in by_topic.values()) or time.monotonic() > deadline:
            return lags
        await asyncio.sleep(2.0)


async def mailpit_deliveries(mailpit_url: str) -> list[Delivery]:
    """Every email Mailpit holds, one delivery per recipient address (``ref`` = Message-ID)."""
    import httpx

    out: list[Delivery] = []
    async with httpx.AsyncClient(base_url=mailpit_url, timeout=30) as client:
        start = 0
        while True:
            page = (await client.get("/api/v1/messages", params={"start": start, "limit": 500})).json()
            messages = page.get("messages") or []
            for message in messages:
                for to in message.get("To") or []:
                    out.append(
                        Delivery("email", str(to.get("Address", "")), str(message.get("MessageID") or message["ID"]))
                    )
            start += len(messages)
            if not messages or start >= int(page.get("messages_count", page.get("total", 0))):
                return out
