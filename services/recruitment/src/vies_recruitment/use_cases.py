"""What people do with the recruitment service, one short function each.

Each use case loads what it needs, applies the domain rules and saves the new
state with its events in one MongoDB transaction (``@transactional``: a function of its
unit of work, run again by the kit on a write conflict or a lost race).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo.errors import DuplicateKeyError

from vies_recruitment import store
from vies_recruitment.domain import access
from vies_recruitment.domain import application as states
from vies_recruitment.domain import position as positions
from vies_recruitment.domain.eligibility import (
    RECIPROCITY_SCHEMES,
    SCHEMES,
    Candidate,
    Case,
    EligibilityPolicy,
    Placement,
    Reason,
    check,
)
from vies_recruitment.domain.matching import match_score
from vies_recruitment.schemas import (
    ApplicationIn,
    CandidateIn,
    ContactIn,
    DeclarationsConfirmedIn,
    EligibilityCheckIn,
    EngagementIn,
    PositionIn,
    PositionPatch,
)
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.errors import AlreadyExists, Forbidden, InvalidInput, NotAllowedInState, NotFound
from vies_shared.events.recruitment import (
    ApplicationRejected,
    ApplicationScreened,
    ApplicationShortlisted,
    ApplicationSubmitted,
    ApplicationWithdrawn,
    CandidateSelected,
    ContactUpdated,
    EmergencyContact,
    InterviewScheduled,
    PersonErased,
    Place,
    PositionClosed,
    PositionPublished,
    VolunteerEngaged,
)
from vies_shared.events.topics import contacts_topic
from vies_shared.months import months_between
from vies_shared.service import Runtime
from vies_shared.storage import Collections, RaceLost, UnitOfWork, transactional
from vies_shared.web import Page, Principal, paged

T = TypeVar("T")
Document = dict[str, Any]


def now() -> datetime:
    """The current moment, UTC."""
    return datetime.now(UTC)


def policy_of(runtime: Runtime[RecruitmentSettings]) -> EligibilityPolicy:
    """The eligibility parameters from the service's settings."""
    return runtime.settings.eligibility_policy()


# --- views ---------------------------------------------------------------------------------


def position_view(doc: Document) -> Document:
    """A position as the API shows it."""
    view = {k: v for k, v in doc.items() if k != "_id"}
    view["position_id"] = doc["_id"]
    return view


# What an anonymous visitor reads of a published position: no partnership, authority, partner or
# sending organisation id, no closing reason, no internal dates.
PUBLIC_POSITION_FIELDS = (
    "position_id",
    "title",
    "description",
    "scheme",
    "country",
    "partner_country",
    "region",
    "starts_on",
    "duration_months",
    "duration_days",
    "places",
    "place",
    "languages",
    "skills",
    "status",
    "published_at",
)


def public_position_view(doc: Document) -> Document:
    """A published position as an anonymous visitor sees it."""
    view = position_view(doc)
    return {k: view[k] for k in PUBLIC_POSITION_FIELDS if k in view}


def application_view(doc: Document, *, personal: bool) -> Document:
    """An application as the API shows it; without the candidate's profile when ``personal`` is False."""
    view = {k: v for k, v in doc.items() if k not in ("_id", "email_key")}
    view["application_id"] = doc["_id"]
    if not personal:
        view.pop("candidate", None)
        view.pop("motivation", None)
    return view


def _group_size(pos: Document) -> int | None:
    # A JSI / VVV-SI position is the group's project: its places are the group's young people.
    return int(pos["places"]) if pos["scheme"] == "jsi_vvvsi" else None


def _placement(pos: Document) -> Placement:
    starts_on = store.parse_date(pos["starts_on"])
    assert starts_on is not None
    return Placement.for_duration(
        pos["scheme"],
        pos["country"],
        starts_on,
        months=pos["duration_months"],
        days=pos.get("duration_days"),
        partner_country=pos.get("partner_country"),
        action_days=pos.get("action_days"),
        group_size=_group_size(pos),
    )


def _candidate(profile: Document) -> Candidate:
    birth_date = store.parse_date(profile["birth_date"])
    assert birth_date is not None
    return Candidate(
        birth_date,
        profile["nationality"],
        profile["residence_country"],
        bool(profile.get("disability")),
        tuple(profile.get("other_nationalities") or ()),
        profile.get("residence_permit"),
        store.parse_date(profile.get("in_france_since")),
        profile.get("employment"),
        profile.get("seniority_months"),
    )


def _reasons(reasons: list[Reason]) -> list[Document]:
    return [r.as_dict() for r in reasons]


# --- positions -----------------------------------------------------------------------------


