"""From an incoming event to notifications waiting to be sent (runs inside the consumer's transaction).

It only records: update the projection, gather the event's facts, resolve the
recipients the routing table names, drop what a person opted out of, and
upsert one ``pending`` notification per (event, recipient, channel). Sending
is the delivery worker's job, so a slow SMTP server, SMS provider or webhook
never slows the consumption of events.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vies_notifications import local_time, projection, store, wakeup
from vies_notifications.domain import routing
from vies_notifications.domain.delivery import CANCELLED, PENDING, SENDING
from vies_notifications.domain.notification import Addressee, Cause, Notification
from vies_notifications.domain.subscription import ACTIVE, WebhookSubscription
from vies_shared import erasure, tracing
from vies_shared.events.base import Event, registered_models
from vies_shared.events.envelope import EventMeta
from vies_shared.events.missions import MissionPlanned
from vies_shared.events.recruitment import PersonErased
from vies_shared.reference import branch_for_region, centre_for_country
from vies_shared.storage import UnitOfWork

Document = dict[str, Any]

_DATETIME_FIELDS = ("at", "respond_by")


@dataclass(frozen=True)
class Recipient:
    """Someone a message goes to, named by kind and id; the address is looked up when sending."""

    kind: str  # person | authority | branch | centre | duty_officer | subscription | subscription_owner
    id: str
    role: str
    channels: tuple[str, ...] = ("email", "sms")

    @property
    def key(self) -> str:
        """Identity used in the one-per-(event, recipient, channel) rule."""
        return f"{self.kind}:{self.id}"

    @property
    def addressee(self) -> Addressee:
        """The recipient as a notification stores it."""
        return Addressee.of(self.kind, self.id, self.role)


def _short_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value


async def gather_facts(uow: UnitOfWork, meta: EventMeta, event: Event, data: Document | None = None) -> Document:
    """The event's data (``data``, by default all of it) plus what the projection knows about the records it names."""
    facts: Document = dict(data) if data is not None else event.model_dump(mode="json")
    # Deadlines on the reader's clock (before respond_by is shortened to UTC for older templates).
    facts.update(local_time.deadline_facts(facts.get("respond_by"), facts.get("country"), facts.get("subdivisions")))
    for name in _DATETIME_FIELDS:
        if name in facts:
            facts[name] = _short_datetime(facts[name])
    await _application_and_mission_facts(uow, facts)
    authority = await _position_and_party_facts(uow, facts)
    facts["region"] = await projection.event_region(uow, meta, facts.get("authority_id"))
    if meta.type == "recruitment.VolunteerEngaged":
        _welcome_facts(facts, authority)
    return facts


async def _application_and_mission_facts(uow: UnitOfWork, facts: Document) -> None:
    """Who and where, from the application, mission or alert the event names (its own values first)."""
    application = await projection.find(uow, store.APPLICATIONS, facts.get("application_id"))
    if application:
        for name in ("candidate_id", "position_id", "authority_id"):
            facts.setdefault(name, application.get(name))
        for name in ("position_title", "country"):  # carried by recent ApplicationSubmitted events
            if not facts.get(name) and application.get(name):
                facts[name] = application[name]
    mission = await projection.find(uow, store.MISSIONS, facts.get("mission_id"))
    if mission:
        for name in ("volunteer_id", "authority_id", "partner_id", "country", "missed_in_a_row"):
            if facts.get(name) is None:
                facts[name] = mission.get(name)
    alert = await projection.find(uow, store.ALERTS, facts.get("alert_id"))
    if alert and not facts.get("country"):
        facts["country"] = alert.get("country")


