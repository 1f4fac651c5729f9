"""The regional view: how each contract event changes the branch's documents (pure rules, no I/O).

One document per position, application, engagement, mission, incident, safety
check, authority and partnership of the region, holding only ids and facts from
the events (never personal data: the contacts topic is not read). Each rule
reads the document as it is (or None) and returns it changed; ``store`` applies
them in the consumer's transaction, ``apply_in_memory`` in the unit tests.

Events of one aggregate arrive in order (same key, same partition), but an
event about another aggregate (``VolunteerEngaged`` moves its application to
``engaged``) may overtake one of its own. So a document's state only moves to a
fact at least as recent (``ce_time``) as the one it holds, ties going to the
later stage; the view does not depend on how batches were cut or restarts fell.
Values are JSON-like (dates as ISO strings) so a view can be compared and dumped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vies_shared.events import missions as m
from vies_shared.events import partners as p
from vies_shared.events import recruitment as r
from vies_shared.events.base import Event
from vies_shared.events.envelope import EventMeta, format_time

Document = dict[str, Any]
View = dict[str, dict[str, Document]]
Update = Callable[[Document | None], Document]

AUTHORITIES = "authorities"
PARTNERSHIPS = "partnerships"
POSITIONS = "positions"
APPLICATIONS = "applications"
ENGAGEMENTS = "engagements"
MISSIONS = "missions"
INCIDENTS = "incidents"
SAFETY_CHECKS = "safety_checks"
VIEW_COLLECTIONS = (AUTHORITIES, PARTNERSHIPS, POSITIONS, APPLICATIONS, ENGAGEMENTS, MISSIONS, INCIDENTS, SAFETY_CHECKS)

# Later stages win a tie on ce_time (same millisecond); unlisted states rank 0.
STAGE = {
    APPLICATIONS: {
        "submitted": 0,
        "eligible": 1,
        "ineligible": 1,
        "shortlisted": 2,
        "interview_scheduled": 3,
        "selected": 4,
        "rejected": 5,
        "withdrawn": 5,
        "engaged": 6,
    },
    POSITIONS: {"open": 0, "closed": 1},
    PARTNERSHIPS: {"active": 0, "ended": 1},
    MISSIONS: {"planned": 0, "under_way": 1, "ended": 2, "interrupted": 2},
    INCIDENTS: {"open": 0, "resolved": 1},
    SAFETY_CHECKS: {"open": 0, "closed": 1},
}

# What the report groups by.
APPLICATION_STATES = tuple(STAGE[APPLICATIONS])
MISSION_STATES = tuple(STAGE[MISSIONS])


@dataclass(frozen=True)
class Change:
    """One view document an event changes: its collection, its id and how."""

    collection: str
    key: str
    update: Update


@dataclass(frozen=True)
class PersonErasure:
    """Right to erasure (``recruitment.PersonErased``): forget the person's id wherever the view holds it."""

    person_id: str


# Which fields hold a person's id, per collection (cleared on erasure).
PERSON_FIELDS = {APPLICATIONS: ("candidate_id",), ENGAGEMENTS: ("volunteer_id",), MISSIONS: ("volunteer_id",)}


def _json(event: Event, *fields: str) -> Document:
    data = event.model_dump(mode="json")
    return {f: data[f] for f in fields if f in data}


def _state(collection: str, doc: Document, state: str, meta: EventMeta, **facts: Any) -> Document:
    """Move ``doc`` to ``state`` unless it already holds a more recent (or later-stage, same-time) fact."""
    at = format_time(meta.time)
    held_at = doc.get("state_at")
    if held_at is not None:
        ranks = STAGE.get(collection, {})
        newer = at > held_at or (at == held_at and ranks.get(state, 0) >= ranks.get(doc.get("state", ""), 0))
        if not newer:
            return doc
    doc.update(state=state, state_at=at, **facts)
    return doc


def _doc(before: Document | None) -> Document:
    return dict(before) if before is not None else {}


def _facts(**facts: Any) -> Update:
    """Set facts that do not depend on order (ids, attributes given once)."""

    def update(before: Document | None) -> Document:
        doc = _doc(before)
        doc.update(facts)
        return doc

    return update


def _moves(collection: str, state: str, meta: EventMeta, facts: Document | None = None, **state_facts: Any) -> Update:
    """Set ``facts`` always, and the state with ``state_facts`` if the event is the most recent."""

    def update(before: Document | None) -> Document:
        doc = _doc(before)
        doc.update(facts or {})
        return _state(collection, doc, state, meta, **state_facts)

    return update


# --- one rule per event type -------------------------------------------------------------------------------------

Rule = Callable[[EventMeta, Any], list[Change]]


def _authority_registered(meta: EventMeta, e: p.AuthorityRegistered) -> list[Change]:
    facts = _json(e, "name", "kind", "region", "territoires_volontaires")
    return [Change(AUTHORITIES, e.authority_id, _facts(**facts))]