@transactional
async def create_position(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, data: PositionIn, *, position_id: str | None = None
) -> Document:
    """An authority drafts a position within one of its active partnerships."""
    principal.require_role("authority")
    if data.scheme == "jsi_vvvsi" and not data.duration_days:
        raise InvalidInput("a jsi_vvvsi project needs duration_days", details=[{"field": "duration_days"}])

    partnership = await uow.get(store.PARTNERSHIPS, data.partnership_id, "partnership")
    if not principal.is_staff and principal.authority_id != partnership["authority_id"]:
        raise Forbidden("the partnership belongs to another authority")
    if partnership.get("status") != "active":
        raise NotAllowedInState("the partnership has ended; no new position can be opened in it")
    region = await store.authority_region(uow, partnership["authority_id"]) or partnership.get("region")
    reciprocity = data.scheme in RECIPROCITY_SCHEMES
    country = "FR" if reciprocity else partnership["country"]
    if data.place is not None and not data.place.subdivision.startswith(f"{country}-"):
        raise InvalidInput(
            f"place.subdivision {data.place.subdivision} is not a subdivision of {country}",
            details=[{"field": "place.subdivision"}],
        )
    doc: Document = {
        "_id": position_id or f"pos-{uuid.uuid4()}",
        "partnership_id": data.partnership_id,
        "authority_id": partnership["authority_id"],
        "partner_id": partnership["partner_id"],
        # Reciprocity: the volunteer serves in France and comes from the partner's country.
        "country": country,
        "partner_country": partnership["country"],
        "region": region,
        "scheme": data.scheme,
        "title": data.title,
        "description": data.description,
        "starts_on": store.iso(data.starts_on),
        "duration_months": data.duration_months,
        "duration_days": data.duration_days,
        "places": data.places,
        "filled": 0,
        "languages": sorted(set(data.languages)),
        "skills": data.skills,
        "sending_organisation_id": data.sending_organisation_id,
        "action_days": data.action_days,
        "sponsor": data.sponsor,
        "place": data.place.model_dump() if data.place else None,
        "status": positions.DRAFT,
        "close_cause": None,
        "close_reason": None,
        "created_at": now(),
        "published_at": None,
        "closed_at": None,
    }
    try:
        await uow[store.POSITIONS].insert_one(doc)
    except DuplicateKeyError as exc:
        raise AlreadyExists(f"position {position_id} already exists") from exc
    return position_view(doc)


@transactional
async def update_position(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, position_id: str, data: PositionPatch
) -> Document:
    """The position's authority (or staff) corrects a draft; once published, only closing is left (409)."""
    changes: Document = data.model_dump(include=data.model_fields_set)
    if "starts_on" in changes:
        changes["starts_on"] = store.iso(data.starts_on)
    if "languages" in changes:
        changes["languages"] = sorted(set(changes["languages"]))
    pos = await uow.get(store.POSITIONS, position_id, "position")
    access.require_position_manager(principal, pos)
    if pos["status"] != positions.DRAFT:
        raise NotAllowedInState(f"position {position_id} is {pos['status']}: only a draft can be edited")
    pos.update(changes)
    if pos["scheme"] == "jsi_vvvsi" and not pos.get("duration_days"):
        raise InvalidInput("a jsi_vvvsi project needs duration_days", details=[{"field": "duration_days"}])
    place = pos.get("place")
    if place and not str(place["subdivision"]).startswith(f"{pos['country']}-"):
        raise InvalidInput(
            f"place.subdivision {place['subdivision']} is not a subdivision of {pos['country']}",
            details=[{"field": "place.subdivision"}],
        )
    changes["updated_at"] = pos["updated_at"] = now()
    await uow[store.POSITIONS].update_one({"_id": position_id, "status": positions.DRAFT}, {"$set": changes})
    return position_view(pos)


@transactional
async def publish_position(uow: UnitOfWork[RecruitmentSettings], principal: Principal, position_id: str) -> Document:
    """Open a draft for applications once the scheme's duration rules, partner and sending organisation allow it."""
    policy = uow.settings.eligibility_policy()
    pos = await uow.get(store.POSITIONS, position_id, "position")
    access.require_position_manager(principal, pos)
    partnership = await uow[store.PARTNERSHIPS].find_one({"_id": pos["partnership_id"]})
    partner = await uow[store.PARTNERS].find_one({"_id": pos["partner_id"]})
    sending: positions.SendingApproval | None = None
    if pos.get("sending_organisation_id"):
        org = await uow[store.SENDING_ORGANISATIONS].find_one({"_id": pos["sending_organisation_id"]})
        sending = positions.SendingApproval(
            known=org is not None,
            approved_from=store.parse_date(org.get("approved_from")) if org else None,
            approved_until=store.parse_date(org.get("approved_until")) if org else None,
        )
    problems = positions.publish_problems(
        status=pos["status"],
        placement=_placement(pos),
        policy=policy,
        partnership_active=bool(partnership and partnership.get("status") == "active"),
        partner=positions.PartnerStanding(
            known=partner is not None,
            status=str(partner.get("status", "pending")) if partner else "pending",
            suspended=bool(partner.get("suspended")) if partner else False,
        ),
        sending=sending,
        sponsor=pos.get("sponsor"),
    )
    if problems:
        raise NotAllowedInState(
            "the position cannot be published: " + "; ".join(p.en for p in problems),
            details={"reasons": _reasons(problems)},
        )
    pos.update(status=positions.PUBLISHED, published_at=now())
    await uow[store.POSITIONS].update_one(
        {"_id": position_id},
        {"$set": {"status": pos["status"], "published_at": pos["published_at"]}},
    )
    uow.emit(
        PositionPublished(
            position_id=position_id,
            partnership_id=pos["partnership_id"],
            authority_id=pos["authority_id"],
            partner_id=pos["partner_id"],
            country=pos["country"],
            scheme=pos["scheme"],
            title=pos["title"],
            starts_on=pos["starts_on"],
            duration_months=pos["duration_months"],
            places=pos["places"],
            sending_organisation_id=pos.get("sending_organisation_id"),
            duration_days=pos.get("duration_days"),
            place=Place(**pos["place"]) if pos.get("place") else None,
        ),
        region=pos.get("region"),
    )
    return position_view(pos)


