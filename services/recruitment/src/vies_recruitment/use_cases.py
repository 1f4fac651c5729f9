"""What people do with the recruitment service, one short function each.

Each use case loads its aggregates, checks who asks, lets the domain change them (the
aggregates record the events they cause), saves them with their events and answers
their view, in one MongoDB transaction (``@transactional``: a function of its unit of
work, run again by the kit on a write conflict or a lost race).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from vies_recruitment import store
from vies_recruitment.domain import access
from vies_recruitment.domain import application as states
from vies_recruitment.domain import position as positions
from vies_recruitment.domain.application import (
    ELSEWHERE,
    Application,
    Contract,
    Profile,
    declarations_of,
    screen,
)
from vies_recruitment.domain.eligibility import SCHEMES, Candidate, Case, EligibilityPolicy, Placement, check
from vies_recruitment.domain.engagement import Engagement
from vies_recruitment.domain.person import ON_BEHALF, SELF, Person, contact_changes
from vies_recruitment.domain.position import Position, reasons_doc
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
from vies_shared.aggregate import Document, emit_recorded
from vies_shared.errors import AlreadyExists, Forbidden, InvalidInput, NotAllowedInState, NotFound
from vies_shared.events.recruitment import ContactUpdated
from vies_shared.events.topics import contacts_topic
from vies_shared.service import Runtime
from vies_shared.storage import Collections, UnitOfWork, transactional
from vies_shared.web import Page, Principal, paged


def policy_of(runtime: Runtime[RecruitmentSettings]) -> EligibilityPolicy:
    """The eligibility parameters from the service's settings."""
    return runtime.settings.eligibility_policy()


# --- positions -----------------------------------------------------------------------------


@transactional
async def create_position(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, data: PositionIn, *, position_id: str | None = None
) -> Document:
    """An authority drafts a position within one of its active partnerships."""
    principal.require_role("authority")
    positions.check_duration(data.scheme, data.duration_days)
    partnership = await uow.get(store.PARTNERSHIPS, data.partnership_id, "partnership")
    if not principal.is_staff and principal.authority_id != partnership["authority_id"]:
        raise Forbidden("the partnership belongs to another authority")
    if partnership.get("status") != "active":
        raise NotAllowedInState("the partnership has ended; no new position can be opened in it")
    region = await store.authority_region(uow, partnership["authority_id"]) or partnership.get("region")
    position = Position.draft(
        position_id or f"pos-{uuid.uuid4()}",
        partnership,
        region,
        data.model_dump(exclude={"partnership_id"}),
        uow.now(),
    )
    try:
        await store.add(uow, store.POSITIONS, position)
    except DuplicateKeyError as exc:
        raise AlreadyExists(f"position {position_id} already exists") from exc
    return position.view()


@transactional
async def update_position(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, position_id: str, data: PositionPatch
) -> Document:
    """The position's authority (or staff) corrects a draft; once published, only closing is left (409)."""
    position = await store.load_position(uow, position_id)
    access.require_position_manager(principal, position)
    position.correct(data.model_dump(include=data.model_fields_set), uow.now())
    await store.save(uow, store.POSITIONS, position)
    return position.view()


async def _partner_standing(uow: UnitOfWork, partner_id: str) -> positions.PartnerStanding:
    partner = await uow[store.PARTNERS].find_one({"_id": partner_id})
    if partner is None:
        return positions.PartnerStanding(known=False)
    return positions.PartnerStanding(
        known=True, status=str(partner.get("status", "pending")), suspended=bool(partner.get("suspended"))
    )


async def _sending_approval(uow: UnitOfWork, organisation_id: str | None) -> positions.SendingApproval | None:
    if not organisation_id:
        return None
    org = await uow[store.SENDING_ORGANISATIONS].find_one({"_id": organisation_id})
    if org is None:
        return positions.SendingApproval(known=False)
    return positions.SendingApproval(
        known=True,
        approved_from=store.parse_date(org.get("approved_from")),
        approved_until=store.parse_date(org.get("approved_until")),
    )


@transactional
async def publish_position(uow: UnitOfWork[RecruitmentSettings], principal: Principal, position_id: str) -> Document:
    """Open a draft for applications once the scheme's duration rules, partner and sending organisation allow it."""
    position = await store.load_position(uow, position_id)
    access.require_position_manager(principal, position)
    partnership = await uow[store.PARTNERSHIPS].find_one({"_id": position.partnership_id})
    position.publish(
        uow.settings.eligibility_policy(),
        partnership_active=bool(partnership and partnership.get("status") == "active"),
        partner=await _partner_standing(uow, position.partner_id),
        sending=await _sending_approval(uow, position.sending_organisation_id),
        at=uow.now(),
    )
    await store.save(uow, store.POSITIONS, position)
    return position.view()


