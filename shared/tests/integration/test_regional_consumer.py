"""The regional consumer against the real Kafka and MongoDB: events of two regions published with a plain
producer, each branch's view, duplicates, unreadable events, JSON Lines file, webhook, restart, report."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from vies_dev.service_process import ServiceProcess
from vies_dev.testing import free_port, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events import missions as m
from vies_shared.events import notifications as n
from vies_shared.events import partners as p
from vies_shared.events import recruitment as r
from vies_shared.events.base import Event
from vies_shared.events.envelope import encode
from vies_shared.events.topics import events_topic
from vies_shared.regional.app import create
from vies_shared.regional.cli import regional_app
from vies_shared.regional.settings import RegionalSettings
from vies_shared.regional.view import VIEW_COLLECTIONS

pytestmark = pytest.mark.integration

Record = tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]


def story(region: str, n_missions: int = 2) -> list[tuple[Event, str]]:
    """A region's journey as (event, region): authority, position, three applications, engagement, missions."""
    s = region.lower()
    a, ps, pos = f"auth-{s}", f"ps-{s}", f"pos-{s}"
    events: list[Event] = [
        p.AuthorityRegistered(
            authority_id=a,
            name=f"Ville {s}",
            kind="commune",
            region=region,
            contact_email="i@x.example",
            territoires_volontaires=True,
        ),
        p.PartnershipEstablished(
            partnership_id=ps,
            authority_id=a,
            partner_id="prt-1",
            country="SN",
            themes=["water"],
            starts_on=date(2026, 1, 1),
        ),
        r.PositionPublished(
            position_id=pos,
            partnership_id=ps,
            authority_id=a,
            partner_id="prt-1",
            country="SN",
            scheme="vsi",
            title="Water engineer",
            starts_on=date(2026, 9, 1),
            duration_months=12,
            places=1,
        ),
    ]
    for i in (1, 2, 3):
        events.append(
            r.ApplicationSubmitted(
                application_id=f"app-{s}-{i}", position_id=pos, candidate_id=f"c-{s}-{i}", authority_id=a
            )
        )
        events.append(r.ApplicationScreened(application_id=f"app-{s}-{i}", eligible=i != 2, reasons=[]))
    events += [
        r.ApplicationRejected(application_id=f"app-{s}-2", reason="not eligible"),
        r.CandidateSelected(application_id=f"app-{s}-1", position_id=pos, candidate_id=f"c-{s}-1"),
        r.VolunteerEngaged(
            engagement_id=f"eng-{s}",
            application_id=f"app-{s}-1",
            volunteer_id=f"c-{s}-1",
            position_id=pos,
            authority_id=a,
            partner_id="prt-1",
            country="SN",
            scheme="vsi",
            starts_on=date(2026, 9, 1),
            ends_on=date(2027, 8, 31),
        ),
        r.PositionClosed(position_id=pos, reason="filled", cause="filled"),
    ]
    for i in range(n_missions):
        mission = f"mis-{s}-{i}"
        country = "SN" if i % 2 == 0 else "BJ"
        events.append(
            m.MissionPlanned(
                mission_id=mission,
                engagement_id=f"eng-{s}",
                volunteer_id=f"c-{s}-1",
                authority_id=a,
                partner_id="prt-1",
                country=country,
                scheme="vsi",
                starts_on=date(2026, 9, 1),
                ends_on=date(2027, 8, 31),
            )
        )
        if i % 2 == 0:
            events.append(m.MissionStarted(mission_id=mission, departed_on=date(2026, 9, 2)))
            events.append(m.CheckInMissed(mission_id=mission, due_on=date(2026, 9, 16)))
    events += [
        m.IncidentReported(incident_id=f"inc-{s}", mission_id=f"mis-{s}-0", category="health", severity="high"),
        # The region's share of a country-wide safety check (the country-wide events travel with ce_region "none").
        m.SafetyCheckOpened(
            alert_id="alert-1",
            country="SN",
            level="crisis",
            respond_by=datetime(2026, 9, 20, 12, 0, tzinfo=UTC),
            mission_ids=[f"mis-{s}-0"],
        ),
        m.SafetyStatusReported(alert_id="alert-1", mission_id=f"mis-{s}-0", status="safe"),
        m.SafetyCheckClosedInRegion(alert_id="alert-1", country="SN", unaccounted_mission_ids=[]),
        n.NotificationSent(notification_id=f"not-{s}", event_id="x", channel="email", recipient_role="authority"),
    ]
    return [(event, region) for event in events]


