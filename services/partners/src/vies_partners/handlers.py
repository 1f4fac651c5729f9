"""Projections of other services' events: mission outcomes for matching, alerts, and the journey's facts.

Each handler runs in the kit's transaction (inbox record included), so an event delivered twice is
handled once; the writes are also idempotent by design (sets, not increments) so replays and
out-of-order arrivals across aggregates converge on the same state. The projections no handler reads
(alerts, positions, selections, engagements, the partners' stats) are written at commit
(``uow.at_commit``), with the inbox records, in one command; missions and incidents, which the
stats are counted from, are written at once.
"""

from __future__ import annotations

from typing import Any

from vies_partners import store
from vies_shared import erasure
from vies_shared.events.missions import (
    FollowUpInterviewDone,
    IncidentReported,
    MissionEnded,
    MissionExtended,
    MissionInterrupted,
    MissionPlanned,
    MissionStarted,
    SafetyCheckClosed,
    SecurityAlertIssued,
)
from vies_shared.events.partners import AuthorityUpdated, PartnerUpdated
from vies_shared.events.recruitment import CandidateSelected, PersonErased, PositionPublished, VolunteerEngaged
from vies_shared.messaging.consumer import Handler, HandlerContext

Document = dict[str, Any]

# What is left of a contact person once erased.
ERASED_CONTACT: Document = {"name": None, "email": None, "phone": None, "role": None, "person_id": None, "erased": True}
# What stands in an erased person's place where an action is recorded with who did it.
ERASED_ACTOR = "erased"
# Where partners records who did an action (collection, field): a token's subject may be a person's id.
ACTOR_FIELDS = (
    (store.AUTHORITIES, "registered_by"),
    (store.PARTNERSHIPS, "established_by"),
    (store.PARTNERSHIPS, "ended_by"),
    (store.MATCH_REQUESTS, "requested_by"),
)


def _event_day(ctx: HandlerContext) -> str:
    """The day the fact happened (``ce_time``), for events that carry no business date."""
    return ctx.meta.time.date().isoformat()


async def _mission_changed(ctx: HandlerContext, mission_id: str) -> None:
    doc = await ctx.uow[store.MISSIONS].find_one({"_id": mission_id}, {"partner_id": 1})
    if doc and doc.get("partner_id"):
        await store.recompute_partner_stats(ctx.uow, doc["partner_id"])


async def on_mission_planned(ctx: HandlerContext, event: MissionPlanned) -> None:
    """A mission takes a hosting place with its partner and belongs to the authority's journey."""
    await ctx.uow[store.MISSIONS].update_one(
        {"_id": event.mission_id},
        {
            "$set": {
                "authority_id": event.authority_id,
                "partner_id": event.partner_id,
                "country": event.country,
                "scheme": event.scheme,
                "starts_on": event.starts_on.isoformat(),
                "ends_on": event.ends_on.isoformat(),
            },
            # A later status (started/ended) that arrived first is kept.
            "$setOnInsert": {"status": "planned"},
        },
        upsert=True,
    )
    # Incidents reported before the plan reached us learn their partner now.
    await ctx.uow[store.INCIDENTS].update_many(
        {"mission_id": event.mission_id}, {"$set": {"partner_id": event.partner_id}}
    )
    await store.recompute_partner_stats(ctx.uow, event.partner_id)


async def on_mission_started(ctx: HandlerContext, event: MissionStarted) -> None:
    """The volunteer departed."""
    await ctx.uow[store.MISSIONS].update_one(
        {"_id": event.mission_id, "status": {"$nin": ["ended", "interrupted"]}},
        {"$set": {"status": "started", "departed_on": event.departed_on.isoformat()}},
    )
    await ctx.uow[store.MISSIONS].update_one(
        {"_id": event.mission_id},
        {"$setOnInsert": {"status": "started", "departed_on": event.departed_on.isoformat()}},
        upsert=True,
    )
    await _mission_changed(ctx, event.mission_id)