@transactional
async def close_position(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, position_id: str, reason: str
) -> Document:
    """The authority cancels a position; its open applications are rejected."""
    position = await store.load_position(uow, position_id)
    access.require_position_manager(principal, position)
    positions.check_can_close(position.status)
    await close(uow, position, cause=positions.CANCELLED, reason=reason)
    return position.view()


async def close(uow: UnitOfWork, position: Position, *, cause: str, reason: str) -> None:
    """Close a position (in the caller's transaction) and reject its remaining open applications."""
    position.close(cause, reason, uow.now())
    await store.save(uow, store.POSITIONS, position)
    rejection = states.POSITION_FILLED if cause == positions.FILLED else f"position closed: {reason}"
    cursor = uow[store.APPLICATIONS].find({"position_id": position.position_id, "status": {"$in": sorted(states.OPEN)}})
    for doc in await cursor.to_list():
        application = Application.from_doc(doc)
        application.reject(rejection, uow.now())
        await store.save(uow, store.APPLICATIONS, application)


async def close_positions_of_partnership(uow: UnitOfWork, partnership_id: str, reason: str) -> int:
    """A partnership ended: close its open positions with that reason (each with its event)."""
    cursor = uow[store.POSITIONS].find(
        {"partnership_id": partnership_id, "status": {"$in": sorted(positions.OPEN_POSITION)}}
    )
    closed = 0
    for doc in await cursor.to_list():
        await close(uow, Position.from_doc(doc), cause=positions.PARTNERSHIP_ENDED, reason=reason)
        closed += 1
    return closed


async def get_position(
    runtime: Runtime[RecruitmentSettings], principal: Principal | None, position_id: str
) -> Document:
    """One position; drafts only for their authority and staff; anonymous: published ones only."""
    doc = await runtime.db[store.POSITIONS].find_one({"_id": position_id})
    if doc is None or (principal is None and doc.get("status") != positions.PUBLISHED):
        raise NotFound(f"position {position_id} not found")
    position = Position.from_doc(doc)
    if principal is None:
        return position.public_view()
    if not access.can_read_position(principal, position):
        raise Forbidden("this draft belongs to another authority")
    return position.view()


SEARCH_FIELDS = ("country", "scheme", "status", "region", "authority_id", "partnership_id")
"""Filters matching a position's field as given."""


def _start_dates(filters: Document) -> Document | None:
    """The ``starts_on`` condition: ISO strings, whose order is the calendar's."""
    starts_from, starts_until = filters.get("starts_from"), filters.get("starts_until")
    if starts_from and starts_until and starts_from > starts_until:
        raise InvalidInput(
            "starts_from is after starts_until", details=[{"field": "starts_from"}, {"field": "starts_until"}]
        )
    starts: Document = {}
    if starts_from:
        starts["$gte"] = store.iso(starts_from)
    if starts_until:
        starts["$lte"] = store.iso(starts_until)
    return {"starts_on": starts} if starts else None


def _visible_to(principal: Principal | None) -> Document | None:
    """Anonymous: published positions; staff: all; the others: all but other authorities' drafts."""
    if principal is None:
        return {"status": positions.PUBLISHED}
    if principal.is_staff:
        return None
    visible: list[Document] = [{"status": {"$ne": positions.DRAFT}}]
    if principal.role == "authority" and principal.authority_id:
        visible.append({"authority_id": principal.authority_id})
    return {"$or": visible}


def _position_query(principal: Principal | None, filters: Document) -> Document:
    conditions: list[Document | None] = [{name: filters[name]} for name in SEARCH_FIELDS if filters.get(name)]
    conditions.append(_start_dates(filters))
    if filters.get("language"):
        conditions.append({"languages": filters["language"].lower()})
    if filters.get("q"):
        pattern = {"$regex": re.escape(filters["q"]), "$options": "i"}
        conditions.append({"$or": [{"title": pattern}, {"description": pattern}]})
    conditions.append(_visible_to(principal))
    present = [c for c in conditions if c is not None]
    return {"$and": present} if present else {}