def record(event: Event, region: str | None, prefix: str, **header_overrides: str) -> Record:
    """A contract record as any producer would write it (optionally with doctored headers)."""
    _, message = encode(event, region=region)
    headers = {**message.headers, **header_overrides}
    topic = events_topic(event.service(), prefix)
    return topic, message.key.encode(), message.value, [(k, v.encode()) for k, v in headers.items()]


async def publish(bootstrap: str, records: list[Record]) -> None:
    """Publish records in order with one plain aiokafka producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


def unreadable(prefix: str, region: str) -> list[Record]:
    """An unknown ce_type, an unknown schema version and a value that is not JSON, all of ``region``."""
    alert = m.SecurityAlertIssued(alert_id="al-x", country="SN", level="info", respond_by=datetime.now(UTC))
    topic, key, value, headers = record(alert, region, prefix, ce_type="missions.SomethingNew")
    started = m.MissionStarted(mission_id="mis-x", departed_on=date(2026, 1, 1))
    garbage_topic, garbage_key, _, garbage_headers = record(started, region, prefix)
    return [
        (topic, key, value, headers),
        record(started, region, prefix, ce_schemaversion="9"),
        (garbage_topic, garbage_key, b"{oops", garbage_headers),
    ]


async def view_of(db: Any) -> dict[str, dict[str, Any]]:
    """The whole view (every view collection, the journal and the skipped events) as plain dicts."""
    out: dict[str, dict[str, Any]] = {}
    for name in (*VIEW_COLLECTIONS, "events", "skipped"):
        out[name] = {doc.pop("_id"): doc async for doc in db[name].find({})}
    return out


def regional(vies_settings: Any, region: str, **overrides: Any) -> RegionalSettings:
    values: dict[str, Any] = {"region": region, "mongodb_db": f"t{uuid.uuid4().hex[:8]}_regional", **overrides}
    settings: RegionalSettings = vies_settings("regional", RegionalSettings, **values)
    return settings


async def journal_count(svc: Any) -> int:
    count: int = await svc.runtime.db["events"].count_documents({})
    return count


async def test_each_branch_keeps_its_region_once_and_counts_what_it_cannot_read(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    ara, idf = story("FR-ARA"), story("FR-IDF", n_missions=1)
    # Interleaved, as the regions' events come in real life.
    interleaved = [item for pair in itertools.zip_longest(ara, idf) for item in pair if item is not None]
    mixed = [record(e, reg, topic_prefix) for e, reg in interleaved]
    mixed.append(
        record(
            p.PartnerRegistered(
                partner_id="prt-9",
                name="Eau Vive",
                kind="ngo",
                country="SN",
                city="Thiès",
                themes=[],
                languages=["fr"],
                hosting_capacity=2,
                reciprocity=False,
            ),
            None,
            topic_prefix,
        )
    )
    mixed += unreadable(topic_prefix, "FR-ARA") + unreadable(topic_prefix, "FR-IDF")[:1]
    await publish(vies_stack.kafka_bootstrap, mixed)
    # Delivered twice with the same ce_id: counts once.
    twice = m.IncidentReported(incident_id="inc-twice", mission_id="mis-fr-ara-0", category="legal", severity="low")
    twice_id = await publish_event(
        vies_stack.kafka_bootstrap, events_topic("missions", topic_prefix), twice, region="FR-ARA", times=2
    )

    ara_settings = regional(vies_settings, "FR-ARA")
    idf_settings = regional(vies_settings, "FR-IDF")
    async with running(create(ara_settings), ara_settings) as a, running(create(idf_settings), idf_settings) as i:
        assert a.runtime.consumer.group_id == f"{topic_prefix}vies.regional.FR-ARA"
        # No idempotent producer: it would ask for a producer id, which a read-only Kafka user is refused.
        assert a.runtime.broker.config.producer._producer.producer._txn_manager is None
        await wait_until(lambda: journal_count(a), timeout=30, message="ARA events")
        await wait_until(
            lambda: _equals(journal_count(a), len(ara) + 1), timeout=30, message=f"{len(ara) + 1} ARA events"
        )
        await wait_until(lambda: _equals(journal_count(i), len(idf)), timeout=30, message=f"{len(idf)} IDF events")
        await wait_until(lambda: _equals(a.runtime.db["skipped"].count_documents({}), 3), message="3 skipped")
        assert (await a.client.get("/healthz")).status_code == 200
        ready = await a.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["consumers"] is True
        ara_view, idf_view = await view_of(a.runtime.db), await view_of(i.runtime.db)

    # ARA: its own story only, the duplicate once, the other region and the region-less partner not at all.
    assert twice_id in ara_view["events"] and len(ara_view["events"]) == len(ara) + 1
    assert {doc["state"] for doc in ara_view["incidents"].values()} == {"open"}
    assert set(ara_view["incidents"]) == {"inc-fr-ara", "inc-twice"}
    assert {k: d["state"] for k, d in ara_view["positions"].items()} == {"pos-fr-ara": "closed"}
    assert {k: d["state"] for k, d in ara_view["applications"].items()} == {
        "app-fr-ara-1": "engaged",
        "app-fr-ara-2": "rejected",
        "app-fr-ara-3": "eligible",
    }
    assert list(ara_view["engagements"]) == ["eng-fr-ara"]
    assert {k: (d["country"], d["state"]) for k, d in ara_view["missions"].items()} == {
        "mis-fr-ara-0": ("SN", "under_way"),
        "mis-fr-ara-1": ("BJ", "planned"),
    }
    assert {k: (d["state"], d["mission_ids"], d["responses"]) for k, d in ara_view["safety_checks"].items()} == {
        "alert-1": ("closed", ["mis-fr-ara-0"], {"mis-fr-ara-0": "safe"})
    }
    assert sorted(d["reason"] for d in ara_view["skipped"].values()) == [
        "invalid_data",
        "unknown_schema_version",
        "unknown_type",
    ]
    # IDF: nothing of ARA anywhere (ids, journal, skipped), and its own story complete.
    dumped = json.dumps(idf_view, default=str)
    assert "fr-ara" not in dumped and "FR-ARA" not in dumped
    assert set(idf_view["events"]).isdisjoint(ara_view["events"])
    assert list(idf_view["missions"]) == ["mis-fr-idf-0"]
    assert [d["reason"] for d in idf_view["skipped"].values()] == ["unknown_type"]
    assert {k: (d["state"], d["mission_ids"], d["responses"]) for k, d in idf_view["safety_checks"].items()} == {
        "alert-1": ("closed", ["mis-fr-idf-0"], {"mis-fr-idf-0": "safe"})
    }

    # The report reads the branch's database (run from a thread: it has its own event loop).
    env = {
        "VIES_MONGODB_URI": vies_stack.mongodb_uri,
        "VIES_MONGODB_DB": ara_settings.mongodb_db,
    }
    result = await asyncio.to_thread(CliRunner().invoke, regional_app, ["report", "--region", "FR-ARA"], env=env)
    assert result.exit_code == 0, result.output
    assert "VIES regional view FR-ARA (Auvergne-Rhône-Alpes)" in result.output
    assert f"events kept      {len(ara) + 1}" in result.output
    assert "events skipped   3  (invalid_data 1  unknown_schema_version 1  unknown_type 1)" in result.output
    assert "applications     eligible 1  rejected 1  engaged 1" in result.output
    assert "open incidents   2  (high 1  low 1)" in result.output
    table = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[-3:]}
    assert table == {"BJ": ["1", "0", "0", "0", "1"], "SN": ["0", "1", "0", "0", "1"], "all": ["1", "1", "0", "0", "2"]}
    as_json = await asyncio.to_thread(
        CliRunner().invoke, regional_app, ["report", "--region", "FR-ARA", "--json"], env=env
    )
    assert json.loads(as_json.output)["missions"] == {"BJ": {"planned": 1}, "SN": {"under_way": 1}}
    refused = await asyncio.to_thread(CliRunner().invoke, regional_app, ["report", "--region", "FR-XYZ"], env=env)
    assert refused.exit_code == 2 and "unknown region" in refused.output


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


class Webhook:
    """A branch's HTTP endpoint: answers 500 to the first ``fail_first`` requests, then 200."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.calls = 0
        self.received: list[dict[str, Any]] = []
        self.content_types: set[str] = set()
        self.authorizations: set[str] = set()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/vies"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.calls += 1
        status = 500 if self.calls <= self.fail_first else 200
        if status == 200:
            self.received.append(json.loads(body))
            headers = dict(scope["headers"])
            self.content_types.add(headers.get(b"content-type", b"").decode())
            self.authorizations.add(headers.get(b"authorization", b"").decode())
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"down"})

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Webhook]:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_config=None, lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await wait_until(lambda: server.started, message="webhook server")
        try:
            yield self
        finally:
            server.should_exit = True
            await task


