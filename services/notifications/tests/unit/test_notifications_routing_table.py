"""The routing table and its rules, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vies_notifications.domain import routing
from vies_notifications.domain.routing import (
    AUTHORITIES_CONCERNED,
    AUTHORITIES_OF_PARTNER,
    AUTHORITY,
    BRANCH,
    CANDIDATE,
    CENTRE,
    DUTY_OFFICER,
    HEAD_OFFICE,
    HOST_PARTNER,
    VOLUNTEER,
    VOLUNTEERS_IN_COUNTRY,
    VOLUNTEERS_OF_MISSIONS,
)
from vies_shared.events.base import known_types


@pytest.mark.parametrize(
    ("event_type", "facts", "expected"),
    [
        ("recruitment.ApplicationSubmitted", {}, {(CANDIDATE, ("email",)), (AUTHORITY, ("email",))}),
        ("recruitment.ApplicationScreened", {"eligible": False}, {(CANDIDATE, ("email",))}),
        ("recruitment.ApplicationScreened", {"eligible": True}, set()),
        ("recruitment.InterviewScheduled", {}, {(CANDIDATE, ("email",))}),
        ("recruitment.CandidateSelected", {}, {(CANDIDATE, ("email",))}),
        ("recruitment.ApplicationRejected", {}, {(CANDIDATE, ("email",))}),
        (
            "recruitment.VolunteerEngaged",
            {},
            {(VOLUNTEER, ("email",)), (AUTHORITY, ("email",)), (BRANCH, ("email",))},
        ),
        ("partners.MatchesProposed", {}, {(AUTHORITY, ("email",)), (BRANCH, ("email",))}),
        ("partners.PartnershipEstablished", {}, {(AUTHORITY, ("email",)), (BRANCH, ("email",))}),
        ("missions.MissionPlanned", {}, {(CENTRE, ("email",))}),
        ("missions.CheckInMissed", {"missed_in_a_row": 1}, {(VOLUNTEER, ("email", "sms"))}),
        ("missions.CheckInMissed", {"missed_in_a_row": 2}, {(VOLUNTEER, ("email", "sms")), (CENTRE, ("email",))}),
        ("missions.CheckInMissed", {"missed_in_a_row": 5}, {(VOLUNTEER, ("email", "sms")), (CENTRE, ("email",))}),
        ("missions.IncidentReported", {"severity": "low"}, set()),
        ("missions.IncidentReported", {"severity": "medium"}, set()),
        (
            "missions.IncidentReported",
            {"severity": "high"},
            {(CENTRE, ("email",)), (DUTY_OFFICER, ("sms",)), (AUTHORITY, ("email",))},
        ),
        (
            "missions.IncidentReported",
            {"severity": "critical"},
            {(CENTRE, ("email",)), (DUTY_OFFICER, ("sms",)), (AUTHORITY, ("email",))},
        ),
        ("missions.SecurityAlertIssued", {}, {(VOLUNTEERS_IN_COUNTRY, ("email", "sms"))}),
        ("missions.SafetyCheckClosed", {"unaccounted_mission_ids": []}, set()),
        (
            "missions.SafetyCheckClosed",
            {"unaccounted_mission_ids": ["m1"]},
            {(CENTRE, ("email", "sms")), (DUTY_OFFICER, ("email", "sms")), (AUTHORITIES_CONCERNED, ("email", "sms"))},
        ),
        (
            "missions.MissionEnded",
            {},
            {(VOLUNTEER, ("email",)), (AUTHORITY, ("email",)), (BRANCH, ("email",)), (HOST_PARTNER, ("email",))},
        ),
        # Duty of care: escalations reach someone, early returns everyone responsible.
        ("missions.IncidentEscalated", {"escalated_to": "centre"}, set()),  # IncidentReported told them already
        (
            "missions.IncidentEscalated",
            {"escalated_to": "head_office"},
            {(DUTY_OFFICER, ("email", "sms")), (HEAD_OFFICE, ("email",)), (CENTRE, ("email", "sms"))},
        ),
        (
            "missions.MissionInterrupted",
            {},
            {(AUTHORITY, ("email",)), (BRANCH, ("email",)), (CENTRE, ("email",)), (HOST_PARTNER, ("email",))},
        ),
        ("missions.MissionStarted", {}, {(HOST_PARTNER, ("email",))}),
        ("missions.SafetyCheckReminded", {}, {(VOLUNTEERS_OF_MISSIONS, ("email", "sms"))}),
        ("missions.SafetyCheckEscalated", {}, {(HEAD_OFFICE, ("email", "sms"))}),
        ("partners.PartnerSuspended", {}, {(AUTHORITIES_OF_PARTNER, ("email",))}),
        ("partners.PartnerApproved", {}, set()),
        ("missions.CheckInReceived", {}, set()),
    ],
)
def test_routes_for(event_type: str, facts: dict[str, object], expected: set[tuple[str, tuple[str, ...]]]) -> None:
    assert {(r.role, r.channels) for r in routing.routes_for(event_type, facts)} == expected


def test_every_routed_type_is_a_contract_type_and_every_template_exists() -> None:
    assert known_types() >= routing.ROUTED_TYPES
    from importlib import resources

    folder = resources.files("vies_notifications").joinpath("templates")
    for template in routing.TEMPLATES:
        for language in ("fr", "en"):
            for part in ("txt", "html"):
                assert folder.joinpath(f"{language}/{template}.{part}").is_file(), (template, language, part)


@pytest.mark.parametrize(
    ("route_category", "severity", "expected"),
    [
        ("incident", "high", "incident"),
        ("incident", "critical", "safety"),  # a critical incident is a safety message
        ("security", None, "security"),
        ("application", "critical", "application"),
    ],
)
def test_effective_category(route_category: str, severity: str | None, expected: str) -> None:
    route = routing.Route("x.Y", CENTRE, ("email",), "t", route_category)
    assert routing.effective_category(route, {"severity": severity}) == expected


@pytest.mark.parametrize(
    ("category", "opt_outs", "blocked"),
    [
        ("application", {"application"}, True),
        ("application", {"mission"}, False),
        ("application", set(), False),
        ("security", {"security", "safety"}, False),  # cannot be opted out of
        ("safety", {"safety"}, False),
        ("digest", {"digest"}, True),
    ],
)
def test_opt_outs(category: str, opt_outs: set[str], blocked: bool) -> None:
    assert routing.is_opted_out(category, opt_outs) is blocked


@pytest.mark.parametrize(
    ("preferred", "contact", "expected"),
    [
        ("en", "fr", "en"),
        (None, "en", "en"),
        (None, "EN-gb", "en"),
        ("de", "en", "en"),
        ("de", None, "fr"),
        (None, None, "fr"),
    ],
)
def test_choose_language(preferred: str | None, contact: str | None, expected: str) -> None:
    assert routing.choose_language(preferred, contact, "fr", ("fr", "en")) == expected


def test_the_return_seminar_invitation_is_due_a_delay_after_the_end_under_its_own_event_id() -> None:
    ended = routing.routes_for("missions.MissionEnded", {})
    invitation = next(r for r in ended if r.template == routing.RETURN_SEMINAR_TEMPLATE)
    thanks = next(r for r in ended if r.template == "mission_ended_volunteer")
    assert invitation.role == VOLUNTEER and invitation.after == routing.RETURN_SEMINAR
    occurred = datetime(2028, 1, 14, 9, 0, tzinfo=UTC)
    now = occurred + timedelta(seconds=5)
    # at once for an ordinary row; the delay after the event (a month by default) for the invitation
    assert routing.due_at(thanks, occurred, now, {}) == now
    assert routing.due_at(invitation, occurred, now, {}) == occurred + timedelta(days=30)
    assert routing.due_at(invitation, occurred, now, {routing.RETURN_SEMINAR: 60}) == occurred + timedelta(seconds=60)
    # an event taken in late is not pushed further back, nor sent in the past
    late = occurred + timedelta(days=40)
    assert routing.due_at(invitation, occurred, late, {}) == late
    # its own event id, so it does not collide with the thanks sent to the same volunteer for the same event
    assert routing.message_event_id(thanks, "ce-1") == "ce-1"
    assert routing.message_event_id(invitation, "ce-1") == "return_seminar:ce-1"