async def _position_and_party_facts(uow: UnitOfWork, facts: Document) -> Document | None:
    """The position's title and the parties' names; returns the authority's projection document."""
    carried = all(facts.get(name) for name in ("position_title", "authority_id", "country"))
    position = None if carried else await projection.find(uow, store.POSITIONS, facts.get("position_id"))
    if position:
        facts["position_title"] = position.get("title")
        facts.setdefault("authority_id", position.get("authority_id"))
        facts.setdefault("country", position.get("country"))
    authority = await projection.find(uow, store.AUTHORITIES, facts.get("authority_id"))
    if authority:
        facts["authority_name"] = authority.get("name")
    partner = await projection.find(uow, store.PARTNERS, facts.get("partner_id"))
    facts["partner_name"] = partner.get("name") if partner else None
    facts.setdefault("position_title", None)
    facts.setdefault("authority_name", None)
    return authority


# Reciprocity: foreign volunteers hosted in France (law 2021-1031 art. 8; Service Civique in reciprocity).
RECIPROCITY_SCHEMES = ("reciprocity", "service_civique_reciprocity")


def _welcome_facts(facts: Document, authority: Document | None) -> None:
    """Whom a new volunteer calls: the centre abroad, or in France the hosting authority and the branch."""
    centre = centre_for_country(facts["country"])
    facts["centre_email"] = centre.email
    facts["centre_city"] = centre.city
    hosted = facts.get("scheme") in RECIPROCITY_SCHEMES or str(facts.get("country", "")).upper() == "FR"
    facts["hosted_in_france"] = hosted
    branch = branch_for_region(facts["region"]) if hosted and facts.get("region") else None
    facts["branch_name"] = branch.name if branch else None
    facts["branch_email"] = branch.email if branch else None
    facts["branch_phone"] = branch.phone if branch else None
    facts["authority_email"] = authority.get("email") if authority else None


# --- a party of a mission not known here yet ------------------------------------------------------------------
# The mission's MissionPlanned travels on another partition than an alert or a check-in reminder naming
# it, and may be behind (a consumer restarted, a rebalance): the message is queued for "the volunteer (the
# authority, the host partner) of mission M", waits like one whose contact data are not known, and is
# addressed to that party when the mission arrives (``address_mission_parties``). Nothing is dropped.
VOLUNTEER_OF_MISSION = "volunteer_of_mission"
AUTHORITY_OF_MISSION = "authority_of_mission"
PARTNER_OF_MISSION = "partner_of_mission"
# Kind -> (the mission's field naming the party, the party's own kind, its channels).
MISSION_PARTIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    VOLUNTEER_OF_MISSION: ("volunteer_id", "person", ("email", "sms")),
    AUTHORITY_OF_MISSION: ("authority_id", "authority", ("email",)),
    PARTNER_OF_MISSION: ("partner_id", "partner", ("email",)),
}


def _party_of_unknown_mission(kind: str, mission_id: str | None, role: str) -> list[Recipient]:
    return [Recipient(kind, mission_id, role, MISSION_PARTIES[kind][2])] if mission_id else []


async def address_mission_parties(uow: UnitOfWork, mission_id: str) -> int:
    """Messages queued for a party of ``mission_id`` before it was known: addressed to the party now.

    Called once the mission's projection names its parties; a message the party opted out of is
    cancelled, as the intake would not have queued it. Returns how many messages were addressed.
    """
    pending = {"recipient.id": mission_id, "recipient.kind": {"$in": list(MISSION_PARTIES)}}
    cursor = uow[store.NOTIFICATIONS].find({**pending, "status": {"$in": [PENDING, SENDING]}})
    waiting = [doc async for doc in cursor]
    mission = await projection.find(uow, store.MISSIONS, mission_id) if waiting else None
    if not waiting or mission is None:
        return 0
    parties: list[Recipient] = []
    for doc in waiting:
        field, kind, channels = MISSION_PARTIES[doc["recipient"]["kind"]]
        if mission.get(field):
            parties.append(Recipient(kind, str(mission[field]), doc["recipient"]["role"], channels))
    opt_outs = await _opt_outs(uow, parties)
    addressed: list[str] = []
    for doc in waiting:
        field, kind, _ = MISSION_PARTIES[doc["recipient"]["kind"]]
        party = mission.get(field)
        if not party:
            continue
        change: Document = {"recipient.kind": kind, "recipient.id": party, "next_attempt_at": uow.now()}
        if routing.is_opted_out(doc.get("category", ""), opt_outs.get(party, set())):
            change = {"status": CANCELLED, "last_error": "recipient opted out", "claim": None}
        await uow[store.NOTIFICATIONS].update_one({"_id": doc["_id"]}, {"$set": change, "$unset": {"waiting_for": ""}})
        addressed.append(party)
    wakeup.addresses_known(uow, addressed)
    return len(addressed)


