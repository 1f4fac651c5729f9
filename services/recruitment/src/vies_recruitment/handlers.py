"""Contract events this service consumes: projections of the partners directory and of missions.

Thin: each handler records what it learns (idempotency, retries and dead letters
are the kit's) and, for an ended partnership, closes its open positions.
Events of different aggregates arrive in any order, so projections upsert.
"""

from __future__ import annotations

from vies_recruitment import store, use_cases
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
    await ctx.uow[store.ENGAGEMENTS].update_one(
        {"_id": event.engagement_id},
        {
            "$set": {
                "mission_id": event.mission_id,
                "starts_on": store.iso(event.starts_on),
                "ends_on": store.iso(event.ends_on),
            },
            "$setOnInsert": {
                "person_id": event.volunteer_id,
                "scheme": event.scheme,
                "country": event.country,
                "authority_id": event.authority_id,
                "partner_id": event.partner_id,
                "application_id": None,
                "served_until": None,
            },
        },
        upsert=True,
    )


async def _mission(ctx: HandlerContext, mission_id: str, changes: dict[str, object]) -> None:
    result = await ctx.uow[store.ENGAGEMENTS].update_one({"mission_id": mission_id}, {"$set": changes})
    if result.matched_count == 0:
        log.warning("mission_unknown", mission_id=mission_id)


async def on_mission_extended(ctx: HandlerContext, event: MissionExtended) -> None:
    """A longer mission counts longer towards the VSI lifetime cap."""
    await _mission(ctx, event.mission_id, {"ends_on": store.iso(event.ends_on)})


async def on_mission_ended(ctx: HandlerContext, event: MissionEnded) -> None:
    """Time actually served ends on the end date."""
    await _mission(ctx, event.mission_id, {"served_until": store.iso(event.ended_on), "mission_status": "ended"})


async def on_mission_interrupted(ctx: HandlerContext, event: MissionInterrupted) -> None:
    """An early return: time served stops on the interruption day (the event's time when not given)."""
    day = event.interrupted_on or ctx.meta.time.date()
    await _mission(ctx, event.mission_id, {"served_until": store.iso(day), "mission_status": "interrupted"})


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
