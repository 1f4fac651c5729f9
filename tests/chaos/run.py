"""``make chaos``: the platform under faults, on its own stack, then a check that nothing was lost.

Starts Kafka, SecantusDB and Mailpit on free ports under ``.stack/chaos`` (never the development
stack), the four services as processes (two replicas of missions and of notifications) and the
FR-ARA regional consumer, all supervised (a process that exits is restarted); drives the workload
of ``workload.py`` while ``faults.py`` breaks things on a schedule; waits until the platform is
quiet; judges it with ``checker.py``; prints one JSON report and exits 1 when an invariant fails.

    PYTHONPATH=tests .venv/bin/python -m chaos.run --profile short   # about 5 minutes of load
    PYTHONPATH=tests .venv/bin/python -m chaos.run --profile long    # 30 minutes, memory and backlog too
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import shutil
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos.checker import Observations, consumer_lags, evaluate, lags_behind_a_moment, mailpit_deliveries, read_topics
from chaos.faults import FaultInjector, SmsProvider, TricklingWebhook, schedule
from chaos.workload import Unanswered, Workload
from vies_dev.devstack import LocalStack, StackConfig, find_repo_root
from vies_dev.service_process import ServiceProcess, Supervisor, wait_all_ready
from vies_dev.testing import free_port
from vies_shared.events.topics import SERVICES, dlq_topic, events_topic
from vies_shared.settings import ServiceSettings
from vies_shared.storage import create_mongo_client

REGION = "FR-ARA"
PROFILES: dict[str, dict[str, Any]] = {
    "short": {"load_seconds": 270, "workers": 3, "alert_every": 45, "quiet_timeout": 420},
    "long": {"load_seconds": 1800, "workers": 3, "alert_every": 60, "quiet_timeout": 600},
}


class RegionalProcess(ServiceProcess):
    """The branch's regional consumer, started as ``vies regional run`` is."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "vies_shared.regional", "run", "--region", REGION]


