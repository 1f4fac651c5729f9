"""An aggregate that orders its own events keeps the seq of its last one in its document, not in outbox_keys."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

from vies_dev.testing.fakes import FakeRuntime
from vies_shared.aggregate import Aggregate, emit_recorded
from vies_shared.events.recruitment import ApplicationShortlisted, ApplicationWithdrawn, PositionClosed
from vies_shared.messaging.outbox import KEYS_COLLECTION
from vies_shared.service import ServiceDefinition
from vies_shared.settings import ServiceSettings
from vies_shared.storage import UnitOfWork

pytestmark = pytest.mark.fast


class Candidacy(Aggregate):
    """A stand-in application: its events are keyed by its id, except the position it may close."""

    orders_its_events = True
    candidacy_id: str = Field(alias="_id")
    position_id: str
    status: str = "submitted"

    def shortlist(self) -> None:
        self.status = "shortlisted"
        self.record(ApplicationShortlisted(application_id=self.candidacy_id))
        self.record(PositionClosed(position_id=self.position_id, reason="filled", cause="filled"))


def runtime() -> FakeRuntime[ServiceSettings]:
    settings = ServiceSettings(service="recruitment", env="dev", mongodb_db="fake_recruitment")
    return FakeRuntime(ServiceDefinition(name="recruitment", title="t", handlers=[]), settings)


async def _save(uow: UnitOfWork, candidacy: Candidacy) -> None:
    """As the services' stores do: emit first, then write the changes (the seq among them)."""
    emit_recorded(uow, candidacy)
    await uow["candidacies"].update_one({"_id": candidacy.candidacy_id}, {"$set": candidacy.changes()}, upsert=True)
    candidacy.saved()


async def _outbox(fake: FakeRuntime[Any]) -> list[dict[str, Any]]:
    return await fake.db["outbox"].find({}).sort("seq", 1).to_list()


async def test_a_new_aggregate_starts_its_seq_and_a_stored_one_goes_on_from_it() -> None:
    fake = runtime()

    async def create(uow: UnitOfWork) -> None:
        candidacy = Candidacy(_id="c1", position_id="p1")
        candidacy.record(ApplicationWithdrawn(application_id="c1"))
        await _save(uow, candidacy)

    await fake.transactions.run(create)
    [first] = await _outbox(fake)
    stored = await fake.db["candidacies"].find_one({"_id": "c1"})
    assert stored is not None and stored["event_seq"] == first["seq"]

    async def shortlist(uow: UnitOfWork) -> None:
        candidacy = Candidacy.from_doc(await uow.get("candidacies", "c1", "candidacy"))
        candidacy.shortlist()
        await _save(uow, candidacy)

    await fake.transactions.run(shortlist)
    events = await _outbox(fake)
    mine = [doc for doc in events if doc["key"] == "c1"]
    assert [doc["type"] for doc in mine] == ["recruitment.ApplicationWithdrawn", "recruitment.ApplicationShortlisted"]
    stored = await fake.db["candidacies"].find_one({"_id": "c1"})
    assert stored is not None and stored["event_seq"] == mine[-1]["seq"] > mine[0]["seq"]
    # Only the event keyed by another aggregate (the position) went through outbox_keys.
    keys = [doc["_id"] for doc in await fake.db[KEYS_COLLECTION].find({}).to_list()]
    assert len(keys) == 1 and keys[0].endswith(" p1")


async def test_one_stored_before_it_kept_a_seq_stays_on_outbox_keys() -> None:
    fake = runtime()
    await fake.db["candidacies"].insert_one({"_id": "old", "position_id": "p1", "status": "submitted"})

    async def shortlist(uow: UnitOfWork) -> None:
        candidacy = Candidacy.from_doc(await uow.get("candidacies", "old", "candidacy"))
        candidacy.shortlist()
        await _save(uow, candidacy)

    await fake.transactions.run(shortlist)
    stored = await fake.db["candidacies"].find_one({"_id": "old"})
    assert stored is not None and "event_seq" not in stored
    keys = sorted(doc["_id"].rsplit(" ", 1)[1] for doc in await fake.db[KEYS_COLLECTION].find({}).to_list())
    assert keys == ["old", "p1"]