async def search_positions(
    runtime: Runtime[RecruitmentSettings], principal: Principal | None, filters: Document, page: Page
) -> Document:
    """Positions matching the filters (country, scheme, status, region, language, free text, start dates),
    paginated."""
    query = _position_query(principal, filters)
    collection = runtime.db[store.POSITIONS]
    total = await collection.count_documents(query)
    cursor = collection.find(query).sort([("starts_on", 1), ("_id", 1)]).skip(page.offset).limit(page.limit)
    found = [Position.from_doc(d) for d in await cursor.to_list()]
    return paged([p.view() if principal is not None else p.public_view() for p in found], total, page)


# --- applications --------------------------------------------------------------------------


async def _vsi_months_served(
    uow: Collections, person_id: str, *, except_application: str | None = None, person: Person | None = None
) -> float:
    """The person's VSI time on record (``person``: their record when the caller just read it)."""
    if person is None:
        doc = await uow[store.PERSONS].find_one({"_id": person_id}, {ELSEWHERE: 1})
        person = Person.from_doc(doc or {"_id": person_id})
    docs = await uow[store.ENGAGEMENTS].find({"person_id": person_id, "scheme": "vsi"}).to_list()
    return person.vsi_months_served([Engagement.from_doc(d) for d in docs], except_application=except_application)


def _profile(candidate: CandidateIn, email: str) -> Profile:
    return Profile(
        **candidate.model_dump(exclude={"email", "languages", "other_nationalities", "vsi_months_served_elsewhere"}),
        email=email,
        languages=sorted(set(candidate.languages)),
        other_nationalities=sorted(set(candidate.other_nationalities) - {candidate.nationality}),
    )


async def _save_person(uow: UnitOfWork, principal: Principal, profile: Profile) -> Person:
    """Create or update the candidate's person record; emit ``ContactUpdated`` when the contact changed.

    A candidate's record is the one of their token's subject. On someone's behalf (staff), the
    record is one made by this same flow for that email, or a new one: never a candidate's own.
    Returns the record as saved.
    """
    if principal.role == "candidate":
        person_id, origin = principal.sub, SELF
    else:
        query = {"email_key": profile.email.lower(), "origin": ON_BEHALF}
        found = await uow[store.PERSONS].find_one(query, {"_id": 1})
        person_id, origin = (found["_id"] if found else f"per-{uuid.uuid4()}"), ON_BEHALF
    # One command reads the record as it was (to tell whether the contact changed) and writes it.
    before = await uow[store.PERSONS].find_one_and_update(
        {"_id": person_id}, Person.application_update(profile, origin, uow.now()), upsert=True
    )
    person = Person.applied(person_id, before, profile)
    emit_recorded(uow, person)
    return person


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
    profile = _profile(data.candidate, candidate_email(uow, principal, data.candidate.email))
    position = await store.load_position(uow, position_id)
    position.check_open_for_applications()
    # A second application of one email or one candidate to a position hits a unique index (409);
    # the transaction, person record and contact event included, is then rolled back.
    try:
        person = await _save_person(uow, principal, profile)
        declarations = declarations_of(data.candidate.vsi_months_served_elsewhere, data.candidate.residence_permit)
        served = await _screening_months(uow, person, data.candidate.vsi_months_served_elsewhere)
        application = Application.submit(
            application_id or f"app-{uuid.uuid4()}",
            position,
            person_id=person.person_id,
            profile=profile,
            declarations=declarations,
            motivation=data.motivation,
            screening=screen(position, profile, served, uow.settings.eligibility_policy()),
            at=uow.now(),
        )
        await store.add(uow, store.APPLICATIONS, application)
    except DuplicateKeyError as exc:
        raise AlreadyExists(f"this email has already applied to position {position_id}") from exc
    return application.view(personal=True)


async def _screening_months(uow: UnitOfWork, person: Person, declared_elsewhere: float) -> float:
    """The VSI time screening counts: on record, plus the declared months served elsewhere beyond
    what was confirmed before (screening trusts the declaration; the contract waits for its confirmation)."""
    served = await _vsi_months_served(uow, person.person_id, person=person)
    if declared_elsewhere:
        served += max(0.0, declared_elsewhere - (person.vsi_months_served_elsewhere or 0.0))
    return served