@transactional
async def close_position(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, position_id: str, reason: str
) -> Document:
    """The authority cancels a position; its open applications are rejected."""
    pos = await uow.get(store.POSITIONS, position_id, "position")
    access.require_position_manager(principal, pos)
    positions.check_can_close(pos["status"])
    return await close(uow, pos, cause=positions.CANCELLED, reason=reason)


async def close(uow: UnitOfWork, pos: Document, *, cause: str, reason: str) -> Document:
    """Close a position (in the caller's transaction) and reject its remaining open applications."""
    changes = {"status": positions.CLOSED, "close_cause": cause, "close_reason": reason, "closed_at": now()}
    await uow[store.POSITIONS].update_one({"_id": pos["_id"]}, {"$set": changes})
    pos.update(changes)
    uow.emit(PositionClosed(position_id=pos["_id"], reason=reason, cause=cause), region=pos.get("region"))
    rejection = states.POSITION_FILLED if cause == positions.FILLED else f"position closed: {reason}"
    cursor = uow[store.APPLICATIONS].find(
        {"position_id": pos["_id"], "status": {"$in": sorted(states.OPEN)}}, {"_id": 1}
    )
    for app in await cursor.to_list():
        await _set_status(uow, app["_id"], states.REJECTED, rejection_reason=rejection)
        uow.emit(ApplicationRejected(application_id=app["_id"], reason=rejection), region=pos.get("region"))
    return position_view(pos)


async def close_positions_of_partnership(uow: UnitOfWork, partnership_id: str, reason: str) -> int:
    """A partnership ended: close its open positions with that reason (each with its event)."""
    cursor = uow[store.POSITIONS].find(
        {"partnership_id": partnership_id, "status": {"$in": sorted(positions.OPEN_POSITION)}}
    )
    closed = 0
    for pos in await cursor.to_list():
        await close(uow, pos, cause=positions.PARTNERSHIP_ENDED, reason=reason)
        closed += 1
    return closed


async def get_position(
    runtime: Runtime[RecruitmentSettings], principal: Principal | None, position_id: str
) -> Document:
    """One position; drafts only for their authority and staff; anonymous: published ones only."""
    pos = await runtime.db[store.POSITIONS].find_one({"_id": position_id})
    if pos is None or (principal is None and pos.get("status") != positions.PUBLISHED):
        raise NotFound(f"position {position_id} not found")
    if principal is None:
        return public_position_view(pos)
    if not access.can_read_position(principal, pos):
        raise Forbidden("this draft belongs to another authority")
    return position_view(pos)


async def search_positions(
    runtime: Runtime[RecruitmentSettings], principal: Principal | None, filters: Document, page: Page
) -> Document:
    """Positions matching the filters (country, scheme, status, region, language, free text, start dates),
    paginated."""
    conditions: list[Document] = []
    for name in ("country", "scheme", "status", "region", "authority_id", "partnership_id"):
        if filters.get(name):
            conditions.append({name: filters[name]})
    # Start dates are stored as ISO strings, whose order is the calendar's.
    if filters.get("starts_from") and filters.get("starts_until") and filters["starts_from"] > filters["starts_until"]:
        raise InvalidInput(
            "starts_from is after starts_until", details=[{"field": "starts_from"}, {"field": "starts_until"}]
        )
    starts: Document = {}
    if filters.get("starts_from"):
        starts["$gte"] = store.iso(filters["starts_from"])
    if filters.get("starts_until"):
        starts["$lte"] = store.iso(filters["starts_until"])
    if starts:
        conditions.append({"starts_on": starts})
    if filters.get("language"):
        conditions.append({"languages": filters["language"].lower()})
    if filters.get("q"):
        pattern = {"$regex": re.escape(filters["q"]), "$options": "i"}
        conditions.append({"$or": [{"title": pattern}, {"description": pattern}]})
    if principal is None:
        conditions.append({"status": positions.PUBLISHED})
    elif not principal.is_staff:
        visible: list[Document] = [{"status": {"$ne": positions.DRAFT}}]
        if principal.role == "authority" and principal.authority_id:
            visible.append({"authority_id": principal.authority_id})
        conditions.append({"$or": visible})
    query: Document = {"$and": conditions} if conditions else {}
    collection = runtime.db[store.POSITIONS]
    total = await collection.count_documents(query)
    cursor = collection.find(query).sort([("starts_on", 1), ("_id", 1)]).skip(page.offset).limit(page.limit)
    view = position_view if principal is not None else public_position_view
    return paged([view(d) for d in await cursor.to_list()], total, page)


# --- applications --------------------------------------------------------------------------


async def _vsi_months_served(uow: Collections, person_id: str, *, except_application: str | None = None) -> float:
    """The person's VSI time on record: engagements, cut short or lengthened by the missions' events,
    plus the months served elsewhere once the authority or staff confirmed them."""
    person = await uow[store.PERSONS].find_one({"_id": person_id}, {ELSEWHERE: 1})
    total = float((person or {}).get(ELSEWHERE) or 0.0)
    cursor = uow[store.ENGAGEMENTS].find({"person_id": person_id, "scheme": "vsi"})
    for engagement in await cursor.to_list():
        if except_application and engagement.get("application_id") == except_application:
            continue
        starts_on = store.parse_date(engagement["starts_on"])
        last_day = store.parse_date(engagement.get("served_until") or engagement["ends_on"])
        if starts_on and last_day:
            total += months_between(starts_on, last_day)
    return round(total, 4)