async def test_kept_events_reach_the_file_once_and_the_webhook_after_its_outage(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, tmp_path: Path
) -> None:
    ara = story("FR-ARA", n_missions=1)
    await publish(
        vies_stack.kafka_bootstrap,
        [record(e, reg, topic_prefix) for e, reg in ara + story("FR-PAC", n_missions=1)]
        + unreadable(topic_prefix, "FR-ARA")[:1],
    )
    twice = m.IncidentResolved(incident_id="inc-fr-ara", mission_id="mis-fr-ara-0")
    await publish_event(
        vies_stack.kafka_bootstrap, events_topic("missions", topic_prefix), twice, region="FR-ARA", times=2
    )
    path = tmp_path / "branch" / "fr-ara.jsonl"
    webhook = Webhook(fail_first=3)
    settings = regional(
        vies_settings,
        "FR-ARA",
        regional_jsonl_path=path,
        regional_webhook_url=webhook.url,
        regional_webhook_token="s3cret",
        regional_forward_poll_seconds=0.1,
        regional_webhook_retry_initial_seconds=0.2,
        regional_webhook_retry_max_seconds=0.5,
    )
    expected = len(ara) + 1
    async with webhook.serving(), running(create(settings), settings) as svc:
        await wait_until(
            lambda: path.exists() and len(path.read_text().splitlines()) >= expected,
            timeout=30,
            message="JSON Lines file",
        )
        await wait_until(lambda: len(webhook.received) >= expected, timeout=30, message="webhook deliveries")
        await wait_until(lambda: _equals(svc.runtime.db["webhook_queue"].count_documents({}), 0), message="queue")
        journal = {doc["_id"] async for doc in svc.runtime.db["events"].find({})}

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == expected and {e["id"] for e in lines} == journal
    assert all(e["region"] == "FR-ARA" and e["specversion"] == "1.0" for e in lines)
    [authority] = [e for e in lines if e["type"] == "partners.AuthorityRegistered"]
    assert authority["data"]["authority_id"] == "auth-fr-ara" and authority["subject"] == "auth-fr-ara"
    # Per aggregate, the order of the topic (one partition per key).
    assert [e["type"] for e in lines if e["subject"] == "app-fr-ara-2"] == [
        "recruitment.ApplicationSubmitted",
        "recruitment.ApplicationScreened",
        "recruitment.ApplicationRejected",
    ]
    # The outage delayed the head of the queue (3 failed attempts), lost nothing and kept the order.
    assert webhook.calls >= expected + 3
    assert [e["id"] for e in webhook.received] == [e["id"] for e in lines]
    assert webhook.content_types == {"application/cloudevents+json"}
    assert webhook.authorizations == {"Bearer s3cret"}