def _authority_updated(meta: EventMeta, e: p.AuthorityUpdated) -> list[Change]:
    # Only what changed, and never the contact: the view holds no personal data.
    shown = ("territoires_volontaires", "territoires_volontaires_since", "new_to_cooperation")
    facts = _json(e, *(name for name in e.changed if name in shown))
    return [Change(AUTHORITIES, e.authority_id, _facts(**facts, updated_at=format_time(meta.time)))]


def _partnership_established(meta: EventMeta, e: p.PartnershipEstablished) -> list[Change]:
    facts = _json(e, "authority_id", "partner_id", "country", "themes", "starts_on", "ends_on")
    return [Change(PARTNERSHIPS, e.partnership_id, _moves(PARTNERSHIPS, "active", meta, facts))]


def _partnership_ended(meta: EventMeta, e: p.PartnershipEnded) -> list[Change]:
    return [Change(PARTNERSHIPS, e.partnership_id, _moves(PARTNERSHIPS, "ended", meta, ended_reason=e.reason))]


def _position_published(meta: EventMeta, e: r.PositionPublished) -> list[Change]:
    facts = _json(
        e,
        "partnership_id",
        "authority_id",
        "partner_id",
        "country",
        "scheme",
        "title",
        "starts_on",
        "duration_months",
        "places",
    )
    return [Change(POSITIONS, e.position_id, _moves(POSITIONS, "open", meta, facts))]


def _position_closed(meta: EventMeta, e: r.PositionClosed) -> list[Change]:
    update = _moves(POSITIONS, "closed", meta, closed_reason=e.reason, closed_cause=e.cause)
    return [Change(POSITIONS, e.position_id, update)]


def _application_submitted(meta: EventMeta, e: r.ApplicationSubmitted) -> list[Change]:
    facts = _json(e, "position_id", "candidate_id", "authority_id")
    return [Change(APPLICATIONS, e.application_id, _moves(APPLICATIONS, "submitted", meta, facts))]


def _application_screened(meta: EventMeta, e: r.ApplicationScreened) -> list[Change]:
    state = "eligible" if e.eligible else "ineligible"
    update = _moves(APPLICATIONS, state, meta, {"eligible": e.eligible, "screening_reasons": list(e.reasons)})
    return [Change(APPLICATIONS, e.application_id, update)]


def _application_shortlisted(meta: EventMeta, e: r.ApplicationShortlisted) -> list[Change]:
    return [Change(APPLICATIONS, e.application_id, _moves(APPLICATIONS, "shortlisted", meta))]


def _interview_scheduled(meta: EventMeta, e: r.InterviewScheduled) -> list[Change]:
    update = _moves(APPLICATIONS, "interview_scheduled", meta, {"interview_at": _json(e, "at")["at"]})
    return [Change(APPLICATIONS, e.application_id, update)]


def _candidate_selected(meta: EventMeta, e: r.CandidateSelected) -> list[Change]:
    facts = _json(e, "position_id", "candidate_id")
    return [Change(APPLICATIONS, e.application_id, _moves(APPLICATIONS, "selected", meta, facts))]


def _application_rejected(meta: EventMeta, e: r.ApplicationRejected) -> list[Change]:
    update = _moves(APPLICATIONS, "rejected", meta, rejected_reason=e.reason)
    return [Change(APPLICATIONS, e.application_id, update)]


def _application_withdrawn(meta: EventMeta, e: r.ApplicationWithdrawn) -> list[Change]:
    return [Change(APPLICATIONS, e.application_id, _moves(APPLICATIONS, "withdrawn", meta))]


def _volunteer_engaged(meta: EventMeta, e: r.VolunteerEngaged) -> list[Change]:
    facts = _json(
        e,
        "application_id",
        "volunteer_id",
        "position_id",
        "authority_id",
        "partner_id",
        "country",
        "scheme",
        "starts_on",
        "ends_on",
    )
    facts["engaged_at"] = format_time(meta.time)
    application = {"position_id": e.position_id, "engagement_id": e.engagement_id}
    return [
        Change(ENGAGEMENTS, e.engagement_id, _facts(**facts)),
        Change(APPLICATIONS, e.application_id, _moves(APPLICATIONS, "engaged", meta, application)),
    ]


def _mission_planned(meta: EventMeta, e: m.MissionPlanned) -> list[Change]:
    facts = _json(
        e,
        "engagement_id",
        "volunteer_id",
        "authority_id",
        "partner_id",
        "country",
        "centre_id",
        "scheme",
        "starts_on",
        "ends_on",
    )

    def update(before: Document | None) -> Document:
        # An extension may already have moved the end date (never the other way round: same key, in order).
        doc = _doc(before)
        doc.update({k: v for k, v in facts.items() if not (k == "ends_on" and "ends_on" in doc)})
        return _state(MISSIONS, doc, "planned", meta)

    return [Change(MISSIONS, e.mission_id, update)]


