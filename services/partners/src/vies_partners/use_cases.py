"""What people do with the partners service: one short async function per action.

Each command loads what it needs, applies the domain rules, and saves its state with its events in
one transaction (``@transactional``: a function of its unit of work). Scope checks (an authority only
its own records, a branch its region, a centre its country) happen here, with the loaded record at hand.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import date
from typing import Any

from pymongo.errors import DuplicateKeyError

from vies_partners import store
from vies_partners.domain import directory, journey, matching, sending_organisation
from vies_partners.domain.authority import Authority
from vies_partners.domain.indicators import Targets, indicators
from vies_partners.domain.match_request import MatchRequest
from vies_partners.domain.partner import Partner
from vies_partners.domain.partnership import Partnership
from vies_partners.domain.sending_organisation import SendingOrganisation
from vies_partners.schemas import (
    AuthorityIn,
    AuthorityPatch,
    MatchRequestIn,
    PartnerIn,
    PartnerPatch,
    PartnershipIn,
    SendingOrganisationIn,
)
from vies_partners.settings import PartnersSettings
from vies_shared import erasure
from vies_shared.aggregate import Aggregate
from vies_shared.errors import AlreadyExists, Forbidden, InvalidInput, NotAllowedInState, NotFound
from vies_shared.reference import eea_countries
from vies_shared.service import Runtime
from vies_shared.storage import UnitOfWork, transactional
from vies_shared.web import Page, Principal, paged

Document = dict[str, Any]


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _today(clock: Runtime[PartnersSettings] | UnitOfWork[PartnersSettings]) -> date:
    return clock.now().date()


# --- scope rules -----------------------------------------------------------------------------


def can_read_authority(principal: Principal, authority: Document) -> bool:
    """Staff everything; an authority itself; a branch the authorities of its region."""
    if principal.is_staff:
        return True
    if principal.role == "authority":
        return bool(principal.authority_id == authority["_id"])
    if principal.role == "branch":
        return bool(principal.region) and principal.region == authority["region"]
    return False


def check_reads_authority(principal: Principal, authority: Document) -> None:
    """Raise ``Forbidden`` unless the principal may read this authority's records."""
    if not can_read_authority(principal, authority):
        raise Forbidden("this authority is outside your scope")


def check_acts_for_authority(principal: Principal, authority_id: str) -> None:
    """Only staff and the authority itself act on its behalf."""
    principal.require_role("authority")
    if not principal.is_staff and principal.authority_id != authority_id:
        raise Forbidden("an authority acts only on its own records")


def check_centre_country(principal: Principal, country: str) -> None:
    """A centre acts only on partners of its country."""
    if principal.role == "centre" and (principal.country or "").upper() != country:
        raise Forbidden(f"a centre acts only on partners of its country ({principal.country or 'none'})")


def branch_region(principal: Principal, region: str | None) -> str | None:
    """The region a query is limited to: a branch always its own."""
    if principal.role == "branch":
        if not principal.region:
            raise Forbidden("this branch token names no region")
        if region and region != principal.region:
            raise Forbidden("a branch reads only its own region")
        return principal.region
    return region


# --- the partner directory -------------------------------------------------------------------
# Approved and suspended partners are the network's directory: every directory role reads them,
# without their contact persons or vetting history. Pending and rejected partners exist only for
# staff and the centre of their country (anyone else: not listed, 404). Contacts and history go
# to staff and that centre only. A ``partner`` token reads its own record, nothing else (403).

LISTED_STATUSES = ("approved", "suspended")
"""Statuses every directory role sees; ``pending`` and ``rejected`` are for staff and the country's centre."""


def vets_country(principal: Principal, country: str) -> bool:
    """Staff, or the centre of ``country``: they see everything about that country's partners."""
    if principal.is_staff:
        return True
    return principal.role == "centre" and bool(principal.country) and (principal.country or "").upper() == country


def check_reads_partner(principal: Principal, doc: Document) -> None:
    """Raise unless the principal may read this partner (403 a foreign partner, 404 a hidden one)."""
    if principal.role == "partner":
        if not principal.partner_id or principal.partner_id != doc["_id"]:
            raise Forbidden("a partner reads only its own record")
        return
    if doc["status"] not in LISTED_STATUSES and not vets_country(principal, doc["country"]):
        raise NotFound(f"partner {doc['_id']} not found")