ELSEWHERE = "vsi_months_served_elsewhere"
"""On a person: VSI months served with other organisations, as confirmed by an authority or staff."""


def _profile_doc(candidate: CandidateIn, email: str) -> Document:
    return {
        "name": candidate.name,
        "email": email,
        "phone": candidate.phone,
        "birth_date": store.iso(candidate.birth_date),
        "nationality": candidate.nationality,
        "residence_country": candidate.residence_country,
        "language": candidate.language,
        "disability": candidate.disability,
        "languages": sorted(set(candidate.languages)),
        "skills": candidate.skills,
        "other_nationalities": sorted(set(candidate.other_nationalities) - {candidate.nationality}),
        "residence_permit": candidate.residence_permit,
        "in_france_since": store.iso(candidate.in_france_since) if candidate.in_france_since else None,
        "employment": candidate.employment,
        "seniority_months": candidate.seniority_months,
    }


def _declarations(candidate: CandidateIn) -> Document:
    """What the candidate declared that the authority or staff must confirm before the contract."""
    declared: Document = {}
    if candidate.vsi_months_served_elsewhere:
        declared[ELSEWHERE] = {"declared": candidate.vsi_months_served_elsewhere, "confirmed": False}
    if candidate.residence_permit:
        declared["residence_permit"] = {"declared": candidate.residence_permit, "confirmed": False}
    return declared


async def _confirmed_elsewhere(uow: UnitOfWork, person_id: str) -> float:
    person = await uow[store.PERSONS].find_one({"_id": person_id}, {ELSEWHERE: 1})
    return float((person or {}).get(ELSEWHERE) or 0.0)


def unconfirmed_declarations(app: Document) -> list[str]:
    """The candidate's declared facts nobody has confirmed yet (the contract waits for them)."""
    return sorted(name for name, fact in (app.get("declarations") or {}).items() if not fact.get("confirmed"))


def _contact(doc: Document) -> tuple[Any, ...]:
    return tuple(doc.get(k) for k in ("name", "email", "phone", "language"))


SELF = "self"
ON_BEHALF = "on_behalf"
"""How a person record came to be: ``self`` (a candidate's own account, id = the token's subject)
or ``on_behalf`` (staff applied for someone who has no account). Review M4: a person is never
found by email across the two, so an application made on someone's behalf cannot land in a
candidate's record (and its profile become readable by that candidate) because the email matches."""


async def _save_person(uow: UnitOfWork, principal: Principal, profile: Document) -> str:
    """Create or update the candidate's person record; emit ``ContactUpdated`` when the contact changed.

    A candidate's record is the one of their token's subject. On someone's behalf (staff), the
    record is one made by this same flow for that email, or a new one: never a candidate's own.
    """
    email_key = profile["email"].lower()
    if principal.role == "candidate":
        person_id, origin = principal.sub, SELF
    else:
        found = await uow[store.PERSONS].find_one({"email_key": email_key, "origin": ON_BEHALF}, {"_id": 1})
        person_id, origin = (found["_id"] if found else f"per-{uuid.uuid4()}"), ON_BEHALF
    existing = await uow[store.PERSONS].find_one({"_id": person_id})
    await uow[store.PERSONS].update_one(
        {"_id": person_id},
        {
            "$set": {**profile, "email_key": email_key, "updated_at": now()},
            "$setOnInsert": {"origin": origin},
            "$unset": {"erased_at": ""},
        },
        upsert=True,
    )
    if existing is None or _contact(existing) != _contact(profile):
        # The event is the person's whole contact: the emergency contact set earlier travels on with it.
        uow.emit(_contact_event(person_id, {**(existing or {}), **profile}))
    return person_id


def candidate_email(
    source: Runtime[RecruitmentSettings] | UnitOfWork[RecruitmentSettings], principal: Principal, given: str | None
) -> str:
    """The email an application is made with.

    A candidate applies with their account's email, verified by the identity provider: the
    token's ``email`` claim, whatever the body says. A token whose email is not verified
    (``email_verified`` false) cannot apply (403). Only development tokens (``VIES_ENV=dev``)
    may carry no email at all; then the body's email is used. Staff applying on someone's
    behalf give the email in the body.
    """
    if principal.role != "candidate":
        if not given:
            raise InvalidInput("candidate.email is required when applying on someone's behalf")
        return given
    if principal.email:
        if not principal.email_verified:
            raise Forbidden("verify your email address first: follow the link the sign-in service sent you")
        return principal.email
    if source.settings.env == "dev" and given:
        return given
    raise Forbidden("verify your email address first: your account has no verified email address")


def _contact_event(person_id: str, person: Document) -> ContactUpdated:
    emergency = person.get("emergency_contact")
    return ContactUpdated(
        person_id=person_id,
        name=person["name"],
        email=person["email"],
        phone=person.get("phone"),
        language=person.get("language") or "fr",
        # The event carries whom to call (name, relation, phone); the contact's email stays here.
        emergency_contact=EmergencyContact(
            name=emergency["name"], relation=emergency["relation"], phone=emergency["phone"]
        )
        if emergency
        else None,
    )