async def _end(ctx: HandlerContext, mission_id: str, status: str, ended_on: str, reason: str | None) -> None:
    await ctx.uow[store.MISSIONS].update_one(
        {"_id": mission_id},
        {"$set": {"status": status, "ended_on": ended_on, "end_reason": reason}},
        upsert=True,
    )
    await _mission_changed(ctx, mission_id)


async def on_mission_ended(ctx: HandlerContext, event: MissionEnded) -> None:
    """The mission ended as planned: its place is free again and the partner has hosted one more."""
    await _end(ctx, event.mission_id, "ended", event.ended_on.isoformat(), None)


async def on_mission_interrupted(ctx: HandlerContext, event: MissionInterrupted) -> None:
    """An early return also ends the mission (for the journey and the hosting place)."""
    ended_on = event.interrupted_on.isoformat() if event.interrupted_on else _event_day(ctx)
    await _end(ctx, event.mission_id, "interrupted", ended_on, event.reason)


async def on_mission_extended(ctx: HandlerContext, event: MissionExtended) -> None:
    """A later end date moves the mid and end interviews."""
    await ctx.uow[store.MISSIONS].update_one(
        {"_id": event.mission_id}, {"$set": {"ends_on": event.ends_on.isoformat()}}, upsert=True
    )


async def on_incident_reported(ctx: HandlerContext, event: IncidentReported) -> None:
    """Incidents count against the partner's track record when serious (high or critical)."""
    partner_id = event.partner_id
    if partner_id is None:
        mission = await ctx.uow[store.MISSIONS].find_one({"_id": event.mission_id}, {"partner_id": 1})
        partner_id = mission.get("partner_id") if mission else None
    await ctx.uow[store.INCIDENTS].update_one(
        {"_id": event.incident_id},
        {
            "$set": {
                "mission_id": event.mission_id,
                "partner_id": partner_id,
                "severity": event.severity,
                "category": event.category,
            }
        },
        upsert=True,
    )
    if partner_id:
        await store.recompute_partner_stats(ctx.uow, partner_id)


async def on_security_alert_issued(ctx: HandlerContext, event: SecurityAlertIssued) -> None:
    """An alert is open until its safety check closes; a crisis one excludes its country from matching."""
    ctx.uow.at_commit(store.ALERTS).update_one(
        {"_id": event.alert_id},
        {"$set": {"country": event.country.upper(), "level": event.level}, "$setOnInsert": {"open": True}},
        upsert=True,
    )


async def on_safety_check_closed(ctx: HandlerContext, event: SafetyCheckClosed) -> None:
    """The matching safety check closed: the country can be suggested again."""
    update: Document = {"open": False}
    if event.country:
        update["country"] = event.country.upper()
    ctx.uow.at_commit(store.ALERTS).update_one({"_id": event.alert_id}, {"$set": update}, upsert=True)


async def on_position_published(ctx: HandlerContext, event: PositionPublished) -> None:
    """A position of the authority opened (journey: position published)."""
    ctx.uow.at_commit(store.POSITIONS).update_one(
        {"_id": event.position_id},
        {
            "$set": {
                "authority_id": event.authority_id,
                "partnership_id": event.partnership_id,
                "partner_id": event.partner_id,
                "scheme": event.scheme,
                "country": event.country,
            },
            "$min": {"published_on": _event_day(ctx)},
        },
        upsert=True,
    )


async def on_candidate_selected(ctx: HandlerContext, event: CandidateSelected) -> None:
    """A candidate was selected for a position (its authority is known from the position)."""
    ctx.uow.at_commit(store.SELECTIONS).update_one(
        {"_id": event.application_id},
        {"$set": {"position_id": event.position_id}, "$min": {"selected_on": _event_day(ctx)}},
        upsert=True,
    )


