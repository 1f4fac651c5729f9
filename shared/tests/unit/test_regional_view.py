"""Pure rules of the regional view: event → view change, order and redelivery, settings, report, file helpers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vies_shared.events import missions as m
from vies_shared.events import notifications as n
from vies_shared.events import partners as p
from vies_shared.events import recruitment as r
from vies_shared.events.base import Event
from vies_shared.events.envelope import EventMeta, encode
from vies_shared.regional.cloudevents import structured
from vies_shared.regional.consumer import kept_types
from vies_shared.regional.forwarding import append_lines, tail_ids
from vies_shared.regional.report import format_report
from vies_shared.regional.settings import RegionalSettings
from vies_shared.regional.view import View, apply_in_memory, changes_for

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def meta(event: Event, seconds: int = 0, region: str = "FR-ARA") -> EventMeta:
    return encode(event, region=region, time=T0 + timedelta(seconds=seconds))[0]


def run(*events: Event | tuple[Event, int]) -> View:
    """Apply events in the given order; a tuple gives the event's ce_time offset in seconds."""
    view: View = {}
    for i, item in enumerate(events):
        event, at = item if isinstance(item, tuple) else (item, i)
        apply_in_memory(view, meta(event, at), event)
    return view


POSITION = r.PositionPublished(
    position_id="pos-1",
    partnership_id="ps-1",
    authority_id="auth-1",
    partner_id="prt-1",
    country="SN",
    scheme="vsi",
    title="Water engineer",
    starts_on=date(2026, 9, 1),
    duration_months=12,
    places=2,
)
SUBMITTED = r.ApplicationSubmitted(application_id="app-1", position_id="pos-1", candidate_id="c-1", authority_id="a-1")
ELIGIBLE = r.ApplicationScreened(application_id="app-1", eligible=True, reasons=[])
INELIGIBLE = r.ApplicationScreened(application_id="app-1", eligible=False, reasons=["too old for the scheme"])
SELECTED = r.CandidateSelected(application_id="app-1", position_id="pos-1", candidate_id="c-1")
ENGAGED = r.VolunteerEngaged(
    engagement_id="eng-1",
    application_id="app-1",
    volunteer_id="c-1",
    position_id="pos-1",
    authority_id="auth-1",
    partner_id="prt-1",
    country="SN",
    scheme="vsi",
    starts_on=date(2026, 9, 1),
    ends_on=date(2027, 8, 31),
)
PLANNED = m.MissionPlanned(
    mission_id="mis-1",
    engagement_id="eng-1",
    volunteer_id="c-1",
    authority_id="auth-1",
    partner_id="prt-1",
    country="SN",
    scheme="vsi",
    starts_on=date(2026, 9, 1),
    ends_on=date(2027, 8, 31),
)
OPENED = m.SafetyCheckOpened(
    alert_id="al-1", country="SN", level="crisis", respond_by=T0 + timedelta(hours=1), mission_ids=["b", "a"]
)
INCIDENT = m.IncidentReported(incident_id="inc-1", mission_id="mis-1", category="health", severity="high")


