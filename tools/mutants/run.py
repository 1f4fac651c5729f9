"""Mutation testing of the messaging kit with hand-written mutants (``make mutants``).

Each mutant breaks one guarantee of ``shared/src/vies_shared/messaging/`` or ``storage.py`` by replacing
an exact snippet of the source. The source tree is never touched: every mutant is applied to a copy of
``shared/src/vies_shared`` in a temporary folder that ``PYTHONPATH`` puts ahead of the editable install
(other people may run tests from this checkout meanwhile). The kit tests chosen for the mutant then run
(``pytest -x``); the mutant is *killed* when they fail, *survived* when they pass. A mutant whose snippet
is no longer in the source is reported as *stale* (the source changed: update the mutant).

The tests need Kafka and MongoDB: ``VIES_TEST_KAFKA_BOOTSTRAP``/``VIES_TEST_MONGODB_URI`` when set, else
the development stack on the default ports when it answers (``make stack-up``), else a stack started
here for the whole run (stopped at the end).

    python tools/mutants/run.py                  # all mutants, baseline first, table + JSON report
    python tools/mutants/run.py --list
    python tools/mutants/run.py --only ack_before_handling --only relay_marks_after_failed_ack
    python tools/mutants/run.py --suite          # every mutant against the whole fast kit suite

Exit status: 0 when every mutant is killed, 1 when one survived, is stale or errored, 2 when the
baseline (unmutated source) fails.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "src" / "vies_shared"
MESSAGING = "messaging"
T = "shared/tests/integration"
GUARD = f"{T}/test_guarantees.py"
INBOX = f"{T}/test_inbox_dead_letters.py"
RELAY = f"{T}/test_outbox_relay.py"
SHUTDOWN = f"{T}/test_graceful_shutdown.py"
# --suite: the kit's tests that run in seconds on an external stack (no process-level regional or devstack tests).
SUITE = [GUARD, INBOX, RELAY, SHUTDOWN, "shared/tests/unit"]
# No silent stall, per-key order across writers, replay order.
STALL = f"{T}/test_no_silent_stall.py"
ORDER = f"{T}/test_per_key_order.py"
REPLAY = f"{T}/test_replay_order.py"


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One hand-written mutant: ``original`` (exactly once in ``file``) becomes ``replacement``."""

    name: str
    file: str  # relative to shared/src/vies_shared
    original: str
    replacement: str
    tests: tuple[str, ...]  # the chosen fast subset, most likely killer first
    what: str
    required: bool = True  # a guarantee the kit promises: the mutant must be killed


