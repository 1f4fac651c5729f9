"""Contract events this service consumes → its own state (idempotency, retries and DLQ are the kit's).

Each handler is registered for the event class its ``event`` parameter is annotated with
(``HANDLERS``); planning a mission reads the configured check-in interval and interview
offsets from the service's settings (``ctx.settings``).
"""

from __future__ import annotations

from typing import Any

from vies_missions import store
from vies_missions.domain.incident import Incident
from vies_missions.domain.mission import ACTIVE, RECIPROCITY_SCHEMES, Mission
from vies_missions.settings import MissionsSettings
from vies_shared import erasure
from vies_shared.aggregate import emit_recorded
from vies_shared.events.partners import (
    AuthorityRegistered,
    AuthorityUpdated,
    PartnerRegistered,
    PartnerReinstated,
    PartnerSuspended,
)
from vies_shared.events.recruitment import ContactUpdated, PersonErased, VolunteerEngaged
from vies_shared.events.topics import CONTACTS_TOPIC_SUFFIX
from vies_shared.messaging.consumer import Handler, HandlerContext
from vies_shared.reference import centre_for_country
from vies_shared.storage import UnitOfWork

Document = dict[str, Any]


async def on_volunteer_engaged(ctx: HandlerContext[MissionsSettings], event: VolunteerEngaged) -> None:
    """Plan the mission of an engagement (once, however often the engagement is delivered).

    An engagement made before its volunteer was erased but read after the erasure plans an erased mission.
    """
    erased = await erasure.is_erased_after(ctx.uow, event.volunteer_id, ctx.meta.time)
    await plan_mission(ctx.uow, ctx.settings, event, volunteer_erased=erased)


async def plan_mission(
    uow: UnitOfWork, settings: MissionsSettings, event: VolunteerEngaged, *, volunteer_erased: bool = False
) -> Mission | None:
    """Create the planned mission of an engagement and emit ``MissionPlanned``; None if it exists already.

    ``volunteer_erased``: the volunteer was erased meanwhile; the mission is planned erased (its anonymous
    facts kept) and ``MissionPlanned`` does not publish the person's id again (an empty ``volunteer_id``).
    """
    missions = uow[store.MISSIONS]
    if await missions.find_one({"engagement_id": event.engagement_id}, {"_id": 1}):
        return None  # the same engagement under another event id: one mission only
    host_country = "FR" if event.scheme in RECIPROCITY_SCHEMES else event.country
    mission = Mission.plan(
        engagement_id=event.engagement_id,
        volunteer_id=event.volunteer_id,
        authority_id=event.authority_id,
        partner_id=event.partner_id,
        country=event.country,
        scheme=event.scheme,
        starts_on=event.starts_on,
        ends_on=event.ends_on,
        centre_id=centre_for_country(host_country).centre_id,
        region=await store.region_of(uow, event.authority_id),
        check_in_interval_seconds=settings.check_in_interval,
        follow_up_offsets=(settings.follow_up_start_offset_days, settings.follow_up_end_offset_days),
        now=uow.now(),
        vsi_months_served_before=event.vsi_months_served_before,
        place=event.place.model_dump() if event.place else None,
        volunteer_erased=volunteer_erased,
    )
    await store.add(uow, store.MISSIONS, mission)
    return mission


async def on_authority_registered(ctx: HandlerContext, event: AuthorityRegistered) -> None:
    """Remember the authority's region (``ce_region`` of our events, branch scoping) and fill it in;
    its name and organisational address are the volunteer's authority contact."""
    await ctx.uow[store.AUTHORITIES].update_one(
        {"_id": event.authority_id},
        {
            "$set": {
                "name": event.name,
                "region": event.region,
                "kind": event.kind,
                "contact_email": event.contact_email,
            }
        },
        upsert=True,
    )
    await _follow_region(ctx.uow, event.authority_id, event.region)


async def on_authority_updated(ctx: HandlerContext, event: AuthorityUpdated) -> None:
    """Keep the authority contact the volunteer sees current: a corrected organisational address, or
    none once partners erased it with the person it named; the region follows a correction too."""
    changes: Document = {"region": event.region}
    if "contact_email" in event.changed:
        changes["contact_email"] = event.contact_email
    await ctx.uow[store.AUTHORITIES].update_one({"_id": event.authority_id}, {"$set": changes}, upsert=True)
    await _follow_region(ctx.uow, event.authority_id, event.region)


async def _follow_region(uow: UnitOfWork, authority_id: str, region: str) -> None:
    """The authority's missions, incidents and safety-check entries carry its region (branch scoping)."""
    for collection in (store.MISSIONS, store.INCIDENTS, store.ENTRIES):
        await uow[collection].update_many(
            {"authority_id": authority_id, "region": {"$ne": region}}, {"$set": {"region": region}}
        )