@pytest.mark.parametrize(
    ("events", "collection", "key", "expected"),
    [
        pytest.param(
            [POSITION],
            "positions",
            "pos-1",
            {"state": "open", "country": "SN", "scheme": "vsi", "places": 2, "starts_on": "2026-09-01"},
            id="position published",
        ),
        pytest.param(
            [POSITION, r.PositionClosed(position_id="pos-1", reason="filled", cause="filled")],
            "positions",
            "pos-1",
            {"state": "closed", "closed_reason": "filled", "closed_cause": "filled", "title": "Water engineer"},
            id="position closed keeps its facts",
        ),
        pytest.param(
            [SUBMITTED],
            "applications",
            "app-1",
            {"state": "submitted", "position_id": "pos-1", "candidate_id": "c-1"},
            id="application submitted",
        ),
        pytest.param(
            [SUBMITTED, INELIGIBLE],
            "applications",
            "app-1",
            {"state": "ineligible", "eligible": False, "screening_reasons": ["too old for the scheme"]},
            id="screened ineligible",
        ),
        pytest.param(
            [SUBMITTED, ELIGIBLE, r.ApplicationShortlisted(application_id="app-1")],
            "applications",
            "app-1",
            {"state": "shortlisted", "eligible": True},
            id="shortlisted",
        ),
        pytest.param(
            [SUBMITTED, r.InterviewScheduled(application_id="app-1", at=T0 + timedelta(days=3))],
            "applications",
            "app-1",
            {"state": "interview_scheduled", "interview_at": "2026-03-04T09:00:00Z"},
            id="interview",
        ),
        pytest.param(
            [SUBMITTED, r.ApplicationRejected(application_id="app-1", reason="profile")],
            "applications",
            "app-1",
            {"state": "rejected", "rejected_reason": "profile"},
            id="rejected",
        ),
        pytest.param(
            [SUBMITTED, r.ApplicationWithdrawn(application_id="app-1")],
            "applications",
            "app-1",
            {"state": "withdrawn"},
            id="withdrawn",
        ),
        pytest.param(
            [SUBMITTED, SELECTED, ENGAGED],
            "applications",
            "app-1",
            {"state": "engaged", "engagement_id": "eng-1"},
            id="engagement moves its application",
        ),
        pytest.param(
            [ENGAGED],
            "engagements",
            "eng-1",
            {"application_id": "app-1", "ends_on": "2027-08-31", "engaged_at": "2026-03-01T09:00:00.000Z"},
            id="engagement",
        ),
        pytest.param(
            [PLANNED, m.MissionStarted(mission_id="mis-1", departed_on=date(2026, 9, 2))],
            "missions",
            "mis-1",
            {"state": "under_way", "country": "SN", "departed_on": "2026-09-02"},
            id="mission under way",
        ),
        pytest.param(
            [PLANNED, m.MissionExtended(mission_id="mis-1", ends_on=date(2027, 12, 31))],
            "missions",
            "mis-1",
            {"ends_on": "2027-12-31", "extended": True, "state": "planned"},
            id="mission extended",
        ),
        pytest.param(
            [PLANNED, m.MissionEnded(mission_id="mis-1", ended_on=date(2027, 8, 31))],
            "missions",
            "mis-1",
            {"state": "ended", "ended_on": "2027-08-31"},
            id="mission ended",
        ),
        pytest.param(
            [PLANNED, m.MissionInterrupted(mission_id="mis-1", reason="health", interrupted_on=date(2026, 10, 1))],
            "missions",
            "mis-1",
            {"state": "interrupted", "interrupted_reason": "health", "interrupted_on": "2026-10-01"},
            id="mission interrupted",
        ),
        pytest.param(
            [
                PLANNED,
                m.CheckInMissed(mission_id="mis-1", due_on=date(2026, 9, 15)),
                m.CheckInMissed(mission_id="mis-1", due_on=date(2026, 9, 1)),
                m.CheckInReceived(mission_id="mis-1", status="concern"),
            ],
            "missions",
            "mis-1",
            {"missed_check_ins": ["2026-09-01", "2026-09-15"], "last_check_in_status": "concern"},
            id="check-ins",
        ),
        pytest.param(
            [
                m.FollowUpInterviewOverdue(mission_id="mis-1", stage="mid", due_on=date(2027, 2, 1)),
                m.FollowUpInterviewDone(mission_id="mis-1", stage="start", done_on=date(2026, 9, 10)),
            ],
            "missions",
            "mis-1",
            {"follow_ups": {"mid": {"overdue_since": "2027-02-01"}, "start": {"done_on": "2026-09-10"}}},
            id="follow-up interviews",
        ),
        pytest.param(
            [INCIDENT],
            "incidents",
            "inc-1",
            {"state": "open", "severity": "high", "category": "health", "mission_id": "mis-1"},
            id="incident open",
        ),
        pytest.param(
            [
                INCIDENT,
                m.IncidentEscalated(incident_id="inc-1", mission_id="mis-1", severity="high", escalated_to="centre"),
                m.IncidentAcknowledged(incident_id="inc-1", mission_id="mis-1"),
                m.IncidentResolved(incident_id="inc-1", mission_id="mis-1"),
            ],
            "incidents",
            "inc-1",
            {"state": "resolved", "escalated_to": "centre", "acknowledged": True, "severity": "high"},
            id="incident resolved",
        ),
        pytest.param(
            [
                m.SecurityAlertIssued(
                    alert_id="al-1", country="SN", level="crisis", respond_by=T0, mission_ids=["b", "a"]
                ),
                m.SafetyStatusReported(alert_id="al-1", mission_id="a", status="safe"),
                m.SafetyStatusReported(alert_id="al-1", mission_id="b", status="need_help"),
                m.SafetyCheckClosed(alert_id="al-1", unaccounted_mission_ids=[]),
            ],
            "safety_checks",
            "al-1",
            {"state": "closed", "mission_ids": ["a", "b"], "responses": {"a": "safe", "b": "need_help"}},
            id="safety check",
        ),
        pytest.param(
            [OPENED],
            "safety_checks",
            "al-1",
            {
                "state": "open",
                "country": "SN",
                "level": "crisis",
                "respond_by": "2026-03-01T10:00:00Z",
                "mission_ids": ["a", "b"],
                "unaccounted_mission_ids": None,
            },
            id="safety check opened in the region",
        ),
        pytest.param(
            [
                OPENED,
                m.SafetyStatusReported(alert_id="al-1", mission_id="a", status="safe"),
                m.SafetyCheckClosedInRegion(alert_id="al-1", country="SN", unaccounted_mission_ids=["b"]),
            ],
            "safety_checks",
            "al-1",
            {
                "state": "closed",
                "level": "crisis",
                "mission_ids": ["a", "b"],
                "responses": {"a": "safe"},
                "unaccounted_mission_ids": ["b"],
                "closed_at": "2026-03-01T09:00:02.000Z",
            },
            id="safety check closed in the region with its unaccounted missions",
        ),
        pytest.param(
            [
                (m.SafetyCheckClosedInRegion(alert_id="al-1", country="SN", unaccounted_mission_ids=[]), 10),
                (m.SafetyStatusReported(alert_id="al-1", mission_id="b", status="need_help"), 5),
                (OPENED, 0),
            ],
            "safety_checks",
            "al-1",
            {
                "state": "closed",
                "mission_ids": ["a", "b"],
                "responses": {"b": "need_help"},
                "unaccounted_mission_ids": [],
            },
            id="safety check opening read after its close stays closed",
        ),
        pytest.param(
            [m.SafetyStatusReported(alert_id="al-1", mission_id="a", status="safe")],
            "safety_checks",
            "al-1",
            {"responses": {"a": "safe"}},
            id="safety check known from an answer only",
        ),
        pytest.param(
            [
                p.AuthorityRegistered(
                    authority_id="auth-1",
                    name="Lyon",
                    kind="commune",
                    region="FR-ARA",
                    contact_email="international@lyon.example",
                    territoires_volontaires=True,
                )
            ],
            "authorities",
            "auth-1",
            {"name": "Lyon", "kind": "commune", "territoires_volontaires": True},
            id="authority",
        ),
        pytest.param(
            [
                p.PartnershipEstablished(
                    partnership_id="ps-1",
                    authority_id="auth-1",
                    partner_id="prt-1",
                    country="SN",
                    themes=["water"],
                    starts_on=date(2026, 1, 1),
                ),
                p.PartnershipEnded(partnership_id="ps-1", reason="project over"),
            ],
            "partnerships",
            "ps-1",
            {"state": "ended", "ended_reason": "project over", "country": "SN"},
            id="partnership",
        ),
    ],
)
def test_event_changes_the_view(events: list[Event], collection: str, key: str, expected: dict[str, Any]) -> None:
    doc = run(*events)[collection][key]
    assert {k: doc.get(k) for k in expected} == expected