MUTANTS: list[Mutant] = [
    Mutant(
        name="ack_before_handling",
        file="messaging/consumer.py",
        original="""        try:
            await self.handle_records(records)
        except ConsumerStopping:""",
        replacement="""        await message.ack()
        try:
            await self.handle_records(records)
        except ConsumerStopping:""",
        tests=(f"{GUARD}::test_consumer_killed_mid_batch_loses_nothing_on_restart", SHUTDOWN),
        what="the Kafka offset is committed before the batch is handled (at-most-once)",
    ),
    Mutant(
        name="relay_marks_after_failed_ack",
        file="messaging/relay.py",
        original="failed = next((o for o in outcomes if isinstance(o, BaseException)), None)",
        replacement="failed = None",
        tests=(f"{GUARD}::test_relay_whose_acks_fail_marks_nothing_and_publishes_everything_later", RELAY),
        what="the relay marks a batch published although some acknowledgements failed",
    ),
    Mutant(
        name="inbox_duplicate_check_skipped",
        file="messaging/consumer.py",
        original="                if item.meta.id in seen:",
        replacement="                if False:",
        tests=(
            f"{INBOX}::test_same_event_twice_is_processed_once",
            f"{GUARD}::test_redelivered_event_in_a_later_batch_is_skipped",
        ),
        what="a record already in the inbox is handled again",
    ),
    Mutant(
        name="inbox_lookup_skipped",
        file="messaging/consumer.py",
        original="""seen = {doc["_id"] async for doc in uow[INBOX].find({"_id": {"$in": ids}}, {"_id": 1})}""",
        replacement="""seen = set()""",
        tests=(
            f"{GUARD}::test_redelivered_event_in_a_later_batch_is_skipped",
            f"{INBOX}::test_same_event_twice_is_processed_once",
        ),
        what="the inbox is not read: only duplicates within one batch are skipped",
        required=False,
    ),
    Mutant(
        name="inbox_outside_transaction",
        file="messaging/consumer.py",
        original="inbox.insert_one(self._inbox_record(item, uow.now()))",
        replacement="await self.inbox.insert_one(self._inbox_record(item, uow.now()))",
        tests=(f"{GUARD}::test_failed_commit_leaves_no_inbox_record_and_no_event",),
        what="the inbox record is written outside the handler's transaction",
    ),
    Mutant(
        name="dead_letter_not_awaited",
        file="messaging/consumer.py",
        original="""        await self._retry_transient(
            lambda: self.broker.publish(value, topic=self.dlq_topic, key=key, headers=headers),
            what="dead_letter",
        )""",
        replacement="""        asyncio.ensure_future(
            self._retry_transient(
                lambda: self.broker.publish(value, topic=self.dlq_topic, key=key, headers=headers),
                what="dead_letter",
            )
        )""",
        tests=(f"{GUARD}::test_unacknowledged_dead_letter_keeps_the_offset",),
        what="the dead-letter publish is fired and forgotten: the offset may move before Kafka has it",
    ),
    Mutant(
        name="retry_one_attempt_too_many",
        file="messaging/consumer.py",
        original="for attempt in range(1, self.attempts + 1):",
        replacement="for attempt in range(0, self.attempts + 1):",
        tests=(f"{GUARD}::test_failing_handler_is_dead_lettered_after_exactly_its_attempts",),
        what="off by one: a failing handler is tried once more than handler_attempts",
        required=False,
    ),
    Mutant(
        name="retry_one_attempt_too_few",
        file="messaging/consumer.py",
        original="for attempt in range(1, self.attempts + 1):",
        replacement="for attempt in range(1, self.attempts):",
        tests=(f"{GUARD}::test_failing_handler_is_dead_lettered_after_exactly_its_attempts", INBOX),
        what="off by one: the last attempt never comes, the record is dropped without a dead letter",
        required=False,
    ),
    Mutant(
        name="outbox_order_by_wrong_key",
        file="messaging/relay.py",
        original='find({"published_at": None}).sort("seq", ASCENDING)',
        replacement='find({"published_at": None}).sort("_id", ASCENDING)',
        tests=(f"{GUARD}::test_relay_publishes_a_backlog_in_commit_order", RELAY),
        what="pending events are published in _id (random) order instead of seq order",
        required=False,
    ),
    Mutant(
        name="relay_marks_whole_backlog",
        file="messaging/relay.py",
        original="""update_many({"_id": {"$in": ids}}, {"$set": {"published_at": self.outbox.now()}})""",
        replacement="""update_many({"published_at": None}, {"$set": {"published_at": self.outbox.now()}})""",
        tests=(f"{GUARD}::test_event_committed_while_a_batch_is_in_flight_is_not_marked_with_it", RELAY),
        what="the relay marks every pending event, including one committed while its batch was in flight",
        required=False,
    ),
    Mutant(
        name="outbox_outside_transaction",
        file="storage.py",
        original="writes += [_AtCommit(outbox, InsertOne(doc, namespace=outbox.full_name)) for doc in uow.pending]",
        replacement="await outbox.insert_many(uow.pending)",
        tests=(f"{GUARD}::test_failed_commit_leaves_no_inbox_record_and_no_event", RELAY),
        what="outbox documents are written outside the use case's transaction",
        required=False,
    ),
    Mutant(
        name="ack_when_stopping_mid_retry",
        file="messaging/consumer.py",
        original="""        except ConsumerStopping:
            return  # not acknowledged""",
        replacement="""        except ConsumerStopping:
            await message.ack()
            return  # not acknowledged""",
        tests=(f"{GUARD}::test_batch_abandoned_at_shutdown_is_not_acknowledged", SHUTDOWN),
        what="a batch abandoned by a shutdown during its retries is acknowledged anyway",
        required=False,
    ),
    Mutant(
        name="per_key_order_skipped",
        file="storage.py",
        original="await self.outbox.order(keyed, Collection(keys, session), WritesAtCommit(keys, writes))",
        replacement="pass",
        tests=(f"{ORDER}::test_events_of_one_aggregate_keep_commit_order_across_writers_with_skewed_clocks",),
        what="outbox seq taken from the writer's clock alone: replicas with skewed clocks reorder an aggregate",
        required=False,
    ),
    Mutant(
        name="refused_dead_letter_silent",
        file="messaging/consumer.py",
        original="            if is_refused(exc):",
        replacement="            if False:",
        tests=(f"{STALL}::test_dead_letter_too_large_for_kafka_blocks_the_consumer_visibly",),
        what="a dead letter Kafka refuses for good only loops (nack), readiness stays green",
        required=False,
    ),
    Mutant(
        name="batch_transient_retries_unbounded",
        file="messaging/consumer.py",
        original='what="batch", limit=self.transient_attempts)',
        replacement='what="batch")',
        tests=(f"{STALL}::test_a_record_failing_transiently_for_ever_is_isolated_and_dead_lettered",),
        what="a batch failing transiently for ever is never split: one record stalls its partition",
        required=False,
    ),
    Mutant(
        name="relay_stuck_not_reported",
        file="messaging/relay.py",
        original="if (refused or failures >= self.stuck_failures) and self.stuck is None:",
        replacement="if False:",
        tests=(f"{STALL}::test_outbox_record_kafka_refuses_is_reported_then_published_in_order_once_fixed",),
        what="an outbox record Kafka refuses is retried silently, readiness stays green",
        required=False,
    ),
    Mutant(
        name="broken_producer_kept",
        file="messaging/relay.py",
        original="""        if broken is not None:
            await self._replace_producer(type(broken).__name__, broken)""",
        replacement="""        if broken is not None:
            pass""",
        tests=(
            f"{T}/test_relay_sequence_gap.py::"
            "test_relay_replaces_a_producer_whose_sequence_broke_and_keeps_each_key_in_order",
        ),
        what="a producer whose idempotent sequence broke is kept: its partition is never published again",
        required=False,
    ),
    Mutant(
        name="stale_replay_applied",
        file="messaging/consumer.py",
        original="""            if later is not None:
                await self.dead_letter(record, "stale_replay", later)""",
        replacement="""            if False:
                await self.dead_letter(record, "stale_replay", later)""",
        tests=(f"{REPLAY}::test_replayed_dead_letter_older_than_the_aggregate_is_parked_unless_order_safe",),
        what="a replayed event older than its aggregate reaches a handler that is not order-safe",
        required=False,
    ),
]


