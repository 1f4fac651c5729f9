"""The local real stack (vies_dev.devstack) on free ports in a temporary root.

Runs its own stack, not the session one from the pytest plugin, because it stops
and restarts components. The tests share one stack and run in file order.
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import socket
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pymongo import AsyncMongoClient
from typer.testing import CliRunner

from vies_dev.devstack import LocalStack, StackConfig, StackError, find_repo_root
from vies_dev.devstack._proc import ProcRef, is_alive, port_accepts, wait_lock_released
from vies_dev.devstack.cli import stack_app
from vies_shared.events.topics import all_topics, contacts_topic, events_topic

pytestmark = pytest.mark.integration

REPO = find_repo_root(Path(__file__).parent)
TOPIC = events_topic("partners")
MARK = uuid.uuid4().hex  # identifies this run's message, mail and document


def _mailpit_bin() -> Path:
    for candidate in (os.environ.get("VIES_MAILPIT_BIN"), REPO / ".stack" / "bin" / "mailpit", shutil.which("mailpit")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.skip("Mailpit binary not found (make setup, or set VIES_MAILPIT_BIN)")


def _config(root: Path, **ports: int) -> StackConfig:
    values = {"kafka_port": 0, "kafka_controller_port": 0, "mongodb_port": 0, "smtp_port": 0, "mailpit_http_port": 0}
    values.update(ports)
    return StackConfig(
        root=root,
        partitions=3,
        libs_dir=Path(os.environ.get("VIES_KAFKA_LIBS", REPO / ".stack" / "kafka" / "libs")),
        mailpit_bin=_mailpit_bin(),
        **values,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(_config(tmp_path_factory.mktemp("devstack") / "root"))
    stack.fetch()
    started = time.monotonic()
    stack.up()
    print(f"\nfresh up() took {time.monotonic() - started:.1f} s")
    try:
        yield stack
    finally:
        stack.down(wipe=True)


def test_up_is_idempotent_and_recorded(stack: LocalStack) -> None:
    started = time.monotonic()
    stack.up()
    assert time.monotonic() - started < 5, "up() on a running stack should only check health"

    status = stack.status()
    assert all(row["running"] and row["healthy"] for row in status.values()), status
    state = json.loads((stack.root / "state.json").read_text())
    assert state["components"]["kafka"]["pid"] == status["kafka"]["pid"]

    other = LocalStack.from_state(stack.root)
    assert other.kafka_bootstrap == stack.kafka_bootstrap
    assert other.mongodb_uri == stack.mongodb_uri
    assert (other.smtp_host, other.smtp_port, other.mailpit_url) == (
        stack.smtp_host,
        stack.smtp_port,
        stack.mailpit_url,
    )
    assert other.create_topics(all_topics()) == [], "topics exist already"


async def test_topics_exist_with_their_settings(stack: LocalStack) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        topics = {t["topic"]: t for t in await admin.describe_topics([s.name for s in all_topics()])}
        assert all(len(t["partitions"]) == 3 for t in topics.values()), topics
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in (contacts_topic(), TOPIC)]
        responses = await admin.describe_configs(resources)
        policies = {
            res[3]: {entry[0]: entry[1] for entry in res[4]}["cleanup.policy"]
            for response in responses
            for res in response.resources
        }
        assert policies == {contacts_topic(): "compact", TOPIC: "delete"}
    finally:
        await admin.close()


async def _consume_mark(bootstrap: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=f"devstack-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[bytes] = []
        deadline = time.monotonic() + 20
        while not found and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            found = [r.value for records in batches.values() for r in records if r.value and MARK.encode() in r.value]
        return found
    finally:
        await consumer.stop()


async def test_kafka_produce_and_consume(stack: LocalStack) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, f"hello {MARK}".encode(), key=b"partner-1")
    finally:
        await producer.stop()
    assert await _consume_mark(stack.kafka_bootstrap) == [f"hello {MARK}".encode()]


async def _mongo_marks(uri: str) -> list[str]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    try:
        return [str(d["mark"]) async for d in client["devstack"]["outbox"].find({"mark": MARK})]
    finally:
        await client.close()


async def test_mongodb_transactions(stack: LocalStack) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(stack.mongodb_uri)
    db = client["devstack"]
    try:
        async with client.start_session() as session, await session.start_transaction():
            await db["inbox"].insert_one({"mark": MARK}, session=session)
            await db["outbox"].insert_one({"mark": MARK}, session=session)
        with pytest.raises(RuntimeError):
            async with client.start_session() as session, await session.start_transaction():
                await db["outbox"].insert_one({"mark": "aborted"}, session=session)
                raise RuntimeError("abort")
        assert await db["inbox"].count_documents({"mark": MARK}) == 1
        assert await db["outbox"].count_documents({"mark": {"$in": [MARK, "aborted"]}}) == 1
    finally:
        await client.close()


def _mail_subjects(stack: LocalStack) -> list[str]:
    resp = httpx.get(f"{stack.mailpit_url}/api/v1/messages", timeout=5)
    resp.raise_for_status()
    return [m["Subject"] for m in resp.json()["messages"]]


def test_mail_goes_to_mailpit(stack: LocalStack) -> None:
    msg = EmailMessage()
    msg["From"] = "noreply@vies.example"
    msg["To"] = "partner@example.org"
    msg["Subject"] = f"Welcome {MARK}"
    msg.set_content("Bienvenue")
    with smtplib.SMTP(stack.smtp_host, stack.smtp_port, timeout=10) as smtp:
        smtp.login("vies", "any password")  # no STARTTLS: Mailpit accepts insecure auth here
        smtp.send_message(msg)
    deadline = time.monotonic() + 5
    while f"Welcome {MARK}" not in _mail_subjects(stack):
        assert time.monotonic() < deadline, "mail did not arrive in Mailpit"
        time.sleep(0.1)


async def test_outages_keep_data_and_ports(stack: LocalStack) -> None:
    ports = stack.ports
    kafka_lock = stack.root / "data" / "kafka" / ".lock"
    # The guard a restart waits on sees the running broker's lock on its data directory.
    assert not wait_lock_released(kafka_lock, timeout=0.3)

    stack.stop_kafka()
    assert not stack.status()["kafka"]["running"]
    assert wait_lock_released(kafka_lock, timeout=0)
    assert not port_accepts(ports["kafka_port"])
    stack.start_kafka()
    assert stack.ports == ports
    assert await _consume_mark(stack.kafka_bootstrap) == [f"hello {MARK}".encode()]

    stack.stop_mongodb()
    assert not stack.status()["mongodb"]["healthy"]
    stack.start_mongodb()
    assert await _mongo_marks(stack.mongodb_uri) == [MARK]

    stack.stop_mailpit()
    assert not stack.status()["mailpit"]["running"]
    stack.start_mailpit()
    assert f"Welcome {MARK}" in _mail_subjects(stack)
    assert stack.ports == ports


def test_taken_port_is_reported_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        other = LocalStack(_config(tmp_path / "root", mongodb_port=port))
        with pytest.raises(StackError, match=rf"port {port} \(mongodb_port"):
            other.up()
    assert not any(row["running"] for row in other.status().values())


def test_cli_status_then_down_from_another_process_view(stack: LocalStack) -> None:
    runner = CliRunner()
    ok = runner.invoke(stack_app, ["status", "--root", str(stack.root)])
    assert ok.exit_code == 0, ok.output
    assert "healthy" in ok.output

    refs = [ProcRef(**{k: v for k, v in c.items() if k in ("pid", "pgid", "marker")}) for c in _components(stack)]
    LocalStack.from_state(stack.root).down()  # as `vies stack down` would, knowing only the root
    assert not any(is_alive(ref) for ref in refs)
    down = runner.invoke(stack_app, ["status", "--root", str(stack.root)])
    assert down.exit_code == 1
    assert "down" in down.output

    # Data survives down(); a second start on the same root is quicker (no format).
    started = time.monotonic()
    stack.up()
    print(f"\nsecond up() on kept data took {time.monotonic() - started:.1f} s")


async def test_data_survives_down_and_up(stack: LocalStack) -> None:
    assert await _consume_mark(stack.kafka_bootstrap) == [f"hello {MARK}".encode()]
    assert await _mongo_marks(stack.mongodb_uri) == [MARK]
    assert f"Welcome {MARK}" in _mail_subjects(stack)


def _components(stack: LocalStack) -> list[dict[str, object]]:
    state = json.loads((stack.root / "state.json").read_text())
    return list(state["components"].values())