@transactional
async def apply(
    uow: UnitOfWork[RecruitmentSettings],
    principal: Principal,
    position_id: str,
    data: ApplicationIn,
    *,
    application_id: str | None = None,
) -> Document:
    """A candidate applies; screening runs at once and the answer carries its result."""
    principal.require_role("candidate")
    policy = uow.settings.eligibility_policy()
    profile = _profile_doc(data.candidate, candidate_email(uow, principal, data.candidate.email))
    email_key = profile["email"].lower()
    same: list[Document] = [{"email_key": email_key}]
    if principal.role == "candidate":
        same.append({"candidate_id": principal.sub})

    pos = await uow.get(store.POSITIONS, position_id, "position")
    if pos["status"] != positions.PUBLISHED:
        raise NotAllowedInState(f"the position is {pos['status']}, not open for applications")
    duplicate = await uow[store.APPLICATIONS].find_one({"position_id": position_id, "$or": same}, {"_id": 1})
    if duplicate is not None:
        raise AlreadyExists(f"this email has already applied to position {position_id}")
    # A concurrent duplicate that slipped past the check hits a unique index (409).
    try:
        person_id = await _save_person(uow, principal, profile)
        served = await _vsi_months_served(uow, person_id)
        declarations = _declarations(data.candidate)
        if ELSEWHERE in declarations:
            # Screening trusts the declaration (the larger of it and what was confirmed before).
            confirmed = await _confirmed_elsewhere(uow, person_id)
            served += max(0.0, declarations[ELSEWHERE]["declared"] - confirmed)
        reasons = check(Case(_placement(pos), _candidate(profile), served, policy))
        eligible = not reasons
        score = (
            match_score(pos["languages"], pos["skills"], profile["languages"], profile["skills"]) if eligible else None
        )
        doc: Document = {
            "_id": application_id or f"app-{uuid.uuid4()}",
            "position_id": position_id,
            "authority_id": pos["authority_id"],
            "partner_id": pos["partner_id"],
            "region": pos.get("region"),
            "scheme": pos["scheme"],
            "country": pos["country"],
            "candidate_id": person_id,
            "email_key": email_key,
            "candidate": profile,
            "declarations": declarations,
            "motivation": data.motivation,
            "status": states.initial_status(eligible),
            "eligible": eligible,
            "reasons": _reasons(reasons),
            "score": score,
            "interview_at": None,
            "rejection_reason": None,
            "engagement_id": None,
            "submitted_at": now(),
            "updated_at": now(),
        }
        await uow[store.APPLICATIONS].insert_one(doc)
    except DuplicateKeyError as exc:
        raise AlreadyExists(f"this email has already applied to position {position_id}") from exc
    region = pos.get("region")
    uow.emit(
        ApplicationSubmitted(
            application_id=doc["_id"],
            position_id=position_id,
            candidate_id=person_id,
            authority_id=pos["authority_id"],
        ),
        region=region,
    )
    uow.emit(
        ApplicationScreened(
            application_id=doc["_id"],
            eligible=eligible,
            reasons=[r.en for r in reasons],
            reason_codes=[r.code for r in reasons],
            score=score,
        ),
        region=region,
    )
    return application_view(doc, personal=True)


async def get_application(runtime: Runtime[RecruitmentSettings], principal: Principal, application_id: str) -> Document:
    """One application, for its candidate, its authority, its region's branch and staff."""
    doc = await runtime.db[store.APPLICATIONS].find_one({"_id": application_id})
    if doc is None:
        raise NotFound(f"application {application_id} not found")
    if not access.can_read_application(principal, doc):
        raise Forbidden("this application is outside your scope")
    return application_view(doc, personal=access.sees_personal_data(principal, doc))


async def list_applications(
    runtime: Runtime[RecruitmentSettings], principal: Principal, filters: Document, page: Page
) -> Document:
    """Applications in the principal's scope (a candidate: their own), newest first."""
    query = dict(access.application_scope(principal))
    for name in ("position_id", "status"):
        if filters.get(name):
            query[name] = filters[name]
    collection = runtime.db[store.APPLICATIONS]
    total = await collection.count_documents(query)
    cursor = collection.find(query).sort([("submitted_at", -1), ("_id", 1)]).skip(page.offset).limit(page.limit)
    personal = principal.role != "branch"
    return paged([application_view(d, personal=personal) for d in await cursor.to_list()], total, page)


async def ranked_applications(
    runtime: Runtime[RecruitmentSettings], principal: Principal, position_id: str, status: str | None, page: Page
) -> Document:
    """A position's applications, best first: eligible, then by match score, then earliest."""
    pos = await runtime.db[store.POSITIONS].find_one({"_id": position_id})
    if pos is None:
        raise NotFound(f"position {position_id} not found")
    if not access.can_read_applications_of(principal, pos):
        raise Forbidden("this position's applications are outside your scope")
    query: Document = {"position_id": position_id}
    if status:
        query["status"] = status
    collection = runtime.db[store.APPLICATIONS]
    total = await collection.count_documents(query)
    order = [("eligible", -1), ("score", -1), ("submitted_at", 1), ("_id", 1)]
    cursor = collection.find(query).sort(order).skip(page.offset).limit(page.limit)
    personal = principal.role != "branch"
    items = []
    for rank, doc in enumerate(await cursor.to_list(), start=page.offset + 1):
        items.append({"rank": rank, **application_view(doc, personal=personal)})
    return paged(items, total, page)


