"""What missions learns from the other services' events, on in-memory fakes: where a mission is planned,
regions, contacts, a suspended partner's review flag and the right to erasure."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from missions_fast_kit import CENTRE_SN, STAFF, engagement, missions_runtime, planned, started, volunteer_of

from vies_missions import use_cases
from vies_missions.domain.mission import mission_id_for
from vies_shared.errors import Forbidden, InvalidInput
from vies_shared.events.missions import IncidentEscalated, MissionFlaggedForReview, MissionPlanned
from vies_shared.events.partners import (
    AuthorityRegistered,
    AuthorityUpdated,
    PartnerRegistered,
    PartnerReinstated,
    PartnerSuspended,
)
from vies_shared.events.recruitment import ContactUpdated, EmergencyContact, PersonErased
from vies_shared.tokens import Principal
from vies_shared.web import Page

pytestmark = pytest.mark.fast

PAGE = Page(limit=50, offset=0)


def authority_registered(region: str = "BRE", **overrides: Any) -> AuthorityRegistered:
    """``partners.AuthorityRegistered`` of auth-1."""
    fields: dict[str, Any] = {
        "authority_id": "auth-1",
        "name": "Rennes",
        "kind": "commune",
        "region": region,
        "contact_email": "international@rennes.example",
        "territoires_volontaires": False,
    }
    return AuthorityRegistered(**{**fields, **overrides})


def contact_of(person_id: str, name: str = "Awa Diop", **overrides: Any) -> ContactUpdated:
    """``recruitment.ContactUpdated`` of a person."""
    fields: dict[str, Any] = {"person_id": person_id, "name": name, "email": "awa@example.org", "language": "fr"}
    return ContactUpdated(**{**fields, **overrides})


async def test_a_reciprocity_volunteer_is_hosted_in_france_and_a_country_without_centre_has_the_head_office() -> None:
    runtime = await missions_runtime()
    hosted = await planned(runtime, engagement(country="TN", scheme="reciprocity"))
    no_centre = await planned(runtime, engagement(country="MX"))
    reciprocity = await use_cases.get_mission(runtime, STAFF, hosted)
    assert (reciprocity["country"], reciprocity["origin_country"], reciprocity["centre_id"]) == (
        "FR",
        "TN",
        "head-office",
    )
    assert reciprocity["checklist"]["required"] == [
        "insurance",
        "visa",
        "emergency_contact",
        "housing",
        "tutor",
        "french_classes",
        "return_commitment",
    ]
    assert (await use_cases.get_mission(runtime, STAFF, no_centre))["centre_id"] == "head-office"
    # Where the head office covers the country, a serious incident goes to it at once.
    for item in ("training", "insurance", "visa", "travel_registration", "emergency_contact"):
        await use_cases.tick_checklist(runtime, STAFF, no_centre, item, date(2026, 1, 3))
    await use_cases.start_mission(runtime, STAFF, no_centre, date(2026, 1, 10))
    await use_cases.report_incident(runtime, STAFF, no_centre, category="health", severity="high", description="fever")
    assert [e.escalated_to for e in runtime.events_of(IncidentEscalated)] == ["head_office"]


async def test_the_hosting_authority_prepares_a_stay_in_france() -> None:
    runtime = await missions_runtime()
    event = engagement(country="TN", scheme="reciprocity")
    mission_id = await planned(runtime, event)
    host = Principal(sub="agent-1", role="authority", authority_id="auth-1")
    for item in ("housing", "tutor", "french_classes", "return_commitment", "visa"):
        await use_cases.tick_checklist(runtime, host, mission_id, item, date(2026, 1, 2))
    with pytest.raises(Forbidden):  # insurance stays the centre's (here the head office's, i.e. staff)
        await use_cases.tick_checklist(runtime, host, mission_id, "insurance", date(2026, 1, 2))
    with pytest.raises(Forbidden):
        await use_cases.tick_checklist(runtime, volunteer_of(event), mission_id, "housing", date(2026, 1, 2))
    await use_cases.tick_checklist(runtime, volunteer_of(event), mission_id, "emergency_contact", date(2026, 1, 2))
    await use_cases.tick_checklist(runtime, STAFF, mission_id, "insurance", date(2026, 1, 2))
    view = await use_cases.start_mission(runtime, STAFF, mission_id, date(2026, 1, 10))
    assert view["status"] == "started"  # no Ariane registration nor training before arriving in France


async def test_an_engagement_that_cannot_be_planned_raises_and_a_foreign_place_is_dropped() -> None:
    runtime = await missions_runtime()
    backwards = engagement(months=-1)
    with pytest.raises(InvalidInput):  # the consumer dead-letters it
        await runtime.deliver(backwards)
    assert await runtime.collection("missions").count_documents({}) == 0
    elsewhere = await planned(runtime, engagement(place={"city": "Rabat", "subdivision": "MA-04"}))
    dakar = await planned(runtime, engagement(place={"city": "Dakar", "subdivision": "sn-dk"}))
    assert (await use_cases.get_mission(runtime, STAFF, elsewhere))["place"] is None
    assert (await use_cases.get_mission(runtime, STAFF, dakar))["place"] == {"city": "Dakar", "subdivision": "SN-DK"}


async def test_the_authoritys_region_and_contact_follow_its_registration_and_corrections() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    await started(runtime, mission_id, date(2026, 1, 10))
    incident = await use_cases.report_incident(
        runtime, volunteer_of(event), mission_id, category="health", severity="low", description="cold"
    )
    assert (await use_cases.get_mission(runtime, STAFF, mission_id))["region"] is None
    await runtime.deliver(authority_registered("BRE"))
    await runtime.deliver(
        PartnerRegistered(
            partner_id="partner-1",
            name="Eau Vive",
            kind="ngo",
            country="SN",
            city="Saint-Louis",
            themes=[],
            languages=["fr"],
            hosting_capacity=2,
            reciprocity=False,
        )
    )
    assert (await use_cases.get_mission(runtime, STAFF, mission_id))["region"] == "BRE"
    contacts = await use_cases.mission_contacts(runtime, volunteer_of(event), mission_id)
    assert contacts["partner"]["name"] == "Eau Vive" and contacts["centre"]["centre_id"] == "ev-sn"
    assert contacts["authority"]["contact_email"] == "international@rennes.example"

    await runtime.deliver(
        AuthorityUpdated(authority_id="auth-1", region="NOR", changed=["contact_email"], contact_email=None)
    )
    contacts = await use_cases.mission_contacts(runtime, volunteer_of(event), mission_id)
    assert contacts["authority"]["contact_email"] is None
    branch = Principal(sub="b", role="branch", region="NOR")
    assert (await use_cases.get_incident(runtime, branch, incident["incident_id"]))["region"] == "NOR"
    with pytest.raises(Forbidden):
        await use_cases.get_mission(runtime, Principal(sub="b", role="branch", region="BRE"), mission_id)


async def test_a_suspended_partners_active_missions_are_flagged_once_until_it_is_reinstated() -> None:
    runtime = await missions_runtime()
    under_way, planned_only, over = [await planned(runtime) for _ in range(3)]
    await started(runtime, under_way, date(2026, 1, 10))
    await started(runtime, over, date(2026, 1, 10))
    await use_cases.end_mission(runtime, CENTRE_SN, over, ended_on=date(2026, 1, 11), debrief="short")
    runtime.clear_events()
    await runtime.deliver(PartnerSuspended(partner_id="partner-1", reason="audit"))
    await runtime.deliver(PartnerSuspended(partner_id="partner-1", reason="audit"))
    flagged = runtime.events_of(MissionFlaggedForReview)
    assert sorted(e.mission_id for e in flagged) == sorted([under_way, planned_only])
    assert {e.reason for e in flagged} == {"partner_suspended: audit"}
    listed = await use_cases.list_missions(runtime, STAFF, PAGE, flagged=True)
    assert {m["mission_id"] for m in listed["items"]} == {under_way, planned_only}
    await runtime.deliver(PartnerReinstated(partner_id="partner-1"))
    assert (await use_cases.list_missions(runtime, STAFF, PAGE, flagged=True))["total"] == 0


async def test_an_older_contact_update_never_overwrites_a_newer_one_and_a_tombstone_forgets_it() -> None:
    runtime = await missions_runtime()
    now = runtime.now()
    await runtime.deliver(contact_of("vol-1", "New Name"), time=now)
    await runtime.deliver(contact_of("vol-1", "Old Name"), time=now - timedelta(hours=1))  # replayed late
    stored = await runtime.collection("contacts").find_one({"_id": "vol-1"})
    assert stored is not None and stored["name"] == "New Name"
    await runtime.deliver_tombstone("vies.recruitment.contacts", "vol-1")
    assert await runtime.collection("contacts").count_documents({"_id": "vol-1"}) == 0


async def test_erasure_keeps_the_anonymous_facts_and_older_facts_do_not_bring_the_person_back() -> None:
    runtime = await missions_runtime()
    event = engagement()
    mission_id = await planned(runtime, event)
    volunteer = volunteer_of(event)
    await runtime.deliver(
        contact_of(
            event.volunteer_id,
            emergency_contact=EmergencyContact(name="Marie", relation="mother", phone="+33600000000"),
        )
    )
    await started(runtime, mission_id, date(2026, 1, 10))
    await use_cases.send_check_in(runtime, volunteer, mission_id, status="concern", note="my landlord")
    incident = await use_cases.report_incident(
        runtime, volunteer, mission_id, category="health", severity="low", description="Awa has malaria"
    )
    alert = await use_cases.issue_security_alert(
        runtime, CENTRE_SN, country="SN", level="vigilance", message="strikes", respond_within_hours=6
    )
    before_erasure = runtime.now()
    runtime.clock.advance(minutes=5)

    await runtime.deliver(PersonErased(person_id=event.volunteer_id))
    assert await runtime.collection("contacts").count_documents({}) == 0
    mission = await use_cases.get_mission(runtime, STAFF, mission_id)
    assert mission["volunteer_id"] is None and mission["erased"] is True and mission["status"] == "started"
    [check_in] = (await use_cases.list_check_ins(runtime, STAFF, mission_id, PAGE))["items"]
    assert check_in["note"] is None and check_in["status"] == "concern"
    assert (await use_cases.get_incident(runtime, STAFF, incident["incident_id"]))["description"] == "[erased]"
    entry = await runtime.collection("safety_entries").find_one({"alert_id": alert["alert_id"]})
    assert entry is not None and entry["volunteer_id"] is None

    # Produced before the erasure, read after it: the erasure wins.
    await runtime.deliver(contact_of(event.volunteer_id), time=before_erasure)
    assert await runtime.collection("contacts").count_documents({}) == 0
    late = engagement()
    late = late.model_copy(update={"volunteer_id": event.volunteer_id})
    await runtime.deliver(late, time=before_erasure)
    erased_plan = await use_cases.get_mission(runtime, STAFF, mission_id_for(late.engagement_id))
    assert erased_plan["erased"] is True and erased_plan["volunteer_id"] is None
    assert runtime.events_of(MissionPlanned)[-1].volunteer_id == ""