def directory_scope(principal: Principal) -> Document:
    """The MongoDB filter limiting the directory to what the principal may list."""
    if principal.is_staff:
        return {}
    if principal.role == "partner":
        if not principal.partner_id:
            raise Forbidden("this partner token names no partner")
        return {"_id": principal.partner_id}
    listed: Document = {"status": {"$in": list(LISTED_STATUSES)}}
    if principal.role == "centre" and principal.country:
        return {"$or": [listed, {"country": principal.country.upper()}]}
    return listed


async def _insert_new(uow: UnitOfWork, collection: str, aggregate: Aggregate, what: str) -> None:
    """Insert a new record with its events; a concurrent duplicate that slipped past the check hits the
    unique index (409)."""
    try:
        await store.add(uow, collection, aggregate)
    except DuplicateKeyError as exc:
        raise AlreadyExists(f"this {what} was registered at the same moment by someone else") from exc


def _existing(record_id: str, visible: bool) -> Document | None:
    """The ``details`` of a duplicate: the existing record's id, only for a caller who may read it."""
    return {"existing_id": record_id} if visible else None


# --- views -----------------------------------------------------------------------------------


def partnership_view(doc: Document, partner_status: str | None) -> Document:
    """A stored partnership as answered, flagged for review when its partner is suspended."""
    return Partnership.from_doc(doc).view(partner_status)


# --- authorities -----------------------------------------------------------------------------


async def _refuse_erased_persons(uow: UnitOfWork, contacts: list[Document]) -> None:
    """A contact person may not be linked to a person whose data was erased (the erasure stays done)."""
    linked = [c.get("person_id") for c in contacts]
    if await erasure.erased_among(uow, linked, None):
        raise NotAllowedInState("contact person: that person's data was erased; give the contact without person_id")


@transactional
async def register_authority(
    uow: UnitOfWork[PartnersSettings], principal: Principal, body: AuthorityIn, *, authority_id: str | None = None
) -> Document:
    """Register a French authority (staff, the region's branch, or the authority itself)."""
    principal.require_role("branch", "authority")
    directory.check_region(body.region)
    if principal.role == "branch" and principal.region != body.region:
        raise Forbidden("a branch registers only authorities of its region")
    if principal.role == "authority":
        if not principal.authority_id:
            raise Forbidden("this token names no authority")
        # Review L2: the region decides which branch sees the authority's events (ce_region).
        if not principal.region:
            raise Forbidden("this authority token names no region: an authority registers itself in its own region")
        if principal.region != body.region:
            raise Forbidden(
                f"an authority registers itself only in its own region ({principal.region}), not {body.region}"
            )
        authority_id = principal.authority_id
    key = directory.authority_key(body.name, body.region)
    coll = uow[store.AUTHORITIES]
    await _refuse_erased_persons(uow, [body.contact.model_dump()])
    existing = await coll.find_one({"key": key}, {"_id": 1, "region": 1})
    if existing is not None:
        # Review L9: say that it exists, not whose (its id only to those who may read it).
        raise AlreadyExists(
            "an authority with this name is already registered in this region",
            details=_existing(existing["_id"], can_read_authority(principal, existing)),
        )
    new_id = authority_id or _new_id("aut")
    if await coll.find_one({"_id": new_id}, {"_id": 1}) is not None:
        raise AlreadyExists("this authority is already registered", details={"existing_id": new_id})
    authority = Authority.register(new_id, key=key, details=body.model_dump(), by=principal.sub, at=uow.now())
    await _insert_new(uow, store.AUTHORITIES, authority, "authority")
    return authority.view()


async def get_authority(runtime: Runtime[PartnersSettings], principal: Principal, authority_id: str) -> Document:
    """One authority, within the principal's scope."""
    principal.require_role("authority", "branch")
    doc = await runtime.db[store.AUTHORITIES].find_one({"_id": authority_id})
    if doc is None:
        raise NotFound(f"authority {authority_id} not found")
    check_reads_authority(principal, doc)
    return Authority.from_doc(doc).view()