@dataclasses.dataclass
class Result:
    name: str
    status: str  # killed | survived | stale | error | timeout
    seconds: float
    required: bool
    what: str
    detail: str = ""


# --- the stack ---------------------------------------------------------------------------------------


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def stack_environment() -> Iterator[dict[str, str]]:
    """Environment variables pointing the test plugin at one stack for the whole run."""
    if os.environ.get("VIES_TEST_KAFKA_BOOTSTRAP"):
        print(f"stack: external ({os.environ['VIES_TEST_KAFKA_BOOTSTRAP']})", flush=True)
        yield {}
        return
    if _answers(9092) and _answers(27017):
        print("stack: the development stack on 127.0.0.1:9092 and :27017", flush=True)
        yield {
            "VIES_TEST_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
            "VIES_TEST_MONGODB_URI": "mongodb://127.0.0.1:27017/?directConnection=true",
        }
        return
    from vies_dev.devstack import LocalStack, StackConfig

    config = StackConfig(
        root=ROOT / f".stack-test-mutants-{os.getpid()}",
        kafka_port=0,
        kafka_controller_port=0,
        mongodb_port=0,
        smtp_port=0,
        mailpit_http_port=0,
        partitions=3,
        libs_dir=ROOT / ".stack" / "kafka" / "libs",
        mailpit_bin=ROOT / ".stack" / "bin" / "mailpit",
    )
    stack = LocalStack(config)
    print(f"stack: starting one under {config.root.name}", flush=True)
    stack.fetch()
    stack.up()
    try:
        yield {
            "VIES_TEST_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "VIES_TEST_MONGODB_URI": stack.mongodb_uri,
            "VIES_TEST_SMTP_PORT": str(stack.smtp_port),
            "VIES_TEST_MAILPIT_URL": stack.mailpit_url,
        }
    finally:
        stack.down(wipe=True)
        shutil.rmtree(config.root, ignore_errors=True)


# --- running -----------------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pytest(tests: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    command = [sys.executable, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider", "--no-header"]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return None, out
    return done.returncode, done.stdout + done.stderr


def _summary(output: str) -> str:
    lines = [
        line
        for line in output.splitlines()
        if (line.startswith(("FAILED ", "ERROR ")) and "::" in line) or re.match(r"\d+ (passed|failed)\b", line)
    ]
    lines = lines or [line for line in output.splitlines() if line.strip()][-3:]
    # The first assertion or error line says why the mutant was caught.
    why = next((line[1:].strip() for line in output.splitlines() if line.startswith("E ")), "")
    return " | ".join(lines + ([why] if why else []))[:400]


