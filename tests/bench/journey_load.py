"""Benchmark: "a candidate applies" under an open-loop load, end to end, and a security alert to 1,000 volunteers.

Runs against the local stack (``make stack-up``, or the stack ``make run`` started): it starts the
four services as their own processes with this run's databases and topic prefix (the platform's
default settings, nothing tuned), sets up an authority, an approved partner, a partnership and a
published position over HTTP, then for each rate sends applications open loop (application ``i``
leaves at ``t0 + i / rate`` whatever happened to the earlier ones; every candidate has a unique
``sub`` and address) for ``--duration`` seconds and waits until every email arrived (or
``--drain`` seconds). It prints one JSON document per rate:

* HTTP latency; application -> candidate's email in Mailpit (Mailpit's ``Created`` time);
* the hops: HTTP start -> ``ce_time`` -> Kafka record timestamp -> notification created -> sent;
* missing and duplicate emails (candidates' acknowledgements and the authority's notices);
* CPU seconds of each process (services, Kafka, SecantusDB, Mailpit) per application;
* MongoDB commands per application, per service and command name (``vies_mongodb_commands_total``
  read from each service's ``/metrics`` before and after the run).

``--alert N`` adds the second profile: N started missions in one country (seeded in missions' and
notifications' databases), one security alert, and the time until every email is in Mailpit and
every SMS reached the (local) SMS provider.

    .venv/bin/python tests/bench/journey_load.py --rates 2,5,10 --duration 30 [--alert 1000]

Stack endpoints come from ``.stack`` (the running local stack), else from ``VIES_TEST_*``.
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from vies_dev.devstack import find_repo_root
from vies_dev.service_process import ServiceProcess, stop_all, wait_all_ready
from vies_dev.testing import free_port
from vies_dev.testing.helpers import create_contract_topics, delete_contract_topics
from vies_shared.events.envelope import headers_to_dict
from vies_shared.events.topics import contacts_topic, events_topic
from vies_shared.settings import ServiceSettings
from vies_shared.storage import create_mongo_client
from vies_shared.web import issue_token

SERVICES = ("partners", "recruitment", "missions", "notifications")
CLK_TCK = os.sysconf("SC_CLK_TCK")
METRIC_LINE = re.compile(r'^vies_mongodb_commands_total\{command="([^"]+)",service="([^"]+)"\} ([0-9.e+]+)$')


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max in ms (values in seconds); None when there is nothing to measure."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]

    return {
        "n": len(ordered),
        "p50": round(rank(50) * 1000, 1),
        "p95": round(rank(95) * 1000, 1),
        "p99": round(rank(99) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


def stack_endpoints() -> dict[str, str]:
    """Kafka, MongoDB, SMTP and Mailpit of the running local stack (``.stack/state.json``) or ``VIES_TEST_*``."""
    state_file = find_repo_root() / ".stack" / "state.json"
    ports: dict[str, Any] = {}
    if state_file.exists():
        ports = json.loads(state_file.read_text()).get("ports", {})
    kafka = os.environ.get("VIES_TEST_KAFKA_BOOTSTRAP") or f"127.0.0.1:{ports.get('kafka_port', 9092)}"
    mongo = os.environ.get("VIES_TEST_MONGODB_URI") or (
        f"mongodb://127.0.0.1:{ports.get('mongodb_port', 27017)}/?directConnection=true"
    )
    return {
        "kafka": kafka,
        "mongodb": mongo,
        "smtp_port": str(ports.get("smtp_port", 1025)),
        "mailpit": f"http://127.0.0.1:{ports.get('mailpit_http_port', 8025)}",
    }


class SmsProvider:
    """A local HTTP server standing in for the SMS provider; it records when each message arrived."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                provider.received.append((time.time(), json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "queued"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def process_cpu(mongodb_port: str, services: dict[int, str]) -> dict[str, float]:
    """CPU seconds (user + system) of the platform's processes, by name.

    Only this run's services (``services``: pid -> name), this stack's Kafka (configured under
    ``.stack/conf``) and SecantusDB (on ``mongodb_port``): other stacks may run on the machine.
    """
    conf = f"{find_repo_root() / '.stack' / 'conf'}/"
    found: dict[str, float] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = None
        if "kafka.Kafka" in cmdline and conf in cmdline:
            name = "kafka"
        elif "secantus" in cmdline and f"--port {mongodb_port} " in cmdline:
            name = "secantusdb"
        elif "mailpit" in cmdline.split(" ", 1)[0]:
            name = "mailpit"
        elif int(entry.name) == os.getpid():
            name = "bench"
        else:
            name = services.get(int(entry.name))
        if name is not None:
            found[name] += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return dict(found)