async def list_authorities(
    runtime: Runtime[PartnersSettings],
    principal: Principal,
    *,
    region: str | None,
    territoires_volontaires: bool | None,
    page: Page,
) -> Document:
    """Authorities, filtered (staff everything, a branch its region, an authority itself)."""
    principal.require_role("branch", "authority")
    query: Document = {}
    region = branch_region(principal, region)
    if region:
        query["region"] = region
    if territoires_volontaires is not None:
        query["territoires_volontaires"] = territoires_volontaires
    if principal.role == "authority":
        query["_id"] = principal.authority_id or ""
    coll = runtime.db[store.AUTHORITIES]
    total = await coll.count_documents(query)
    docs = await coll.find(query).sort("_id", 1).skip(page.offset).limit(page.limit).to_list()
    return paged((Authority.from_doc(d).view() for d in docs), total, page)


ENROLMENT_FIELDS = ("territoires_volontaires", "territoires_volontaires_since")
"""Enrolment in the Territoires Volontaires programme: recorded by staff or the region's branch."""


@transactional
async def update_authority(
    uow: UnitOfWork[PartnersSettings], principal: Principal, authority_id: str, body: AuthorityPatch
) -> Document:
    """Correct an authority's record: contact, Territoires Volontaires enrolment and its date, new to cooperation.

    The authority itself, the branch of its region and staff may; the enrolment only the branch and
    staff. Emits ``partners.AuthorityUpdated`` with what changed (nothing changed: no event).
    """
    principal.require_role("authority", "branch")
    wanted = body.model_dump(exclude_unset=True)
    if not wanted:
        raise InvalidInput("nothing to change")
    if any(wanted.get(name) is None for name in wanted if name != "territoires_volontaires_since"):
        raise InvalidInput(
            "a field given must have a value", details=[{"field": n} for n, v in wanted.items() if v is None]
        )
    if principal.role == "authority" and any(name in wanted for name in ENROLMENT_FIELDS):
        raise Forbidden("enrolment in Territoires Volontaires is recorded by the branch or staff")
    if wanted.get("territoires_volontaires") and "territoires_volontaires_since" not in wanted:
        wanted["territoires_volontaires_since"] = _today(uow)
    if "territoires_volontaires_since" in wanted and wanted["territoires_volontaires_since"] is not None:
        wanted["territoires_volontaires_since"] = wanted["territoires_volontaires_since"].isoformat()
    doc = await uow.get(store.AUTHORITIES, authority_id, "authority")
    check_reads_authority(principal, doc)
    authority = Authority.from_doc(doc)
    changes = authority.changes_wanted(wanted)
    if not changes:
        return authority.view()
    if "contact" in changes:
        await _refuse_erased_persons(uow, [changes["contact"]])
    authority.correct(changes, uow.now())
    await store.save(uow, store.AUTHORITIES, authority)
    return authority.view()


# --- partners --------------------------------------------------------------------------------


@transactional
async def register_partner(
    uow: UnitOfWork[PartnersSettings], principal: Principal, body: PartnerIn, *, partner_id: str | None = None
) -> Document:
    """Register an international partner; it starts pending until vetted."""
    principal.require_role("centre", "authority")
    directory.check_partner_country(body.country)
    check_centre_country(principal, body.country)
    key = directory.partner_key(body.name, body.city, body.country)
    coll = uow[store.PARTNERS]
    await _refuse_erased_persons(uow, [c.model_dump() for c in body.contacts])
    existing = await coll.find_one({"key": key}, {"_id": 1, "status": 1, "country": 1})
    if existing is not None:
        # Review L9: say that it exists, not whose (its id only to those who may read it).
        visible = vets_country(principal, existing["country"]) or existing["status"] in LISTED_STATUSES
        raise AlreadyExists(
            "a partner with this name is already registered in this city and country",
            details=_existing(existing["_id"], visible),
        )
    partner = Partner.register(
        partner_id or _new_id("par"),
        key=key,
        name_key=directory.normalise(body.name),
        details=body.model_dump(),
        by=principal.sub,
        role=principal.role,
        at=uow.now(),
    )
    await _insert_new(uow, store.PARTNERS, partner, "partner")
    return partner.view(details=vets_country(principal, partner.country))


READ_DIRECTORY_ROLES = ("authority", "centre", "branch", "partner")