# --- who each routing-table role stands for, given an event's facts ------------------------------------------

Resolver = Callable[[UnitOfWork, str, Document], Awaitable[list[Recipient]]]


async def _candidate(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    return [Recipient("person", facts["candidate_id"], role)] if facts.get("candidate_id") else []


async def _volunteer(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    if facts.get("volunteer_id"):
        return [Recipient("person", facts["volunteer_id"], role)]
    return _party_of_unknown_mission(VOLUNTEER_OF_MISSION, facts.get("mission_id"), role)


async def _authority(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    # Authorities are known by their organisational email only (partners.AuthorityRegistered).
    if facts.get("authority_id"):
        return [Recipient("authority", facts["authority_id"], role, ("email",))]
    return _party_of_unknown_mission(AUTHORITY_OF_MISSION, facts.get("mission_id"), role)


async def _branch(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    region = facts.get("region")
    return [Recipient("branch", region, role)] if region and branch_for_region(region) else []


async def _centre(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    return [Recipient("centre", facts["country"], role)] if facts.get("country") else []


async def _duty_officer(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    return [Recipient("duty_officer", "duty-officer", role)]


async def _head_office(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    return [Recipient("head_office", "head-office", role)]


async def _host_partner(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    # Known by its organisational address only (partners.PartnerRegistered.contact_email): a partner
    # registered without one gets nothing rather than a message that cannot go; one not known here yet
    # (its event travels on another topic, maybe behind) is queued and waits for it like a person's contact.
    partner_id = facts.get("partner_id")
    if not partner_id:
        return _party_of_unknown_mission(PARTNER_OF_MISSION, facts.get("mission_id"), role)
    partner = await projection.find(uow, store.PARTNERS, partner_id)
    lacks_email = partner is not None and not partner.get("email")
    return [] if lacks_email else [Recipient("partner", partner_id, role, ("email",))]


async def _authorities_of_partner(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    active = {"partner_id": facts.get("partner_id"), "status": "active"}
    cursor = uow[store.PARTNERSHIPS].find(active, {"authority_id": 1})
    authorities = sorted({doc["authority_id"] async for doc in cursor if doc.get("authority_id")})
    return [Recipient("authority", a, routing.AUTHORITY, ("email",)) for a in authorities]


async def _volunteers_in_country(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    listed: list[str] = facts.get("mission_ids") or []
    whole_country = not facts.get("subdivisions")  # else only the missions the check asks
    # Read by country (indexed) and matched here: the list of a whole country's missions in the query
    # would cost the database that list's length for every mission it looks at.
    fields = {"volunteer_id": 1, "status": 1, "country": 1}
    cursor = uow[store.MISSIONS].find({"country": facts.get("country")}, fields)
    missions = {doc["_id"]: doc async for doc in cursor}
    elsewhere = sorted(set(listed) - set(missions))  # listed, but known in another country (or not known)
    if elsewhere:
        cursor = uow[store.MISSIONS].find({"_id": {"$in": elsewhere}}, fields)
        missions.update({doc["_id"]: doc async for doc in cursor})
    known = {mission_id: doc for mission_id, doc in missions.items() if doc.get("volunteer_id")}
    asked_ids = set(listed)
    asked = {
        doc["volunteer_id"]
        for doc in known.values()
        if (doc["_id"] in asked_ids and doc.get("status") != "ended")
        or (whole_country and doc.get("status") == "started")
    }
    unknown = [m for m in listed if m not in known]
    return [Recipient("person", v, routing.VOLUNTEER) for v in sorted(asked)] + [
        r for m in unknown for r in _party_of_unknown_mission(VOLUNTEER_OF_MISSION, m, routing.VOLUNTEER)
    ]


async def _volunteers_of_missions(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    ids: list[str] = facts.get("mission_ids") or []
    cursor = uow[store.MISSIONS].find({"_id": {"$in": ids}}, {"volunteer_id": 1})
    known = {doc["_id"]: doc["volunteer_id"] async for doc in cursor if doc.get("volunteer_id")}
    return [Recipient("person", v, routing.VOLUNTEER) for v in sorted(set(known.values()))] + [
        r
        for mission_id in ids
        if mission_id not in known
        for r in _party_of_unknown_mission(VOLUNTEER_OF_MISSION, mission_id, routing.VOLUNTEER)
    ]


async def _authorities_concerned(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    ids = facts.get("unaccounted_mission_ids") or []
    cursor = uow[store.MISSIONS].find({"_id": {"$in": ids}}, {"authority_id": 1})
    authorities = sorted({doc["authority_id"] async for doc in cursor if doc.get("authority_id")})
    return [Recipient("authority", a, routing.AUTHORITY, ("email",)) for a in authorities]


RESOLVERS: dict[str, Resolver] = {
    routing.CANDIDATE: _candidate,
    routing.VOLUNTEER: _volunteer,
    routing.AUTHORITY: _authority,
    routing.BRANCH: _branch,
    routing.CENTRE: _centre,
    routing.DUTY_OFFICER: _duty_officer,
    routing.HEAD_OFFICE: _head_office,
    routing.HOST_PARTNER: _host_partner,
    routing.AUTHORITIES_OF_PARTNER: _authorities_of_partner,
    routing.VOLUNTEERS_IN_COUNTRY: _volunteers_in_country,
    routing.VOLUNTEERS_OF_MISSIONS: _volunteers_of_missions,
    routing.AUTHORITIES_CONCERNED: _authorities_concerned,
}


async def resolve(uow: UnitOfWork, role: str, facts: Document) -> list[Recipient]:
    """The recipients one routing-table role stands for, given an event's facts."""
    resolver = RESOLVERS.get(role)
    if resolver is None:
        raise ValueError(f"unknown recipient role {role!r}")
    return await resolver(uow, role, facts)


def notification_document(
    meta: EventMeta,
    recipient: Recipient,
    channel: str,
    *,
    template: str,
    category: str,
    context: Document,
    region: str | None,
    now: datetime,
    payload: str | None = None,
    due: datetime | None = None,
    event_id: str | None = None,
) -> Notification:
    """A new pending notification of an event to one of its recipients, due at once or at ``due`` (a delayed row).

    ``event_id`` (default: the event's) tells apart two messages of one event to the same recipient
    by the same channel, e.g. the thanks at the end of a mission and the later seminar invitation.
    """
    cause = Cause(event_id or meta.id, meta.type, meta.time, meta.correlation_id)
    return Notification.queue(
        cause,
        recipient.addressee,
        channel,
        template=template,
        category=category,
        context=context,
        region=region,
        now=now,
        payload=payload,
        due=due,
        traceparent=tracing.current_traceparent(),
    )


async def enqueue(uow: UnitOfWork, notifications: list[Notification]) -> int:
    """Record new notifications; those this process's delivery lanes can send at once are handed to them.

    A plain insert: the inbox, committed in the same transaction, already makes
    a redelivered event a no-op, and the unique (event, recipient, channel)
    index turns any duplicate that slipped through into a loud failure rather
    than a second message. A notification handed off (``wakeup.hand_off``) is written
    already claimed for its lane, which sends it once this commits; the others are
    written pending, and their lanes are woken to claim them.
    """
    if not notifications:
        return 0
    wakeup.hand_off(uow, notifications, projection.known_after_commit(uow))  # claims those it hands off
    docs = [n.to_doc() for n in notifications]
    await uow[store.NOTIFICATIONS].insert_many(docs, ordered=False)
    wakeup.queued(uow, {n.channel for n in notifications if n.status == PENDING})  # the others: handed off
    return len(notifications)


# Offices on duty (centres, branches, the duty officer) receive what the table sends them; people and
# authorities choose with their preferences.
_WITH_PREFERENCES = ("person", "authority")


async def _opt_outs(uow: UnitOfWork, recipients: list[Recipient]) -> dict[str, set[str]]:
    ids = sorted({r.id for r in recipients if r.kind in _WITH_PREFERENCES})
    memory = projection.batch_cache(uow)
    unread = [key for key in ids if (store.PREFERENCES, key) not in memory]
    if unread:
        # Whole documents (a language and a list): the delivery of what this queues reads them too.
        found = {doc["_id"]: doc async for doc in uow[store.PREFERENCES].find({"_id": {"$in": unread}})}
        for key in unread:
            memory[(store.PREFERENCES, key)] = found.get(key)
    preferences = {key: memory[(store.PREFERENCES, key)] for key in ids}
    return {key: set(doc.get("opt_out_categories") or []) for key, doc in preferences.items() if doc}


def cloud_event(meta: EventMeta, data: Document) -> str:
    """The event as a CloudEvents 1.0 JSON document (structured mode), the body of webhook deliveries."""
    body: Document = {
        "specversion": "1.0",
        "id": meta.id,
        "source": meta.source,
        "type": meta.type,
        "subject": meta.subject,
        "time": meta.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "schemaversion": str(meta.schema_version),
        "region": meta.region,
        "correlationid": meta.correlation_id,
        "data": data,
    }
    if meta.causation_id:
        body["causationid"] = meta.causation_id
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# Types whose data names a person: a subscriber to any of them may hold a person's id, so it hears of
# every erasure whatever its region or event types.
NAMING_A_PERSON = frozenset(
    model.TYPE for model in registered_models() if set(model.model_fields) & set(erasure.PERSON_ID_FIELDS)
)


def _wants(subscription: WebhookSubscription, meta: EventMeta, facts: Document) -> bool:
    """Whether a subscription receives an event: its types, and a branch's its own region only."""
    if meta.type == PersonErased.TYPE:
        return subscription.subscribes_to_any(NAMING_A_PERSON)
    return subscription.wants(meta.type, facts.get("region"))


async def _webhook_notifications(
    uow: UnitOfWork, meta: EventMeta, data: Document, facts: Document, now: datetime
) -> list[Notification]:
    cache = projection.batch_cache(uow)
    active: list[WebhookSubscription] | None = cache.get((store.SUBSCRIPTIONS, "active"))
    if active is None:  # once per transaction: a batch of events shares one read of the subscriptions
        cursor = uow[store.SUBSCRIPTIONS].find({"status": ACTIVE})
        active = cache[(store.SUBSCRIPTIONS, "active")] = [WebhookSubscription.from_doc(doc) async for doc in cursor]
    notifications: list[Notification] = []
    payload: str | None = None
    for subscription in active:
        if not _wants(subscription, meta, facts):
            continue
        payload = payload or cloud_event(meta, data)
        recipient = Recipient("subscription", subscription.subscription_id, "subscriber", ("webhook",))
        notifications.append(
            notification_document(
                meta,
                recipient,
                "webhook",
                template="",
                category="webhook",
                context={},
                region=facts.get("region"),
                now=now,
                payload=payload,
            )
        )
    return notifications


_DIGEST_KINDS: dict[str, tuple[str, str]] = {
    "recruitment.PositionPublished": ("positions_published", "{position_id} {title} ({country})"),
    "recruitment.ApplicationSubmitted": ("applications_submitted", "{application_id} ({position_id})"),
    "recruitment.VolunteerEngaged": ("volunteers_engaged", "{engagement_id} ({country}, {scheme})"),
    "missions.MissionStarted": ("missions_started", "{mission_id} ({country})"),
    "missions.MissionEnded": ("missions_ended", "{mission_id} ({country})"),
    "missions.MissionInterrupted": ("missions_ended", "{mission_id} ({country}, interrupted)"),
    "missions.SafetyCheckClosed": ("safety_checks", "{alert_id} {country}: {unaccounted} unaccounted"),
}


async def _record_for_digest(uow: UnitOfWork, meta: EventMeta, facts: Document) -> None:
    kind = _DIGEST_KINDS.get(meta.type)
    if kind is None:
        return
    values = {**facts, "unaccounted": len(facts.get("unaccounted_mission_ids") or [])}
    line = kind[1].format_map(_Blank(values))
    regions: set[str] = {facts["region"]} if facts.get("region") else set()
    if meta.type == "missions.SafetyCheckClosed":
        # A safety check spans a country; each region with a mission in it hears about it.
        cursor = uow[store.MISSIONS].find(
            {"country": facts.get("country"), "status": {"$in": ["planned", "started"]}},
            {"authority_id": 1},
        )
        for authority_id in {doc.get("authority_id") async for doc in cursor}:
            region = await projection.region_of_authority(uow, authority_id)
            if region:
                regions.add(region)
    # Written at commit, with the inbox records: nothing in a transaction of the intake reads them.
    entries = uow.at_commit(store.DIGEST_ENTRIES)
    for region in regions:
        entries.insert_one(
            {"_id": f"{meta.id}:{region}", "region": region, "kind": kind[0], "line": line, "at": meta.time},
        )


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


async def take_in(
    uow: UnitOfWork, meta: EventMeta, event: Event, delays: Mapping[str, float] = routing.DEFAULT_DELAYS
) -> int:
    """Handle one event: projection, routing, opt-outs, webhooks, digest; returns how many notifications were new.

    ``delays`` (settings) say how long after the event the delayed rows of the table are due.
    """
    data: Document = event.model_dump(mode="json")
    if meta.type != PersonErased.TYPE:
        # Produced before an erasure that was taken in first: nothing of the person is kept or sent.
        erased = await projection.erased_among(uow, erasure.person_ids_in(data), meta.time)
        data = erasure.without_persons(data, erased)
    await projection.apply(uow, meta, event, data)
    if meta.type == MissionPlanned.TYPE:
        await address_mission_parties(uow, data["mission_id"])
    facts = await gather_facts(uow, meta, event, data)
    now = uow.now()
    occurred = meta.time if meta.time.tzinfo else meta.time.replace(tzinfo=UTC)
    notifications: list[Notification] = []
    planned: list[tuple[routing.Route, str, list[Recipient]]] = []
    for route in routing.routes_for(meta.type, facts):
        planned.append((route, routing.effective_category(route, facts), await resolve(uow, route.role, facts)))
    opt_outs = await _opt_outs(uow, [r for _, _, recipients in planned for r in recipients])
    for route, category, recipients in planned:
        for recipient in recipients:
            if routing.is_opted_out(category, opt_outs.get(recipient.id, set())):
                continue
            if recipient.kind == "authority" and await projection.has_erased_contact(uow, recipient.id):
                continue  # its address was an erased person's, and no new one came since
            for channel in route.channels:
                if channel in recipient.channels:
                    notifications.append(
                        notification_document(
                            meta,
                            recipient,
                            channel,
                            template=route.template,
                            category=category,
                            context=facts,
                            region=facts.get("region"),
                            now=now,
                            due=routing.due_at(route, occurred, now, delays),
                            event_id=routing.message_event_id(route, meta.id),
                        )
                    )
    notifications += await _webhook_notifications(uow, meta, data, facts, now)
    await _record_for_digest(uow, meta, facts)
    return await enqueue(uow, notifications)