class Platform:
    """The four services as processes on this run's databases and topics, plus clients."""

    def __init__(self, endpoints: dict[str, str], run_id: str, sms: SmsProvider, logs: Path) -> None:
        self.endpoints = endpoints
        self.run_id = run_id
        self.prefix = f"load{run_id}."
        self.settings = ServiceSettings(env="dev")
        common = {
            "VIES_KAFKA_BOOTSTRAP": endpoints["kafka"],
            "VIES_MONGODB_URI": endpoints["mongodb"],
            "VIES_TOPIC_PREFIX": self.prefix,
            "VIES_SMTP_HOST": "127.0.0.1",
            "VIES_SMTP_PORT": endpoints["smtp_port"],
            "VIES_ENV": "dev",
            "VIES_JWT_SECRET": self.settings.jwt_secret,
            "VIES_LOG_LEVEL": "WARNING",
            "VIES_DEMO_DATA": "false",
            "VIES_SMS_PROVIDER_URL": sms.url,
        }
        self.processes = {
            name: ServiceProcess(
                name, free_port(), {**common, "VIES_MONGODB_DB": self.db_name(name)}, logs / f"{name}.log"
            )
            for name in SERVICES
        }
        self.http = {
            name: httpx.AsyncClient(base_url=p.url, timeout=120, limits=httpx.Limits(max_connections=500))
            for name, p in self.processes.items()
        }
        self.mongo = create_mongo_client(endpoints["mongodb"])
        self.mongodb_port = endpoints["mongodb"].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
        self.mailpit = httpx.AsyncClient(base_url=endpoints["mailpit"], timeout=30)

    def cpu(self) -> dict[str, float]:
        """CPU seconds of this run's services and of the stack's processes."""
        pids = {p.process.pid: name for name, p in self.processes.items() if p.process is not None}
        return process_cpu(self.mongodb_port, pids)

    def db_name(self, service: str) -> str:
        return f"load{self.run_id}_{service}"

    def auth(self, role: str, sub: str = "bench", **scope: str) -> dict[str, str]:
        token = issue_token(self.settings, sub=sub, role=role, **scope)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    async def call(self, service: str, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        for _ in range(300):
            response = await self.http[service].request(method, path, headers=headers, **kw)
            if response.status_code in (200, 201):
                return response.json()
            # A projection still catching up over Kafka answers 404/409 for a moment.
            if response.status_code not in (404, 409):
                break
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{method} {service}{path}: {response.status_code} {response.text}")

    async def mongo_commands(self) -> dict[str, dict[str, float]]:
        """``vies_mongodb_commands_total`` of every service, by service and command name."""
        totals: dict[str, dict[str, float]] = {}
        for name in SERVICES:
            text = (await self.http[name].get("/metrics")).text
            for line in text.splitlines():
                match = METRIC_LINE.match(line)
                if match:
                    command, service, value = match.groups()
                    totals.setdefault(service, {})[command] = float(value)
        return totals

    async def mails(self, query: str) -> list[dict[str, Any]]:
        """Every Mailpit message matching ``query``."""
        found: list[dict[str, Any]] = []
        while True:
            page = (
                await self.mailpit.get("/api/v1/search", params={"query": query, "start": len(found), "limit": 1000})
            ).json()
            messages = page.get("messages") or []
            found += messages
            if not messages or len(found) >= page.get("messages_count", 0):
                return found

    async def quiet(self, timeout: float = 120.0) -> None:
        """Wait until no outbox holds a pending event and no notification waits to be sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = 0
            for name in SERVICES:
                pending += await self.mongo[self.db_name(name)]["outbox"].count_documents({"published_at": None})
            pending += await self.mongo[self.db_name("notifications")]["notifications"].count_documents(
                {"status": {"$in": ["pending", "sending"]}}
            )
            if pending == 0:
                return
            await asyncio.sleep(0.5)

    async def close(self) -> None:
        for client in self.http.values():
            await client.aclose()
        await self.mailpit.aclose()
        await asyncio.to_thread(stop_all, list(self.processes.values()), 30)
        for name in SERVICES:
            await self.mongo.drop_database(self.db_name(name))
        await self.mongo.close()


async def set_up_position(p: Platform) -> tuple[str, str]:
    """An authority, an approved partner, a partnership and a published position; returns (position, authority mail)."""
    staff = p.auth("staff")
    authority_mail = f"load-{p.run_id}-authority@example.org"
    authority = await p.call(
        "partners",
        "POST",
        "/authorities",
        staff,
        json={
            "name": f"Commune de Charge {p.run_id}",
            "kind": "commune",
            "region": "FR-BRE",
            "contact": {"name": "Relations internationales", "email": authority_mail},
        },
    )
    authority_id = authority["authority_id"]
    partner = await p.call(
        "partners",
        "POST",
        "/partners",
        staff,
        json={
            "name": f"Association Charge {p.run_id}",
            "kind": "association",
            "country": "SN",
            "city": "Thiès",
            "themes": ["health"],
            "languages": ["fr"],
            "hosting_capacity": 50,
        },
    )
    await p.call("partners", "POST", f"/partners/{partner['partner_id']}/approve", p.auth("centre", country="SN"))
    mayor = p.auth("authority", sub="mayor", authority_id=authority_id, region="FR-BRE")
    partnership = await p.call(
        "partners",
        "POST",
        "/partnerships",
        mayor,
        json={
            "authority_id": authority_id,
            "partner_id": partner["partner_id"],
            "themes": ["health"],
            "starts_on": date.today().isoformat(),
        },
    )
    position = await p.call(
        "recruitment",
        "POST",
        "/positions",
        mayor,
        json={
            "partnership_id": partnership["partnership_id"],
            "scheme": "service_civique",
            "title": "Volontaire en santé communautaire",
            "description": "Prévention avec l'équipe de Thiès.",
            "starts_on": (date.today() + timedelta(days=60)).isoformat(),
            "duration_months": 8,
            "places": 500,
            "languages": ["fr"],
            "skills": ["santé publique"],
        },
    )
    await p.call("recruitment", "POST", f"/positions/{position['position_id']}/publish", mayor)
    return position["position_id"], authority_mail


class EventTap:
    """Reads ``recruitment.ApplicationSubmitted`` from the end of the topic: ``ce_time`` and record timestamp."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.consumer = AIOKafkaConsumer(
            events_topic("recruitment", prefix), contacts_topic(prefix), bootstrap_servers=bootstrap
        )
        self.submitted: dict[str, tuple[str, float, float]] = {}  # application id -> (ce_id, ce_time, record ts)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        while not self.consumer.assignment():  # noqa: ASYNC110 - aiokafka offers no event for it
            await asyncio.sleep(0.1)
        await self.consumer.seek_to_end()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    headers = headers_to_dict(record.headers)
                    if headers.get("ce_type") != "recruitment.ApplicationSubmitted" or record.value is None:
                        continue
                    value = json.loads(record.value)
                    ce_time = datetime.fromisoformat(headers["ce_time"]).timestamp()
                    self.submitted[value["application_id"]] = (headers["ce_id"], ce_time, record.timestamp / 1000)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.consumer.stop()


