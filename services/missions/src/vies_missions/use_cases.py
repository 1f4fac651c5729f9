"""What users and other services do with missions: load, apply the domain, save and emit in one transaction."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

from vies_missions import certificate, store
from vies_missions.domain import access
from vies_missions.domain.check_in import CheckIn
from vies_missions.domain.incident import Incident
from vies_missions.domain.mission import ENDED, INTERRUPTED, ON_MISSION, Mission, first_name
from vies_missions.domain.safety_check import NEED_HELP, OPEN, PENDING, SafetyEntry, SecurityAlert, entry_id
from vies_missions.settings import MissionsSettings
from vies_missions.views import (
    AlertView,
    CentreContact,
    CheckInView,
    Counts,
    EndOfMission,
    Entry,
    IncidentView,
    MissionSafetyCheck,
    MissionSafetyChecks,
    MissionView,
    PageInfo,
    PartnerMissionView,
    SafetyCheckStatus,
    show,
)
from vies_shared.aggregate import emit_recorded
from vies_shared.errors import Forbidden, NotAllowedInState, NotFound
from vies_shared.reference import Centre, centre_for_country, centres, head_office
from vies_shared.service import Runtime
from vies_shared.storage import UnitOfWork, transactional
from vies_shared.web import Page, Principal, paged

Document = dict[str, Any]


def _offsets(s: MissionsSettings) -> tuple[int, int]:
    return s.follow_up_start_offset_days, s.follow_up_end_offset_days


async def _load(uow: UnitOfWork, mission_id: str) -> tuple[Document, Mission]:
    """A mission's stored document (what the access rules read) and its aggregate."""
    doc = await uow.get(store.MISSIONS, mission_id, "mission")
    return doc, Mission.from_doc(doc)


def _view(mission: Mission) -> Document:
    return show(MissionView.of(mission))


# --- missions: reading ---------------------------------------------------------------------------


def _centre_contact(centre_id: str | None, country: str) -> CentreContact:
    """The contact of the mission's Volunteering Centre (the head office where there is none)."""
    known: list[Centre] = [*centres(), head_office()]
    centre = next((c for c in known if c.centre_id == centre_id), None) or centre_for_country(country)
    return CentreContact(centre_id=centre.centre_id, city=centre.city, email=centre.email, phone=centre.phone)


async def _partner_views(runtime: Runtime[MissionsSettings], missions: list[Mission]) -> list[Document]:
    """The host partner's view of missions: the volunteers' first names in one lookup."""
    contacts = await store.contacts_of(runtime.db, [m.volunteer_id for m in missions if m.volunteer_id])
    return [
        show(
            PartnerMissionView.of(
                m,
                first_name(contacts.get(m.volunteer_id or "", {}).get("name")),
                _centre_contact(m.centre_id, m.country),
            )
        )
        for m in missions
    ]


async def mission_contacts(runtime: Runtime[MissionsSettings], principal: Principal, mission_id: str) -> Document:
    """Whom the mission's volunteer turns to: the centre (its phone is the emergency number), the host
    partner and the sending authority, for those who read the mission (the volunteer first)."""
    doc = await runtime.reads.get(store.MISSIONS, mission_id, "mission")
    access.require(principal, access.READ, doc)
    partner = await runtime.db[store.PARTNERS].find_one({"_id": doc["partner_id"]}) or {}
    authority = await runtime.db[store.AUTHORITIES].find_one({"_id": doc["authority_id"]}) or {}
    return {
        "mission_id": mission_id,
        "centre": show(_centre_contact(doc.get("centre_id"), doc["country"])),
        # Organisations only, from the partners service's events; null until that event arrived.
        "partner": {"partner_id": doc["partner_id"], "name": partner.get("name"), "city": partner.get("city")},
        "authority": {
            "authority_id": doc["authority_id"],
            "name": authority.get("name"),
            "contact_email": authority.get("contact_email"),
        },
    }


async def get_mission(runtime: Runtime[MissionsSettings], principal: Principal, mission_id: str) -> Document:
    """One mission, if the caller may read it (the host partner gets the partner view)."""
    doc = await runtime.reads.get(store.MISSIONS, mission_id, "mission")
    access.require(principal, access.READ_HOSTED, doc)
    mission = Mission.from_doc(doc)
    if access.sees_partner_view(principal):
        [view] = await _partner_views(runtime, [mission])
        return view
    return _view(mission)