def test_an_engagement_overtaking_the_selection_is_not_undone() -> None:
    # VolunteerEngaged (key engagement) may be read before CandidateSelected (key application).
    view = run((SUBMITTED, 0), (ENGAGED, 20), (SELECTED, 10))
    assert view["applications"]["app-1"]["state"] == "engaged"
    assert view["applications"]["app-1"]["candidate_id"] == "c-1"


def test_same_millisecond_goes_to_the_later_stage_whatever_the_order() -> None:
    forward = run((SUBMITTED, 0), (SELECTED, 5), (ENGAGED, 5))
    backward = run((SUBMITTED, 0), (ENGAGED, 5), (SELECTED, 5))
    assert forward == backward
    assert forward["applications"]["app-1"]["state"] == "engaged"


def test_a_mission_planned_after_its_extension_keeps_the_extended_end() -> None:
    view = run(m.MissionExtended(mission_id="mis-1", ends_on=date(2027, 12, 31)), PLANNED)
    assert view["missions"]["mis-1"]["ends_on"] == "2027-12-31"
    assert view["missions"]["mis-1"]["state"] == "planned"


def test_a_resolution_read_before_its_report_leaves_the_incident_resolved() -> None:
    view = run((m.IncidentResolved(incident_id="inc-1", mission_id="mis-1"), 10), (INCIDENT, 5))
    assert view["incidents"]["inc-1"]["state"] == "resolved"
    assert view["incidents"]["inc-1"]["severity"] == "high"