def candidate(tag: str, i: int, starts_on: date) -> dict[str, Any]:
    return {
        "candidate": {
            "name": f"Candidate {tag} {i}",
            "email": f"{tag}-c{i}@example.org",
            "phone": "+33600000001",
            "birth_date": date(starts_on.year - 22, 3, 1).isoformat(),
            "nationality": "FR",
            "residence_country": "FR",
            "language": "fr",
            "languages": ["fr"],
            "skills": ["santé publique"],
        },
        "motivation": "Je souhaite m'engager.",
    }


async def load(p: Platform, position_id: str, authority_mail: str, rate: float, duration: float, drain: float) -> Any:
    """One open-loop run at ``rate`` applications/s; returns its JSON report."""
    count = max(1, round(rate * duration))
    tag = f"load-{p.run_id}-r{rate:g}".replace(".", "_")
    starts_on = date.today() + timedelta(days=60)
    bodies = [candidate(tag, i, starts_on) for i in range(count)]
    tokens = [p.auth("candidate", sub=f"{tag}-c{i}") for i in range(count)]
    path = f"/positions/{position_id}/applications"
    tap = EventTap(p.endpoints["kafka"], p.prefix)
    await tap.start()
    authority_before = len(await p.mails(f"to:{authority_mail}"))
    commands_before = await p.mongo_commands()
    cpu_before = p.cpu()
    results: list[dict[str, Any]] = [{} for _ in range(count)]

    async def apply(i: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        started = time.time()
        lag = time.monotonic() - at
        try:
            response = await p.http["recruitment"].post(path, json=bodies[i], headers=tokens[i])
            ok = response.status_code == 201
            application_id = response.json().get("application_id") if ok else None
        except httpx.HTTPError as exc:
            ok, application_id = False, repr(exc)
        results[i] = {"started": started, "http": time.time() - started, "ok": ok, "id": application_id, "lag": lag}

    t0 = time.monotonic() + 0.5
    log(f"  {count} applications at {rate:g}/s ...")
    await asyncio.gather(*[apply(i, t0 + i / rate) for i in range(count)])
    last_post = time.monotonic()
    # Wait for every candidate's acknowledgement and every authority notice (or give up after ``drain``).
    deadline = last_post + drain
    while True:
        candidates_mail = await p.mails(f"to:{tag}-c")
        authority_mail_now = len(await p.mails(f"to:{authority_mail}")) - authority_before
        if (len(candidates_mail) >= count and authority_mail_now >= count) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    drained_after = time.monotonic() - last_post
    cpu_after = p.cpu()
    commands_after = await p.mongo_commands()
    await asyncio.sleep(1.0)  # the tap catches the last records
    await tap.stop()

    by_address: dict[str, list[float]] = {}
    for message in candidates_mail:
        created = datetime.fromisoformat(message["Created"].replace("Z", "+00:00")).timestamp()
        for to in message.get("To") or []:
            by_address.setdefault(to["Address"], []).append(created)
    notifications = {
        doc["event_id"]: doc
        async for doc in p.mongo[p.db_name("notifications")]["notifications"].find(
            {"event_type": "recruitment.ApplicationSubmitted", "recipient.role": {"$ne": "authority"}},
            {"event_id": 1, "created_at": 1, "sent_at": 1},
        )
    }
    e2e, http, to_ce, ce_to_kafka, kafka_to_row, row_to_sent, sent_to_mail, lags = ([] for _ in range(8))
    missing = duplicates = http_errors = 0
    for i, result in enumerate(results):
        lags.append(result["lag"])
        if not result["ok"]:
            http_errors += 1
            continue
        http.append(result["http"])
        arrivals = by_address.get(f"{tag}-c{i}@example.org", [])
        if not arrivals:
            missing += 1
        duplicates += max(0, len(arrivals) - 1)
        if arrivals:
            e2e.append(min(arrivals) - result["started"])
        submitted = tap.submitted.get(result["id"])
        if submitted is None:
            continue
        ce_id, ce_time, record_ts = submitted
        to_ce.append(ce_time - result["started"])
        ce_to_kafka.append(record_ts - ce_time)
        row = notifications.get(ce_id)
        if row and row.get("created_at"):
            kafka_to_row.append(row["created_at"].timestamp() - record_ts)
            if row.get("sent_at"):
                row_to_sent.append(row["sent_at"].timestamp() - row["created_at"].timestamp())
                if arrivals:
                    sent_to_mail.append(min(arrivals) - row["sent_at"].timestamp())
    applied = count - http_errors
    commands: dict[str, dict[str, float]] = {}
    total_commands = 0.0
    for service, by_command in commands_after.items():
        for command, value in by_command.items():
            delta = value - commands_before.get(service, {}).get(command, 0.0)
            if delta:
                commands.setdefault(service, {})[command] = round(delta / max(1, applied), 2)
                total_commands += delta
    cpu = {
        name: round((cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0)) / max(1, applied), 4)
        for name in sorted(set(cpu_after) | set(cpu_before))
    }
    return {
        "profile": "applications",
        "rate_per_s": rate,
        "duration_s": duration,
        "applications": count,
        "http_errors": http_errors,
        "http_ms": percentiles(http),
        "e2e_candidate_email_ms": percentiles(e2e),
        "hops_ms": {
            "http_start_to_ce_time": percentiles(to_ce),
            "ce_time_to_kafka": percentiles(ce_to_kafka),
            "kafka_to_notification_created": percentiles(kafka_to_row),
            "notification_created_to_sent": percentiles(row_to_sent),
            "sent_to_mailpit": percentiles(sent_to_mail),
        },
        "missing_candidate_emails": missing,
        "duplicate_candidate_emails": duplicates,
        "authority_notices": {"expected": applied, "received": authority_mail_now},
        "drained_after_last_post_s": round(drained_after, 1),
        "schedule_lag_ms": percentiles(lags),
        "cpu_seconds_per_application": cpu,
        "cpu_ms_per_application_total_platform": round(sum(v for k, v in cpu.items() if k != "bench") * 1000, 1),
        "mongodb_commands_per_application": round(total_commands / max(1, applied), 2),
        "mongodb_commands_per_application_by_service": commands,
    }