def log(line: str) -> None:
    """Progress on stderr (stdout carries only the JSON report)."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def service_env(stack: LocalStack, sms: SmsProvider, settings: ServiceSettings) -> dict[str, str]:
    """Settings of every service process: this stack, dev tokens, quick retries so recovery shows within minutes."""
    return {
        "VIES_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "VIES_MONGODB_URI": stack.mongodb_uri,
        "VIES_SMTP_HOST": stack.smtp_host,
        "VIES_SMTP_PORT": str(stack.smtp_port),
        "VIES_ENV": "dev",
        "VIES_JWT_SECRET": settings.jwt_secret,
        "VIES_LOG_LEVEL": "WARNING",
        "VIES_RELAY_POLL_SECONDS": "0.2",
        "VIES_CONSUMER_BATCH_TIMEOUT_MS": "100",
        "VIES_RETRY_MAX_SECONDS": "5",
        "VIES_DRAIN_SECONDS": "10",
        # missions: a check-in every 2 minutes, so some are missed and their reminders routed
        "VIES_CHECK_IN_INTERVAL_SECONDS": "120",
        "VIES_CHECK_IN_SCAN_SECONDS": "5",
        "VIES_SAFETY_DEADLINE_SCAN_SECONDS": "5",
        # notifications: the local SMS provider; retries that outlast a two-minute Mailpit outage
        "VIES_SMS_PROVIDER_URL": sms.url,
        "VIES_DELIVERY_POLL_SECONDS": "0.5",
        "VIES_DELIVERY_RETRY_INITIAL_SECONDS": "2",
        "VIES_DELIVERY_RETRY_MAX_SECONDS": "15",
        "VIES_DELIVERY_MAX_ATTEMPTS": "60",
        "VIES_SAFETY_RETRY_MAX_SECONDS": "15",
        "VIES_DELIVERY_CLAIM_SECONDS": "30",
        "VIES_CONTACT_WAIT_SECONDS": "5",
        "VIES_WEBHOOK_ALLOWLIST": "127.0.0.1",
        "VIES_WEBHOOK_TIMEOUT_SECONDS": "5",
        "VIES_OPS_EMAIL": "ops@vies.example.org",
    }


def build_processes(env: dict[str, str], logs: Path) -> list[ServiceProcess]:
    """One partners, one recruitment, two missions, two notifications, one regional consumer."""
    replicas = {"partners": 1, "recruitment": 1, "missions": 2, "notifications": 2}
    processes: list[ServiceProcess] = []
    for name, count in replicas.items():
        for i in range(1, count + 1):
            processes.append(ServiceProcess(name, free_port(), dict(env), logs / f"{name}-{i}.log"))
    regional_env = {**env, "VIES_MONGODB_DB": "vies_regional_fr_ara"}
    processes.append(RegionalProcess("regional", free_port(), regional_env, logs / "regional.log"))
    return processes


async def subscribe_trickling_webhook(workload: Workload, url: str) -> None:
    """A staff subscription of the trickling endpoint to every missions event (security alerts included)."""
    types = [
        "missions.SecurityAlertIssued",
        "missions.MissionStarted",
        "missions.CheckInReceived",
        "missions.MissionEnded",
        "missions.MissionPlanned",
    ]
    await workload.send(
        "notifications",
        "POST",
        "/subscriptions",
        workload.token("staff"),
        json={"url": url, "event_types": types, "secret": "chaos-webhook-secret-0123456789"},
    )


async def quiet(stack: LocalStack, processes: list[ServiceProcess], timeout: float) -> dict[str, Any]:
    """Wait until every process is ready, every outbox published, every consumer caught up, the mail queue empty."""
    started = time.monotonic()
    client = create_mongo_client(stack.mongodb_uri)
    last: dict[str, Any] = {}
    calm_since: float | None = None
    try:
        while time.monotonic() - started < timeout:
            try:
                ready = all([await asyncio.to_thread(p.ready) for p in processes])
            except RuntimeError:
                ready = False
            try:
                pending_outbox = 0
                for service in SERVICES:
                    pending_outbox += await client[f"vies_{service}"]["outbox"].count_documents({"published_at": None})
                due = time.time() + 3600
                pending_messages = await client["vies_notifications"]["notifications"].count_documents(
                    {"status": {"$in": ["pending", "sending"]}, "channel": {"$in": ["email", "sms"]}}
                )
                later = await client["vies_notifications"]["notifications"].count_documents(
                    {
                        "status": "pending",
                        "channel": {"$in": ["email", "sms"]},
                        "next_attempt_at": {"$gt": _utc(due)},
                    }
                )
                lags = await consumer_lags(stack.kafka_bootstrap)
                lag = sum(sum(t.values()) for t in lags.values())
            except Exception as exc:
                last = {"error": repr(exc)}
                calm_since = None
                await asyncio.sleep(2)
                continue
            last = {
                "ready": ready,
                "outbox_pending": pending_outbox,
                "messages_pending": pending_messages - later,
                "messages_scheduled_later": later,
                "consumer_lag": lag,
            }
            calm = ready and pending_outbox == 0 and pending_messages - later == 0 and lag == 0
            if calm:
                calm_since = calm_since or time.monotonic()
                if time.monotonic() - calm_since >= 10:
                    return {"quiet": True, "after_s": round(time.monotonic() - started, 1), **last}
            else:
                calm_since = None
            await asyncio.sleep(2)
        return {"quiet": False, "after_s": round(time.monotonic() - started, 1), **last}
    finally:
        await client.close()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def observe(stack: LocalStack, workload: Workload, injector: FaultInjector, sms: SmsProvider) -> Observations:
    """What the checker judges, read from Kafka, MongoDB, Mailpit and the SMS provider."""
    events = await read_topics(stack.kafka_bootstrap, [events_topic(s) for s in SERVICES])
    dead = await read_topics(stack.kafka_bootstrap, [dlq_topic(s) for s in SERVICES])
    lags = await lags_behind_a_moment(stack.kafka_bootstrap)
    deliveries = await mailpit_deliveries(stack.mailpit_url) + sms.deliveries()
    client = create_mongo_client(stack.mongodb_uri)
    try:
        regional = client["vies_regional_fr_ara"]
        journal = {str(d["_id"]) async for d in regional["events"].find({}, {"_id": 1})}
        skipped = {str(d["_id"]) async for d in regional["skipped"].find({}, {"_id": 1})}
        duplicates: list[str] = []
        per_engagement: dict[str, int] = {}
        async for mission in client["vies_missions"]["missions"].find({}, {"engagement_id": 1}):
            key = str(mission.get("engagement_id"))
            per_engagement[key] = per_engagement.get(key, 0) + 1
        duplicates += [
            f"vies_missions.missions: {n} missions for engagement {k}" for k, n in per_engagement.items() if n > 1
        ]
    finally:
        await client.close()
    return Observations(
        events=events,
        dead_letters=dead,
        acks=workload.acks,
        poison=injector.poison,
        lags=lags,
        deliveries=deliveries,
        directory=workload.directory,
        regional_region=REGION,
        regional_journal=journal,
        regional_skipped=skipped,
        database_duplicates=duplicates,
    )


def diagnostics(logs: Path) -> dict[str, Any]:
    """Known signatures in the processes' and servers' logs, so a failed run says where to look."""
    found: dict[str, Any] = {}
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace")
        gaps = text.count("OutOfOrderSequenceNumber")
        if gaps:
            found[f"{path.stem}: relay refused with OutOfOrderSequenceNumber (times)"] = gaps
        stuck = re.findall(r"(\w+) retrying on write conflicts for ([0-9.]+)s", text)
        if stuck:
            worst = max(stuck, key=lambda m: float(m[1]))
            found[f"{path.stem}: longest write retried on conflicts (s)"] = f"{worst[0]} {worst[1]}"
    return found


def rss_mb(process: ServiceProcess) -> float | None:
    """Resident memory of a running process, in MB."""
    if process.process is None or process.process.poll() is not None:
        return None
    try:
        for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def sample_resources(
    stack: LocalStack, processes: list[ServiceProcess], stop: asyncio.Event, samples: list[dict[str, Any]]
) -> None:
    """Every 20 s: memory of each process and the backlog (unpublished outbox events + consumer lag)."""
    client = create_mongo_client(stack.mongodb_uri)
    started = time.monotonic()
    try:
        while not stop.is_set():
            try:
                outbox = 0
                for service in SERVICES:
                    outbox += await client[f"vies_{service}"]["outbox"].count_documents({"published_at": None})
                lags = await consumer_lags(stack.kafka_bootstrap)
                samples.append(
                    {
                        "t": round(time.monotonic() - started),
                        "rss_mb": {f"{p.service}:{p.port}": rss_mb(p) for p in processes},
                        "backlog": outbox + sum(sum(t.values()) for t in lags.values()),
                    }
                )
            except Exception:
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=20)
    finally:
        await client.close()


def growth(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Memory and backlog in the first and last quarters of the load; growing means the last is well above."""
    if len(samples) < 8:
        return {"samples": len(samples), "judged": False}
    quarter = len(samples) // 4
    first, last = samples[:quarter], samples[-quarter:]

    def total_rss(rows: list[dict[str, Any]]) -> float:
        values = sorted(float(sum(v for v in r["rss_mb"].values() if v)) for r in rows)
        return values[len(values) // 2]

    def backlog(rows: list[dict[str, Any]]) -> float:
        values = sorted(float(r["backlog"]) for r in rows)
        return values[len(values) // 2]

    rss_first, rss_last = total_rss(first), total_rss(last)
    backlog_first, backlog_last = backlog(first), backlog(last)
    return {
        "samples": len(samples),
        "judged": True,
        "rss_mb_first_quarter": round(rss_first),
        "rss_mb_last_quarter": round(rss_last),
        "backlog_first_quarter": backlog_first,
        "backlog_last_quarter": backlog_last,
        "memory_grows": rss_last > rss_first * 1.3 + 100,
        "backlog_grows": backlog_last > max(50, backlog_first * 2),
    }


async def chaos(profile: str, seed: int, load_seconds: float | None = None) -> int:
    """The whole run; returns the exit code."""
    config = {**PROFILES[profile], **({"load_seconds": load_seconds} if load_seconds else {})}
    repo = find_repo_root()
    root = repo / ".stack" / "chaos"
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:6]
    stack = LocalStack(
        StackConfig(
            root=root,
            kafka_port=0,
            kafka_controller_port=0,
            mongodb_port=0,
            smtp_port=0,
            mailpit_http_port=0,
            partitions=3,
            libs_dir=repo / ".stack" / "kafka" / "libs",
            mailpit_bin=repo / ".stack" / "bin" / "mailpit",
            transaction_lifetime_seconds=10,
        )
    )
    # A fresh stack each run: the checker reads every topic from the beginning.
    stack.down(wipe=True)
    shutil.rmtree(root / "logs", ignore_errors=True)
    log(f"chaos {profile}: starting Kafka, SecantusDB and Mailpit under {root}")
    stack.up()
    sms = SmsProvider()
    webhook = TricklingWebhook()
    settings = ServiceSettings()
    processes = build_processes(service_env(stack, sms, settings), root / "logs")
    supervisor = Supervisor(processes, report=lambda line: log(line.splitlines()[0]), backoff_max=5.0)
    stop_supervising = threading.Event()
    urls: dict[str, list[str]] = {}
    for p in processes:
        urls.setdefault(p.service, []).append(p.url)
    workload = Workload(urls, run_id, settings, rng)
    report: dict[str, Any] = {"profile": profile, "seed": seed, "run_id": run_id}
    try:
        supervisor.start_all()
        await asyncio.to_thread(wait_all_ready, processes, 240)
        watcher = threading.Thread(target=supervisor.run, args=(stop_supervising,), daemon=True)
        watcher.start()
        log("chaos: services ready; subscribing the trickling webhook")
        await subscribe_trickling_webhook(workload, webhook.url)

        async def canary() -> None:
            """An authority of the branch's region registered and its event kept by the regional consumer."""
            n = workload.number()
            answer = await workload.send(
                "partners",
                "POST",
                "/authorities",
                workload.token("staff"),
                json={
                    "name": f"Commune canari {run_id} {n}",
                    "kind": "commune",
                    "region": REGION,
                    "contact": {"name": "Canari", "email": f"chaos-{run_id}-canary{n}@example.org"},
                },
                effect=("partners.AuthorityRegistered", "authority_id", None),
                patience=300,
            )
            client = create_mongo_client(stack.mongodb_uri)
            try:
                while True:
                    try:
                        found = await client["vies_regional_fr_ara"]["events"].find_one(
                            {"subject": answer["authority_id"]}
                        )
                    except Exception:
                        found = None
                    if found:
                        return
                    await asyncio.sleep(0.5)
            finally:
                await client.close()

        injector = FaultInjector(stack, processes, sms, run_id, REGION, canary, rng, log=log)
        faults = schedule(profile, config["load_seconds"], rng)
        stop = asyncio.Event()
        samples: list[dict[str, Any]] = []
        started = time.monotonic()
        log(f"chaos: load for {config['load_seconds']} s with {len(faults)} faults")
        load = asyncio.create_task(workload.run(stop, config["workers"], config["alert_every"]))
        breaking = asyncio.create_task(injector.run(faults, started))
        sampling = asyncio.create_task(sample_resources(stack, processes, stop, samples))
        await asyncio.sleep(config["load_seconds"])
        # Every scheduled fault happens under load, even when slow restarts pushed some past the load's end.
        await breaking
        stop.set()
        report["load_seconds_actual"] = round(time.monotonic() - started)
        log("chaos: load over; waiting for the journeys in flight")
        # A journey step waits up to 3 minutes for a platform that does not answer; past that, stop it.
        _, late = await asyncio.wait({load, sampling}, timeout=240)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        # Everything is back: the SMS provider answers, every component runs.
        sms.mode = 200
        for component in ("kafka", "mongodb", "mailpit"):
            await injector.start(component)
        log("chaos: waiting for quiescence")
        quiescence = await quiet(stack, processes, config["quiet_timeout"])
        log(f"chaos: {quiescence}")
        observations = await observe(stack, workload, injector, sms)
        verdict = evaluate(observations)
        memory = growth(samples)
        if profile == "long" and memory.get("judged"):
            verdict["failures"]["memory_grows"] = int(bool(memory["memory_grows"]))
            verdict["failures"]["backlog_grows"] = int(bool(memory["backlog_grows"]))
            verdict["ok"] = verdict["ok"] and not memory["memory_grows"] and not memory["backlog_grows"]
        if not quiescence["quiet"]:
            verdict["failures"]["not_quiet"] = 1
            verdict["ok"] = False
        alert_sms = await _alert_sms_delays(stack, sms, injector)
        report.update(
            {
                "ok": verdict["ok"],
                "failures": verdict["failures"],
                "load": {
                    "seconds": config["load_seconds"],
                    "workers": config["workers"],
                    "processes": [f"{p.service}:{p.port}" for p in processes],
                    **workload.report(),
                },
                "faults": [f.report() for f in injector.done],
                "restarts": {f"{w.process.service}:{w.process.port}": w.total_restarts for w in supervisor.watches},
                "quiescence": quiescence,
                **{k: v for k, v in verdict.items() if k not in ("ok", "failures")},
                "sms_provider": {"accepted": len(sms.received), "refused": sms.refused},
                "security_alert_sms_delay_s": alert_sms,
                "webhook_trickle_requests": webhook.requests,
                "resources": memory,
                "diagnostics": diagnostics(root / "logs"),
            }
        )
    except Unanswered as exc:
        report.update({"ok": False, "error": f"the platform did not answer: {exc}"})
    finally:
        stop_supervising.set()
        supervisor.stop(timeout=20)
        await workload.close()
        webhook.close()
        sms.close()
        stack.down()
    print(json.dumps(report, indent=2, default=str))
    return 0 if report.get("ok") else 1


async def _alert_sms_delays(stack: LocalStack, sms: SmsProvider, injector: FaultInjector) -> dict[str, Any]:
    """Seconds from a security alert's SMS being queued (the notification log) to the provider accepting it.

    The trickling webhook is subscribed to the same alerts: outside the SMS provider's own fault and
    the killed notifications processes, these delays show whether it holds the SMS up.
    """
    client = create_mongo_client(stack.mongodb_uri)
    try:
        refs = [str(m.get("reference")) for m in sms.received]
        queued: dict[str, Any] = {}
        async for doc in client["vies_notifications"]["notifications"].find(
            {"_id": {"$in": refs}, "template": "security_alert"}, {"created_at": 1}
        ):
            queued[str(doc["_id"])] = doc["created_at"]
    finally:
        await client.close()
    windows = [
        (f.started_at, (f.ended_at or f.started_at) + (f.recovered_after or 0))
        for f in injector.done
        if f.kind in ("sms_errors", "sigkill", "sigterm", "mongodb_restart") and f.started_at is not None
    ]
    # Monotonic fault times to wall-clock time.
    shift = time.time() - time.monotonic()
    every: list[float] = []
    quiet: list[float] = []
    for message in sms.received:
        created = queued.get(str(message.get("reference")))
        if created is None:
            continue
        moment = created.replace(tzinfo=UTC).timestamp() if created.tzinfo is None else created.timestamp()
        delay = float(message["received_at"]) - moment
        every.append(delay)
        if not any(a + shift - 5 <= message["received_at"] and moment <= b + shift for a, b in windows):
            quiet.append(delay)

    def figures(values: list[float]) -> dict[str, Any]:
        values = sorted(values)
        if not values:
            return {"count": 0}
        return {"count": len(values), "median": round(values[len(values) // 2], 1), "max": round(values[-1], 1)}

    return {"all": figures(every), "outside_sms_and_process_faults": figures(quiet)}


def main() -> None:
    """Command line: ``--profile short|long`` and ``--seed``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--load-seconds", type=float, help="the profile's faults over this much load instead")
    args = parser.parse_args()
    sys.exit(asyncio.run(chaos(args.profile, args.seed, args.load_seconds)))


if __name__ == "__main__":
    main()
