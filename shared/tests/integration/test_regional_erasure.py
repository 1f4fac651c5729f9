"""Erasure reaches every branch: ``recruitment.PersonErased`` carries no region,
yet every regional consumer takes it; the view, the journal and the queues forget the person, and an event
produced before the erasure but handled after it does not bring the person back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_regional_consumer import Webhook, _equals, journal_count, publish, record, regional, story, view_of

from vies_dev.testing import wait_until
from vies_dev.testing.helpers import running
from vies_shared.events import recruitment as r
from vies_shared.events.envelope import format_time
from vies_shared.regional.app import create

pytestmark = pytest.mark.integration

ERASED = "c-fr-ara-1"  # the engaged volunteer of the ARA story: applications, engagement, missions
KEPT = "c-fr-ara-3"


async def _journal_has(db: Any, ce_type: str, count: int = 1) -> bool:
    return bool(await db["events"].count_documents({"type": ce_type}) == count)


async def _queued(db: Any, queue: str) -> list[dict[str, Any]]:
    return [doc["event"] async for doc in db[queue].find({}).sort("seq", 1)]


async def test_an_erasure_reaches_every_branch_and_leaves_nothing_of_the_person(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, tmp_path: Path
) -> None:
    ara = story("FR-ARA", n_missions=1)
    await publish(vies_stack.kafka_bootstrap, [record(e, reg, topic_prefix) for e, reg in ara])
    # Both targets are down until the erasure is checked, so the queues hold everything: the webhook
    # answers 500, and the file's folder cannot be made (a plain file stands in its way).
    webhook = Webhook(fail_first=10**9)
    blocker = tmp_path / "branch"
    blocker.write_text("not a folder")
    path = blocker / "fr-ara.jsonl"
    ara_settings = regional(
        vies_settings,
        "FR-ARA",
        regional_webhook_url=webhook.url,
        regional_jsonl_path=path,
        regional_forward_poll_seconds=0.1,
        regional_webhook_retry_initial_seconds=0.1,
        regional_webhook_retry_max_seconds=0.3,
    )
    idf_settings = regional(vies_settings, "FR-IDF")
    async with (
        webhook.serving(),
        running(create(ara_settings), ara_settings) as a,
        running(create(idf_settings), idf_settings) as i,
    ):
        db = a.runtime.db
        await wait_until(lambda: _equals(journal_count(a), len(ara)), timeout=30, message="the ARA story")
        before = json.dumps(await _queued(db, "webhook_queue"))
        assert ERASED in before and KEPT in before

        erased_at = datetime.now(UTC)
        # Region "none", as recruitment publishes it.
        await publish(vies_stack.kafka_bootstrap, [record(r.PersonErased(person_id=ERASED), None, topic_prefix)])
        await wait_until(lambda: _journal_has(db, r.PersonErased.TYPE), timeout=30, message="ARA erasure")
        await wait_until(lambda: _journal_has(i.runtime.db, r.PersonErased.TYPE), timeout=30, message="IDF erasure")

        # An engagement produced before the erasure, handled after it (another partition, or a replay).
        [engaged] = [e for e, _ in ara if isinstance(e, r.VolunteerEngaged)]
        late = record(engaged, "FR-ARA", topic_prefix, ce_time=format_time(erased_at - timedelta(minutes=5)))
        await publish(vies_stack.kafka_bootstrap, [late])
        await wait_until(lambda: _journal_has(db, r.VolunteerEngaged.TYPE, 2), timeout=30, message="late engagement")

        view = await view_of(db)
        queued = await _queued(db, "webhook_queue")
        filed = await _queued(db, "jsonl_queue")

        # The view and the journal: nothing of the person; the other candidates untouched.
        dumped = json.dumps(view, default=str)
        assert ERASED not in dumped
        assert view["applications"]["app-fr-ara-3"]["candidate_id"] == KEPT
        assert view["engagements"]["eng-fr-ara"]["authority_id"] == "auth-fr-ara"
        assert "volunteer_id" not in view["engagements"]["eng-fr-ara"]
        assert "volunteer_id" not in view["missions"]["mis-fr-ara-0"]
        # The queues: every event is still there (its facts are the branch's), the person's id nulled,
        # and the erasure itself, whole, so the branch learns whom to forget.
        for queue in (queued, filed):
            [erasure] = [e for e in queue if e["type"] == r.PersonErased.TYPE]
            assert [e for e in queue if ERASED in json.dumps(e)] == [erasure]
            assert erasure["data"] == {"person_id": ERASED} and erasure["region"] == "none"
        engagements = [e for e in queued if e["type"] == r.VolunteerEngaged.TYPE]
        assert [e["data"]["volunteer_id"] for e in engagements] == [None, None]
        assert KEPT in json.dumps(queued)

        # The targets come back: everything is delivered, the erasure included, and the queues empty.
        webhook.fail_first = 0
        blocker.unlink()
        await wait_until(lambda: _equals(db["webhook_queue"].count_documents({}), 0), timeout=30, message="webhook")
        await wait_until(lambda: _equals(db["jsonl_queue"].count_documents({}), 0), timeout=30, message="file")
        idf_view = await view_of(i.runtime.db)

    assert [e["type"] for e in webhook.received].count(r.PersonErased.TYPE) == 1
    assert len(webhook.received) == len(ara) + 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert r.PersonErased.TYPE in [e["type"] for e in lines]
    # The other branch kept the erasure (nothing of ARA, nothing of the person in its journal).
    assert [d["type"] for d in idf_view["events"].values()] == [r.PersonErased.TYPE]
    assert ERASED not in json.dumps(idf_view, default=str)