async def list_missions(
    runtime: Runtime[MissionsSettings],
    principal: Principal,
    page: Page,
    *,
    country: str | None = None,
    status: str | None = None,
    region: str | None = None,
    authority_id: str | None = None,
    partner_id: str | None = None,
    flagged: bool | None = None,
) -> Document:
    """Missions the caller may read, filtered (the host partner: its missions, partner view)."""
    query: Document = dict(access.mission_scope(principal, hosted=True))
    access.require_partner_filters(principal, region=region, flagged=flagged)
    wanted = {"country": country.upper() if country else None, "status": status, "region": region}
    wanted |= {"authority_id": authority_id, "partner_id": partner_id}
    for key, value in wanted.items():
        if value is None:
            continue
        if key in query and query[key] != value:
            return paged([], 0, page)  # a filter outside the caller's scope matches nothing they may see
        query[key] = value
    if flagged is not None:
        query["review"] = {"$ne": None} if flagged else None
    collection = runtime.db[store.MISSIONS]
    total = await collection.count_documents(query)
    cursor = collection.find(query).sort("_id", 1).skip(page.offset).limit(page.limit)
    missions = [Mission.from_doc(d) async for d in cursor]
    if access.sees_partner_view(principal):
        return paged(await _partner_views(runtime, missions), total, page)
    return paged([_view(m) for m in missions], total, page)


# --- missions: lifecycle -------------------------------------------------------------------------


@transactional
async def tick_checklist(
    uow: UnitOfWork[MissionsSettings], principal: Principal, mission_id: str, item: str, done_on: date
) -> Document:
    """Tick a pre-departure checklist item.

    The volunteer ticks their own items (training, travel registration, emergency contact);
    insurance and visa are certified by the centre of the country or staff; a volunteer hosted in
    France (reciprocity) has the hosting authority tick the items in France (visa, housing, tutor,
    French classes, return commitment).
    """
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.checklist_action(item, doc.get("scheme")), doc)
    mission.tick(item, done_on)
    await store.save(uow, store.MISSIONS, mission)
    return _view(mission)


@transactional
async def start_mission(
    uow: UnitOfWork[MissionsSettings], principal: Principal, mission_id: str, departed_on: date
) -> Document:
    """Record the departure; 409 listing the missing checklist items while it is incomplete."""
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.MANAGE, doc)
    mission.start(departed_on, uow.now())
    mission.schedule_follow_ups(*_offsets(uow.settings))
    await store.save(uow, store.MISSIONS, mission)
    return _view(mission)


@transactional
async def extend_mission(
    uow: UnitOfWork[MissionsSettings], principal: Principal, mission_id: str, ends_on: date
) -> Document:
    """Move the end date later, within the scheme's longest contract."""
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.MANAGE, doc)
    limits = uow.settings.scheme_max_months
    if mission.scheme not in limits:
        raise NotAllowedInState(f"no duration limit is configured for scheme {mission.scheme}")
    settings = uow.settings
    mission.extend(ends_on, limits[mission.scheme], uow.now(), lifetime_cap_months=settings.vsi_lifetime_cap_months)
    mission.schedule_follow_ups(*_offsets(uow.settings))
    await store.save(uow, store.MISSIONS, mission)
    return _view(mission)


@transactional
async def end_mission(
    uow: UnitOfWork[MissionsSettings], principal: Principal, mission_id: str, *, ended_on: date, debrief: str
) -> Document:
    """The mission ends as planned, with the debrief."""
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.MANAGE, doc)
    mission.end(ended_on, debrief)
    await store.save(uow, store.MISSIONS, mission)
    return _view(mission)


@transactional
async def interrupt_mission(
    uow: UnitOfWork[MissionsSettings],
    principal: Principal,
    mission_id: str,
    *,
    reason: str,
    note: str | None,
    interrupted_on: date | None,
) -> Document:
    """Early return, with its reason."""
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.MANAGE, doc)
    day = interrupted_on or uow.now().date()
    mission.interrupt(reason, day, note)
    await store.save(uow, store.MISSIONS, mission)
    return _view(mission)


@transactional
async def move_volunteer(
    uow: UnitOfWork[MissionsSettings], principal: Principal, mission_id: str, *, city: str, subdivision: str
) -> Document:
    """Record where the volunteer is (city and ISO 3166-2 subdivision): the centre, staff or the volunteer."""
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.VOLUNTEER_ACT, doc)
    mission.move_to(city, subdivision)
    await store.save(uow, store.MISSIONS, mission)
    return _view(mission)


