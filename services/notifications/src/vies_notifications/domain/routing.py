"""Who hears about what: the routing table (event type → recipient role → channels → template → category).

The table is the single place to read or change the rules; conditions are
small named predicates over the *facts* of an event (its data plus what the
service knows from its projections, e.g. how many check-ins were missed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Facts = Mapping[str, Any]

EMAIL = ("email",)
SMS = ("sms",)
EMAIL_SMS = ("email", "sms")

# Recipient roles. The first five are one person or office; the last two expand to many.
CANDIDATE = "candidate"
VOLUNTEER = "volunteer"
AUTHORITY = "authority"
BRANCH = "branch"
CENTRE = "centre"
DUTY_OFFICER = "duty_officer"
HEAD_OFFICE = "head_office"  # the head office's safety mailbox
HOST_PARTNER = "host_partner"  # the organisation hosting the volunteer (its organisational address)
VOLUNTEERS_IN_COUNTRY = "volunteers_in_country"
VOLUNTEERS_OF_MISSIONS = "volunteers_of_missions"  # the volunteers of the missions an event lists
AUTHORITIES_CONCERNED = "authorities_concerned"
AUTHORITIES_OF_PARTNER = "authorities_of_partner"  # those with a partnership with the partner concerned

# Categories a person may opt out of, and those that can never be opted out of.
CATEGORIES: tuple[str, ...] = (
    "application",
    "engagement",
    "partnership",
    "mission",
    "check_in",
    "incident",
    "digest",
    "account",
    "safety",
    "security",
)
# Safety and security messages (security alerts, safety checks, critical incidents) ignore opt-outs:
# volunteer-management practice (docs/DOMAIN.md, "critical messages that cannot be opted out of").
MANDATORY_CATEGORIES: frozenset[str] = frozenset({"safety", "security"})

# Delayed messages: a row with ``after`` is sent that long after the event (the delay is a setting).
RETURN_SEMINAR = "return_seminar"  # one month after the end of a mission
DEFAULT_DELAYS: Mapping[str, float] = {RETURN_SEMINAR: 30 * 86400.0}
RETURN_SEMINAR_TEMPLATE = "return_seminar_invitation"


def always(_: Facts) -> bool:
    """Every occurrence of the event."""
    return True


def not_eligible(facts: Facts) -> bool:
    """The screening found the application ineligible."""
    return facts.get("eligible") is False


def missed_twice_or_more(facts: Facts) -> bool:
    """At least the second check-in missed in a row."""
    return int(facts.get("missed_in_a_row") or 0) >= 2


def high_or_critical(facts: Facts) -> bool:
    """A high or critical incident."""
    return facts.get("severity") in ("high", "critical")


def to_head_office(facts: Facts) -> bool:
    """An incident nobody acknowledged in time went up to the head office."""
    return facts.get("escalated_to") == "head_office"


def has_unaccounted(facts: Facts) -> bool:
    """The safety check closed with volunteers still unaccounted for."""
    return bool(facts.get("unaccounted_mission_ids"))


@dataclass(frozen=True)
class Route:
    """One row of the routing table."""

    event_type: str
    role: str
    channels: tuple[str, ...]
    template: str
    category: str
    when: Callable[[Facts], bool] = always
    after: str | None = None  # the name of a delay (``DEFAULT_DELAYS``): sent that long after the event


ROUTES: tuple[Route, ...] = (
    # event type                            recipient role        channels   template                    category
    Route("recruitment.ApplicationSubmitted", CANDIDATE, EMAIL, "application_received", "application"),
    Route("recruitment.ApplicationSubmitted", AUTHORITY, EMAIL, "new_application", "application"),
    Route("recruitment.ApplicationScreened", CANDIDATE, EMAIL, "application_ineligible", "application", not_eligible),
    Route("recruitment.InterviewScheduled", CANDIDATE, EMAIL, "interview_scheduled", "application"),
    Route("recruitment.CandidateSelected", CANDIDATE, EMAIL, "candidate_selected", "application"),
    Route("recruitment.ApplicationRejected", CANDIDATE, EMAIL, "application_rejected", "application"),
    Route("recruitment.VolunteerEngaged", VOLUNTEER, EMAIL, "volunteer_welcome", "engagement"),
    Route("recruitment.VolunteerEngaged", AUTHORITY, EMAIL, "volunteer_engaged", "engagement"),
    Route("recruitment.VolunteerEngaged", BRANCH, EMAIL, "volunteer_engaged", "engagement"),
    Route("partners.MatchesProposed", AUTHORITY, EMAIL, "matches_proposed", "partnership"),
    Route("partners.MatchesProposed", BRANCH, EMAIL, "matches_proposed", "partnership"),
    Route("partners.PartnershipEstablished", AUTHORITY, EMAIL, "partnership_established", "partnership"),
    Route("partners.PartnershipEstablished", BRANCH, EMAIL, "partnership_established", "partnership"),
    Route("missions.MissionPlanned", CENTRE, EMAIL, "mission_planned", "mission"),
    Route("missions.CheckInMissed", VOLUNTEER, EMAIL_SMS, "check_in_reminder", "check_in"),
    Route("missions.CheckInMissed", CENTRE, EMAIL, "check_in_missed_again", "check_in", missed_twice_or_more),
    Route("missions.IncidentReported", CENTRE, EMAIL, "incident_reported", "incident", high_or_critical),
    Route("missions.IncidentReported", DUTY_OFFICER, SMS, "incident_reported", "incident", high_or_critical),
    Route("missions.IncidentReported", AUTHORITY, EMAIL, "incident_reported", "incident", high_or_critical),
    Route("missions.SecurityAlertIssued", VOLUNTEERS_IN_COUNTRY, EMAIL_SMS, "security_alert", "security"),
    Route("missions.SafetyCheckClosed", CENTRE, EMAIL_SMS, "safety_check_unaccounted", "safety", has_unaccounted),
    Route("missions.SafetyCheckClosed", DUTY_OFFICER, EMAIL_SMS, "safety_check_unaccounted", "safety", has_unaccounted),
    Route(
        "missions.SafetyCheckClosed", AUTHORITIES_CONCERNED, EMAIL_SMS, "safety_check_unaccounted", "safety",
        has_unaccounted,
    ),
    Route("missions.MissionEnded", VOLUNTEER, EMAIL, "mission_ended_volunteer", "mission"),
    Route("missions.MissionEnded", AUTHORITY, EMAIL, "mission_ended", "mission"),
    Route("missions.MissionEnded", BRANCH, EMAIL, "mission_ended", "mission"),
    # Duty of care: an escalation reaches someone, an early return everyone responsible,
    # the host partner what concerns the volunteers it hosts.
    Route("missions.IncidentEscalated", DUTY_OFFICER, EMAIL_SMS, "incident_escalated", "safety", to_head_office),
    Route("missions.IncidentEscalated", HEAD_OFFICE, EMAIL, "incident_escalated", "safety", to_head_office),
    Route("missions.IncidentEscalated", CENTRE, EMAIL_SMS, "incident_escalated", "safety", to_head_office),
    # The ladder of a safety check: reminders to those not heard from, then the head office.
    Route("missions.SafetyCheckReminded", VOLUNTEERS_OF_MISSIONS, EMAIL_SMS, "safety_check_reminder", "safety"),
    Route("missions.SafetyCheckEscalated", HEAD_OFFICE, EMAIL_SMS, "safety_check_escalated", "safety"),
    Route("missions.MissionInterrupted", AUTHORITY, EMAIL, "mission_interrupted", "mission"),
    Route("missions.MissionInterrupted", BRANCH, EMAIL, "mission_interrupted", "mission"),
    Route("missions.MissionInterrupted", CENTRE, EMAIL, "mission_interrupted", "mission"),
    Route("missions.MissionInterrupted", HOST_PARTNER, EMAIL, "host_partner_update", "mission"),
    Route("missions.MissionStarted", HOST_PARTNER, EMAIL, "host_partner_update", "mission"),
    Route("missions.MissionEnded", HOST_PARTNER, EMAIL, "host_partner_update", "mission"),
    # A month after the end, the volunteer is invited to the return seminar.
    Route(
        "missions.MissionEnded", VOLUNTEER, EMAIL, RETURN_SEMINAR_TEMPLATE, "mission", always,
        after=RETURN_SEMINAR,
    ),
    Route("partners.PartnerSuspended", AUTHORITIES_OF_PARTNER, EMAIL, "partner_suspended", "partnership"),
)  # fmt: skip

ROUTED_TYPES: frozenset[str] = frozenset(route.event_type for route in ROUTES)

# Templates used outside the table (scheduler and webhook supervision).
DIGEST_TEMPLATE = "regional_digest"
WEBHOOK_DISABLED_TEMPLATE = "webhook_disabled"
SAFETY_FAILOVER_TEMPLATE = "safety_delivery_failed"
SAFETY_FAILOVER_TYPE = "notifications.SafetyDeliveryFailed"
TEMPLATES: tuple[str, ...] = tuple(
    sorted({r.template for r in ROUTES} | {DIGEST_TEMPLATE, WEBHOOK_DISABLED_TEMPLATE, SAFETY_FAILOVER_TEMPLATE})
)


def failover_channel(failed_channel: str) -> str | None:
    """The other channel a failed safety message is escalated by (none for webhooks)."""
    return {"email": "sms", "sms": "email"}.get(failed_channel)


def due_at(route: Route, occurred_at: datetime, now: datetime, delays: Mapping[str, float]) -> datetime:
    """When a message of ``route`` is due: at once, or its delay after the event (never in the past)."""
    if route.after is None:
        return now
    seconds = delays.get(route.after, DEFAULT_DELAYS[route.after])
    # From the event's time, so a consumer that lags or restarts does not push the date back.
    return max(now, occurred_at + timedelta(seconds=seconds))


def message_event_id(route: Route, event_id: str) -> str:
    """The event id a message of ``route`` is filed under: the event's, prefixed for a delayed row.

    A delayed row may reach someone the event already reaches at once (the volunteer thanked at
    the end, invited a month later); its own id keeps both under the one-per-event-recipient-channel
    rule, like the duty officer's ``failover:`` messages.
    """
    return event_id if route.after is None else f"{route.after}:{event_id}"


def routes_for(event_type: str, facts: Facts) -> list[Route]:
    """The rows that apply to one event."""
    return [route for route in ROUTES if route.event_type == event_type and route.when(facts)]


def effective_category(route: Route, facts: Facts) -> str:
    """The category a message is filed under; a critical incident is a safety message (never opted out of)."""
    if route.category == "incident" and facts.get("severity") == "critical":
        return "safety"
    return route.category


def is_opted_out(category: str, opt_outs: frozenset[str] | set[str] | list[str]) -> bool:
    """Whether a person's opt-outs stop a message of ``category``; mandatory categories always go through."""
    return category not in MANDATORY_CATEGORIES and category in opt_outs


def choose_language(preferred: str | None, contact: str | None, default: str, supported: tuple[str, ...]) -> str:
    """The language to write in: the person's preference, else their contact language, else the default."""
    for candidate in (preferred, contact):
        if candidate and candidate.lower()[:2] in supported:
            return candidate.lower()[:2]
    return default