def test_applying_an_event_twice_changes_nothing_more() -> None:
    events = [
        POSITION,
        SUBMITTED,
        ENGAGED,
        PLANNED,
        m.CheckInMissed(mission_id="mis-1", due_on=date(2026, 9, 15)),
        m.SafetyStatusReported(alert_id="al-1", mission_id="mis-1", status="safe"),
        INCIDENT,
    ]
    once: View = {}
    twice: View = {}
    for i, event in enumerate(events):
        apply_in_memory(once, meta(event, i), event)
        apply_in_memory(twice, meta(event, i), event)
        apply_in_memory(twice, meta(event, i), event)
    assert once == twice


def test_erasure_forgets_the_person_id_everywhere() -> None:
    view = run(SUBMITTED, ENGAGED, PLANNED, r.PersonErased(person_id="c-1"))
    assert "candidate_id" not in view["applications"]["app-1"]
    assert "volunteer_id" not in view["engagements"]["eng-1"]
    assert "volunteer_id" not in view["missions"]["mis-1"]
    assert view["missions"]["mis-1"]["country"] == "SN"


@pytest.mark.parametrize(
    "event",
    [
        n.NotificationSent(notification_id="n-1", event_id="e-1", channel="email", recipient_role="authority"),
        p.PartnerApproved(partner_id="prt-1"),
        p.MatchRequested(request_id="mr-1", authority_id="auth-1", countries=["SN"], themes=[], languages=[]),
    ],
)
def test_events_without_a_view_rule_change_no_document(event: Event) -> None:
    assert changes_for(meta(event), event) == []


def test_every_events_topic_type_is_kept_and_contacts_never() -> None:
    types = kept_types()
    assert "recruitment.ContactUpdated" not in types
    assert {"missions.MissionPlanned", "notifications.NotificationSent", "partners.PartnerRegistered"} <= set(types)


def test_cloudevent_json_has_the_headers_as_attributes() -> None:
    event_meta = encode(INCIDENT, region="FR-ARA", time=T0, correlation_id="req-1", causation_id="ev-0")[0]
    assert structured(event_meta, {"x": 1}) == {
        "specversion": "1.0",
        "id": event_meta.id,
        "source": "/vies/missions",
        "type": "missions.IncidentReported",
        "time": "2026-03-01T09:00:00.000Z",
        "subject": "mis-1",
        "datacontenttype": "application/json",
        "schemaversion": "1",
        "region": "FR-ARA",
        "correlationid": "req-1",
        "causationid": "ev-0",
        "data": {"x": 1},
    }