async def get_application(runtime: Runtime[RecruitmentSettings], principal: Principal, application_id: str) -> Document:
    """One application, for its candidate, its authority, its region's branch and staff."""
    doc = await runtime.db[store.APPLICATIONS].find_one({"_id": application_id})
    if doc is None:
        raise NotFound(f"application {application_id} not found")
    application = Application.from_doc(doc)
    if not access.can_read_application(principal, application):
        raise Forbidden("this application is outside your scope")
    return application.view(personal=access.sees_personal_data(principal, application))


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
    return paged([Application.from_doc(d).view(personal=personal) for d in await cursor.to_list()], total, page)


async def ranked_applications(
    runtime: Runtime[RecruitmentSettings], principal: Principal, position_id: str, status: str | None, page: Page
) -> Document:
    """A position's applications, best first: eligible, then by match score, then earliest."""
    doc = await runtime.db[store.POSITIONS].find_one({"_id": position_id})
    if doc is None:
        raise NotFound(f"position {position_id} not found")
    if not access.can_read_applications_of(principal, Position.from_doc(doc)):
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
    for rank, found in enumerate(await cursor.to_list(), start=page.offset + 1):
        items.append({"rank": rank, **Application.from_doc(found).view(personal=personal)})
    return paged(items, total, page)


async def _pipeline_step(
    uow: UnitOfWork, principal: Principal, application_id: str, action: str
) -> tuple[Application, Position]:
    """Load an application and its position, check scope and that ``action`` is allowed in its state."""
    application = await store.load_application(uow, application_id)
    position = await store.load_position(uow, application.position_id)
    if action == "withdraw":
        if not (principal.is_staff or (principal.role == "candidate" and principal.sub == application.candidate_id)):
            raise Forbidden("only the candidate may withdraw their application")
    else:
        access.require_position_manager(principal, position)
    application.check_can(action)
    return application, position


async def _saved_view(uow: UnitOfWork, application: Application) -> Document:
    """Save the step's application with its events; answer it as stored (MongoDB keeps milliseconds)."""
    await store.save(uow, store.APPLICATIONS, application)
    return (await store.load_application(uow, application.application_id)).view(personal=True)


@transactional
async def shortlist(uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str) -> Document:
    """The authority shortlists an eligible application."""
    application, _ = await _pipeline_step(uow, principal, application_id, "shortlist")
    application.shortlist(uow.now())
    return await _saved_view(uow, application)


@transactional
async def schedule_interview(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str, at: datetime
) -> Document:
    """The authority sets (or moves) the interview of a shortlisted candidate."""
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    application, _ = await _pipeline_step(uow, principal, application_id, "interview")
    application.schedule_interview(moment, uow.now())
    return await _saved_view(uow, application)


@transactional
async def select(uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str) -> Document:
    """The authority selects an interviewed candidate."""
    application, position = await _pipeline_step(uow, principal, application_id, "select")
    application.select(position, uow.now())
    return await _saved_view(uow, application)


@transactional
async def reject(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str, reason: str
) -> Document:
    """The authority rejects an open application with a reason."""
    application, _ = await _pipeline_step(uow, principal, application_id, "reject")
    application.reject(reason, uow.now())
    return await _saved_view(uow, application)


@transactional
async def withdraw(uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str) -> Document:
    """The candidate withdraws before engagement."""
    application, _ = await _pipeline_step(uow, principal, application_id, "withdraw")
    application.withdraw(uow.now())
    return await _saved_view(uow, application)


@transactional
async def engage(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str, contract: EngagementIn
) -> Document:
    """Sign the selected candidate's contract: it must fit the scheme and take one of the places left.

    The position's ``filled`` counter is written in the same transaction, guarded by the value
    read, so concurrent engagements conflict on it and serialise: never more engagements than
    places. When the last place goes the position closes and the other open applications are
    rejected with "position filled".
    """
    application, position = await _pipeline_step(uow, principal, application_id, "engage")
    filled_before = position.filled
    engagement = application.engage(
        position,
        Contract(starts_on=contract.starts_on, ends_on=contract.ends_on),
        served=await _vsi_months_served(uow, application.candidate_id, except_application=application.application_id),
        policy=uow.settings.eligibility_policy(),
        engagement_id=f"eng-{uuid.uuid4()}",
        at=uow.now(),
    )
    guard = {"filled": filled_before, "status": positions.PUBLISHED}
    await store.save(uow, store.POSITIONS, position, unless_changed=guard)
    await store.add(uow, store.ENGAGEMENTS, engagement)
    view = await _saved_view(uow, application)
    if position.is_full:
        await close(uow, position, cause=positions.FILLED, reason=states.POSITION_FILLED)
    return view