async def _set_status(uow: UnitOfWork, application_id: str, status: str, **changes: Any) -> None:
    await uow[store.APPLICATIONS].update_one(
        {"_id": application_id}, {"$set": {"status": status, "updated_at": now(), **changes}}
    )


async def _pipeline_step(
    uow: UnitOfWork, principal: Principal, application_id: str, action: str
) -> tuple[Document, Document]:
    """Load an application and its position, check scope and that ``action`` is allowed in its state."""
    app = await uow.get(store.APPLICATIONS, application_id, "application")
    pos = await uow.get(store.POSITIONS, app["position_id"], "position")
    if action == "withdraw":
        if not (principal.is_staff or (principal.role == "candidate" and principal.sub == app["candidate_id"])):
            raise Forbidden("only the candidate may withdraw their application")
    else:
        access.require_position_manager(principal, pos)
    states.next_status(app["status"], action)
    return app, pos


async def _application_now(uow: UnitOfWork, application_id: str) -> Document:
    """The application as the step left it."""
    return application_view(await uow.get(store.APPLICATIONS, application_id, "application"), personal=True)


@transactional
async def shortlist(uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str) -> Document:
    """The authority shortlists an eligible application."""
    app, pos = await _pipeline_step(uow, principal, application_id, "shortlist")
    await _set_status(uow, app["_id"], states.SHORTLISTED)
    uow.emit(ApplicationShortlisted(application_id=app["_id"]), region=pos.get("region"))
    return await _application_now(uow, application_id)


@transactional
async def schedule_interview(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str, at: datetime
) -> Document:
    """The authority sets (or moves) the interview of a shortlisted candidate."""
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    app, pos = await _pipeline_step(uow, principal, application_id, "interview")
    await _set_status(uow, app["_id"], states.INTERVIEW_SCHEDULED, interview_at=moment)
    uow.emit(InterviewScheduled(application_id=app["_id"], at=moment), region=pos.get("region"))
    return await _application_now(uow, application_id)


@transactional
async def select(uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str) -> Document:
    """The authority selects an interviewed candidate."""
    app, pos = await _pipeline_step(uow, principal, application_id, "select")
    if pos["status"] != positions.PUBLISHED:
        raise NotAllowedInState(f"the position is {pos['status']}")
    await _set_status(uow, app["_id"], states.SELECTED)
    uow.emit(
        CandidateSelected(application_id=app["_id"], position_id=pos["_id"], candidate_id=app["candidate_id"]),
        region=pos.get("region"),
    )
    return await _application_now(uow, application_id)


@transactional
async def reject(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str, reason: str
) -> Document:
    """The authority rejects an open application with a reason."""
    app, pos = await _pipeline_step(uow, principal, application_id, "reject")
    await _set_status(uow, app["_id"], states.REJECTED, rejection_reason=reason)
    uow.emit(ApplicationRejected(application_id=app["_id"], reason=reason), region=pos.get("region"))
    return await _application_now(uow, application_id)


@transactional
async def withdraw(uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str) -> Document:
    """The candidate withdraws before engagement."""
    app, pos = await _pipeline_step(uow, principal, application_id, "withdraw")
    await _set_status(uow, app["_id"], states.WITHDRAWN)
    uow.emit(ApplicationWithdrawn(application_id=app["_id"]), region=pos.get("region"))
    return await _application_now(uow, application_id)


@transactional
async def engage(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str, contract: EngagementIn
) -> Document:
    """Sign the selected candidate's contract: it must fit the scheme and take one of the places left.

    The position's ``filled`` counter is written in the same transaction, so concurrent
    engagements conflict on it and serialise: never more engagements than places.
    When the last place goes the position closes and the other open applications are
    rejected with "position filled".
    """
    policy = uow.settings.eligibility_policy()
    app, pos = await _pipeline_step(uow, principal, application_id, "engage")
    if pos["status"] != positions.PUBLISHED or pos["filled"] >= pos["places"]:
        raise NotAllowedInState(f"the position is {pos['status']} with no place left")
    if app.get("candidate") is None:
        raise NotAllowedInState("the candidate's personal data was erased")
    waiting = unconfirmed_declarations(app)
    if waiting:
        raise NotAllowedInState(
            "confirm the candidate's declared facts first: " + ", ".join(waiting),
            details={"unconfirmed": waiting},
        )
    served = await _vsi_months_served(uow, app["candidate_id"], except_application=app["_id"])
    placement = Placement(
        pos["scheme"], pos["country"], contract.starts_on, contract.ends_on, pos.get("partner_country")
    )
    reasons = check(Case(placement, _candidate(app["candidate"]), served, policy))
    if reasons:
        raise NotAllowedInState(
            "the contract does not fit the scheme: " + "; ".join(r.en for r in reasons),
            details={"reasons": _reasons(reasons)},
        )
    filled = pos["filled"] + 1
    taken = await uow[store.POSITIONS].update_one(
        {"_id": pos["_id"], "filled": pos["filled"], "status": positions.PUBLISHED},
        {"$set": {"filled": filled}},
    )
    if taken.modified_count != 1:
        raise RaceLost("the position changed meanwhile")
    engagement_id = f"eng-{uuid.uuid4()}"
    await uow[store.ENGAGEMENTS].insert_one(
        {
            "_id": engagement_id,
            "application_id": app["_id"],
            "person_id": app["candidate_id"],
            "position_id": pos["_id"],
            "authority_id": pos["authority_id"],
            "partner_id": pos["partner_id"],
            "country": pos["country"],
            "scheme": pos["scheme"],
            "starts_on": store.iso(contract.starts_on),
            "ends_on": store.iso(contract.ends_on),
            "served_until": None,
            "mission_id": None,
            "engaged_at": now(),
        },
    )
    await _set_status(
        uow,
        app["_id"],
        states.ENGAGED,
        engagement_id=engagement_id,
        contract={"starts_on": store.iso(contract.starts_on), "ends_on": store.iso(contract.ends_on)},
    )
    uow.emit(
        VolunteerEngaged(
            engagement_id=engagement_id,
            application_id=app["_id"],
            volunteer_id=app["candidate_id"],
            position_id=pos["_id"],
            authority_id=pos["authority_id"],
            partner_id=pos["partner_id"],
            country=pos["country"],
            scheme=pos["scheme"],
            starts_on=contract.starts_on,
            ends_on=contract.ends_on,
            vsi_months_served_before=round(served, 4),
            place=Place(**pos["place"]) if pos.get("place") else None,
        ),
        region=pos.get("region"),
    )
    if filled >= pos["places"]:
        pos["filled"] = filled
        await close(uow, pos, cause=positions.FILLED, reason=states.POSITION_FILLED)
    return await _application_now(uow, application_id)