async def on_partner_registered(ctx: HandlerContext, event: PartnerRegistered) -> None:
    """Remember the host partner's name, country and city: the certificate and the volunteer's contacts name it."""
    # ``PartnerUpdated`` carries no name (a partner's name is not corrected through it), so the
    # registration is the only source. Written at commit: no handler reads the partners it knows.
    ctx.uow.at_commit(store.PARTNERS).update_one(
        {"_id": event.partner_id},
        {"$set": {"name": event.name, "country": event.country, "city": event.city}},
        upsert=True,
    )


async def on_partner_suspended(ctx: HandlerContext, event: PartnerSuspended) -> None:
    """Flag the suspended partner's active missions for review (one bulk update)."""
    now = ctx.now()
    cursor = ctx.uow[store.MISSIONS].find({"partner_id": event.partner_id, "status": {"$in": list(ACTIVE)}})
    missions = [Mission.from_doc(doc) async for doc in cursor]
    flagged = [m for m in missions if m.flag_for_partner_suspension(event.partner_id, event.reason, now)]
    if not flagged:
        return
    # One review for all (same partner, reason and time): one bulk update rather than a write per mission.
    await ctx.uow[store.MISSIONS].update_many(
        {"_id": {"$in": [m.mission_id for m in flagged]}}, {"$set": {"review": flagged[0].review}}
    )
    emit_recorded(ctx.uow, *flagged)


async def on_partner_reinstated(ctx: HandlerContext, event: PartnerReinstated) -> None:
    """Lift the review flag that the partner's suspension put on its missions."""
    await ctx.uow[store.MISSIONS].update_many({"review.partner_id": event.partner_id}, {"$set": {"review": None}})


async def on_person_erased(ctx: HandlerContext, event: PersonErased) -> None:
    """Right to erasure: delete the person's contact data and free texts, keep anonymous mission facts.

    The erasure is remembered, so that older contact data or engagements read later do not bring it back.
    """
    person_id = event.person_id
    await erasure.remember_erasure(ctx.uow, person_id, ctx.meta.time)
    # At commit, in order with the contact updates of the same batch (also written at commit).
    ctx.uow.at_commit(store.CONTACTS).delete_one({"_id": person_id})
    missions = [Mission.from_doc(d) async for d in ctx.uow[store.MISSIONS].find({"volunteer_id": person_id})]
    mission_ids = [m.mission_id for m in missions]
    for mission in missions:
        mission.erase_volunteer()
        await store.save(ctx.uow, store.MISSIONS, mission)
    if not mission_ids:
        return
    await ctx.uow[store.CHECK_INS].update_many({"mission_id": {"$in": mission_ids}}, {"$set": {"note": None}})
    async for doc in ctx.uow[store.INCIDENTS].find({"mission_id": {"$in": mission_ids}}):
        incident = Incident.from_doc(doc)
        incident.erase_personal_data()
        await store.save(ctx.uow, store.INCIDENTS, incident)
    await ctx.uow[store.ENTRIES].update_many({"volunteer_id": person_id}, {"$set": {"volunteer_id": None}})


async def on_contact_updated(ctx: HandlerContext, event: ContactUpdated) -> None:
    """Keep the person's name, phone and email for the safety checks' live lists (contract 1.5).

    Every person's contact is kept, not only current volunteers': the compacted topic is read
    once per consumer group, so a contact published before the engagement would otherwise be lost.
    """
    if await erasure.is_erased_after(ctx.uow, event.person_id, ctx.meta.time):
        return  # produced before the person's erasure, read after it: the erasure wins
    contact = {
        "_id": event.person_id,
        "name": event.name,
        "email": event.email,
        "phone": event.phone,
        "language": event.language,
        "emergency_contact": event.emergency_contact.model_dump() if event.emergency_contact else None,
        "updated_at": ctx.meta.time,
    }
    # One write: an older update delivered late (e.g. replayed from a dead letter) leaves the newer
    # one in place. Values are literals, so a name starting with "$" is not read as a field path.
    newer = {"$gt": ["$updated_at", ctx.meta.time]}
    replacement = {"$cond": [newer, "$$ROOT", {name: {"$literal": value} for name, value in contact.items()}]}
    # Sent at commit with the inbox record: no handler reads contacts in a transaction, and every
    # write of them (erasure, tombstone) goes at commit too, so they keep the batch's order.
    ctx.uow.at_commit(store.CONTACTS).update_one({"_id": event.person_id}, [{"$replaceWith": replacement}], upsert=True)


HANDLERS: list[Handler[MissionsSettings]] = [
    on_volunteer_engaged,
    on_authority_registered,
    on_authority_updated,
    on_partner_registered,
    on_partner_suspended,
    on_partner_reinstated,
    on_person_erased,
    on_contact_updated,
]


async def on_contact_tombstone(uow: UnitOfWork, topic: str, key: str) -> None:
    """A tombstone on the contacts topic: the person was erased, forget their contact data."""
    if topic.endswith(CONTACTS_TOPIC_SUFFIX) and key:
        uow.at_commit(store.CONTACTS).delete_one({"_id": key})  # in order with the batch's contact updates
