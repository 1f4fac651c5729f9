"""One clock per service: a time set by a test is what its use cases, handlers and outbox all see.

No server is needed: the MongoDB session is a stand-in (nothing here reads or writes a collection),
so the test runs the kit's real transaction runner, consumer and outbox against a set clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from vies_shared.events.envelope import encode
from vies_shared.events.missions import MissionStarted
from vies_shared.messaging.consumer import HandlerContext, _Item
from vies_shared.service import Runtime, ServiceDefinition
from vies_shared.settings import ServiceSettings
from vies_shared.storage import UnitOfWork, transactional

SET = datetime(2031, 5, 17, 8, 30, tzinfo=UTC)
seen_by_handler: list[datetime] = []


class _Session:
    """Stands in for a MongoDB session: transactions begin and commit with nothing to write."""

    in_transaction = False

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def start_transaction(self) -> None:
        return None

    async def commit_transaction(self) -> None:
        return None

    async def abort_transaction(self) -> None:
        return None


class _Client:
    def start_session(self) -> _Session:
        return _Session()


async def on_started(ctx: HandlerContext, event: MissionStarted) -> None:
    """Records the time its context gives."""
    seen_by_handler.append(ctx.now())


@transactional
async def stamp(uow: UnitOfWork) -> datetime:
    """A use case that only reads the time."""
    return uow.now()


async def test_use_cases_handlers_and_the_outbox_share_the_clock_a_test_sets() -> None:
    definition = ServiceDefinition(name="missions", title="t", handlers=[on_started])
    runtime = Runtime(definition, ServiceSettings(service="missions", role="worker"))
    runtime.transactions.client = _Client()  # type: ignore[assignment]
    runtime.extras["clock"] = lambda: SET
    assert runtime.consumer is not None
    event = MissionStarted(mission_id="m-1", departed_on=date(2031, 5, 1))
    meta, _ = encode(event)
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord("t", 0, 0, 0, 0, b"m-1", b"{}", None, 0, 0, [])
    item = _Item(record=record, meta=meta, event=event)

    assert runtime.now() == SET
    assert await stamp(runtime) == SET
    seen_by_handler.clear()
    await runtime.transactions.run(lambda uow: runtime.consumer._call_handler(uow, item))  # type: ignore[union-attr]
    assert seen_by_handler == [SET]

    def emit(uow: UnitOfWork) -> Any:
        uow.emit(event)
        return uow.pending

    # Emitting stages the document; the stand-in session has nothing to insert it into, so read it staged.
    staged: list[dict[str, Any]] = []

    async def stage(uow: UnitOfWork) -> None:
        staged.extend(emit(uow))
        uow.pending.clear()

    await runtime.transactions.run(stage)
    assert [doc["created_at"] for doc in staged] == [SET]
    assert runtime.consumer._inbox_record(item, runtime.now())["processed_at"] == SET