@transactional
async def confirm_declarations(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str, data: DeclarationsConfirmedIn
) -> Document:
    """The authority or staff confirms what the candidate declared, having seen the papers.

    Confirmed VSI months served elsewhere join the person's VSI time on record (and so the
    ``vsi_months_served_before`` of their engagements); a corrected number re-screens the
    application, with a new ``ApplicationScreened`` when the answer changes.
    """
    policy = uow.settings.eligibility_policy()
    app = await uow.get(store.APPLICATIONS, application_id, "application")
    pos = await uow.get(store.POSITIONS, app["position_id"], "position")
    access.require_position_manager(principal, pos)
    if app["status"] not in states.OPEN | {states.INELIGIBLE} or app.get("candidate") is None:
        raise NotAllowedInState(f"the application is {app['status']}: nothing left to confirm")
    declarations = app.get("declarations") or {}
    missing = [fact for fact in data.facts if fact not in declarations]
    if missing:
        raise NotAllowedInState("the candidate declared no " + ", ".join(missing), details={"facts": missing})
    if data.vsi_months_served_elsewhere is not None and ELSEWHERE not in data.facts:
        raise InvalidInput("give vsi_months_served_elsewhere only when confirming it", details=[{"field": ELSEWHERE}])
    changes: Document = {}
    for fact in data.facts:
        confirmed = {**declarations[fact], "confirmed": True, "confirmed_by": principal.sub, "confirmed_at": now()}
        if fact == ELSEWHERE:
            value = (
                declarations[fact]["declared"]
                if data.vsi_months_served_elsewhere is None
                else data.vsi_months_served_elsewhere
            )
            confirmed["confirmed_value"] = value
            await uow[store.PERSONS].update_one({"_id": app["candidate_id"]}, {"$set": {ELSEWHERE: value}})
        changes[f"declarations.{fact}"] = confirmed
    served = await _vsi_months_served(uow, app["candidate_id"], except_application=app["_id"])
    reasons = check(Case(_placement(pos), _candidate(app["candidate"]), served, policy))
    eligible = not reasons
    if eligible != app["eligible"]:
        changes.update(eligible=eligible, reasons=_reasons(reasons))
        changes["status"] = states.SCREENED if eligible else states.INELIGIBLE
        uow.emit(
            ApplicationScreened(
                application_id=app["_id"],
                eligible=eligible,
                reasons=[r.en for r in reasons],
                reason_codes=[r.code for r in reasons],
            ),
            region=pos.get("region"),
        )
    await uow[store.APPLICATIONS].update_one({"_id": app["_id"]}, {"$set": {**changes, "updated_at": now()}})
    updated = await uow.get(store.APPLICATIONS, application_id, "application")
    return application_view(updated, personal=True)


# --- persons and personal data -------------------------------------------------------------


PERSON_ROLES = ("candidate", "volunteer")
"""A candidate and, once engaged, a volunteer are the same person: their token's subject is the person id."""


def _require_self_or_staff(principal: Principal, person_id: str) -> None:
    if principal.is_staff:
        return
    if principal.role not in PERSON_ROLES or principal.sub != person_id:
        raise Forbidden("only the person themselves or staff may do this")


@transactional
async def get_person(uow: UnitOfWork[RecruitmentSettings], principal: Principal, person_id: str) -> Document:
    """A person's profile and VSI time on record (the person themselves, staff)."""
    _require_self_or_staff(principal, person_id)
    person = await uow.get(store.PERSONS, person_id, "person")
    served = await _vsi_months_served(uow, person_id)
    view = {k: v for k, v in person.items() if k not in ("_id", "email_key")}
    return {"person_id": person_id, **view, "vsi_months_served": served}


CONTACT_FIELDS = ("name", "email", "phone", "language", "emergency_contact")


