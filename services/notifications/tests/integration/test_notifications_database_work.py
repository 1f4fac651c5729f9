"""MongoDB commands per application: what notifications costs the database when a candidate applies.

An application, as recruitment publishes it, is the candidate's ``ContactUpdated`` on the contacts
topic then ``ApplicationSubmitted`` and ``ApplicationScreened`` on the recruitment events topic; the
candidate gets an acknowledgement and the authority a notice. The test drives the service in process
at a steady pace (as the journey benchmark does, with the platform's default timings), counts the
commands of its database client from the first application's events to the last email, prints the
breakdown per command name (and, with ``-s``, a trace per collection and filter) and holds a budget
per application so that a change adding database work fails here rather than in the benchmark.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import date
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import monitoring

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import Mailpit
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.base import Event
from vies_shared.events.envelope import encode
from vies_shared.events.partners import AuthorityRegistered
from vies_shared.events.recruitment import ApplicationScreened, ApplicationSubmitted, ContactUpdated, PositionPublished
from vies_shared.events.topics import contacts_topic, events_topic
from vies_shared.storage import COMMAND_OBSERVERS

pytestmark = pytest.mark.integration

APPLICATIONS = 20
PACE_SECONDS = 0.2  # five applications a second, the journey benchmark's middle rate
# Commands per application (measured 15.0 with the position's title carried by the application's event;
# 16.1 with the inbox records and digest entries written at commit in one bulkWrite; 19.2 with the intake
# handing its notifications to the local lane, 15.2 when the consumer batches two applications; 25.1 before
# the hand-off, 28.1 before the earlier savings), plus about 15 %: more fails the test.
BUDGET_PER_APPLICATION = 17.5


class CommandLog:
    """The commands one database's client sends, by name and by (name, collection, filter keys).

    A transaction's commit and abort go to the ``admin`` database: they are counted for the
    session that earlier sent commands to this database.
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self.sessions: set[bytes] = set()
        self.names: Counter[str] = Counter()
        self.trace: Counter[str] = Counter()
        self.counting = False

    def __call__(self, event: monitoring.CommandStartedEvent) -> None:
        session = _session_of(event.command)
        if event.database_name == self.database:
            if session is not None:
                self.sessions.add(session)
        elif not (event.database_name == "admin" and session in self.sessions):
            return
        if self.counting:
            self.names[event.command_name] += 1
            self.trace[_shape(event.command_name, event.command)] += 1


def _session_of(command: Any) -> bytes | None:
    lsid = command.get("lsid")
    identifier = lsid.get("id") if isinstance(lsid, dict) else None
    return bytes(identifier.bytes if hasattr(identifier, "bytes") else identifier) if identifier else None


def _shape(name: str, command: Any) -> str:
    """``name collection {filter keys}``: where a command goes, without its values."""
    collection = command.get(name)
    if name in ("update", "delete"):
        statements = command.get("updates") or command.get("deletes") or []
        keys = sorted({key for statement in statements for key in statement.get("q", {})})
        return f"{name} {collection} {keys} x{len(statements)}"
    if name == "insert":
        return f"{name} {collection}"
    if name == "findAndModify":
        return f"{name} {collection} {sorted(command.get('query', {}))}"
    if name in ("find", "count", "aggregate"):
        return f"{name} {collection} {sorted(command.get('filter', {}))}"
    return name if not isinstance(collection, str) else f"{name} {collection}"


def _application_events(application: str, candidate: str, authority: str, position: str) -> list[Any]:
    email = f"{candidate}@example.org"
    contact = ContactUpdated(person_id=candidate, name="Camille Martin", email=email, language="fr")
    submitted = ApplicationSubmitted(
        application_id=application,
        position_id=position,
        candidate_id=candidate,
        authority_id=authority,
        position_title="Agriculture durable",  # as recruitment publishes it: the position as published
        country="SN",
    )
    screened = ApplicationScreened(application_id=application, eligible=True, reasons=[], reason_codes=[], score=0.8)
    return [contact, submitted, screened]