async def on_volunteer_engaged(ctx: HandlerContext, event: VolunteerEngaged) -> None:
    """A volunteer signed with the authority."""
    ctx.uow.at_commit(store.ENGAGEMENTS).update_one(
        {"_id": event.engagement_id},
        {
            "$set": {"authority_id": event.authority_id, "partner_id": event.partner_id, "scheme": event.scheme},
            "$min": {"engaged_on": _event_day(ctx)},
        },
        upsert=True,
    )


async def on_follow_up_interview_done(ctx: HandlerContext, event: FollowUpInterviewDone) -> None:
    """A follow-up interview was held (the first date of each stage counts)."""
    await ctx.uow[store.MISSIONS].update_one(
        {"_id": event.mission_id},
        {"$min": {f"interviews.{event.stage}": event.done_on.isoformat()}},
        upsert=True,
    )


async def on_person_erased(ctx: HandlerContext, event: PersonErased) -> None:
    """Right to erasure: every contact linked to the person loses its personal data, and that change is published.

    A partner whose contact persons changed gets ``PartnerUpdated`` (``changed: [contacts]``); an authority
    whose contact was the person loses its address too and gets ``AuthorityUpdated`` naming ``contact`` and
    ``contact_email`` as changed, the address null, so notifications stops mailing it. The erasure is
    remembered: the person cannot be linked to a contact again (``use_cases``). Where the person is
    recorded as who did an action (a vetting step, a registration, a partnership, a match request),
    the id becomes ``erased``: the action stays, nobody is named, and nothing is published (no event
    carries these fields).
    """
    await erasure.remember_erasure(ctx.uow, event.person_id, ctx.meta.time)
    await _erase_actor(ctx, event.person_id)
    now = ctx.uow.now()
    partners = ctx.uow[store.PARTNERS]
    async for doc in partners.find({"contacts.person_id": event.person_id}, {"contacts": 1}):
        contacts = [ERASED_CONTACT if c.get("person_id") == event.person_id else c for c in doc.get("contacts", [])]
        await partners.update_one({"_id": doc["_id"]}, {"$set": {"contacts": contacts, "updated_at": now}})
        ctx.emit(PartnerUpdated(partner_id=doc["_id"], changed=["contacts"]))
    authorities = ctx.uow[store.AUTHORITIES]
    query = {"contact.person_id": event.person_id}
    async for doc in authorities.find(query, {"region": 1}):
        await authorities.update_one(
            {"_id": doc["_id"]},
            {"$set": {"contact": ERASED_CONTACT, "contact_email": None, "updated_at": now}},
        )
        changed = AuthorityUpdated(
            authority_id=doc["_id"], region=doc["region"], changed=["contact", "contact_email"], contact_email=None
        )
        ctx.emit(changed, region=doc["region"])


async def _erase_actor(ctx: HandlerContext, person_id: str) -> None:
    """Replace the person's id wherever it says who did an action: one indexed update per field."""
    # A pipeline rewrites only the person's steps of the history: the step with one more ``by`` pair,
    # the last of a name winning (the fast tier's mongomock has neither array filters nor $mergeObjects).
    person_step = {"$eq": ["$$step.by", person_id]}
    erased_step = {
        "$arrayToObject": {"$concatArrays": [{"$objectToArray": "$$step"}, [{"k": "by", "v": ERASED_ACTOR}]]}
    }
    steps = {"$map": {"input": "$history", "as": "step", "in": {"$cond": [person_step, erased_step, "$$step"]}}}
    await ctx.uow[store.PARTNERS].update_many({"history.by": person_id}, [{"$set": {"history": steps}}])
    for collection, field in ACTOR_FIELDS:
        await ctx.uow[collection].update_many({field: person_id}, {"$set": {field: ERASED_ACTOR}})


HANDLERS: list[Handler] = [
    on_mission_planned,
    on_mission_started,
    on_mission_ended,
    on_mission_interrupted,
    on_mission_extended,
    on_incident_reported,
    on_security_alert_issued,
    on_safety_check_closed,
    on_position_published,
    on_candidate_selected,
    on_volunteer_engaged,
    on_person_erased,
    on_follow_up_interview_done,
]