async def list_follow_ups(runtime: Runtime[MissionsSettings], principal: Principal, mission_id: str) -> Document:
    """The three follow-up interviews of a mission with their due dates."""
    doc = await runtime.reads.get(store.MISSIONS, mission_id, "mission")
    access.require(principal, access.READ, doc)
    mission = Mission.from_doc(doc)
    return {"mission_id": mission_id, "items": [f.to_doc() for f in mission.follow_ups]}


@transactional
async def mark_follow_up_done(
    uow: UnitOfWork[MissionsSettings],
    principal: Principal,
    mission_id: str,
    *,
    stage: str,
    done_on: date,
    notes: str | None,
) -> Document:
    """Centre staff (or the authority hosting the volunteer in France) record that an interview was held."""
    principal.require_role("centre", "authority")
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.FOLLOW_UP, doc)
    mission.follow_up_done(stage, done_on, principal.sub, notes)
    await store.save(uow, store.MISSIONS, mission)
    return {"mission_id": mission_id, "items": [f.to_doc() for f in mission.follow_ups]}


async def due_follow_ups(
    runtime: Runtime[MissionsSettings], principal: Principal, due_before: date, country: str | None, page: Page
) -> Document:
    """Interviews not yet held and due by ``due_before``, for the centres' agenda, a page at a time.

    One aggregation: the interviews of the missions under way in scope, unwound, filtered,
    sorted by due date then mission, counted and paged in the database.
    """
    query: Document = dict(access.mission_scope(principal))
    if country:
        if "country" in query and query["country"] != country.upper():
            return paged([], 0, page)
        query["country"] = country.upper()
    due = due_before.isoformat()
    query["status"] = {"$in": list(ON_MISSION)}
    query["follow_ups"] = {"$elemMatch": {"done_on": None, "due_on": {"$lte": due}}}
    pipeline: list[Document] = [
        {"$match": query},
        {"$project": {"follow_ups": 1, "country": 1}},
        {"$unwind": "$follow_ups"},
        {"$match": {"follow_ups.done_on": None, "follow_ups.due_on": {"$lte": due}}},
        {"$sort": {"follow_ups.due_on": 1, "_id": 1, "follow_ups.stage": 1}},
        {
            "$facet": {
                "items": [{"$skip": page.offset}, {"$limit": page.limit}],
                "total": [{"$count": "n"}],
            }
        },
    ]
    [result] = await (await runtime.db[store.MISSIONS].aggregate(pipeline)).to_list() or [{"items": [], "total": []}]
    items = [{"mission_id": d["_id"], "country": d["country"], **d["follow_ups"]} for d in result["items"]]
    total = result["total"][0]["n"] if result["total"] else 0
    return paged(items, total, page)


# --- check-ins -----------------------------------------------------------------------------------


@transactional
async def send_check_in(
    uow: UnitOfWork[MissionsSettings], principal: Principal, mission_id: str, *, status: str, note: str | None
) -> Document:
    """The volunteer checks in; an urgent check-in opens an incident at once."""
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.VOLUNTEER_ACT, doc)
    check_in = CheckIn.receive(mission_id, status, note, uow.now(), principal.role)
    mission.check_in(check_in.at, status)
    await store.save(uow, store.MISSIONS, mission)
    incident = check_in.open_incident(doc, uow.settings.urgent_check_in_severity)
    if incident is not None:
        await store.add(uow, store.INCIDENTS, incident)
    await store.add(uow, store.CHECK_INS, check_in)
    return show(CheckInView.of(check_in))


@transactional
async def change_check_in_interval(
    uow: UnitOfWork[MissionsSettings], principal: Principal, mission_id: str, days: float
) -> Document:
    """The centre or staff set a mission's own check-in interval (shorter in a tense period)."""
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.MANAGE, doc)
    mission.change_check_in_interval(days * 86400, uow.now())
    await store.save(uow, store.MISSIONS, mission)
    return _view(mission)


async def list_check_ins(
    runtime: Runtime[MissionsSettings], principal: Principal, mission_id: str, page: Page
) -> Document:
    """A mission's check-ins, newest first."""
    doc = await runtime.reads.get(store.MISSIONS, mission_id, "mission")
    access.require(principal, access.READ, doc)
    coll = runtime.db[store.CHECK_INS]
    total = await coll.count_documents({"mission_id": mission_id})
    cursor = coll.find({"mission_id": mission_id}).sort("at", -1).skip(page.offset).limit(page.limit)
    return paged([show(CheckInView.of(CheckIn.from_doc(d))) async for d in cursor], total, page)