def check_keeps_partner(principal: Principal, doc: Document) -> None:
    """Staff, the centre of the partner's country and the partner itself keep its entry up to date."""
    if principal.role == "partner":
        if not principal.partner_id or principal.partner_id != doc["_id"]:
            raise Forbidden("a partner keeps only its own entry up to date")
        return
    principal.require_role("centre")
    check_centre_country(principal, doc["country"])


@transactional
async def update_partner(
    uow: UnitOfWork[PartnersSettings], principal: Principal, partner_id: str, body: PartnerPatch
) -> Document:
    """Correct a partner's entry: themes, languages, hosting capacity, contacts, reciprocity.

    Emits ``partners.PartnerUpdated`` with what changed (the contact persons only by name of field);
    the next match request ranks the partner on the new entry.
    """
    wanted = body.model_dump(exclude_unset=True)
    if not wanted:
        raise InvalidInput("nothing to change")
    nulls = [name for name, value in wanted.items() if value is None and name != "contact_email"]
    if nulls:
        raise InvalidInput("a field given must have a value", details=[{"field": n} for n in nulls])
    for name in ("themes", "languages"):
        if name in wanted:
            wanted[name] = sorted(set(wanted[name]))
    doc = await uow.get(store.PARTNERS, partner_id, "partner")
    if principal.role != "partner":
        check_reads_partner(principal, doc)
    check_keeps_partner(principal, doc)
    partner = Partner.from_doc(doc)
    changes = partner.changes_wanted(wanted)
    if not changes:
        return partner.view(details=True)
    await _refuse_erased_persons(uow, changes.get("contacts") or [])
    partner.correct(changes, uow.now())
    await store.save(uow, store.PARTNERS, partner)
    return partner.view(details=True)


async def get_partner(runtime: Runtime[PartnersSettings], principal: Principal, partner_id: str) -> Document:
    """One partner; contacts and vetting history for staff and the centre of its country."""
    principal.require_role(*READ_DIRECTORY_ROLES)
    if principal.role == "partner" and principal.partner_id != partner_id:
        raise Forbidden("a partner reads only its own record")
    doc = await runtime.db[store.PARTNERS].find_one({"_id": partner_id})
    if doc is None:
        raise NotFound(f"partner {partner_id} not found")
    check_reads_partner(principal, doc)
    return Partner.from_doc(doc).view(details=vets_country(principal, doc["country"]))


async def list_partners(
    runtime: Runtime[PartnersSettings],
    principal: Principal,
    *,
    country: str | None,
    theme: str | None,
    status: str | None,
    language: str | None,
    q: str | None,
    page: Page,
) -> Document:
    """Search the partner directory; ``q`` matches the name, ignoring case and accents."""
    principal.require_role(*READ_DIRECTORY_ROLES)
    scope = directory_scope(principal)
    query: Document = {}
    if country:
        query["country"] = country.upper()
    if theme:
        query["themes"] = theme
    if status:
        query["status"] = status
    if language:
        query["languages"] = language.lower()
    if q and directory.normalise(q):
        query["name_key"] = {"$regex": re.escape(directory.normalise(q))}
    if scope:
        query = {"$and": [scope, query]} if query else scope
    coll = runtime.db[store.PARTNERS]
    total = await coll.count_documents(query)
    docs = await coll.find(query).sort([("name", 1), ("_id", 1)]).skip(page.offset).limit(page.limit).to_list()
    return paged((Partner.from_doc(d).view(details=vets_country(principal, d["country"])) for d in docs), total, page)


_VETTING_EVENTS = {"approve", "reject", "suspend", "reinstate"}


@transactional
async def vet_partner(
    uow: UnitOfWork[PartnersSettings], principal: Principal, partner_id: str, action: str, note: str | None
) -> Document:
    """Approve, reject, suspend or reinstate a partner (centre of its country or staff; reinstate staff only)."""
    assert action in _VETTING_EVENTS
    principal.require_role("centre")
    partner = Partner.from_doc(await uow.get(store.PARTNERS, partner_id, "partner"))
    check_centre_country(principal, partner.country)
    partner.vet(action, by=principal.sub, role=principal.role, at=uow.now(), note=note)
    await store.save(uow, store.PARTNERS, partner)
    return partner.view(details=True)


# --- matching --------------------------------------------------------------------------------