@transactional
async def update_contact(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, person_id: str, data: ContactIn
) -> Document:
    """The person (or staff) changes their contact data; it travels on the contacts topic only.

    ``emergency_contact`` replaces the emergency contact (``null`` removes it).
    """
    _require_self_or_staff(principal, person_id)
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change")
    for required in ("name", "email", "language"):  # a contact always has them: null changes nothing
        if required in changes and changes[required] is None:
            del changes[required]
    email = changes.get("email")
    if email and not principal.is_staff and principal.email and email.lower() != principal.email.lower():
        # Review M4: a person's address is their account's, verified by the identity provider.
        raise InvalidInput(
            "your email address is your account's: change it in your account, where it is verified",
            details=[{"field": "email"}],
        )
    if not changes:
        raise InvalidInput("nothing to change")
    person = await uow.get(store.PERSONS, person_id, "person")
    if person.get("erased_at"):
        raise NotAllowedInState("this person's data was erased")
    person.update(changes)
    update: Document = {**changes, "updated_at": now()}
    if "email" in changes:
        update["email_key"] = changes["email"].lower()
    await uow[store.PERSONS].update_one({"_id": person_id}, {"$set": update})
    # Open applications show the candidate's current contact to the recruiting authority; the
    # emergency contact is not theirs to see (only the person and staff here, the centre in missions).
    shown = {f"candidate.{k}": v for k, v in changes.items() if k != "emergency_contact"}
    if shown:
        await uow[store.APPLICATIONS].update_many(
            {"candidate_id": person_id, "candidate": {"$ne": None}}, {"$set": shown}
        )
    uow.emit(_contact_event(person_id, person))
    return {"person_id": person_id, **{k: person.get(k) for k in CONTACT_FIELDS}}


@transactional
async def erase_person(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, person_id: str, *, asked_by_the_person: bool = False
) -> Document:
    """Right to erasure: remove the person's personal data everywhere in this service.

    Keeps anonymous facts (scheme, dates, statuses, eligibility) for statistics;
    open applications are withdrawn; pending and past ``ContactUpdated`` outbox copies
    are deleted; ``PersonErased`` and a tombstone on the contacts topic go out.

    Staff erase anyone; ``asked_by_the_person``: a candidate asks for their own data only, and
    not once engaged (a volunteer's contract is followed through missions: staff decide then).
    """
    if not asked_by_the_person:
        principal.require_role("staff")
    elif principal.role != "candidate" or principal.sub != person_id:
        raise Forbidden("a candidate may ask for the erasure of their own data only")
    person = await uow[store.PERSONS].find_one({"_id": person_id})
    applications = await uow[store.APPLICATIONS].find({"candidate_id": person_id}).to_list()
    if person is None and not applications:
        raise NotFound(f"person {person_id} not found")
    already = person is not None and person.get("erased_at") and all(a.get("candidate") is None for a in applications)
    if already:
        assert person is not None
        return {"person_id": person_id, "erased_at": person["erased_at"], "applications": len(applications)}
    if asked_by_the_person and any(a["status"] == states.ENGAGED for a in applications):
        raise NotAllowedInState(
            "an engaged volunteer's data is kept for the contract: ask the agency's staff for erasure"
        )
    erased_at = now()
    await uow[store.PERSONS].replace_one({"_id": person_id}, {"_id": person_id, "erased_at": erased_at}, upsert=True)
    for app in applications:
        changes: Document = {
            "candidate": None,
            "motivation": None,
            "email_key": f"erased:{app['_id']}",
            "erased_at": erased_at,
            "updated_at": erased_at,
        }
        if app["status"] in states.OPEN:
            changes["status"] = states.WITHDRAWN
            uow.emit(ApplicationWithdrawn(application_id=app["_id"]), region=app.get("region"))
        await uow[store.APPLICATIONS].update_one({"_id": app["_id"]}, {"$set": changes})
    await uow["outbox"].delete_many({"type": ContactUpdated.TYPE, "key": person_id})
    uow.emit(PersonErased(person_id=person_id))
    uow.emit_tombstone(contacts_topic(uow.settings.topic_prefix), person_id)
    return {"person_id": person_id, "erased_at": erased_at, "applications": len(applications)}


# --- guidance ------------------------------------------------------------------------------


async def eligibility_check(
    runtime: Runtime[RecruitmentSettings], principal: Principal | None, data: EligibilityCheckIn
) -> Document:
    """Check a situation against each scheme (or the one asked), with every reason; same rules as screening.

    Anyone may ask (``principal`` None: an anonymous visitor); a candidate's recorded VSI time is added.
    """
    policy = policy_of(runtime)
    served = data.vsi_months_served
    if principal is not None and principal.role == "candidate":
        served += await _vsi_months_served(runtime.reads, principal.sub)
    candidate = Candidate(
        data.birth_date,
        data.nationality,
        data.residence_country,
        data.disability,
        tuple(data.other_nationalities),
        data.residence_permit,
        data.in_france_since,
        data.employment,
        data.seniority_months,
    )
    results = []
    for scheme in [data.scheme] if data.scheme else list(SCHEMES):
        placement = Placement.for_duration(
            scheme,
            data.destination_country,
            data.starts_on,
            months=data.duration_months,
            days=data.duration_days,
            partner_country=data.partner_country,
            action_days=data.action_days,
            group_size=data.group_size,
        )
        reasons = check(Case(placement, candidate, served, policy))
        results.append({"scheme": scheme, "eligible": not reasons, "reasons": _reasons(reasons)})
    return {"vsi_months_served": round(served, 4), "results": results}
