"""The aggregate base: its document in both modes, the fields a save sets, the events it records."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import Field

from vies_shared.aggregate import Aggregate, IsoDate, Recorded, Value, iso_moment
from vies_shared.events.partners import PartnershipEnded


class Term(Value):
    starts_on: IsoDate
    ends_on: IsoDate | None = None


class Deal(Aggregate):
    """Writes back only the fields it holds (a field never set stays absent)."""

    deal_id: str = Field(alias="_id")
    region: str | None
    status: str = "open"
    term: Term | None = None
    updated_at: datetime | None = None

    def end(self, reason: str) -> None:
        self.status = "ended"
        self.record(PartnershipEnded(partnership_id=self.deal_id, reason=reason), region=self.region)


class FullDeal(Deal):
    """Writes every field back, defaults included."""

    keep_unset = True


def test_to_doc_leaves_the_fields_never_set_out_unless_the_aggregate_keeps_them() -> None:
    term = Term(starts_on=date(2025, 3, 1))
    assert Deal(deal_id="d1", region=None, term=term).to_doc() == {
        "_id": "d1",
        "region": None,
        "term": {"starts_on": "2025-03-01"},
    }
    assert FullDeal(deal_id="d1", region=None, term=term).to_doc() == {
        "_id": "d1",
        "region": None,
        "status": "open",
        "term": {"starts_on": "2025-03-01", "ends_on": None},
        "updated_at": None,
    }


def test_a_loaded_aggregate_reads_back_as_its_document() -> None:
    doc = {"_id": "d1", "region": "BRE", "term": {"starts_on": "2025-03-01"}}
    deal = Deal.from_doc(doc)
    assert deal.term == Term(starts_on=date(2025, 3, 1))
    assert deal.to_doc() == doc


def test_changes_are_the_fields_modified_since_loaded_or_saved() -> None:
    deal = Deal.from_doc({"_id": "d1", "region": "BRE", "status": "open"})
    assert deal.changes() == {}
    moment = datetime(2025, 3, 1, 12, tzinfo=UTC)
    deal.updated_at = moment
    deal.region = "BRE"  # set to the value it had: not a change
    assert deal.changes() == {"updated_at": moment}
    deal.saved()
    assert deal.changes() == {}


def test_a_new_aggregate_changes_every_field_it_holds() -> None:
    assert Deal(deal_id="d1", region="BRE").changes() == {"_id": "d1", "region": "BRE"}


def test_events_are_pulled_once_in_order_with_their_regions() -> None:
    deal = Deal(deal_id="d1", region="BRE")
    deal.end("over")
    deal.record(PartnershipEnded(partnership_id="d1", reason="again"))
    assert deal.pull_events() == [
        Recorded(PartnershipEnded(partnership_id="d1", reason="over"), "BRE"),
        Recorded(PartnershipEnded(partnership_id="d1", reason="again"), None),
    ]
    assert deal.pull_events() == []


def test_equality_is_the_state_not_the_events_recorded() -> None:
    ended, loaded = Deal(deal_id="d1", region="BRE"), Deal.from_doc({"_id": "d1", "region": "BRE"})
    ended.end("over")
    loaded.status = "ended"
    assert ended == loaded
    assert ended != FullDeal(deal_id="d1", region="BRE", status="ended")
    assert ended != Deal(deal_id="d2", region="BRE", status="ended")


def test_a_moment_shows_in_utc_even_when_read_naive() -> None:
    assert iso_moment(datetime(2025, 3, 1, 12)) == "2025-03-01T12:00:00+00:00"
