"""Demo data for ``make run`` (``VIES_DEMO_DATA=true``): seeded once, through the service's own use cases.

Missions in several countries and states, an open incident and a closed safety check.
Ids are fixed so other services' demo data can refer to them.
"""

from __future__ import annotations

from datetime import timedelta

from vies_missions import handlers, store, use_cases
from vies_missions.domain.mission import CHECKLIST_ITEMS, RECIPROCITY_CHECKLIST, RECIPROCITY_SCHEMES, mission_id_for
from vies_missions.settings import MissionsSettings
from vies_shared.events.recruitment import VolunteerEngaged
from vies_shared.service import Runtime
from vies_shared.storage import transactional
from vies_shared.web import Principal

STAFF = Principal(sub="demo-seed", role="staff")

# (engagement, volunteer, authority, partner, country, scheme, months, target state).
# Authority and partner ids are those of the partners service's demo data, so its
# ``AuthorityRegistered`` events fill in the missions' regions.
DEMO = [
    ("demo-eng-sn-1", "demo-vol-1", "aut-demo-ara", "par-demo-sn-ziguinchor", "SN", "vsi", 12, "started"),
    ("demo-eng-sn-2", "demo-vol-2", "aut-demo-ara", "par-demo-sn-ziguinchor", "SN", "service_civique", 9, "started"),
    ("demo-eng-bf-1", "demo-vol-3", "aut-demo-lyon", "par-demo-bf-koudougou", "BF", "vsi", 24, "planned"),
    ("demo-eng-vn-1", "demo-vol-4", "aut-demo-lyon", "par-demo-vn-hue", "VN", "vec", 4, "ended"),
    ("demo-eng-ma-1", "demo-vol-5", "aut-demo-saint-denis", "par-demo-ma-agadir", "MA", "vsi", 12, "interrupted"),
    ("demo-eng-km-1", "demo-vol-6", "aut-demo-saint-denis", "par-demo-km-moroni", "KM", "reciprocity", 12, "started"),
    ("demo-eng-pe-1", "demo-vol-7", "aut-demo-lyon", "par-demo-pe-cusco", "PE", "vsi", 18, "started"),
]


# The consumer's planning of an engagement, run here in a transaction of its own.
_plan_mission = transactional(handlers.plan_mission)


async def seed(runtime: Runtime[MissionsSettings]) -> None:
    """Create the demo data unless it is there already."""
    settings = runtime.settings
    if await runtime.db[store.MISSIONS].find_one({"engagement_id": DEMO[-1][0]}):
        return
    today = runtime.now().date()
    for engagement, volunteer, authority, partner, country, scheme, months, state in DEMO:
        starts = today - timedelta(days=60) if state != "planned" else today + timedelta(days=45)
        event = VolunteerEngaged(
            engagement_id=engagement,
            application_id=f"{engagement}-app",
            volunteer_id=volunteer,
            position_id=f"{engagement}-pos",
            authority_id=authority,
            partner_id=partner,
            country=country,
            scheme=scheme,
            starts_on=starts,
            ends_on=starts + timedelta(days=30 * months),
        )
        await _plan_mission(runtime, settings, event)
        mission_id = mission_id_for(engagement)
        if state == "planned":
            await use_cases.tick_checklist(runtime, STAFF, mission_id, "training", today - timedelta(days=3))
            continue
        for item in RECIPROCITY_CHECKLIST if scheme in RECIPROCITY_SCHEMES else CHECKLIST_ITEMS:
            await use_cases.tick_checklist(runtime, STAFF, mission_id, item, starts - timedelta(days=10))
        await use_cases.start_mission(runtime, STAFF, mission_id, starts)
        await use_cases.send_check_in(runtime, STAFF, mission_id, status="ok", note="all fine")
        if state == "ended":
            await use_cases.end_mission(
                runtime, STAFF, mission_id, ended_on=today - timedelta(days=1), debrief="Mission completed."
            )
        elif state == "interrupted":
            await use_cases.interrupt_mission(
                runtime, STAFF, mission_id, reason="health", note=None, interrupted_on=today - timedelta(days=2)
            )
    sn = mission_id_for("demo-eng-sn-1")
    await use_cases.mark_follow_up_done(
        runtime, STAFF, sn, stage="start", done_on=today - timedelta(days=20), notes="Settled in well."
    )
    await use_cases.report_incident(
        runtime,
        STAFF,
        mission_id_for("demo-eng-sn-2"),
        category="health",
        severity="high",
        description="Malaria symptoms, seen by a doctor.",
    )
    alert = await use_cases.issue_security_alert(
        runtime, STAFF, country="SN", level="vigilance", message="Demonstrations in Dakar.", respond_within_hours=24
    )
    await use_cases.respond_to_safety_check(runtime, STAFF, alert["alert_id"], sn, "safe")
    await use_cases.close_safety_check(runtime, STAFF, alert["alert_id"])
