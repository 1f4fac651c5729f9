"""The chaos checker on synthetic data: it must see a lost event, a duplicate, a reorder, a lag,
a missing or unexpected dead letter and a missing or duplicated notification (fast; part of make test)."""

from __future__ import annotations

from typing import Any

from chaos.checker import (
    Ack,
    Delivery,
    Directory,
    Observations,
    Poison,
    Record,
    check_commands,
    evaluate,
)

TOPIC = "vies.recruitment.events"


def event(offset: int, ce_type: str, key: str, partition: int = 0, ce_id: str | None = None, **data: Any) -> Record:
    headers = {"ce_id": ce_id or f"id-{offset}-{partition}", "ce_type": ce_type, "ce_region": "FR-ARA"}
    return Record(TOPIC, partition, offset, key, headers, data)


def journey() -> tuple[list[Record], list[Ack]]:
    """An application submitted, shortlisted and selected: three acknowledged commands, three events in order."""
    events = [
        event(0, "recruitment.ApplicationSubmitted", "app-1", application_id="app-1", authority_id="aut-1"),
        event(1, "recruitment.ApplicationShortlisted", "app-1", application_id="app-1"),
        event(2, "recruitment.CandidateSelected", "app-1", application_id="app-1"),
    ]
    acks = [
        Ack(1, "recruitment.ApplicationSubmitted", "application_id", "app-1"),
        Ack(2, "recruitment.ApplicationShortlisted", "application_id", "app-1"),
        Ack(3, "recruitment.CandidateSelected", "application_id", "app-1"),
    ]
    return events, acks


def observations(events: list[Record], acks: list[Ack], **changes: Any) -> Observations:
    directory = Directory(
        authority_email={"aut-1": "mairie@example.org"},
        application_candidate={"app-1": "cand-1"},
        person={"cand-1": ("awa@example.org", "+33600000001")},
    )
    deliveries = [
        Delivery("email", "awa@example.org", "<m1>"),
        Delivery("email", "mairie@example.org", "<m2>"),
        Delivery("email", "awa@example.org", "<m3>"),
    ]
    values: dict[str, Any] = {
        "events": events,
        "dead_letters": [],
        "acks": acks,
        "poison": [],
        "lags": {"vies.notifications": {TOPIC: 0}},
        "deliveries": deliveries,
        "directory": directory,
    }
    values.update(changes)
    return Observations(**values)


def test_a_clean_run_passes() -> None:
    events, acks = journey()
    report = evaluate(observations(events, acks))
    assert report["ok"], report
    assert report["commands"]["acknowledged"] == 3
    assert report["notifications"]["required"] == 3  # received + new application + selected


def test_an_acknowledged_command_without_its_event_is_lost() -> None:
    events, acks = journey()
    report = evaluate(observations(events[:2], acks))
    assert not report["ok"]
    assert report["failures"]["lost"] == 1
    assert "CandidateSelected" in report["commands"]["lost"][0]


def test_a_redelivered_event_is_not_a_duplicate_but_a_second_event_is() -> None:
    events, acks = journey()
    redelivered = event(3, "recruitment.CandidateSelected", "app-1", ce_id=events[2].ce_id, application_id="app-1")
    assert evaluate(observations([*events, redelivered], acks))["ok"]
    second = event(4, "recruitment.CandidateSelected", "app-1", application_id="app-1")
    report = evaluate(observations([*events, second], acks))
    assert report["failures"]["applied_twice"] == 1
    # A command whose answer never came may have been applied once: not a duplicate.
    unanswered = [*acks[:2], Ack(3, "recruitment.CandidateSelected", "application_id", "app-1", "uncertain")]
    assert check_commands(events, unanswered)["applied_twice"] == []


def test_events_of_a_key_out_of_acknowledgement_order_are_reordered() -> None:
    events, acks = journey()
    # Selected at offset 1, shortlisted at offset 2: the reverse of the acknowledgements.
    swapped = [events[0], _at(events[2], 1), _at(events[1], 2)]
    report = evaluate(observations(swapped, acks))
    assert report["failures"]["reordered"] == 1
    assert "before" in report["commands"]["reordered"][0]


def test_a_key_spread_over_two_partitions_is_reordered() -> None:
    events, acks = journey()
    moved = Record(TOPIC, 1, 0, "app-1", events[2].headers, events[2].data)  # same key, other partition
    report = evaluate(observations([*events[:2], moved], acks))
    assert report["failures"]["reordered"] >= 1


def test_lag_dead_letters_and_notifications_are_judged() -> None:
    events, acks = journey()
    poison = [Poison(TOPIC, "poison-1", "FR-ARA")]
    dead = [
        Record("vies.notifications.dlq", 0, 0, "", {"ce_id": "poison-1", "dlq_consumer": "vies.notifications"}, None)
    ]
    lags = {"vies.notifications": {TOPIC: 0}, "vies.regional.FR-ARA": {TOPIC: 0}}
    regional = {"regional_region": "FR-ARA", "regional_journal": {e.ce_id for e in events}}
    good = evaluate(
        observations(
            events, acks, poison=poison, dead_letters=dead, lags=lags, regional_skipped={"poison-1"}, **regional
        )
    )
    assert good["ok"], good
    # The poison message not dead-lettered, a dead letter nobody poisoned, a lag, a missing and a doubled mail.
    stray = Record("vies.notifications.dlq", 0, 1, "", {"ce_id": "real-1", "dlq_consumer": "vies.notifications"}, None)
    doubled = [
        Delivery("email", "awa@example.org", "<m1>"),
        Delivery("email", "awa@example.org", "<m1>"),
        Delivery("email", "mairie@example.org", "<m2>"),
    ]
    bad = evaluate(
        observations(
            events,
            acks,
            poison=poison,
            dead_letters=[stray],
            lags={**lags, "vies.missions": {"vies.partners.events": 4}},
            deliveries=doubled,
            regional_skipped={"poison-1"},
            **regional,
        )
    )
    assert bad["failures"]["dead_letters_missing"] == 1
    assert bad["failures"]["dead_letters_unexpected"] == 1
    assert bad["failures"]["consumer_lag"] == 1
    assert bad["failures"]["notifications_missing"] == 1
    assert bad["notifications"]["duplicated"] == 1
    # An event of the branch's region missing from its journal.
    gap = evaluate(observations(events, acks, regional_region="FR-ARA", regional_journal={events[0].ce_id}))
    assert gap["failures"]["regional_missing"] == 2


def _at(record: Record, offset: int) -> Record:
    return Record(record.topic, record.partition, offset, record.key, record.headers, record.data)