# --- incidents -----------------------------------------------------------------------------------


def _incident_view(incident: Incident) -> Document:
    return show(IncidentView.of(incident))


@transactional
async def report_incident(
    uow: UnitOfWork[MissionsSettings],
    principal: Principal,
    mission_id: str,
    *,
    category: str,
    severity: str,
    description: str,
) -> Document:
    """Report an incident on a mission; high and critical ones are escalated."""
    doc = await uow.get(store.MISSIONS, mission_id, "mission")
    access.require(principal, access.VOLUNTEER_ACT, doc)
    incident = Incident.report(
        mission=doc,
        category=category,
        severity=severity,
        description=description,
        reported_by_role=principal.role,
        now=uow.now(),
    )
    await store.add(uow, store.INCIDENTS, incident)
    return _incident_view(incident)


async def _load_incident(uow: UnitOfWork, principal: Principal, incident_id: str, action: str) -> Incident:
    """An incident, if the caller may do ``action`` on its mission."""
    doc = await uow.get(store.INCIDENTS, incident_id, "incident")
    mission = await uow.get(store.MISSIONS, doc["mission_id"], "mission")
    access.require(principal, action, mission)
    return Incident.from_doc(doc)


@transactional
async def get_incident(uow: UnitOfWork[MissionsSettings], principal: Principal, incident_id: str) -> Document:
    """One incident, if the caller may read its mission."""
    return _incident_view(await _load_incident(uow, principal, incident_id, access.READ))


@transactional
async def acknowledge_incident(uow: UnitOfWork[MissionsSettings], principal: Principal, incident_id: str) -> Document:
    """The centre or the duty officer takes charge; escalation stops."""
    incident = await _load_incident(uow, principal, incident_id, access.MANAGE)
    incident.acknowledge(principal.role, uow.now())
    await store.save(uow, store.INCIDENTS, incident)
    return _incident_view(incident)


@transactional
async def resolve_incident(
    uow: UnitOfWork[MissionsSettings], principal: Principal, incident_id: str, resolution: str
) -> Document:
    """Close an incident with a resolution note."""
    incident = await _load_incident(uow, principal, incident_id, access.MANAGE)
    incident.resolve(resolution, uow.now())
    await store.save(uow, store.INCIDENTS, incident)
    return _incident_view(incident)


async def list_incidents(
    runtime: Runtime[MissionsSettings],
    principal: Principal,
    page: Page,
    *,
    mission_id: str | None = None,
    country: str | None = None,
    open_only: bool = False,
    severity: str | None = None,
    escalated_only: bool = False,
) -> Document:
    """Incidents per mission, per country, open and/or escalated only, within the caller's scope."""
    query = await _incident_scope(runtime, principal)
    if mission_id is not None:
        mission = await runtime.reads.get(store.MISSIONS, mission_id, "mission")
        access.require(principal, access.READ, mission)
        query["mission_id"] = mission_id
    if country is not None:
        if "country" in query and query["country"] != country.upper():
            return paged([], 0, page)
        query["country"] = country.upper()
    if open_only:
        query["open"] = True
    if severity is not None:
        query["severity"] = severity
    if escalated_only:
        query["escalated_to"] = {"$ne": None}
    coll = runtime.db[store.INCIDENTS]
    total = await coll.count_documents(query)
    cursor = coll.find(query).sort("reported_at", -1).skip(page.offset).limit(page.limit)
    return paged([_incident_view(Incident.from_doc(d)) async for d in cursor], total, page)


async def _incident_scope(runtime: Runtime[MissionsSettings], principal: Principal) -> Document:
    """The incidents the caller may read: those of the missions in their scope (a volunteer's own, by id)."""
    scope = access.mission_scope(principal)
    if "volunteer_id" in scope:
        own = [d["_id"] async for d in runtime.db[store.MISSIONS].find(scope, {"_id": 1})]
        return {"mission_id": {"$in": own}}
    return dict(scope)


# --- security alerts and safety checks -------------------------------------------------------------


def _alert_view(alert: SecurityAlert) -> Document:
    return show(AlertView.of(alert))