async def test_a_consumer_restarted_mid_stream_or_scaled_out_ends_with_the_view_of_one_never_stopped(
    vies_settings: Any, vies_stack: Any, topic_prefix: str
) -> None:
    events = [record(e, reg, topic_prefix) for e, reg in story("FR-ARA", n_missions=6) + story("FR-NOR", n_missions=2)]
    events += unreadable(topic_prefix, "FR-ARA")
    half = len(events) // 2
    ara_in_first_half = sum(1 for rec in events[:half] if (b"FR-ARA" in dict(rec[3])["ce_region"]))
    await publish(vies_stack.kafka_bootstrap, events[:half])

    # Small batches, so the stream is consumed in many commits.
    restarted = regional(vies_settings, "FR-ARA", consumer_max_records=3)
    async with running(create(restarted), restarted) as svc:
        await wait_until(lambda: _settled(svc.runtime.db, ara_in_first_half), timeout=30, message="first half handled")
        # Everything read is committed, other regions' records included.
        await wait_until(
            lambda: _committed(vies_stack.kafka_bootstrap, restarted.consumer_group, half), message="offsets"
        )

    await publish(vies_stack.kafka_bootstrap, events[half:])
    ara_total = sum(1 for rec in events if b"FR-ARA" in dict(rec[3])["ce_region"])
    async with running(create(restarted), restarted) as svc:
        await wait_until(lambda: _settled(svc.runtime.db, ara_total), timeout=30, message="second half handled")
        after_restart = await view_of(svc.runtime.db)

    # A second reader of the same region (its own group, allowed by the ACL prefix) that never stopped.
    uninterrupted = regional(vies_settings, "FR-ARA", regional_group_suffix=".audit")
    async with running(create(uninterrupted), uninterrupted) as svc:
        await wait_until(lambda: _settled(svc.runtime.db, ara_total), timeout=30, message="whole stream handled")
        never_stopped = await view_of(svc.runtime.db)

    # Two replicas of one consumer (KEDA scales up to 3) share the partitions and one database.
    replica = regional(vies_settings, "FR-ARA", regional_group_suffix=".replicas", consumer_max_records=3)
    async with running(create(replica), replica) as one, running(create(replica), replica) as two:
        await wait_until(lambda: _settled(one.runtime.db, ara_total), timeout=30, message="handled by two replicas")
        # Both hold partitions once the group has rebalanced.
        await wait_until(
            lambda: all(svc.runtime.consumer.subscriber.consumer.assignment() for svc in (one, two)),
            message="partitions assigned to both replicas",
        )
        shared_by_two = await view_of(one.runtime.db)

    assert after_restart == never_stopped == shared_by_two
    assert len(after_restart["missions"]) == 6 and len(after_restart["skipped"]) == 3