def _mission_started(meta: EventMeta, e: m.MissionStarted) -> list[Change]:
    update = _moves(MISSIONS, "under_way", meta, _json(e, "departed_on"))
    return [Change(MISSIONS, e.mission_id, update)]


def _check_in_received(meta: EventMeta, e: m.CheckInReceived) -> list[Change]:
    at = format_time(meta.time)

    def update(before: Document | None) -> Document:
        doc = _doc(before)
        if at >= doc.get("last_check_in_at", ""):
            doc.update(last_check_in_at=at, last_check_in_status=e.status)
        return doc

    return [Change(MISSIONS, e.mission_id, update)]


def _check_in_missed(meta: EventMeta, e: m.CheckInMissed) -> list[Change]:
    due_on = e.due_on.isoformat()

    def update(before: Document | None) -> Document:
        doc = _doc(before)
        doc["missed_check_ins"] = sorted({*doc.get("missed_check_ins", []), due_on})
        return doc

    return [Change(MISSIONS, e.mission_id, update)]


def _mission_extended(meta: EventMeta, e: m.MissionExtended) -> list[Change]:
    return [Change(MISSIONS, e.mission_id, _facts(ends_on=e.ends_on.isoformat(), extended=True))]


def _mission_ended(meta: EventMeta, e: m.MissionEnded) -> list[Change]:
    return [Change(MISSIONS, e.mission_id, _moves(MISSIONS, "ended", meta, ended_on=e.ended_on.isoformat()))]


def _mission_interrupted(meta: EventMeta, e: m.MissionInterrupted) -> list[Change]:
    on = e.interrupted_on.isoformat() if e.interrupted_on else None
    update = _moves(MISSIONS, "interrupted", meta, interrupted_reason=e.reason, interrupted_on=on)
    return [Change(MISSIONS, e.mission_id, update)]


def _follow_up_done(meta: EventMeta, e: m.FollowUpInterviewDone) -> list[Change]:
    def update(before: Document | None) -> Document:
        doc = _doc(before)
        doc["follow_ups"] = {**doc.get("follow_ups", {}), e.stage: {"done_on": e.done_on.isoformat()}}
        return doc

    return [Change(MISSIONS, e.mission_id, update)]


def _follow_up_overdue(meta: EventMeta, e: m.FollowUpInterviewOverdue) -> list[Change]:
    def update(before: Document | None) -> Document:
        doc = _doc(before)
        current = doc.get("follow_ups", {}).get(e.stage, {})
        if "done_on" not in current:
            doc["follow_ups"] = {**doc.get("follow_ups", {}), e.stage: {"overdue_since": e.due_on.isoformat()}}
        return doc

    return [Change(MISSIONS, e.mission_id, update)]


def _mission_flagged(meta: EventMeta, e: m.MissionFlaggedForReview) -> list[Change]:
    return [Change(MISSIONS, e.mission_id, _facts(flagged_for_review=e.reason))]


def _incident_reported(meta: EventMeta, e: m.IncidentReported) -> list[Change]:
    facts = _json(e, "mission_id", "category", "severity", "partner_id", "country")
    facts["reported_at"] = format_time(meta.time)
    return [Change(INCIDENTS, e.incident_id, _moves(INCIDENTS, "open", meta, facts))]


def _incident_resolved(meta: EventMeta, e: m.IncidentResolved) -> list[Change]:
    update = _moves(INCIDENTS, "resolved", meta, {"mission_id": e.mission_id}, resolved_at=format_time(meta.time))
    return [Change(INCIDENTS, e.incident_id, update)]


def _incident_escalated(meta: EventMeta, e: m.IncidentEscalated) -> list[Change]:
    return [Change(INCIDENTS, e.incident_id, _facts(mission_id=e.mission_id, escalated_to=e.escalated_to))]


def _incident_acknowledged(meta: EventMeta, e: m.IncidentAcknowledged) -> list[Change]:
    return [Change(INCIDENTS, e.incident_id, _facts(mission_id=e.mission_id, acknowledged=True))]


def _security_alert_issued(meta: EventMeta, e: m.SecurityAlertIssued) -> list[Change]:
    facts = _json(e, "country", "level", "respond_by")
    if e.mission_ids is not None:
        facts["mission_ids"] = sorted(e.mission_ids)
    return [Change(SAFETY_CHECKS, e.alert_id, _moves(SAFETY_CHECKS, "open", meta, facts))]


def _safety_status_reported(meta: EventMeta, e: m.SafetyStatusReported) -> list[Change]:
    def update(before: Document | None) -> Document:
        doc = _doc(before)
        doc["responses"] = {**doc.get("responses", {}), e.mission_id: e.status}
        return doc

    return [Change(SAFETY_CHECKS, e.alert_id, update)]


