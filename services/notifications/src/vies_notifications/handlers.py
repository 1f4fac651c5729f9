"""Contract events → the intake (projection, routing, queue) and the erasure rules; thin on purpose.

The kit's consumer gives idempotency on ``ce_id`` (inbox), retries and dead letters.
"""

from __future__ import annotations

from vies_notifications import intake, projection, wakeup
from vies_notifications.settings import NotificationsSettings
from vies_shared import erasure
from vies_shared.events.base import Event, registered_models
from vies_shared.events.recruitment import ContactUpdated, PersonErased
from vies_shared.events.topics import contacts_topic
from vies_shared.messaging.consumer import Handler, HandlerContext, Handles
from vies_shared.storage import UnitOfWork

# Every event of the three *.events topics may interest a webhook subscriber; the routing table picks
# those that also reach people.
CONSUMED_SERVICES = ("partners", "recruitment", "missions")
SPECIAL = {ContactUpdated.TYPE, PersonErased.TYPE}


async def on_event(ctx: HandlerContext[NotificationsSettings], event: Event) -> None:
    """Any contract event: update the projection and queue its notifications."""
    await intake.take_in(ctx.uow, ctx.meta, event, ctx.settings.delays)
    wakeup.addresses_known(ctx.uow, wakeup.addressees(ctx.meta.type, event))  # release what waited for them


async def on_contact_updated(ctx: HandlerContext, event: ContactUpdated) -> None:
    """Contact data from the compacted contacts topic (contract 1.5); none of a person erased since."""
    if await projection.erased_among(ctx.uow, [event.person_id], ctx.meta.time):
        return  # produced before the erasure, read after it: the erasure wins
    if await projection.save_contact(ctx.uow, event.person_id, event.model_dump(mode="json")):
        wakeup.addresses_known(ctx.uow, [event.person_id])  # what waited for them goes once this commits


async def on_person_erased(ctx: HandlerContext[NotificationsSettings], event: PersonErased) -> None:
    """Right to erasure: contact data deleted, delivery log anonymised; subscribers still hear of the erasure.

    The erasure is remembered so that older facts read later (contacts, engagements) do not bring it back.
    """
    await erasure.remember_erasure(ctx.uow, event.person_id, ctx.meta.time)
    projection.forget(ctx.uow, erasure.ERASED_PERSONS, event.person_id)  # read again if asked in this batch
    await projection.erase_person(ctx.uow, event.person_id)
    await intake.take_in(ctx.uow, ctx.meta, event, ctx.settings.delays)


async def on_tombstone(uow: UnitOfWork, topic: str, key: str) -> None:
    """A tombstone on the contacts topic: the person was erased."""
    if topic.endswith(contacts_topic("")) and key:
        await projection.erase_person(uow, key)


# The intake takes every event of the partners, recruitment and missions topics but the two with rules of
# their own: a set computed from the registry (new contract events included), so declared with ``Handles``.
INTAKE_EVENTS: tuple[type[Event], ...] = tuple(
    model for model in registered_models() if model.service() in CONSUMED_SERVICES and model.TYPE not in SPECIAL
)

HANDLERS: list[Handler[NotificationsSettings] | Handles[NotificationsSettings]] = [
    Handles(INTAKE_EVENTS, on_event),
    on_contact_updated,
    on_person_erased,
]
