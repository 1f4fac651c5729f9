"""Contract events this service consumes: projections of the partners directory and of missions.

Thin: each handler records what it learns (idempotency, retries and dead letters
are the kit's) and, for an ended partnership, closes its open positions.
Events of different aggregates arrive in any order, so projections upsert.
"""

from __future__ import annotations

from vies_recruitment import store, use_cases
from vies_recruitment.domain.engagement import Engagement
from vies_shared.events.missions import MissionEnded, MissionExtended, MissionInterrupted, MissionPlanned
from vies_shared.events.partners import (
    AuthorityRegistered,
    PartnerApproved,
    PartnerRegistered,
    PartnerReinstated,
    PartnerRejected,
    PartnershipEnded,
    PartnershipEstablished,
    PartnerSuspended,
    SendingOrganisationApprovalChanged,
    SendingOrganisationRegistered,
)
from vies_shared.logging import get_logger
from vies_shared.messaging.consumer import Handler, HandlerContext

log = get_logger(component="handlers")


async def on_authority_registered(ctx: HandlerContext, event: AuthorityRegistered) -> None:
    """Remember the authority's region (``ce_region`` of our events, branch scope)."""
    await ctx.uow[store.AUTHORITIES].update_one(
        {"_id": event.authority_id},
        {"$set": {"name": event.name, "region": event.region}},
        upsert=True,
    )
    # Positions drafted before we heard of the authority get its region now.
    for collection in (store.POSITIONS, store.APPLICATIONS):
        await ctx.uow[collection].update_many(
            {"authority_id": event.authority_id, "region": None},
            {"$set": {"region": event.region}},
        )


async def on_partnership_established(ctx: HandlerContext, event: PartnershipEstablished) -> None:
    """A partnership positions can be opened in."""
    await ctx.uow[store.PARTNERSHIPS].update_one(
        {"_id": event.partnership_id},
        {
            "$set": {
                "authority_id": event.authority_id,
                "partner_id": event.partner_id,
                "country": event.country.upper(),
                "themes": event.themes,
                "starts_on": store.iso(event.starts_on),
                "ends_on": store.iso(event.ends_on),
                "region": event.region,
            },
            "$setOnInsert": {"status": "active"},
        },
        upsert=True,
    )
    if event.region:
        await ctx.uow[store.AUTHORITIES].update_one(
            {"_id": event.authority_id}, {"$setOnInsert": {"region": event.region}}, upsert=True
        )


async def on_partnership_ended(ctx: HandlerContext, event: PartnershipEnded) -> None:
    """Close the partnership's open positions with the partnership's reason."""
    await ctx.uow[store.PARTNERSHIPS].update_one(
        {"_id": event.partnership_id},
        {"$set": {"status": "ended", "ended_reason": event.reason}},
        upsert=True,
    )
    closed = await use_cases.close_positions_of_partnership(ctx.uow, event.partnership_id, event.reason)
    log.info("partnership_ended", partnership_id=event.partnership_id, positions_closed=closed)


async def _partner(ctx: HandlerContext, partner_id: str, changes: dict[str, object]) -> None:
    await ctx.uow[store.PARTNERS].update_one({"_id": partner_id}, {"$set": changes}, upsert=True)


async def on_partner_registered(ctx: HandlerContext, event: PartnerRegistered) -> None:
    """A partner is pending until approved."""
    await ctx.uow[store.PARTNERS].update_one(
        {"_id": event.partner_id},
        {"$set": {"name": event.name, "country": event.country}, "$setOnInsert": {"status": "pending"}},
        upsert=True,
    )


async def on_partner_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
    """Positions with this partner may be published."""
    await _partner(ctx, event.partner_id, {"status": "approved"})


async def on_partner_rejected(ctx: HandlerContext, event: PartnerRejected) -> None:
    """Positions with this partner may not be published."""
    await _partner(ctx, event.partner_id, {"status": "rejected"})


async def on_partner_suspended(ctx: HandlerContext, event: PartnerSuspended) -> None:
    """No publishing while suspended."""
    await _partner(ctx, event.partner_id, {"suspended": True})


async def on_partner_reinstated(ctx: HandlerContext, event: PartnerReinstated) -> None:
    """Suspension lifted."""
    await _partner(ctx, event.partner_id, {"suspended": False})


async def on_sending_organisation(
    ctx: HandlerContext, event: SendingOrganisationRegistered | SendingOrganisationApprovalChanged
) -> None:
    """A VSI sending organisation's approval and its validity dates."""
    changes: dict[str, object] = {
        "approval_number": event.approval_number,
        "approved_from": store.iso(event.approved_from),
        "approved_until": store.iso(event.approved_until),
    }
    if isinstance(event, SendingOrganisationRegistered):
        changes["name"] = event.name
    await ctx.uow[store.SENDING_ORGANISATIONS].update_one(
        {"_id": event.organisation_id}, {"$set": changes}, upsert=True
    )


async def on_mission_planned(ctx: HandlerContext, event: MissionPlanned) -> None:
    """Link the mission to its engagement; an engagement made elsewhere joins the volunteer's history."""
    doc = await ctx.uow[store.ENGAGEMENTS].find_one({"_id": event.engagement_id})
    if doc is None:
        await store.add(ctx.uow, store.ENGAGEMENTS, Engagement.made_elsewhere(event))
        return
    engagement = Engagement.from_doc(doc)
    engagement.planned(event)
    await store.save(ctx.uow, store.ENGAGEMENTS, engagement)


async def _engagement_of(ctx: HandlerContext, mission_id: str) -> Engagement | None:
    doc = await ctx.uow[store.ENGAGEMENTS].find_one({"mission_id": mission_id})
    if doc is None:
        log.warning("mission_unknown", mission_id=mission_id)
        return None
    return Engagement.from_doc(doc)


async def on_mission_extended(ctx: HandlerContext, event: MissionExtended) -> None:
    """A longer mission counts longer towards the VSI lifetime cap."""
    if engagement := await _engagement_of(ctx, event.mission_id):
        engagement.extend(event.ends_on)
        await store.save(ctx.uow, store.ENGAGEMENTS, engagement)


async def on_mission_ended(ctx: HandlerContext, event: MissionEnded) -> None:
    """Time actually served ends on the end date."""
    if engagement := await _engagement_of(ctx, event.mission_id):
        engagement.end(event.ended_on)
        await store.save(ctx.uow, store.ENGAGEMENTS, engagement)


async def on_mission_interrupted(ctx: HandlerContext, event: MissionInterrupted) -> None:
    """An early return: time served stops on the interruption day (the event's time when not given)."""
    if engagement := await _engagement_of(ctx, event.mission_id):
        engagement.end(event.interrupted_on or ctx.meta.time.date(), interrupted=True)
        await store.save(ctx.uow, store.ENGAGEMENTS, engagement)


HANDLERS: list[Handler] = [
    on_authority_registered,
    on_partnership_established,
    on_partnership_ended,
    on_partner_registered,
    on_partner_approved,
    on_partner_rejected,
    on_partner_suspended,
    on_partner_reinstated,
    on_sending_organisation,
    on_mission_planned,
    on_mission_extended,
    on_mission_ended,
    on_mission_interrupted,
]
