"""The delivery worker's wake-up (only once the transaction commits) and the errors events and logs may carry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from vies_notifications import wakeup
from vies_notifications.channels import reported
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

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    def commit(self) -> None:
        for callback in self.committed:
            callback()


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