# --- settings ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"region": "FR-ARA"}, {"mongodb_db": "vies_regional_fr_ara", "consumer_group": "vies.regional.FR-ARA"}),
        ({"region": "fr-974"}, {"region": "FR-974", "mongodb_db": "vies_regional_fr_974", "http_port": 8080}),
        (
            {"region": "FR-IDF", "topic_prefix": "t1.", "regional_group_suffix": ".audit"},
            {"consumer_group": "t1.vies.regional.FR-IDF.audit"},
        ),
        ({"region": "FR-ARA", "mongodb_db": "branch"}, {"mongodb_db": "branch"}),
        ({"region": "FR-ARA", "regional_webhook_url": ""}, {"regional_webhook_url": None}),
        ({"region": "FR-ARA", "regional_jsonl_path": ""}, {"regional_jsonl_path": None}),
        (
            {"region": "FR-ARA", "regional_webhook_url": "https://branch.example/vies"},
            {"regional_webhook_url": "https://branch.example/vies"},
        ),
    ],
)
def test_settings(values: dict[str, Any], expected: dict[str, Any]) -> None:
    settings = RegionalSettings(**values)
    assert {k: getattr(settings, k) for k in expected} == expected


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIES_REGION", "FR-BRE")
    monkeypatch.setenv("VIES_REGIONAL_WEBHOOK_URL", "http://127.0.0.1:9000/hook")
    settings = RegionalSettings()
    assert (settings.region, settings.regional_webhook_url, settings.service) == (
        "FR-BRE",
        "http://127.0.0.1:9000/hook",
        "regional",
    )


@pytest.mark.parametrize(
    "values",
    [{}, {"region": "FR-XXX"}, {"region": "SN"}, {"region": "FR-ARA", "regional_webhook_url": "ftp://x/y"}],
)
def test_settings_refused(values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIES_REGION", raising=False)
    with pytest.raises(ValidationError):
        RegionalSettings(**values)


# --- report and file helpers ---------------------------------------------------------------------------------------


def test_report_table() -> None:
    summary = {
        "region": "FR-ARA",
        "database": "vies_regional_fr_ara",
        "events": {
            "kept": 12,
            "last_at": "2026-03-01T09:00:11.000Z",
            "by_type": {},
            "skipped": 2,
            "skipped_by_reason": {"unknown_type": 1, "unknown_schema_version": 1},
        },
        "authorities": 1,
        "partnerships": {"active": 1},
        "positions": {"open": 1, "closed": 1},
        "applications": {"engaged": 1, "submitted": 2, "ineligible": 1},
        "engagements": 1,
        "missions": {"BJ": {"planned": 1}, "SN": {"under_way": 2, "ended": 1}},
        "open_incidents": {"critical": 0, "high": 1, "medium": 0, "low": 0},
        "safety_checks": {"total": 1, "open": 0, "closed": 0, "safe": 1, "need_help": 0, "unaccounted": 0},
        "queues": {"webhook": 3, "jsonl": 0},
    }
    text = format_report(summary)
    assert "VIES regional view FR-ARA (Auvergne-Rhône-Alpes)" in text
    assert "events skipped   2  (unknown_schema_version 1  unknown_type 1)" in text
    assert "applications     submitted 2  ineligible 1  engaged 1" in text
    assert "open incidents   1  (high 1)" in text
    assert "webhook queue    3 waiting" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[-3:]}
    assert rows == {"BJ": ["1", "0", "0", "0", "1"], "SN": ["0", "2", "1", "0", "3"], "all": ["1", "2", "1", "0", "4"]}


def test_append_lines_closes_a_torn_line_and_tail_ids_skips_it(tmp_path: Path) -> None:
    path = tmp_path / "branch" / "events.jsonl"
    append_lines(path, [json.dumps({"id": "a"}), json.dumps({"id": "b"})])
    with path.open("ab") as file:
        file.write(b'{"id": "c", "da')  # a crash in the middle of a line
    append_lines(path, [json.dumps({"id": "c"}), json.dumps({"id": "d"})])
    lines = path.read_text().splitlines()
    assert lines[-2:] == ['{"id": "c"}', '{"id": "d"}']
    assert tail_ids(path, 3) == {"c", "d"}
    assert tail_ids(path, 10) == {"a", "b", "c", "d"}
    assert tail_ids(path, 2, block=4) == {"c", "d"}
    assert tail_ids(tmp_path / "missing.jsonl", 5) == set()
