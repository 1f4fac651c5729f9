"""Contract events → the intake (projection, routing, queue) and the erasure rules; thin on purpose.

The kit's consumer gives idempotency on ``ce_id`` (inbox), retries and dead letters.
"""

from __future__ import annotations

from collections.abc import Mapping

from vies_notifications import intake, projection, wakeup
from vies_notifications.domain import routing
from vies_notifications.settings import NotificationsSettings
from vies_shared import erasure
from vies_shared.events.base import Event, registered_models
from vies_shared.events.recruitment import ContactUpdated, PersonErased
from vies_shared.events.topics import contacts_topic
from vies_shared.messaging.consumer import Handler, HandlerContext
from vies_shared.storage import UnitOfWork

# Every event of the three *.events topics may interest a webhook subscriber; the routing table picks
# those that also reach people.
CONSUMED_SERVICES = ("partners", "recruitment", "missions")
SPECIAL = {ContactUpdated.TYPE, PersonErased.TYPE}


def _delays(ctx: HandlerContext) -> Mapping[str, float]:
    """The delays of the routing table's delayed rows, from the service's settings when it has them."""
    settings = getattr(ctx.runtime, "settings", None)
    return settings.delays if isinstance(settings, NotificationsSettings) else routing.DEFAULT_DELAYS


async def on_event(ctx: HandlerContext, event: Event) -> None:
    """Any contract event: update the projection and queue its notifications."""
    await intake.take_in(ctx.uow, ctx.meta, event, _delays(ctx))
    wakeup.addresses_known(ctx.uow, wakeup.addressees(ctx.meta.type, event))  # release what waited for them


async def on_contact_updated(ctx: HandlerContext, event: ContactUpdated) -> None:
    """Contact data from the compacted contacts topic (contract 1.5); none of a person erased since."""
    if await erasure.is_erased_after(ctx.db, ctx.session, event.person_id, ctx.meta.time):
        return  # produced before the erasure, read after it: the erasure wins
    await projection.save_contact(ctx.uow, event.person_id, event.model_dump(mode="json"))
    wakeup.addresses_known(ctx.uow, [event.person_id])  # what waited for them goes once this commits


async def on_person_erased(ctx: HandlerContext, event: PersonErased) -> None:
    """Right to erasure: contact data deleted, delivery log anonymised; subscribers still hear of the erasure.

    The erasure is remembered so that older facts read later (contacts, engagements) do not bring it back.
    """
    await erasure.remember_erasure(ctx.db, ctx.session, event.person_id, ctx.meta.time)
    await projection.erase_person(ctx.uow, event.person_id)
    await intake.take_in(ctx.uow, ctx.meta, event, _delays(ctx))


async def on_tombstone(uow: UnitOfWork, topic: str, key: str) -> None:
    """A tombstone on the contacts topic: the person was erased."""
    if topic.endswith(contacts_topic("")) and key:
        await projection.erase_person(uow, key)


def handlers() -> dict[str, Handler]:
    """The consumer's table: every event type of the partners, recruitment and missions topics."""
    table: dict[str, Handler] = {
        model.TYPE: on_event
        for model in registered_models()
        if model.service() in CONSUMED_SERVICES and model.TYPE not in SPECIAL
    }
    table[ContactUpdated.TYPE] = on_contact_updated
    table[PersonErased.TYPE] = on_person_erased
    return table