async def _publish(producer: AIOKafkaProducer, prefix: str, events: list[Event]) -> None:
    """Send one application's events as recruitment's relay does: in outbox order, then wait for every ack."""
    sent = []
    for event in events:
        topic = contacts_topic(prefix) if isinstance(event, ContactUpdated) else events_topic("recruitment", prefix)
        _, message = encode(event, region="FR-BRE")
        headers = [(k, v.encode()) for k, v in message.headers.items()]
        sent.append(await producer.send(topic, value=message.value, key=message.key.encode(), headers=headers))
    await asyncio.gather(*sent)


async def test_an_application_costs_notifications_few_database_commands(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    # The platform's default timings, as in the benchmark: the test kit's fast polls would add idle commands.
    settings = vies_settings(
        "notifications",
        NotificationsSettings,
        relay_poll_seconds=5.0,
        relay_lease_seconds=10.0,
        consumer_batch_timeout_ms=100,
        retry_initial_seconds=0.2,
        retry_max_seconds=30.0,
    )
    bootstrap = vies_stack.kafka_bootstrap
    mailpit = Mailpit(vies_stack.mailpit_url)
    authority, position = f"auth-{test_id}", f"pos-{test_id}"
    authority_mail = f"authority-{test_id}@example.org"
    async with running(create(settings), settings) as svc:
        commands = CommandLog(svc.runtime.db.name)
        COMMAND_OBSERVERS.append(commands)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            await publish_event(
                bootstrap,
                events_topic("partners", topic_prefix),
                AuthorityRegistered(
                    authority_id=authority,
                    name="Commune de Rennes",
                    kind="commune",
                    region="FR-BRE",
                    contact_email=authority_mail,
                    territoires_volontaires=False,
                ),
            )
            await publish_event(
                bootstrap,
                events_topic("recruitment", topic_prefix),
                PositionPublished(
                    position_id=position,
                    authority_id=authority,
                    partnership_id=f"ps-{test_id}",
                    partner_id="p-1",
                    country="SN",
                    scheme="vsi",
                    title="Agriculture durable",
                    starts_on=date(2027, 1, 15),
                    duration_months=12,
                    places=APPLICATIONS + 1,
                ),
                region="FR-BRE",
            )
            # A warm-up application, not counted: connections, indexes and the projection are ready.
            candidate = f"cand-warm-{test_id}"
            warm_up = _application_events(f"app-warm-{test_id}", candidate, authority, position)
            await _publish(producer, topic_prefix, warm_up)
            await mailpit.wait_for(f"to:{candidate}@example.org", timeout=60)
            await mailpit.wait_for(f"to:{authority_mail}", timeout=60)
            await asyncio.sleep(1.0)  # the warm-up's outcome recorded and its events relayed

            commands.counting = True
            started = time.monotonic()
            for n in range(APPLICATIONS):
                events = _application_events(f"app{n}-{test_id}", f"cand{n}-{test_id}", authority, position)
                await _publish(producer, topic_prefix, events)
                await asyncio.sleep(max(0.0, started + (n + 1) * PACE_SECONDS - time.monotonic()))

            async def every_email() -> bool:
                messages = await mailpit.search(f"to:{test_id}", limit=1000)
                received = Counter(to["Address"] for message in messages for to in message.get("To") or [])
                acknowledged = sum(received[f"cand{n}-{test_id}@example.org"] > 0 for n in range(APPLICATIONS))
                return acknowledged == APPLICATIONS and received[authority_mail] >= APPLICATIONS + 1

            await wait_until(every_email, timeout=120, interval=0.1, message="every application's two emails")
            commands.counting = False
        finally:
            COMMAND_OBSERVERS.remove(commands)
            await producer.stop()

    total = sum(commands.names.values())
    per_application = total / APPLICATIONS
    print(f"\nnotifications: {per_application:.1f} MongoDB commands per application ({total} for {APPLICATIONS})")
    for name, count in commands.names.most_common():
        print(f"  {name:<20} {count / APPLICATIONS:6.2f}")
    for shape, count in commands.trace.most_common():
        print(f"    {count:5d}  {shape}")
    assert per_application <= BUDGET_PER_APPLICATION, dict(commands.names)
    # The application's event carries its position's title and country: the position is not read.
    assert not [shape for shape in commands.trace if shape.startswith("find positions")]
