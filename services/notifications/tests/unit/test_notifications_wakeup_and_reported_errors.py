"""The delivery worker's wake-up and hand-offs (only once the transaction commits) and the errors events carry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from vies_notifications import wakeup
from vies_notifications.domain.delivery import reported
from vies_notifications.domain.notification import Notification
from vies_shared.events.partners import AuthorityRegistered


def test_an_smtp_reply_is_cut_to_its_codes_before_an_event_or_a_log_carries_it() -> None:
    assert reported("SMTP 550 5.1.1 <jane.doe@example.org>: Recipient address rejected") == "SMTP 550 5.1.1"
    assert (
        reported("SMTP recipients refused: 550 5.1.1 <jane@x.org>: unknown; 452 4.2.2 bob@y.org mailbox full")
        == "SMTP recipients refused: 550 5.1.1; 452 4.2.2"
    )
    assert (
        reported("configuration: SMTP 535 5.7.8 Authentication credentials invalid") == "configuration: SMTP 535 5.7.8"
    )
    assert reported("SMTP 554 Message rejected for jane@x.org") == "SMTP 554"
    # Not an SMTP reply: kept, with any address or phone number masked.
    assert reported("HTTP 503") == "HTTP 503"
    assert reported("recipient has no phone number") == "recipient has no phone number"
    assert reported("webhook gave no answer within 10s") == "webhook gave no answer within 10s"
    assert "jane" not in reported("template failed for jane@example.org")
    assert reported(None) == ""


class _Transaction:
    """What ``wakeup`` needs of a unit of work: its database's name and after-commit callbacks."""

    class _Db:
        name = "vies_notifications_test"

    def __init__(self) -> None:
        self.database_name = self._Db.name
        self.committed: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return NOW

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    def commit(self) -> None:
        for callback in self.committed:
            callback()


NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


class _Worker:
    def __init__(self) -> None:
        self.woken: list[set[str]] = []
        self.known: list[set[str]] = []

    def wake(self, channels: Iterable[str]) -> None:
        self.woken.append(set(channels))

    def addresses_known(self, recipient_ids: set[str]) -> None:
        self.known.append(set(recipient_ids))


def test_the_worker_is_woken_once_per_commit_never_before() -> None:
    worker, other = _Worker(), _Worker()
    wakeup.listen(_Transaction._Db.name, worker)
    wakeup.listen(_Transaction._Db.name, other)
    try:
        uow: Any = _Transaction()
        wakeup.queued(uow, ["email"])
        wakeup.queued(uow, ["sms", "email"])
        wakeup.addresses_known(uow, ["person-1"])
        wakeup.addresses_known(uow, ["person-2", ""])
        assert worker.woken == [] and worker.known == []  # nothing is visible before the commit
        assert len(uow.committed) == 1  # one callback per transaction, whatever was queued in it
        uow.commit()
        assert worker.woken == [{"email", "sms"}] and other.woken == [{"email", "sms"}]
        assert worker.known == [{"person-1", "person-2"}] and other.known == []  # one release is enough
        aborted: Any = _Transaction()
        wakeup.queued(aborted, ["webhook"])  # never committed: nobody hears of it
        assert worker.woken == [{"email", "sms"}]
    finally:
        wakeup.stop_listening(_Transaction._Db.name, worker)
        wakeup.stop_listening(_Transaction._Db.name, other)
    late: Any = _Transaction()
    wakeup.queued(late, ["email"])
    late.commit()  # no worker listening any more
    assert worker.woken == [{"email", "sms"}]


class _Lane(_Worker):
    """A worker whose email and SMS lanes take ``room`` notifications handed off, none of another channel."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room
        self.given: list[tuple[str, str, list[str], Any]] = []

    def claim_at_once(
        self, channel: str, notifications: list[Notification], token: str, now: datetime, waiting: int
    ) -> bool:
        if channel not in ("email", "sms") or self.room < waiting + len(notifications):
            return False
        for notification in notifications:
            notification.claimed_by(token, now, 60)
        return True

    def take(self, channel: str, token: str, notifications: list[Notification], known: Any) -> None:
        self.given.append((channel, token, [n.notification_id for n in notifications], known))


def _queued(key: str, channel: str, due: datetime = NOW) -> Notification:
    recipient = {"key": "person:p-1", "kind": "person", "id": "p-1", "role": "volunteer"}
    doc = {"_id": key, "event_id": key, "channel": channel, "recipient": recipient, "status": "pending"}
    doc["next_attempt_at"] = due
    return Notification.from_doc(doc if due <= NOW else {**doc, "due_at": due})


def test_a_hand_off_is_given_once_its_transaction_commits_and_only_what_is_due_fits_its_lane() -> None:
    worker = _Lane(room=3)
    wakeup.listen(_Transaction._Db.name, worker)
    try:
        uow: Any = _Transaction()
        memory = {("contacts", "p-1"): {"_id": "p-1", "email": "p@example.org"}}
        first = [_queued("e1", "email"), _queued("s1", "sms"), _queued("w1", "webhook")]
        later = [_queued("e2", "email", NOW + timedelta(days=30))]  # a delayed row
        wakeup.hand_off(uow, first + later, memory)
        more = [_queued("e3", "email"), _queued("e4", "email"), _queued("e5", "email")]
        wakeup.hand_off(uow, more, memory)  # beyond the lane's room with e1: left pending, all three
        wakeup.hand_off(uow, [_queued("e6", "email")], memory)  # one more fits, under the same claim
        assert worker.given == []  # nothing before the commit
        assert [n.status for n in first + later + more] == ["sending", "sending"] + ["pending"] * 5
        uow.commit()
        tokens = {channel: token for channel, token, _, _ in worker.given}
        assert [(channel, ids) for channel, _, ids, _ in worker.given] == [("email", ["e1", "e6"]), ("sms", ["s1"])]
        assert all(known is memory for *_, known in worker.given)  # what the transaction read, after its commit
        assert first[0].claim == tokens["email"] != tokens["sms"] == first[1].claim
        aborted: Any = _Transaction()
        wakeup.hand_off(aborted, [_queued("e7", "email")], memory)  # never committed (or retried): never given
        assert len(worker.given) == 2
    finally:
        wakeup.stop_listening(_Transaction._Db.name, worker)
    alone: Any = _Transaction()
    unclaimed = [_queued("e8", "email")]
    wakeup.hand_off(alone, unclaimed, {})  # no worker listening: pending, as queued
    assert unclaimed[0].status == "pending"


def test_the_events_that_bring_an_authority_or_a_partner_address() -> None:
    registered = AuthorityRegistered(
        authority_id="a-1",
        name="Commune",
        kind="commune",
        region="FR-BRE",
        contact_email="mairie@example.org",
        territoires_volontaires=False,
    )
    assert wakeup.addressees(AuthorityRegistered.TYPE, registered) == ["a-1"]
    assert wakeup.addressees("missions.MissionStarted", registered) == []