@transactional
async def confirm_declarations(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, application_id: str, data: DeclarationsConfirmedIn
) -> Document:
    """The authority or staff confirms what the candidate declared, having seen the papers.

    Confirmed VSI months served elsewhere join the person's VSI time on record (and so the
    ``vsi_months_served_before`` of their engagements); a corrected number re-screens the
    application, with a new ``ApplicationScreened`` when the answer changes.
    """
    application = await store.load_application(uow, application_id)
    position = await store.load_position(uow, application.position_id)
    access.require_position_manager(principal, position)
    months = application.confirm(list(data.facts), data.vsi_months_served_elsewhere, principal.sub, uow.now())
    person = await _confirmed_elsewhere(uow, application.candidate_id, months)
    served = await _vsi_months_served(
        uow, application.candidate_id, except_application=application.application_id, person=person
    )
    application.rescreen(position, served, uow.settings.eligibility_policy())
    return await _saved_view(uow, application)


async def _confirmed_elsewhere(uow: UnitOfWork, person_id: str, months: float | None) -> Person | None:
    """The person's record, taking the VSI months served elsewhere just confirmed (when they were)."""
    doc = await uow[store.PERSONS].find_one({"_id": person_id})
    if doc is None:
        return None
    person = Person.from_doc(doc)
    if months is not None:
        person.confirm_elsewhere(months)
        await store.save(uow, store.PERSONS, person)
    return person


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
    person = Person.from_doc(await uow.get(store.PERSONS, person_id, "person"))
    return person.view(await _vsi_months_served(uow, person_id, person=person))


@transactional
async def update_contact(
    uow: UnitOfWork[RecruitmentSettings], principal: Principal, person_id: str, data: ContactIn
) -> Document:
    """The person (or staff) changes their contact data; it travels on the contacts topic only.

    ``emergency_contact`` replaces the emergency contact (``null`` removes it).
    """
    _require_self_or_staff(principal, person_id)
    changes = contact_changes(data.model_dump(exclude_unset=True))
    email = changes.get("email")
    if email and not principal.is_staff and principal.email and email.lower() != principal.email.lower():
        # A person's address is their account's, verified by the identity provider.
        raise InvalidInput(
            "your email address is your account's: change it in your account, where it is verified",
            details=[{"field": "email"}],
        )
    person = Person.from_doc(await uow.get(store.PERSONS, person_id, "person"))
    person.change_contact(changes, uow.now())
    await store.save(uow, store.PERSONS, person)
    # Open applications show the candidate's current contact to the recruiting authority; the
    # emergency contact is not theirs to see (only the person and staff here, the centre in missions).
    shown = {f"candidate.{k}": v for k, v in changes.items() if k != "emergency_contact"}
    if shown:
        await uow[store.APPLICATIONS].update_many(
            {"candidate_id": person_id, "candidate": {"$ne": None}}, {"$set": shown}
        )
    return person.contact_view()


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
    doc = await uow[store.PERSONS].find_one({"_id": person_id})
    docs = await uow[store.APPLICATIONS].find({"candidate_id": person_id}).to_list()
    if doc is None and not docs:
        raise NotFound(f"person {person_id} not found")
    applications = [Application.from_doc(doc) for doc in docs]
    person = Person.from_doc(doc) if doc is not None else None
    if person is not None and person.erased_at and all(a.candidate is None for a in applications):
        return person.erasure_view(len(applications))
    if asked_by_the_person and any(a.status == states.ENGAGED for a in applications):
        raise NotAllowedInState(
            "an engaged volunteer's data is kept for the contract: ask the agency's staff for erasure"
        )
    erased_at = uow.now()
    erased = Person.erased(person_id, erased_at)
    await uow[store.PERSONS].replace_one({"_id": person_id}, erased.to_doc(), upsert=True)
    for application in applications:
        application.erase(erased_at)
        await store.save(uow, store.APPLICATIONS, application)
    await uow["outbox"].delete_many({"type": ContactUpdated.TYPE, "key": person_id})
    emit_recorded(uow, erased)
    uow.emit_tombstone(contacts_topic(uow.settings.topic_prefix), person_id)
    return erased.erasure_view(len(applications))


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
        results.append({"scheme": scheme, "eligible": not reasons, "reasons": reasons_doc(reasons)})
    return {"vsi_months_served": round(served, 4), "results": results}