async def _settled(db: Any, kept_or_skipped: int) -> bool:
    total: int = await db["events"].count_documents({}) + await db["skipped"].count_documents({})
    return total == kept_or_skipped


async def _committed(bootstrap: str, group: str, records: int) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for meta in committed.values()) == records


class RegionalProcess(ServiceProcess):
    """``vies regional run`` as the branch runs it: its own process, configured by environment variables."""

    def command(self) -> list[str]:
        program = "import sys; from vies_shared.regional.cli import regional_app; sys.exit(regional_app())"
        return [sys.executable, "-c", program, "run"]


async def test_the_command_serves_probes_and_resumes_after_a_stop(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, tmp_path: Path
) -> None:
    ara = story("FR-ARA", n_missions=4)
    records = [record(e, reg, topic_prefix) for e, reg in ara + story("FR-PAC", n_missions=1)]
    await publish(vies_stack.kafka_bootstrap, records[: len(records) // 2])
    settings = regional(vies_settings, "FR-ARA")  # registers the database for clean-up
    path = tmp_path / "fr-ara.jsonl"
    env = {
        "VIES_REGION": "FR-ARA",
        "VIES_KAFKA_BOOTSTRAP": vies_stack.kafka_bootstrap,
        "VIES_MONGODB_URI": vies_stack.mongodb_uri,
        "VIES_MONGODB_DB": settings.mongodb_db,
        "VIES_TOPIC_PREFIX": topic_prefix,
        "VIES_REGIONAL_JSONL_PATH": str(path),
        "VIES_REGIONAL_WEBHOOK_URL": "",  # as the FR-974 overlay: no webhook
        "VIES_REGIONAL_FORWARD_POLL_SECONDS": "0.1",
        "VIES_CONSUMER_BATCH_TIMEOUT_MS": "50",
        "VIES_CONSUMER_MAX_RECORDS": "2",
        "VIES_LOG_LEVEL": "WARNING",
    }
    process = RegionalProcess("regional", free_port(), env, tmp_path / "regional.log")
    process.start()
    try:
        await wait_until(lambda: asyncio.to_thread(process.ready), timeout=60, message="regional process ready")
        await wait_until(lambda: path.exists() and path.stat().st_size > 0, timeout=30, message="first lines")
        # Stopped in the middle of the stream, as Kubernetes does (SIGTERM); a SIGKILL would leave the
        # dead process's open transaction holding its documents until the server times it out.
        await asyncio.to_thread(process.stop, 20.0)
        assert _stopped_gracefully(process), process.log_tail()
        await publish(vies_stack.kafka_bootstrap, records[len(records) // 2 :])
        process.start()
        await wait_until(lambda: asyncio.to_thread(process.ready), timeout=60, message="restarted")
        await wait_until(
            lambda: path.exists() and len(path.read_text().splitlines()) >= len(ara), timeout=30, message="all lines"
        )
        metrics = await asyncio.to_thread(httpx.get, f"{process.url}/metrics")
        assert 'vies_regional_records_total{outcome="kept",region="FR-ARA"}' in metrics.text
    finally:
        await asyncio.to_thread(process.stop, 20.0)
    assert _stopped_gracefully(process), process.log_tail()

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(e["id"] for e in lines) == sorted({e["id"] for e in lines}), "an event written twice"
    assert len(lines) == len(ara) and {e["region"] for e in lines} == {"FR-ARA"}
    result = await asyncio.to_thread(
        CliRunner().invoke,
        regional_app,
        ["report", "--json"],
        env={
            "VIES_REGION": "FR-ARA",
            "VIES_MONGODB_URI": vies_stack.mongodb_uri,
            "VIES_MONGODB_DB": settings.mongodb_db,
        },
    )
    summary = json.loads(result.output)
    assert summary["events"]["kept"] == len(ara) and summary["queues"] == {"webhook": 0, "jsonl": 0}
    assert summary["missions"] == {"BJ": {"planned": 2}, "SN": {"under_way": 2}}


def _stopped_gracefully(process: ServiceProcess) -> bool:
    # uvicorn re-raises SIGTERM once its graceful shutdown is over (exit status -15, not a kill).
    return process.process is not None and process.process.returncode in (0, -signal.SIGTERM)