def run_mutant(mutant: Mutant, base_env: dict[str, str], tests: list[str], timeout: float) -> Result:
    started = time.monotonic()
    source = (PACKAGE / mutant.file).read_text()
    count = source.count(mutant.original)
    if count != 1:
        return Result(mutant.name, "stale", 0.0, mutant.required, mutant.what, f"snippet found {count} times")
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        copy = Path(tmp) / "src" / "vies_shared"
        shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        mutated = source.replace(mutant.original, mutant.replacement)
        try:
            compile(mutated, mutant.file, "exec")
        except SyntaxError as exc:
            return Result(mutant.name, "error", 0.0, mutant.required, mutant.what, f"mutant does not compile: {exc}")
        (copy / mutant.file).write_text(mutated)
        env = {**base_env, "PYTHONPATH": os.pathsep.join(filter(None, [str(copy.parent), base_env.get("PYTHONPATH")]))}
        probe = subprocess.run(
            [sys.executable, "-c", "import vies_shared; print(vies_shared.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if not probe.stdout.strip().startswith(str(copy)):
            return Result(mutant.name, "error", 0.0, mutant.required, mutant.what, "mutated copy not imported")
        code, output = _pytest(tests, env, timeout)
    seconds = round(time.monotonic() - started, 1)
    if code is None:
        return Result(mutant.name, "killed", seconds, mutant.required, mutant.what, f"tests timed out ({timeout}s)")
    if code == 0:
        return Result(mutant.name, "survived", seconds, mutant.required, mutant.what, _summary(output))
    if code == 1:
        return Result(mutant.name, "killed", seconds, mutant.required, mutant.what, _summary(output))
    return Result(
        mutant.name, "error", seconds, mutant.required, mutant.what, f"pytest exit {code}: {_summary(output)}"
    )


def print_report(results: list[Result]) -> None:
    width = max(len(r.name) for r in results)
    print()
    print(f"{'mutant':<{width}}  {'status':<8}  {'time':>6}  req  detail")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 6}  ---  {'-' * 40}")
    for r in results:
        required = "yes" if r.required else "no"
        print(f"{r.name:<{width}}  {r.status:<8}  {r.seconds:>5.1f}s  {required:<3}  {r.detail[:110]}")
    killed = sum(r.status == "killed" for r in results)
    survivors = [r.name for r in results if r.status == "survived"]
    print(f"\n{killed}/{len(results)} killed; surviving: {', '.join(survivors) or 'none'}")
    report = {
        "killed": killed,
        "total": len(results),
        "surviving": survivors,
        "mutants": [dataclasses.asdict(r) for r in results],
    }
    print(json.dumps(report, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run this mutant (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--suite", action="store_true", help="run the whole fast kit suite for every mutant")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run of the tests on the unmutated source")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant before it counts as killed")
    parser.add_argument("--json", type=Path, help="also write the JSON report to this file")
    args = parser.parse_args(argv)

    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    unknown = set(args.only) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:<30} {'required' if m.required else 'extra   '}  {m.file}: {m.what}")
        return 0

    targets = sorted({PACKAGE / m.file for m in MUTANTS})
    before = {path: _digest(path) for path in targets}
    results: list[Result] = []
    try:
        with stack_environment() as stack_env:
            env = {**os.environ, **stack_env, "PYTHONDONTWRITEBYTECODE": "1"}
            if not args.no_baseline:
                tests = SUITE if args.suite else sorted({t for m in mutants for t in m.tests})
                started = time.monotonic()
                code, output = _pytest(tests, env, args.timeout * 2)
                print(f"baseline ({time.monotonic() - started:.0f}s): {_summary(output)}", flush=True)
                if code != 0:
                    print(output[-4000:], file=sys.stderr)
                    print("the tests fail on the unmutated source: no mutant can be judged", file=sys.stderr)
                    return 2
            for mutant in mutants:
                result = run_mutant(mutant, env, list(SUITE if args.suite else mutant.tests), args.timeout)
                print(f"{result.name}: {result.status} ({result.seconds}s) {result.detail[:160]}", flush=True)
                results.append(result)
    finally:
        changed = [str(p.relative_to(ROOT)) for p in targets if _digest(p) != before[p]]
        if changed:  # not by this script (mutants go to a copy): someone edited or checked out the kit meanwhile
            print(
                f"note: {', '.join(changed)} changed during the run (not by this script); results may mix versions",
                file=sys.stderr,
            )
        tracked = subprocess.run(
            ["git", "diff", "--quiet", "--", *(str(p.relative_to(ROOT)) for p in targets)], cwd=ROOT, check=False
        )
        print(f"source check: {'unchanged' if not changed else 'CHANGED'}; git diff --quiet: {tracked.returncode}")
    print_report(results)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=2) + "\n")
    return 0 if results and all(r.status == "killed" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