def _safety_check_closed(meta: EventMeta, e: m.SafetyCheckClosed) -> list[Change]:
    facts: Document = {"unaccounted_mission_ids": sorted(e.unaccounted_mission_ids)}
    if e.country:
        facts["country"] = e.country
    update = _moves(SAFETY_CHECKS, "closed", meta, facts, closed_at=format_time(meta.time))
    return [Change(SAFETY_CHECKS, e.alert_id, update)]


def _safety_check_opened(meta: EventMeta, e: m.SafetyCheckOpened) -> list[Change]:
    # The region's share of a country-wide alert (ce_region = this region): its missions only.
    facts = _json(e, "country", "level", "respond_by")
    facts["mission_ids"] = sorted(e.mission_ids)
    return [Change(SAFETY_CHECKS, e.alert_id, _moves(SAFETY_CHECKS, "open", meta, facts))]


def _safety_check_closed_in_region(meta: EventMeta, e: m.SafetyCheckClosedInRegion) -> list[Change]:
    facts: Document = {"country": e.country, "unaccounted_mission_ids": sorted(e.unaccounted_mission_ids)}
    update = _moves(SAFETY_CHECKS, "closed", meta, facts, closed_at=format_time(meta.time))
    return [Change(SAFETY_CHECKS, e.alert_id, update)]


RULES: dict[str, Rule] = {
    p.AuthorityRegistered.TYPE: _authority_registered,
    p.AuthorityUpdated.TYPE: _authority_updated,
    p.PartnershipEstablished.TYPE: _partnership_established,
    p.PartnershipEnded.TYPE: _partnership_ended,
    r.PositionPublished.TYPE: _position_published,
    r.PositionClosed.TYPE: _position_closed,
    r.ApplicationSubmitted.TYPE: _application_submitted,
    r.ApplicationScreened.TYPE: _application_screened,
    r.ApplicationShortlisted.TYPE: _application_shortlisted,
    r.InterviewScheduled.TYPE: _interview_scheduled,
    r.CandidateSelected.TYPE: _candidate_selected,
    r.ApplicationRejected.TYPE: _application_rejected,
    r.ApplicationWithdrawn.TYPE: _application_withdrawn,
    r.VolunteerEngaged.TYPE: _volunteer_engaged,
    m.MissionPlanned.TYPE: _mission_planned,
    m.MissionStarted.TYPE: _mission_started,
    m.CheckInReceived.TYPE: _check_in_received,
    m.CheckInMissed.TYPE: _check_in_missed,
    m.MissionExtended.TYPE: _mission_extended,
    m.MissionEnded.TYPE: _mission_ended,
    m.MissionInterrupted.TYPE: _mission_interrupted,
    m.FollowUpInterviewDone.TYPE: _follow_up_done,
    m.FollowUpInterviewOverdue.TYPE: _follow_up_overdue,
    m.MissionFlaggedForReview.TYPE: _mission_flagged,
    m.IncidentReported.TYPE: _incident_reported,
    m.IncidentResolved.TYPE: _incident_resolved,
    m.IncidentEscalated.TYPE: _incident_escalated,
    m.IncidentAcknowledged.TYPE: _incident_acknowledged,
    m.SecurityAlertIssued.TYPE: _security_alert_issued,
    m.SafetyStatusReported.TYPE: _safety_status_reported,
    m.SafetyCheckClosed.TYPE: _safety_check_closed,
    m.SafetyCheckOpened.TYPE: _safety_check_opened,
    m.SafetyCheckClosedInRegion.TYPE: _safety_check_closed_in_region,
}


def changes_for(meta: EventMeta, event: Event) -> list[Change | PersonErasure]:
    """The view documents an event changes (none for events only kept in the journal)."""
    if isinstance(event, r.PersonErased):
        return [PersonErasure(event.person_id)]
    rule = RULES.get(meta.type)
    return list(rule(meta, event)) if rule is not None else []


def erase_person(doc: Document, collection: str, person_id: str) -> Document:
    """``doc`` without the erased person's id."""
    return {k: v for k, v in doc.items() if not (k in PERSON_FIELDS.get(collection, ()) and v == person_id)}


def apply_in_memory(view: View, meta: EventMeta, event: Event) -> View:
    """Apply an event to a view held in dicts (the same rules the store applies in MongoDB)."""
    for change in changes_for(meta, event):
        if isinstance(change, PersonErasure):
            for collection in PERSON_FIELDS:
                for key, doc in view.get(collection, {}).items():
                    view[collection][key] = erase_person(doc, collection, change.person_id)
            continue
        documents = view.setdefault(change.collection, {})
        documents[change.key] = change.update(documents.get(change.key))
    return view