@transactional
async def issue_security_alert(
    uow: UnitOfWork[MissionsSettings],
    principal: Principal,
    *,
    country: str,
    level: str,
    message: str,
    respond_within_hours: float,
    subdivisions: list[str] | None = None,
) -> Document:
    """Alert a country: snapshot every mission under way there and ask each volunteer to confirm their safety.

    The snapshot is written in bulk (one insert for all entries) so a country with a
    thousand volunteers is one transaction, not a thousand.
    """
    principal.require_role("centre")
    access.require_country(principal, country)
    now = uow.now()
    alert = SecurityAlert.issue(
        country=country,
        level=level,
        message=message,
        respond_within_hours=respond_within_hours,
        issued_by_role=principal.role,
        now=now,
        subdivisions=subdivisions,
    )
    fields = {"_id": 1, "volunteer_id": 1, "authority_id": 1, "region": 1, "centre_id": 1}
    missions = await uow[store.MISSIONS].find(alert.snapshot_query(ON_MISSION), fields).to_list()
    entries = alert.open_check(missions, now)
    if entries:
        await uow[store.ENTRIES].insert_many([entry.to_doc() for entry in entries], ordered=False)
    await store.add(uow, store.ALERTS, alert)
    return _alert_view(alert)


@transactional
async def respond_to_safety_check(
    uow: UnitOfWork[MissionsSettings], principal: Principal, alert_id: str, mission_id: str, status: str
) -> Document:
    """A volunteer (or the centre calling them) answers safe or need_help; need_help opens a critical incident.

    A response after the check closed is still recorded (flagged ``after_close``).
    """
    alert = SecurityAlert.from_doc(await uow.get(store.ALERTS, alert_id, "security alert"))
    mission = await uow.get(store.MISSIONS, mission_id, "mission")
    access.require(principal, access.VOLUNTEER_ACT, mission)
    entry = await uow[store.ENTRIES].find_one({"_id": entry_id(alert_id, mission_id)})
    answered = await record_safety_answer(
        uow, alert, mission, SafetyEntry.from_doc(entry) if entry else None, status, by_role=principal.role
    )
    return show(Entry.of(answered))


async def record_safety_answer(
    uow: UnitOfWork,
    alert: SecurityAlert,
    mission: Document,
    entry: SafetyEntry | None,
    status: str,
    *,
    by_role: str,
    via: str = "api",
) -> SafetyEntry:
    """Record a mission's answer to a safety check, replacing an earlier one (with the new time); the entry.

    need_help opens a critical security incident; ``via`` says how it came (``api``, ``link``).
    """
    incident = alert.answer(entry, mission, status, now=uow.now(), by=by_role, via=via)
    assert entry is not None  # checked by the answer
    if incident is not None:
        await store.add(uow, store.INCIDENTS, incident)
    await uow[store.ENTRIES].update_one({"_id": entry.entry_id}, {"$set": entry.changes()})
    entry.saved()
    emit_recorded(uow, alert)
    return entry


async def _hosts_of(runtime: Runtime[MissionsSettings], entries: list[SafetyEntry]) -> dict[str, Document]:
    """Per mission of a safety check's page: its host partner and its authority, by name (who to call there)."""
    db = runtime.db
    missions = await store.by_id(db, store.MISSIONS, [e.mission_id for e in entries], {"partner_id": 1})
    partners, authorities = await asyncio.gather(
        store.by_id(db, store.PARTNERS, [m.get("partner_id") or "" for m in missions.values()], {"name": 1}),
        store.by_id(db, store.AUTHORITIES, [e.authority_id for e in entries], {"name": 1}),
    )
    hosts: dict[str, Document] = {}
    for entry in entries:
        partner_id = missions.get(entry.mission_id, {}).get("partner_id")
        hosts[entry.mission_id] = {
            "partner_id": partner_id,
            "partner_name": partners.get(partner_id or "", {}).get("name"),
            "authority_name": authorities.get(entry.authority_id, {}).get("name"),
        }
    return hosts


