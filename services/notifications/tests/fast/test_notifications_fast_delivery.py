"""Notifications on in-memory fakes: intake routing, delivery outcomes and preferences, with a fake mailer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from vies_dev.testing.fakes import FakeRuntime
from vies_notifications import use_cases, wakeup
from vies_notifications.app import build
from vies_notifications.channels import Email
from vies_notifications.delivery import DeliveryWorker
from vies_notifications.domain.delivery import SENT_OUTCOME, Outcome, permanent, transient
from vies_notifications.settings import NotificationsSettings
from vies_shared.errors import Forbidden
from vies_shared.events.missions import MissionPlanned, MissionStarted
from vies_shared.events.notifications import NotificationFailed, NotificationSent
from vies_shared.events.partners import AuthorityRegistered, MatchesProposed, PartnerRegistered
from vies_shared.tokens import Principal

pytestmark = pytest.mark.fast


class FakeMailer:
    """Stands for the SMTP sender: records the emails and answers each with the outcome the test chose."""

    def __init__(self, outcome: Outcome = SENT_OUTCOME) -> None:
        self.outcome = outcome
        self.sent: list[Email] = []

    async def send_batch(
        self, emails: list[Email], settle: Callable[[int, Outcome], None], stopping: Callable[[], bool]
    ) -> list[Outcome]:
        """Settle every email of the batch with ``outcome``."""
        for index, email in enumerate(emails):
            self.sent.append(email)
            settle(index, self.outcome)
        return [self.outcome] * len(emails)

    async def close(self) -> None:
        """Nothing to close."""


async def notifications_runtime(mailer: FakeMailer) -> tuple[FakeRuntime[NotificationsSettings], DeliveryWorker]:
    """Notifications on fakes, its delivery worker sending through ``mailer``."""
    settings = NotificationsSettings(env="dev", mongodb_db="fake_notifications", delivery_max_attempts=3)
    runtime = FakeRuntime(build(settings), settings)
    await runtime.start()
    worker: DeliveryWorker = runtime.extras["delivery"]
    worker.email = mailer  # type: ignore[assignment]
    return runtime, worker


async def proposal_for_an_authority(runtime: FakeRuntime[NotificationsSettings]) -> None:
    """A Breton authority is registered, then partners propose it matches."""
    await runtime.deliver(
        AuthorityRegistered(
            authority_id="auth-bre",
            name="Commune de Rennes",
            kind="commune",
            region="FR-BRE",
            contact_email="mairie@rennes.example",
            territoires_volontaires=False,
        ),
        region="FR-BRE",
    )
    await runtime.deliver(MatchesProposed(request_id="req-1", authority_id="auth-bre", suggestions=[]), region="FR-BRE")


async def notifications(runtime: FakeRuntime[Any]) -> list[dict[str, Any]]:
    """Every queued notification."""
    return await runtime.collection("notifications").find({}).to_list()


async def test_a_proposal_is_routed_to_the_authority_and_its_regions_branch() -> None:
    runtime, _ = await notifications_runtime(FakeMailer())
    await proposal_for_an_authority(runtime)
    queued = await notifications(runtime)
    assert sorted((n["recipient"]["role"], n["channel"], n["status"]) for n in queued) == [
        ("authority", "email", "pending"),
        ("branch", "email", "pending"),
    ]


async def test_a_delivered_email_is_marked_sent_and_announced() -> None:
    mailer = FakeMailer()
    runtime, worker = await notifications_runtime(mailer)
    await proposal_for_an_authority(runtime)
    assert await worker.run() == 2
    assert sorted(e.to_address for e in mailer.sent) == ["antenne.fr-bre@vies.example.org", "mairie@rennes.example"]
    assert {n["status"] for n in await notifications(runtime)} == {"sent"}
    sent = runtime.events_of(NotificationSent)
    assert sorted(e.recipient_role for e in sent) == ["authority", "branch"]
    assert await worker.run() == 0  # nothing sent twice


async def test_a_permanent_refusal_fails_at_once_and_is_not_retried() -> None:
    mailer = FakeMailer(permanent("550 5.1.1 mailbox unavailable"))
    runtime, worker = await notifications_runtime(mailer)
    await proposal_for_an_authority(runtime)
    await worker.run()
    queued = await notifications(runtime)
    assert {n["status"] for n in queued} == {"failed"} and {n["attempts"] for n in queued} == {1}
    failed = runtime.events_of(NotificationFailed)
    assert len(failed) == 2 and all("550" in (e.error or "") for e in failed)
    assert await worker.run() == 0 and len(mailer.sent) == 2


async def test_a_transient_failure_is_kept_for_a_later_attempt() -> None:
    mailer = FakeMailer(transient("SMTP connection failed"))
    runtime, worker = await notifications_runtime(mailer)
    await proposal_for_an_authority(runtime)
    await worker.run()
    queued = await notifications(runtime)
    assert {n["status"] for n in queued} == {"pending"}
    assert all(n["attempts"] == 1 and n["next_attempt_at"] is not None for n in queued)
    assert all("SMTP connection failed" in n["last_error"] for n in queued)
    assert runtime.events_of(NotificationSent) == [] and runtime.events_of(NotificationFailed) == []


async def test_a_host_partner_known_only_after_its_mission_started_still_gets_the_update() -> None:
    # Found by make chaos: the partner's event travels on another topic and may be taken in after the mission's.
    mailer = FakeMailer()
    runtime, worker = await notifications_runtime(mailer)
    planned = MissionPlanned(
        mission_id="mis-1",
        engagement_id="eng-1",
        volunteer_id="per-1",
        authority_id="auth-1",
        partner_id="par-late",
        country="SN",
        scheme="service_civique",
        starts_on="2027-01-04",
        ends_on="2027-09-04",
    )
    await runtime.deliver(planned)
    await runtime.deliver(MissionStarted(mission_id="mis-1", departed_on="2027-01-04"))
    queued = [n for n in await notifications(runtime) if n["recipient"]["role"] == "host_partner"]
    assert [(n["template"], n["recipient"]["id"]) for n in queued] == [("host_partner_update", "par-late")]
    await worker.run()
    assert "partner@thies.example" not in [e.to_address for e in mailer.sent]  # waits for its address
    wakeup.listen(runtime.db.name, worker)  # as the running worker does: the partner's arrival releases it
    await runtime.deliver(
        PartnerRegistered(
            partner_id="par-late",
            name="Association de Thiès",
            kind="association",
            country="SN",
            city="Thiès",
            themes=["health"],
            languages=["fr"],
            hosting_capacity=2,
            reciprocity=False,
            contact_email="partner@thies.example",
        )
    )
    await asyncio.sleep(0.1)  # the commit released the waiting message in the background
    wakeup.stop_listening(runtime.db.name, worker)
    await worker.run()
    assert "partner@thies.example" in [e.to_address for e in mailer.sent]


async def test_preferences_are_the_persons_own_and_default_until_saved() -> None:
    runtime, _ = await notifications_runtime(FakeMailer())
    volunteer = Principal(sub="vol-1", role="volunteer")
    before = await use_cases.get_preferences(runtime, volunteer, "vol-1")
    assert before["opt_out_categories"] == []
    with pytest.raises(Forbidden):
        await use_cases.set_preferences(runtime, Principal(sub="vol-2", role="volunteer"), "vol-1", "en", ["digest"])
    await use_cases.set_preferences(runtime, volunteer, "vol-1", "en", ["digest", "digest"])
    after = await use_cases.get_preferences(runtime, volunteer, "vol-1")
    assert after["language"] == "en" and after["opt_out_categories"] == ["digest"]
