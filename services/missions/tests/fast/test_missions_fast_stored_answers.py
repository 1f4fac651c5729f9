"""Safety-check entries and check-ins as stored and as answered: the documents keep their fields, in order."""

from __future__ import annotations

from datetime import date

import pytest
from missions_fast_kit import CENTRE_SN, STAFF, engagement, missions_runtime, planned, started, volunteer_of

from vies_missions import scheduler, use_cases
from vies_missions.domain.safety_check import entry_id
from vies_shared.events.missions import SafetyCheckClosed, SafetyCheckClosedInRegion
from vies_shared.events.partners import AuthorityRegistered
from vies_shared.web import Page

pytestmark = pytest.mark.fast

NEW_ENTRY = [
    "_id",
    "alert_id",
    "mission_id",
    "volunteer_id",
    "authority_id",
    "region",
    "centre_id",
    "status",
    "responded_at",
    "after_close",
]
ANSWERED = [*NEW_ENTRY, "responded_by_role", "responded_via"]


async def test_an_entry_holds_its_ten_fields_then_the_answer_adds_how_it_came_and_the_incident() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))
    alert = await use_cases.issue_security_alert(
        runtime, CENTRE_SN, country="SN", level="crisis", message="unrest", respond_within_hours=6
    )
    entries = runtime.collection("safety_entries")
    key = {"_id": entry_id(alert["alert_id"], mission_id)}
    stored = await entries.find_one(key)
    assert stored is not None and list(stored) == NEW_ENTRY
    assert stored["status"] == "pending" and stored["responded_at"] is None and stored["after_close"] is False
    assert stored["volunteer_id"] == event.volunteer_id and stored["authority_id"] == event.authority_id

    safe = await use_cases.respond_to_safety_check(runtime, volunteer_of(event), alert["alert_id"], mission_id, "safe")
    stored = await entries.find_one(key)
    assert stored is not None and list(stored) == ANSWERED
    assert (stored["status"], stored["responded_by_role"], stored["responded_via"]) == ("safe", "volunteer", "api")
    assert safe["status"] == "safe" and safe["incident_id"] is None and "emergency_contact" not in safe

    runtime.clock.advance(minutes=5)
    help_view = await use_cases.respond_to_safety_check(runtime, CENTRE_SN, alert["alert_id"], mission_id, "need_help")
    stored = await entries.find_one(key)
    assert stored is not None and list(stored) == [*ANSWERED, "incident_id"]
    assert stored["incident_id"] == help_view["incident_id"] is not None
    assert stored["responded_at"] == runtime.now() and stored["responded_by_role"] == "centre"
    assert await runtime.collection("incidents").find_one({"_id": help_view["incident_id"]}) is not None


async def test_an_answer_after_the_close_is_flagged_and_the_close_reaches_every_region() -> None:
    runtime = await missions_runtime()
    await runtime.deliver(
        AuthorityRegistered(
            authority_id="auth-bre",
            name="Rennes",
            kind="commune",
            region="BRE",
            contact_email="c@rennes.example",
            territoires_volontaires=False,
        )
    )
    answered, silent = engagement(authority_id="auth-bre"), engagement()
    ids = [await planned(runtime, e) for e in (answered, silent)]
    for mission_id in ids:
        await started(runtime, mission_id, date(2026, 1, 10))
    alert = await use_cases.issue_security_alert(
        runtime, CENTRE_SN, country="SN", level="crisis", message="unrest", respond_within_hours=6
    )
    await use_cases.respond_to_safety_check(runtime, volunteer_of(answered), alert["alert_id"], ids[0], "safe")
    runtime.clock.advance(hours=7)
    assert await scheduler.close_due_safety_checks(runtime) == 1
    [closed] = runtime.events_of(SafetyCheckClosed)
    assert closed.unaccounted_mission_ids == [ids[1]]
    # Everyone in Brittany answered: the region still hears of the close, with nobody left.
    [in_region] = [e for e in runtime.envelopes if isinstance(e.event, SafetyCheckClosedInRegion)]
    assert in_region.meta.region == "BRE" and in_region.event.unaccounted_mission_ids == []  # type: ignore[attr-defined]

    late = await use_cases.respond_to_safety_check(runtime, volunteer_of(silent), alert["alert_id"], ids[1], "safe")
    assert late["after_close"] is True
    status = await use_cases.safety_check_status(runtime, STAFF, alert["alert_id"], Page(limit=10, offset=0))
    assert status["counts"] == {"total": 2, "accounted": 2, "unaccounted": 0, "safe": 2, "need_help": 0}
    assert [e["mission_id"] for e in status["accounted"]] == sorted(ids)
    assert [e["after_close"] for e in sorted(status["accounted"], key=lambda e: e["mission_id"] != ids[1])] == [
        True,
        False,
    ]


async def test_a_check_in_is_stored_with_its_fields_and_only_an_urgent_one_names_an_incident() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))
    volunteer = volunteer_of(event)
    ok = await use_cases.send_check_in(runtime, volunteer, mission_id, status="ok", note=None)
    runtime.clock.advance(hours=1)
    urgent = await use_cases.send_check_in(runtime, volunteer, mission_id, status="urgent", note="robbed")
    check_ins = runtime.collection("check_ins")
    stored_ok = await check_ins.find_one({"_id": ok["check_in_id"]})
    stored_urgent = await check_ins.find_one({"_id": urgent["check_in_id"]})
    fields = ["_id", "mission_id", "status", "note", "at", "by_role"]
    assert stored_ok is not None and list(stored_ok) == fields
    assert stored_urgent is not None and list(stored_urgent) == [*fields, "incident_id"]
    assert stored_urgent["incident_id"] == urgent["incident_id"]
    incident = await runtime.collection("incidents").find_one({"_id": urgent["incident_id"]})
    assert incident is not None and incident["source"] == "urgent_check_in"
    assert incident["description"] == "urgent check-in: robbed" and incident["reported_at"] == stored_urgent["at"]

    listed = await use_cases.list_check_ins(runtime, CENTRE_SN, mission_id, Page(limit=10, offset=0))
    assert [list(item) for item in listed["items"]] == [
        ["mission_id", "status", "note", "at", "by_role", "incident_id", "check_in_id"],
        ["mission_id", "status", "note", "at", "by_role", "check_in_id"],
    ]
    assert listed["items"][1] == ok and listed["items"][0] == urgent