async def safety_check_status(
    runtime: Runtime[MissionsSettings], principal: Principal, alert_id: str, page: Page
) -> Document:
    """Live status of a safety check: who is accounted for and who is not, with name, phone, partner and authority.

    ``counts`` cover every entry the caller may see; ``accounted[]`` and ``unaccounted[]``
    hold one page of entries (by mission id), ``page`` says which. Two queries for the page
    whatever its size (the entries, then their contacts) plus the counts.
    Authorities see their own volunteers, branches their region's.
    """
    alert = SecurityAlert.from_doc(await runtime.reads.get(store.ALERTS, alert_id, "security alert"))
    query = access.safety_check_scope(principal, alert_id, alert.country)
    coll = runtime.db[store.ENTRIES]
    by_status = {
        d["_id"]: d["n"]
        async for d in await coll.aggregate([{"$match": query}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}])
    }
    total = sum(by_status.values())
    cursor = coll.find(query).sort("mission_id", 1).skip(page.offset).limit(page.limit)
    entries = [SafetyEntry.from_doc(doc) async for doc in cursor]
    contacts, hosts = await asyncio.gather(
        store.contacts_of(runtime.db, [e.volunteer_id for e in entries if e.volunteer_id]),
        _hosts_of(runtime, entries),
    )
    emergency = access.sees_emergency_contact(principal)
    views = {
        e.mission_id: Entry.of(e, contacts.get(e.volunteer_id or ""), emergency=emergency, hosts=hosts[e.mission_id])
        for e in entries
    }
    pending = by_status.get(PENDING, 0) + by_status.get(None, 0)  # no status yet: pending (accounted_for)
    status = SafetyCheckStatus(
        **AlertView.of(alert).model_dump(),
        counts=Counts(
            total=total,
            accounted=total - pending,
            unaccounted=pending,
            safe=by_status.get("safe", 0),
            need_help=by_status.get(NEED_HELP, 0),
        ),
        accounted=[views[e.mission_id] for e in entries if e.accounted_for],
        unaccounted=[views[e.mission_id] for e in entries if not e.accounted_for],
        page=PageInfo(limit=page.limit, offset=page.offset, total=total),
    )
    return show(status)


async def close_check(
    uow: UnitOfWork, alert_id: str, reason: str, now: datetime, *, must_be_open: bool
) -> Document | None:
    """Close a safety check (by hand or at its deadline) and tell every region concerned; its view.

    None when it was closed already (``must_be_open``: a 409 instead) or by another scheduler meanwhile.
    """
    alert = SecurityAlert.from_doc(await uow.get(store.ALERTS, alert_id, "security alert"))
    if alert.status != OPEN:
        if must_be_open:
            raise NotAllowedInState("the safety check is already closed")
        return None
    # Every entry (not only the pending ones): each region concerned hears of the close, even when all answered.
    entries = [SafetyEntry.from_doc(doc) async for doc in uow[store.ENTRIES].find({"alert_id": alert_id})]
    alert.close_over(entries, reason, now)
    result = await uow[store.ALERTS].replace_one({"_id": alert_id, "status": OPEN}, alert.to_doc())
    if result.matched_count == 0:
        return None
    emit_recorded(uow, alert)
    return _alert_view(alert)


@transactional
async def close_safety_check(uow: UnitOfWork[MissionsSettings], principal: Principal, alert_id: str) -> Document:
    """Close a safety check by hand (everyone found, or the crisis cell takes over)."""
    doc = await uow.get(store.ALERTS, alert_id, "security alert")
    access.require_country(principal, doc["country"])
    view = await close_check(uow, alert_id, "manual", uow.now(), must_be_open=True)
    assert view is not None
    return view


async def mission_safety_checks(runtime: Runtime[MissionsSettings], principal: Principal, mission_id: str) -> Document:
    """The safety checks a mission is part of, newest first, with its answer (what the volunteer must answer)."""
    mission = await runtime.reads.get(store.MISSIONS, mission_id, "mission")
    access.require(principal, access.READ, mission)
    alerts = (
        await runtime.db[store.ALERTS].find({"country": mission["country"]}).sort("issued_at", -1).limit(20).to_list()
    )
    items: list[MissionSafetyCheck] = []
    for doc in alerts:
        entry = await runtime.db[store.ENTRIES].find_one({"_id": entry_id(doc["_id"], mission_id)})
        if entry is None:
            continue  # issued before the mission was under way there
        items.append(MissionSafetyCheck.of(SecurityAlert.from_doc(doc), SafetyEntry.from_doc(entry)))
    return show(MissionSafetyChecks(mission_id=mission_id, items=items))