async def security_alert(p: Platform, sms: SmsProvider, volunteers: int, country: str, drain: float) -> Any:
    """Seed ``volunteers`` started missions in ``country``, issue one alert, time every SMS and email."""
    from vies_missions.domain.mission import Mission
    from vies_shared.reference import centre_for_country

    now = datetime.now(UTC)
    tag = f"alert-{p.run_id}"
    departed = now.date() - timedelta(days=30)
    missions, projected, contacts = [], [], []
    for i in range(volunteers):
        volunteer = f"{tag}-v{i:05d}"
        mission = Mission.plan(
            engagement_id=f"{tag}-e{i:05d}",
            volunteer_id=volunteer,
            authority_id=f"{tag}-a{i % 40:02d}",
            partner_id=f"{tag}-p{i % 25:02d}",
            country=country,
            scheme="vsi",
            starts_on=departed,
            ends_on=departed + timedelta(days=365),
            centre_id=centre_for_country(country).centre_id,
            region="FR-ARA",
            check_in_interval_seconds=14 * 86400,
            follow_up_offsets=(30, 30),
            now=now,
        )
        for item in mission.required_checklist:
            mission.tick(item, date(2026, 1, 1))
        mission.start(departed, now)
        mission.check_in(now)
        doc = mission.to_doc()
        missions.append(doc)
        projected.append(
            {
                "_id": doc["_id"],
                "volunteer_id": volunteer,
                "authority_id": doc.get("authority_id"),
                "country": country,
                "status": "started",
            }
        )
        phone = f"+22177{i:07d}"
        contacts.append({"_id": volunteer, "name": f"V {i}", "email": f"{tag}-v{i}@example.org", "phone": phone})
    missions_db = p.mongo[p.db_name("missions")]
    notifications_db = p.mongo[p.db_name("notifications")]
    for start in range(0, volunteers, 500):
        await missions_db["missions"].insert_many(missions[start : start + 500])
        await missions_db["contacts"].insert_many(contacts[start : start + 500])
        await notifications_db["missions"].insert_many(projected[start : start + 500])
        await notifications_db["contacts"].insert_many([{**c, "language": "fr"} for c in contacts[start : start + 500]])
    sms_before = len(sms.received)
    cpu_before = p.cpu()
    commands_before = await p.mongo_commands()
    issued = time.time()
    body = {
        "country": country,
        "level": "crisis",
        "message": "Benchmark: restez chez vous.",
        "respond_within_hours": 24,
    }
    response = await p.http["missions"].post("/security-alerts", json=body, headers=p.auth("staff"))
    if response.status_code != 201:
        raise RuntimeError(f"alert: {response.status_code} {response.text}")
    http_s = time.time() - issued
    deadline = time.monotonic() + drain
    emails: list[dict[str, Any]] = []
    texts: list[tuple[float, dict[str, Any]]] = []
    while time.monotonic() < deadline:
        emails = await p.mails(f"to:{tag}-v")
        texts = sms.received[sms_before:]
        if len(emails) >= volunteers and len(texts) >= volunteers:
            break
        await asyncio.sleep(1.0)
    cpu_after = p.cpu()
    commands_after = await p.mongo_commands()
    email_times = sorted(
        datetime.fromisoformat(m["Created"].replace("Z", "+00:00")).timestamp() - issued for m in emails
    )
    sms_times = sorted(at - issued for at, _ in texts)
    total_commands = sum(
        value - commands_before.get(service, {}).get(command, 0.0)
        for service, by_command in commands_after.items()
        for command, value in by_command.items()
    )
    return {
        "profile": "security_alert",
        "volunteers": volunteers,
        "country": country,
        "alert_http_ms": round(http_s * 1000, 1),
        "emails_accepted": len(emails),
        "sms_accepted": len(texts),
        "all_emails_within_s": round(email_times[-1], 2) if len(emails) >= volunteers else None,
        "all_sms_within_s": round(sms_times[-1], 2) if len(texts) >= volunteers else None,
        "first_email_s": round(email_times[0], 2) if email_times else None,
        "first_sms_s": round(sms_times[0], 2) if sms_times else None,
        "duplicate_emails": len(emails) - len({tuple(t["Address"] for t in m.get("To") or []) for m in emails}),
        "cpu_seconds": {
            name: round(cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0), 2) for name in sorted(cpu_after)
        },
        "mongodb_commands": round(total_commands),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2,5,10", help="applications per second, comma-separated")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per rate")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the last emails")
    parser.add_argument("--pause", type=float, default=5.0, help="quiet seconds between rates")
    parser.add_argument("--alert", type=int, default=0, help="volunteers of the security-alert profile (0: skip)")
    parser.add_argument("--country", default="SN")
    parser.add_argument("--keep", action="store_true", help="keep the databases and topics (for inspection)")
    args = parser.parse_args()
    endpoints = stack_endpoints()
    run_id = uuid.uuid4().hex[:6]
    sms = SmsProvider()
    logs = Path(tempfile.mkdtemp(prefix=f"journey-load-{run_id}-"))
    platform = Platform(endpoints, run_id, sms, logs)
    await create_contract_topics(endpoints["kafka"], platform.prefix)
    log(f"run {run_id}: services starting (logs in {logs}) ...")
    try:
        for process in platform.processes.values():
            process.start()
        await asyncio.to_thread(wait_all_ready, list(platform.processes.values()), 180)
        position_id, authority_mail = await set_up_position(platform)
        await platform.quiet()
        for rate in [float(r) for r in args.rates.split(",") if r]:
            await asyncio.sleep(args.pause)
            report = await load(platform, position_id, authority_mail, rate, args.duration, args.drain)
            print(json.dumps(report), flush=True)
            await platform.quiet()
        if args.alert:
            await asyncio.sleep(args.pause)
            print(json.dumps(await security_alert(platform, sms, args.alert, args.country, args.drain)), flush=True)
    finally:
        if not args.keep:
            await platform.close()
            await delete_contract_topics(endpoints["kafka"], platform.prefix)
        sms.server.shutdown()


if __name__ == "__main__":
    # A SIGTERM (timeout, kill) stops the run like Ctrl-C, so the services it started stop with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    asyncio.run(main())