async def request_match(runtime: Runtime[PartnersSettings], principal: Principal, body: MatchRequestIn) -> Document:
    """Rank approved partners for an authority's request; emits MatchRequested and MatchesProposed."""
    check_acts_for_authority(principal, body.authority_id)
    started = time.perf_counter()
    criteria = matching.MatchCriteria(
        countries=frozenset(body.countries),
        themes=frozenset(body.themes),
        languages=frozenset(body.languages),
        scheme=body.scheme,
        volunteers=body.volunteers,
        reciprocity=body.reciprocity,
    )
    # An authority's region never changes: read it before the transaction, which then only writes.
    index = store.profile_index(runtime)
    authority, _, crisis = await asyncio.gather(
        runtime.db[store.AUTHORITIES].find_one({"_id": body.authority_id}, {"region": 1}),
        index.refresh(runtime),
        store.crisis_countries(runtime.db),
    )
    if authority is None:
        raise NotFound(f"authority {body.authority_id} not found")
    suggestions = matching.rank(
        index.approved(),
        criteria,
        crisis_countries=crisis,
        eea=eea_countries(),
        limit=runtime.settings.match_limit,
    )

    result = await _record_match(runtime, principal, body, criteria, authority["region"], crisis, suggestions)
    result["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


@transactional
async def _record_match(
    uow: UnitOfWork,
    principal: Principal,
    body: MatchRequestIn,
    criteria: matching.MatchCriteria,
    region: str | None,
    crisis: frozenset[str],
    suggestions: list[matching.Suggestion],
) -> Document:
    """Record a match request with its answer and emit its two events (the ranking is done: this only writes)."""
    request = MatchRequest.answered(
        _new_id("mr"),
        authority_id=body.authority_id,
        region=region,
        asked=body.model_dump(mode="json"),
        criteria=criteria,
        crisis=crisis,
        suggestions=suggestions,
        by=principal.sub,
        at=uow.now(),
    )
    await store.add(uow, store.MATCH_REQUESTS, request)
    return request.view()


async def get_match_request(runtime: Runtime[PartnersSettings], principal: Principal, request_id: str) -> Document:
    """A past match request and its suggestions."""
    principal.require_role("authority", "branch")
    doc = await runtime.db[store.MATCH_REQUESTS].find_one({"_id": request_id})
    if doc is None:
        raise NotFound(f"match request {request_id} not found")
    check_reads_authority(principal, {"_id": doc["authority_id"], "region": doc["region"]})
    return MatchRequest.from_doc(doc).view()


# --- partnerships ----------------------------------------------------------------------------


@transactional
async def establish_partnership(
    uow: UnitOfWork[PartnersSettings], principal: Principal, body: PartnershipIn, *, partnership_id: str | None = None
) -> Document:
    """An authority and an approved partner start a partnership."""
    check_acts_for_authority(principal, body.authority_id)
    authority = await uow.get(store.AUTHORITIES, body.authority_id, "authority")
    partner = await uow.get(store.PARTNERS, body.partner_id, "partner")
    established = Partnership.establish(
        partnership_id or _new_id("pship"),
        authority=authority,
        partner=partner,
        themes=body.themes,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        by=principal.sub,
        at=uow.now(),
    )
    await store.add(uow, store.PARTNERSHIPS, established)
    return established.view(partner["status"])


def _can_read_partnership(principal: Principal, doc: Document) -> bool:
    if principal.role == "centre":
        return bool((principal.country or "").upper() == doc["country"])
    return can_read_authority(principal, {"_id": doc["authority_id"], "region": doc["region"]})


async def get_partnership(runtime: Runtime[PartnersSettings], principal: Principal, partnership_id: str) -> Document:
    """One partnership (its authority, its region's branch, the partner country's centre, staff)."""
    principal.require_role("authority", "branch", "centre")
    doc = await runtime.db[store.PARTNERSHIPS].find_one({"_id": partnership_id})
    if doc is None:
        raise NotFound(f"partnership {partnership_id} not found")
    if not _can_read_partnership(principal, doc):
        raise Forbidden("this partnership is outside your scope")
    partner = await runtime.db[store.PARTNERS].find_one({"_id": doc["partner_id"]}, {"status": 1})
    return partnership_view(doc, partner["status"] if partner else None)


async def list_partnerships(
    runtime: Runtime[PartnersSettings],
    principal: Principal,
    *,
    authority_id: str | None,
    partner_id: str | None,
    page: Page,
) -> Document:
    """Partnerships within the principal's scope."""
    principal.require_role("authority", "branch", "centre")
    query: Document = {}
    if authority_id:
        query["authority_id"] = authority_id
    if partner_id:
        query["partner_id"] = partner_id
    if principal.role == "authority":
        query["authority_id"] = principal.authority_id or ""
    elif principal.role == "branch":
        query["region"] = principal.region or ""
    elif principal.role == "centre":
        query["country"] = (principal.country or "").upper()
    coll = runtime.db[store.PARTNERSHIPS]
    total = await coll.count_documents(query)
    docs = await coll.find(query).sort("_id", 1).skip(page.offset).limit(page.limit).to_list()
    ids = list({d["partner_id"] for d in docs})
    statuses = {
        p["_id"]: p["status"] async for p in runtime.db[store.PARTNERS].find({"_id": {"$in": ids}}, {"status": 1})
    }
    return paged((partnership_view(d, statuses.get(d["partner_id"])) for d in docs), total, page)


@transactional
async def end_partnership(
    uow: UnitOfWork[PartnersSettings], principal: Principal, partnership_id: str, reason: str
) -> Document:
    """End a partnership, with a reason."""
    principal.require_role("authority")
    ended = Partnership.from_doc(await uow.get(store.PARTNERSHIPS, partnership_id, "partnership"))
    check_acts_for_authority(principal, ended.authority_id)
    ended.end(reason, principal.sub, uow.now())
    await store.save(uow, store.PARTNERSHIPS, ended)
    partner = await uow[store.PARTNERS].find_one({"_id": ended.partner_id}, {"status": 1})
    return ended.view(partner["status"] if partner else None)


# --- sending organisations -------------------------------------------------------------------


@transactional
async def register_sending_organisation(
    uow: UnitOfWork[PartnersSettings],
    principal: Principal,
    body: SendingOrganisationIn,
    *,
    organisation_id: str | None = None,
) -> Document:
    """Add an approved sending organisation to the network's directory (staff)."""
    principal.require_role()
    max_years = uow.settings.sending_approval_max_years
    sending_organisation.check_approval(body.approved_from, body.approved_until, max_years)
    key = directory.normalise(body.name)
    coll = uow[store.SENDING_ORGANISATIONS]
    existing = await coll.find_one({"key": key}, {"_id": 1, "name": 1})
    if existing is not None:
        raise AlreadyExists(
            "a sending organisation with this name is already registered",
            details=_existing(existing["_id"], principal.is_staff),
        )
    organisation = SendingOrganisation.register(
        organisation_id or _new_id("org"), key=key, max_years=max_years, at=uow.now(), **body.model_dump()
    )
    await _insert_new(uow, store.SENDING_ORGANISATIONS, organisation, "sending organisation")
    return organisation.view(_today(uow))


@transactional
async def change_sending_approval(
    uow: UnitOfWork[PartnersSettings],
    principal: Principal,
    organisation_id: str,
    *,
    approval_number: str | None,
    approved_from: date | None,
    approved_until: date | None,
) -> Document:
    """Record a renewed, changed or withdrawn (all null) approval (staff)."""
    principal.require_role()
    max_years = uow.settings.sending_approval_max_years
    sending_organisation.check_approval(approved_from, approved_until, max_years)
    organisation = SendingOrganisation.from_doc(
        await uow.get(store.SENDING_ORGANISATIONS, organisation_id, "sending organisation")
    )
    organisation.change_approval(approval_number, approved_from, approved_until, max_years)
    await store.save(uow, store.SENDING_ORGANISATIONS, organisation)
    return organisation.view(_today(uow))


async def get_sending_organisation(
    runtime: Runtime[PartnersSettings], principal: Principal, organisation_id: str
) -> Document:
    """One sending organisation."""
    principal.require_role("authority", "branch", "centre")
    doc = await runtime.db[store.SENDING_ORGANISATIONS].find_one({"_id": organisation_id})
    if doc is None:
        raise NotFound(f"sending organisation {organisation_id} not found")
    return SendingOrganisation.from_doc(doc).view(_today(runtime))


async def list_sending_organisations(
    runtime: Runtime[PartnersSettings], principal: Principal, page: Page, *, approval_valid: bool | None = None
) -> Document:
    """The network's sending organisations by name; ``approval_valid`` keeps those whose approval
    is (``True``) or is not (``False``: none, expired, not yet begun) valid today."""
    principal.require_role("authority", "branch", "centre")
    coll = runtime.db[store.SENDING_ORGANISATIONS]
    today = _today(runtime)
    # The query form of sending_organisation.approval_valid_on: dates are stored as ISO strings,
    # whose order is the calendar's.
    covered: Document = {"approved_from": {"$lte": store.iso(today)}, "approved_until": {"$gte": store.iso(today)}}
    query: Document = {} if approval_valid is None else covered if approval_valid else {"$nor": [covered]}
    total = await coll.count_documents(query)
    docs = await coll.find(query).sort([("name", 1), ("_id", 1)]).skip(page.offset).limit(page.limit).to_list()
    return paged((SendingOrganisation.from_doc(d).view(today) for d in docs), total, page)


# --- journey and indicators ------------------------------------------------------------------


def _min_day(values: list[str | None]) -> date | None:
    days = [v for v in values if v]
    return date.fromisoformat(min(days)) if days else None


JOURNEY_MISSIONS = 100
"""An authority's journey shows the follow-up interviews of its 100 most recent missions (bounded work)."""
JOURNEY_POSITIONS = 1000
"""Positions of an authority looked at for its first selection; no authority publishes that many."""


async def _first_value(coll: Any, query: Document, field: str) -> Any:
    """The smallest value of ``field`` among the documents matching ``query`` (one indexed read, not a scan)."""
    doc = await coll.find_one({**query, field: {"$ne": None}}, {field: 1}, sort=[(field, 1)])
    return doc.get(field) if doc else None


async def journey_facts(runtime: Runtime[PartnersSettings], authority: Document) -> journey.JourneyFacts:
    """Gather, from this service's records and its projections of other services' events, what an authority did.

    Each step is one bounded read (its first date), and only the most recent missions are
    loaded for their interviews: the work per authority does not grow with its history.
    """
    db = runtime.db
    authority_id = authority["_id"]
    mine = {"authority_id": authority_id}
    positions = await db[store.POSITIONS].find(mine, {"_id": 1}).sort("_id", 1).limit(JOURNEY_POSITIONS).to_list()
    (
        first_partnership,
        first_published,
        first_selected,
        first_engaged,
        first_departed,
        first_ended,
        missions,
    ) = await asyncio.gather(
        _first_value(db[store.PARTNERSHIPS], mine, "established_at"),
        _first_value(db[store.POSITIONS], mine, "published_on"),
        _first_value(db[store.SELECTIONS], {"position_id": {"$in": [p["_id"] for p in positions]}}, "selected_on"),
        _first_value(db[store.ENGAGEMENTS], mine, "engaged_on"),
        _first_value(db[store.MISSIONS], mine, "departed_on"),
        _first_value(db[store.MISSIONS], mine, "ended_on"),
        db[store.MISSIONS].find(mine).sort([("starts_on", -1), ("_id", -1)]).limit(JOURNEY_MISSIONS).to_list(),
    )
    missions.sort(key=lambda m: m["_id"])
    reached: dict[str, date | None] = {
        "registered": authority["registered_at"].date(),
        "partner_found": first_partnership.date() if first_partnership else None,
        "position_published": _min_day([first_published]),
        "candidate_selected": _min_day([first_selected]),
        "volunteer_engaged": _min_day([first_engaged]),
        "mission_started": _min_day([first_departed]),
        "mission_ended": _min_day([first_ended]),
    }
    return journey.JourneyFacts(
        authority_id=authority_id,
        enrolled=bool(authority.get("territoires_volontaires")),
        reached=reached,
        name=authority["name"],
        region=authority["region"],
        enrolled_since=store.parse_day(authority.get("territoires_volontaires_since")),
        new_to_cooperation=authority.get("new_to_cooperation"),
        missions=[
            journey.MissionFacts(
                mission_id=m["_id"],
                starts_on=store.parse_day(m.get("starts_on")),
                ends_on=store.parse_day(m.get("ends_on")),
                departed_on=store.parse_day(m.get("departed_on")),
                ended_on=store.parse_day(m.get("ended_on")),
                interviews_done={k: date.fromisoformat(v) for k, v in (m.get("interviews") or {}).items()},
            )
            for m in missions
        ],
    )


async def get_journey(runtime: Runtime[PartnersSettings], principal: Principal, authority_id: str) -> Document:
    """An authority's Territoires Volontaires journey and its next step."""
    principal.require_role("authority", "branch")
    authority = await runtime.db[store.AUTHORITIES].find_one({"_id": authority_id})
    if authority is None:
        raise NotFound(f"authority {authority_id} not found")
    check_reads_authority(principal, authority)
    facts = await journey_facts(runtime, authority)
    start_within_days = runtime.settings.interview_start_within_days
    return journey.view(facts, today=_today(runtime), start_within_days=start_within_days).model_dump(mode="json")


async def stalled_journeys(
    runtime: Runtime[PartnersSettings], principal: Principal, region: str | None, page: Page
) -> Document:
    """Enrolled authorities that have not moved forward for ``stalled_after_days`` days.

    Paged over the enrolled authorities examined (by id): ``items`` are the stalled ones of this
    page, ``enrolled`` how many there are in all; the next page starts at ``offset + limit``.
    """
    principal.require_role("branch")
    region = branch_region(principal, region)
    if region:
        directory.check_region(region)
    settings = runtime.settings
    query: Document = {"territoires_volontaires": True}
    if region:
        query["region"] = region
    today = _today(runtime)
    coll = runtime.db[store.AUTHORITIES]
    enrolled = await coll.count_documents(query)
    authorities = await coll.find(query).sort("_id", 1).skip(page.offset).limit(page.limit).to_list()
    items = []
    for authority in authorities:
        facts = await journey_facts(runtime, authority)
        line = journey.stalled(
            facts,
            today=today,
            after_days=settings.stalled_after_days,
            start_within_days=settings.interview_start_within_days,
        )
        if line is not None:
            items.append(line)
    found = journey.StalledJourneys(
        region=region,
        stalled_after_days=settings.stalled_after_days,
        items=items,
        total=len(items),
        enrolled=enrolled,
        limit=page.limit,
        offset=page.offset,
    )
    return found.model_dump(mode="json")


async def programme_indicators(
    runtime: Runtime[PartnersSettings], principal: Principal, region: str | None
) -> Document:
    """Territoires Volontaires indicators, for staff and branches (a branch: its region)."""
    principal.require_role("branch")
    region = branch_region(principal, region)
    if region:
        directory.check_region(region)
    settings = runtime.settings
    db = runtime.db
    authority_query: Document = {"region": region} if region else {}
    enrolled_query = {**authority_query, "territoires_volontaires": True}
    # Counted by the database: no list grows with the number of missions or partnerships.
    enrolled, enrolled_new = await asyncio.gather(
        db[store.AUTHORITIES].count_documents(enrolled_query),
        db[store.AUTHORITIES].count_documents({**enrolled_query, "new_to_cooperation": True}),
    )
    enrolled_ids = set(await db[store.AUTHORITIES].distinct("_id", enrolled_query))
    mission_query: Document = {"scheme": {"$ne": None}}
    partnership_query: Document = {}
    if region:
        mission_query["authority_id"] = {"$in": await db[store.AUTHORITIES].distinct("_id", authority_query)}
        partnership_query["region"] = region
    by_authority = [
        {"$match": mission_query},
        {"$group": {"_id": {"scheme": "$scheme", "authority_id": "$authority_id"}, "n": {"$sum": 1}}},
    ]
    mission_counts = [
        (g["_id"]["scheme"], g["_id"].get("authority_id") in enrolled_ids, int(g["n"]))
        async for g in await db[store.MISSIONS].aggregate(by_authority)
    ]
    by_country = [{"$match": partnership_query}, {"$group": {"_id": "$country", "n": {"$sum": 1}}}]
    country_counts = {g["_id"]: int(g["n"]) async for g in await db[store.PARTNERSHIPS].aggregate(by_country)}
    result = indicators(
        region=region,
        enrolled_authorities=enrolled,
        enrolled_new_to_cooperation=enrolled_new,
        mission_counts=mission_counts,
        partnership_country_counts=country_counts,
        targets=Targets(
            missions=settings.target_missions,
            authorities=settings.target_authorities,
            new_to_cooperation_share=settings.target_new_to_cooperation_share,
        ),
    )
    return result.model_dump(mode="json")