async def list_security_alerts(
    runtime: Runtime[MissionsSettings], principal: Principal, page: Page, *, country: str | None, status: str | None
) -> Document:
    """Alerts, newest first; a centre sees its own country's."""
    query = access.alert_scope(principal)
    if country:
        if query.get("country", country.upper()) != country.upper():
            return paged([], 0, page)
        query["country"] = country.upper()
    if status:
        query["status"] = status
    coll = runtime.db[store.ALERTS]
    total = await coll.count_documents(query)
    cursor = coll.find(query).sort("issued_at", -1).skip(page.offset).limit(page.limit)
    return paged([_alert_view(SecurityAlert.from_doc(d)) async for d in cursor], total, page)


# --- end of mission: the volunteer's report and the authority's evaluation -------------------------


@transactional
async def file_volunteer_report(
    uow: UnitOfWork[MissionsSettings], principal: Principal, mission_id: str, text: str
) -> Document:
    """The volunteer writes their own end-of-mission report (optional, free text)."""
    principal.require_role("volunteer")
    doc, mission = await _load(uow, mission_id)
    access.require(principal, access.VOLUNTEER_ACT, doc)
    mission.file_report(text, uow.now())
    await store.save(uow, store.MISSIONS, mission)
    return end_of_mission_view(principal, mission)


@transactional
async def evaluate_mission(
    uow: UnitOfWork[MissionsSettings],
    principal: Principal,
    mission_id: str,
    *,
    scores: dict[str, int],
    would_host_again: bool,
    comment: str | None,
) -> Document:
    """The mission's authority evaluates the mission once it is over."""
    principal.require_role("authority")
    doc, mission = await _load(uow, mission_id)
    access.require_evaluator(principal, doc)
    mission.evaluate(scores, would_host_again, comment, principal.sub, uow.now())
    await store.save(uow, store.MISSIONS, mission)
    return end_of_mission_view(principal, mission)


def end_of_mission_view(principal: Principal, mission: Mission) -> Document:
    """The report for the volunteer, the centre, the branch and staff; the evaluation for the authority,
    the centre, the branch and staff."""
    view = EndOfMission(
        mission_id=mission.mission_id,
        status=mission.status,
        volunteer_report=mission.volunteer_report if access.reads_volunteer_report(principal) else None,
        evaluation=mission.evaluation if access.reads_evaluation(principal) else None,
    )
    return show(view)


async def get_end_of_mission(runtime: Runtime[MissionsSettings], principal: Principal, mission_id: str) -> Document:
    """A mission's end-of-mission report and evaluation, as far as the caller may read them."""
    doc = await runtime.db[store.MISSIONS].find_one({"_id": mission_id})
    if doc is None:
        raise NotFound(f"mission {mission_id} not found")
    access.require(principal, access.READ, doc)
    return end_of_mission_view(principal, Mission.from_doc(doc))


async def get_certificate(runtime: Runtime[MissionsSettings], principal: Principal, mission_id: str) -> bytes:
    """The end-of-mission certificate (PDF) once the mission ended or was interrupted (409 before)."""
    db = runtime.db
    doc = await db[store.MISSIONS].find_one({"_id": mission_id})
    if doc is None:
        raise NotFound(f"mission {mission_id} not found")
    if not access.may_download_certificate(principal, doc):
        raise Forbidden(f"only the volunteer, the authority and staff download the certificate of {mission_id}")
    mission = Mission.from_doc(doc)
    if mission.status not in (ENDED, INTERRUPTED) or mission.ended_on is None:
        raise NotAllowedInState(f"mission is {mission.status}: the certificate comes once it has ended")
    contact = await db[store.CONTACTS].find_one({"_id": mission.volunteer_id}) if mission.volunteer_id else None
    partner = await db[store.PARTNERS].find_one({"_id": mission.partner_id}) if mission.partner_id else None
    authority = await db[store.AUTHORITIES].find_one({"_id": mission.authority_id})
    facts = certificate.CertificateFacts(
        mission_id=mission.mission_id,
        # An erased volunteer has no name left here: the certificate says so rather than guess.
        volunteer_name=(contact or {}).get("name") or "(nom non disponible)",
        scheme=mission.scheme,
        status=mission.status,
        started_on=mission.departed_on or mission.starts_on,
        ended_on=mission.ended_on,
        partner_name=(partner or {}).get("name") or mission.partner_id or "(organisation d'accueil inconnue)",
        authority_name=(authority or {}).get("name") or mission.authority_id,
        country=mission.country,
        issuer=runtime.settings.certificate_issuer,
        issued_on=runtime.now().date(),
    )
    return certificate.render(facts)
