"""The reviewed authorization table: who may call what, in their own scope and outside it.

One row per endpoint. Each role's expectation is a pair (own scope, foreign scope):
``OK`` passes authorization (2xx, or 409/422 about the record's state), a number is
the status of the refusal. Staff may do everything unless a row says otherwise.

The scopes (see ``OWN`` and ``FOREIGN``): an authority acts for ``aut-demo-ara``
(region FR-ARA), whose partnership with ``par-demo-sn-ziguinchor`` (Senegal) holds the
position, applications and missions the rows use; the Senegal centre, the FR-ARA
branch, that partner, the candidate who applied and the volunteer on the mission
are "own"; their counterparts elsewhere are "foreign".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import httpx

ROLES: Final = ("staff", "authority", "candidate", "volunteer", "partner", "centre", "branch")
OK: Final = "ok"


@dataclass(frozen=True)
class Expect:
    """What a role gets in its own scope and in a foreign one."""

    own: Any
    foreign: Any


ALLOW = Expect(OK, OK)  # any caller of this role, whatever its scope
SCOPED = Expect(OK, 403)  # own scope only
HIDDEN = Expect(OK, 404)  # own scope only; outside it the record does not exist for the caller
DENY = Expect(403, 403)  # not this role


def _staff_only() -> dict[str, Expect]:
    return {role: DENY for role in ROLES if role != "staff"}


def _roles(default: Expect = DENY, **roles: Expect) -> dict[str, Expect]:
    return {**{role: default for role in ROLES if role != "staff"}, **roles}


# The engagement-based demo mission in Senegal (volunteer demo-vol-1, authority aut-demo-ara).
SN_ENGAGEMENT = "demo-eng-sn-1"
OWN_CANDIDATE = "cand-demo-5"  # applied to pos-demo-vsi-ziguinchor (app-demo-engaged)

OWN: Final[dict[str, dict[str, Any]]] = {
    "staff": {"sub": "matrix-staff"},
    "authority": {"sub": "matrix-officer-ara", "authority_id": "aut-demo-ara", "region": "FR-ARA"},
    "candidate": {"sub": OWN_CANDIDATE, "email": "thomas.demo5@example.org"},
    "volunteer": {"sub": OWN_CANDIDATE, "email": "thomas.demo5@example.org"},
    "partner": {"sub": "matrix-partner-sn", "partner_id": "par-demo-sn-ziguinchor"},
    "centre": {"sub": "matrix-centre-sn", "country": "SN"},
    "branch": {"sub": "matrix-branch-ara", "region": "FR-ARA"},
}
FOREIGN: Final[dict[str, dict[str, Any]]] = {
    "staff": {"sub": "matrix-staff"},
    "authority": {"sub": "matrix-officer-974", "authority_id": "aut-demo-saint-denis", "region": "FR-974"},
    "candidate": {"sub": "matrix-candidate-other", "email": "other.candidate@example.org"},
    "volunteer": {"sub": "demo-vol-6", "email": "other.volunteer@example.org"},
    "partner": {"sub": "matrix-partner-mg", "partner_id": "par-demo-mg-majunga"},
    "centre": {"sub": "matrix-centre-mg", "country": "MG"},
    "branch": {"sub": "matrix-branch-974", "region": "FR-974"},
}
# In missions the volunteer is the one the demo engagement sent to Senegal.
OWN_BY_SERVICE: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("missions", "volunteer"): {"sub": "demo-vol-1", "email": "demo-vol-1@example.org"},
}


def scope_claims(role: str, scope: str, service: str) -> dict[str, Any]:
    """The token claims of ``role`` in ``scope`` (own or foreign) for calls to ``service``."""
    if scope == "own":
        return dict(OWN_BY_SERVICE.get((service, role), OWN[role]))
    return dict(FOREIGN[role])


@dataclass(frozen=True)
class Row:
    """One endpoint: expectations per role, and how to call it."""

    expect: dict[str, Expect]
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    path_values: dict[str, str] = field(default_factory=dict)
    staff: Any = OK
    anonymous: Any = 401
    """What a call without any token gets: 401, or ``OK`` for a public endpoint (a bad token is still 401)."""
    late: int = 0
    """Rows that destroy what others use (erasure, ending a mission) run last."""

    def expected(self, role: str, scope: str) -> Any:
        """The expected outcome for ``role`` in ``scope``."""
        if role == "staff":
            return self.staff
        expect = self.expect[role]
        return expect.own if scope == "own" else expect.foreign

    def path_for(self, template: str, context: dict[str, str]) -> str:
        """The concrete path, with the ids of the prepared records."""
        return template.format(**{**context, **self.path_values})

    def body_for(self, context: dict[str, str]) -> Any:
        """The request body, with the ids of the prepared records."""
        if callable(self.body):
            return self.body(context)
        return self.body


CANDIDATE_BODY = {
    "candidate": {
        "name": "Thomas Girard",
        "email": "thomas.demo5@example.org",
        "birth_date": "1996-05-04",
        "nationality": "FR",
        "residence_country": "FR",
    },
    "motivation": "matrix",
}
REASON = {"reason": "authorization matrix"}

ROWS: dict[tuple[str, str, str], Row] = {
    # ------------------------------------------------------------------ recruitment
    ("recruitment", "POST", "/positions"): Row(
        _roles(authority=SCOPED),
        body={
            "partnership_id": "pship-demo-ara-ziguinchor",
            "scheme": "vsi",
            "title": "Matrix position",
            "starts_on": "2027-06-01",
            "duration_months": 12,
            "places": 1,
        },
    ),
    # Published positions are public: every signed-in person, and a portal's anonymous visitors
    # (published ones only, without internal fields).
    ("recruitment", "GET", "/positions"): Row(_roles(ALLOW), anonymous=OK),
    ("recruitment", "GET", "/positions/{position_id}"): Row(_roles(ALLOW), anonymous=OK),
    # A draft is corrected by its authority (a published one answers 409, a business refusal).
    ("recruitment", "PATCH", "/positions/{position_id}"): Row(_roles(authority=SCOPED), body={"places": 1}),
    ("recruitment", "POST", "/positions/{position_id}/publish"): Row(_roles(authority=SCOPED)),
    ("recruitment", "POST", "/positions/{position_id}/close"): Row(_roles(authority=SCOPED), body=REASON, late=1),
    # Anyone with a candidate account may apply; the application is theirs.
    ("recruitment", "POST", "/positions/{position_id}/applications"): Row(_roles(candidate=ALLOW), body=CANDIDATE_BODY),
    ("recruitment", "GET", "/positions/{position_id}/applications"): Row(_roles(authority=SCOPED, branch=SCOPED)),
    # Lists answer with what the caller may see (a candidate: its own applications).
    ("recruitment", "GET", "/applications"): Row(_roles(authority=ALLOW, candidate=ALLOW, branch=ALLOW)),
    ("recruitment", "GET", "/applications/{application_id}"): Row(
        _roles(authority=SCOPED, candidate=SCOPED, branch=SCOPED)
    ),
    ("recruitment", "POST", "/applications/{application_id}/shortlist"): Row(_roles(authority=SCOPED)),
    ("recruitment", "POST", "/applications/{application_id}/interview"): Row(
        _roles(authority=SCOPED), body={"at": "2027-01-12T10:00:00Z"}
    ),
    ("recruitment", "POST", "/applications/{application_id}/select"): Row(_roles(authority=SCOPED)),
    ("recruitment", "POST", "/applications/{application_id}/reject"): Row(_roles(authority=SCOPED), body=REASON),
    ("recruitment", "POST", "/applications/{application_id}/withdraw"): Row(_roles(candidate=SCOPED)),
    # The recruiting authority (and staff) confirms what a candidate declared, having seen the papers.
    ("recruitment", "POST", "/applications/{application_id}/declarations/confirm"): Row(
        _roles(authority=SCOPED), body={"facts": ["vsi_months_served_elsewhere"]}
    ),
    ("recruitment", "POST", "/applications/{application_id}/engage"): Row(
        _roles(authority=SCOPED), body={"starts_on": "2027-02-01", "ends_on": "2027-12-31"}
    ),
    # A person reads and corrects their own contact data, nobody else's.
    ("recruitment", "GET", "/persons/{person_id}"): Row(_roles(candidate=SCOPED, volunteer=SCOPED)),
    ("recruitment", "PATCH", "/persons/{person_id}"): Row(
        _roles(candidate=SCOPED, volunteer=SCOPED), body={"phone": "+33612345678"}
    ),
    ("recruitment", "DELETE", "/persons/{person_id}"): Row(_staff_only(), late=2),
    # A candidate asks for their own erasure (the own one is engaged: 409); staff erase with DELETE.
    ("recruitment", "POST", "/persons/{person_id}/erasure-request"): Row(_roles(candidate=SCOPED), staff=403, late=2),
    # Public guidance: which scheme fits a project, for anyone (a prospective authority or candidate).
    ("recruitment", "GET", "/schemes"): Row(_roles(ALLOW), anonymous=OK),
    # Public: a portal's anonymous visitors check their eligibility (limited per client address).
    ("recruitment", "POST", "/eligibility-checks"): Row(
        _roles(ALLOW),
        anonymous=OK,
        body={
            "birth_date": "1996-05-04",
            "nationality": "FR",
            "residence_country": "FR",
            "destination_country": "SN",
            "starts_on": "2027-06-01",
            "duration_months": 12,
        },
    ),
    # ------------------------------------------------------------------ partners
    # An authority registers itself, a branch the authorities of its region.
    ("partners", "POST", "/authorities"): Row(
        _roles(authority=SCOPED, branch=SCOPED),
        body={
            "name": "Matrix department",
            "kind": "department",
            "region": "FR-ARA",
            "contact": {"name": "Anne Martin", "email": "international@matrix.example.fr"},
        },
    ),
    ("partners", "GET", "/authorities"): Row(_roles(authority=ALLOW, branch=ALLOW)),
    ("partners", "GET", "/authorities/{authority_id}"): Row(_roles(authority=SCOPED, branch=SCOPED)),
    # The authority corrects its own record, the branch of its region too (the enrolment: branch only).
    ("partners", "PATCH", "/authorities/{authority_id}"): Row(
        _roles(authority=SCOPED, branch=SCOPED), body={"new_to_cooperation": True}
    ),
    ("partners", "GET", "/authorities/{authority_id}/journey"): Row(_roles(authority=SCOPED, branch=SCOPED)),
    ("partners", "GET", "/journeys/stalled"): Row(_roles(branch=ALLOW)),
    ("partners", "GET", "/programme/indicators"): Row(_roles(branch=ALLOW)),
    # An authority may propose a partner anywhere; a centre only in its country.
    ("partners", "POST", "/partners"): Row(
        _roles(centre=SCOPED, authority=ALLOW),
        body={
            "name": "Matrix partner",
            "kind": "association",
            "country": "SN",
            "city": "Thiès",
            "themes": ["health"],
            "languages": ["fr"],
            "hosting_capacity": 1,
        },
    ),
    # The directory: approved partners for the network; a partner sees its own record only.
    ("partners", "GET", "/partners"): Row(_roles(ALLOW, candidate=DENY, volunteer=DENY)),
    ("partners", "GET", "/partners/{partner_id}"): Row(_roles(ALLOW, candidate=DENY, volunteer=DENY, partner=SCOPED)),
    # A partner keeps its own entry up to date, the centre of its country too.
    ("partners", "PATCH", "/partners/{partner_id}"): Row(
        _roles(partner=SCOPED, centre=SCOPED), body={"hosting_capacity": 3}
    ),
    ("partners", "POST", "/partners/{partner_id}/approve"): Row(_roles(centre=SCOPED), body={}),
    ("partners", "POST", "/partners/{partner_id}/reject"): Row(_roles(centre=SCOPED), body=REASON),
    ("partners", "POST", "/partners/{partner_id}/suspend"): Row(_roles(centre=SCOPED), body=REASON, late=1),
    ("partners", "POST", "/partners/{partner_id}/reinstate"): Row(_staff_only(), body={}, late=1),
    ("partners", "POST", "/match-requests"): Row(
        _roles(authority=SCOPED),
        body={"authority_id": "aut-demo-ara", "countries": ["SN"], "themes": ["health"]},
    ),
    ("partners", "GET", "/match-requests/{request_id}"): Row(_roles(authority=SCOPED, branch=SCOPED)),
    ("partners", "POST", "/partnerships"): Row(
        _roles(authority=SCOPED),
        body={
            "authority_id": "aut-demo-ara",
            "partner_id": "par-demo-sn-ziguinchor",
            "themes": ["health"],
            "starts_on": "2027-01-01",
        },
    ),
    ("partners", "GET", "/partnerships"): Row(_roles(authority=ALLOW, centre=ALLOW, branch=ALLOW)),
    ("partners", "GET", "/partnerships/{partnership_id}"): Row(_roles(authority=SCOPED, branch=SCOPED, centre=SCOPED)),
    ("partners", "POST", "/partnerships/{partnership_id}/end"): Row(_roles(authority=SCOPED), body=REASON, late=1),
    ("partners", "POST", "/sending-organisations"): Row(_staff_only(), body={"name": "Matrix organisation"}),
    ("partners", "GET", "/sending-organisations"): Row(_roles(authority=ALLOW, centre=ALLOW, branch=ALLOW)),
    ("partners", "GET", "/sending-organisations/{organisation_id}"): Row(
        _roles(authority=ALLOW, centre=ALLOW, branch=ALLOW)
    ),
    ("partners", "POST", "/sending-organisations/{organisation_id}/approval"): Row(
        _staff_only(),
        body={"approval_number": "MATRIX-1", "approved_from": "2026-01-01", "approved_until": "2028-12-31"},
    ),
    # ------------------------------------------------------------------ missions
    # Lists answer with what the caller may see; a host partner sees the missions it hosts.
    ("missions", "GET", "/missions"): Row(_roles(ALLOW, candidate=DENY)),
    ("missions", "GET", "/missions/{mission_id}"): Row(
        _roles(authority=SCOPED, volunteer=SCOPED, partner=SCOPED, centre=SCOPED, branch=SCOPED)
    ),
    # Visa and insurance are certified by the centre, never ticked by the volunteer.
    ("missions", "POST", "/missions/{mission_id}/checklist"): Row(
        _roles(centre=SCOPED), body={"item": "visa", "done_on": "2026-10-01"}
    ),
    ("missions", "POST", "/missions/{mission_id}/start"): Row(
        _roles(centre=SCOPED), body={"departed_on": "2026-10-02"}
    ),
    ("missions", "POST", "/missions/{mission_id}/extend"): Row(_roles(centre=SCOPED), body={"ends_on": "2027-12-31"}),
    ("missions", "POST", "/missions/{mission_id}/end"): Row(
        _roles(centre=SCOPED), body={"ended_on": "2026-12-01", "debrief": "matrix"}, late=1
    ),
    ("missions", "POST", "/missions/{mission_id}/interrupt"): Row(
        _roles(centre=SCOPED), body={"reason": "health"}, late=1
    ),
    ("missions", "GET", "/missions/{mission_id}/follow-ups"): Row(
        _roles(authority=SCOPED, centre=SCOPED, branch=SCOPED, volunteer=SCOPED)
    ),
    # Whom the volunteer turns to (centre and its emergency number, host partner, authority): who reads the mission.
    ("missions", "GET", "/missions/{mission_id}/contacts"): Row(
        _roles(authority=SCOPED, centre=SCOPED, branch=SCOPED, volunteer=SCOPED)
    ),
    ("missions", "POST", "/missions/{mission_id}/follow-ups/{stage}/done"): Row(
        _roles(centre=SCOPED), body={"done_on": "2026-11-20"}, path_values={"stage": "mid"}
    ),
    ("missions", "GET", "/follow-ups"): Row(
        _roles(ALLOW, candidate=DENY, partner=DENY), query={"due_before": "2027-12-31"}
    ),
    # End of mission: the volunteer's own report; the authority's evaluation once the mission is over.
    ("missions", "PUT", "/missions/{mission_id}/volunteer-report"): Row(
        _roles(volunteer=SCOPED), body={"text": "matrix"}
    ),
    ("missions", "PUT", "/missions/{mission_id}/evaluation"): Row(
        _roles(authority=SCOPED),
        body={"objectives_met": 4, "host_partner": 4, "volunteer_support": 4, "would_host_again": True},
    ),
    ("missions", "GET", "/missions/{mission_id}/end-of-mission"): Row(
        _roles(authority=SCOPED, volunteer=SCOPED, centre=SCOPED, branch=SCOPED)
    ),
    # The end-of-mission certificate (PDF): the volunteer, the mission's authority and staff only.
    ("missions", "GET", "/missions/{mission_id}/certificate"): Row(_roles(authority=SCOPED, volunteer=SCOPED)),
    # Where the volunteer is: the volunteer on moving, or the centre of the country.
    ("missions", "PUT", "/missions/{mission_id}/place"): Row(
        _roles(volunteer=SCOPED, centre=SCOPED), body={"city": "Dakar", "subdivision": "SN-DK"}
    ),
    ("missions", "POST", "/missions/{mission_id}/check-ins"): Row(
        _roles(volunteer=SCOPED, centre=SCOPED), body={"status": "ok"}
    ),
    ("missions", "POST", "/missions/{mission_id}/check-in-interval"): Row(_roles(centre=SCOPED), body={"days": 7}),
    ("missions", "GET", "/missions/{mission_id}/check-ins"): Row(
        _roles(authority=SCOPED, volunteer=SCOPED, centre=SCOPED, branch=SCOPED)
    ),
    ("missions", "POST", "/missions/{mission_id}/incidents"): Row(
        _roles(volunteer=SCOPED, centre=SCOPED),
        body={"category": "health", "severity": "low", "description": "matrix"},
    ),
    ("missions", "GET", "/missions/{mission_id}/incidents"): Row(
        _roles(authority=SCOPED, volunteer=SCOPED, centre=SCOPED, branch=SCOPED)
    ),
    ("missions", "GET", "/incidents"): Row(_roles(ALLOW, candidate=DENY, partner=DENY)),
    ("missions", "GET", "/incidents/{incident_id}"): Row(
        _roles(authority=SCOPED, volunteer=SCOPED, centre=SCOPED, branch=SCOPED)
    ),
    ("missions", "POST", "/incidents/{incident_id}/acknowledge"): Row(_roles(centre=SCOPED)),
    ("missions", "POST", "/incidents/{incident_id}/resolve"): Row(
        _roles(centre=SCOPED), body={"resolution": "matrix"}, late=1
    ),
    ("missions", "POST", "/security-alerts"): Row(
        _roles(centre=SCOPED),
        body={"country": "SN", "level": "vigilance", "message": "matrix", "respond_within_hours": 24},
    ),
    ("missions", "GET", "/security-alerts"): Row(_roles(authority=ALLOW, centre=ALLOW, branch=ALLOW)),
    # A country-wide alert: authorities and branches follow it, seeing only their own volunteers in it.
    ("missions", "GET", "/security-alerts/{alert_id}"): Row(_roles(centre=SCOPED, branch=ALLOW, authority=ALLOW)),
    ("missions", "POST", "/security-alerts/{alert_id}/responses"): Row(
        _roles(volunteer=SCOPED, centre=SCOPED),
        body=lambda context: {"mission_id": context["mission_id"], "status": "safe"},
    ),
    ("missions", "GET", "/missions/{mission_id}/safety-checks"): Row(
        _roles(authority=SCOPED, volunteer=SCOPED, centre=SCOPED, branch=SCOPED)
    ),
    ("missions", "POST", "/security-alerts/{alert_id}/close"): Row(_roles(centre=SCOPED), late=1),
    # The one-tap safety answer link: public, the token in the path is the only right (a bearer token adds
    # none); a token that is not one of ours is 404 for everyone (a bad bearer token is still a 401).
    ("missions", "GET", "/safety-links/{token}"): Row(
        _roles(Expect(404, 404)), staff=404, anonymous=404, path_values={"token": "not-a-safety-link"}
    ),
    ("missions", "POST", "/safety-links/{token}/answer"): Row(
        _roles(Expect(404, 404)),
        staff=404,
        anonymous=404,
        path_values={"token": "not-a-safety-link"},
        body={"status": "safe"},
    ),
    # ------------------------------------------------------------------ notifications
    ("notifications", "PUT", "/preferences/{person_id}"): Row(
        _roles(candidate=SCOPED, volunteer=SCOPED), body={"language": "fr"}
    ),
    ("notifications", "GET", "/preferences/{person_id}"): Row(_roles(candidate=SCOPED, volunteer=SCOPED)),
    ("notifications", "POST", "/subscriptions"): Row(
        _roles(branch=ALLOW),
        body={"url": "https://127.0.0.1:9/hook", "event_types": ["missions.MissionStarted"]},
    ),
    ("notifications", "GET", "/subscriptions"): Row(_roles(branch=ALLOW)),
    # Its owner deletes it first (refusals, then allowed calls, then staff), so staff finds nothing.
    ("notifications", "DELETE", "/subscriptions/{subscription_id}"): Row(_roles(branch=SCOPED), late=2, staff=404),
    ("notifications", "GET", "/notifications"): Row(_roles(branch=ALLOW)),
    ("notifications", "GET", "/notifications/{notification_id}"): Row(_roles(branch=SCOPED)),
    ("notifications", "GET", "/templates"): Row(_roles(centre=ALLOW, branch=ALLOW)),
    ("notifications", "GET", "/templates/{name}/preview"): Row(
        _roles(centre=ALLOW, branch=ALLOW), path_values={"name": "security_alert"}
    ),
}
# Every service's own dead letters (vies_shared.messaging.dead_letter_api): staff only; an unknown ref is a 404.
for _service in ("recruitment", "partners", "missions", "notifications"):
    ROWS[(_service, "GET", "/dead-letters")] = Row(_staff_only())
    ROWS[(_service, "GET", "/dead-letters/{ref}")] = Row(_staff_only(), path_values={"ref": "0:999999"}, staff=404)
    ROWS[(_service, "POST", "/dead-letters/replay")] = Row(_staff_only(), body={"refs": ["0:999999"]}, staff=404)


async def prepare(platform: Any) -> dict[str, str]:
    """The ids the rows use: demo records, plus a few records made here (an open alert, an incident...)."""
    cached: dict[str, str] | None = getattr(platform, "_authz_context", None)
    if cached is not None:
        return cached
    from vies_missions.domain.mission import mission_id_for

    staff = platform.auth("staff", "matrix-staff")
    mission_id = mission_id_for(SN_ENGAGEMENT)
    context = {
        "position_id": "pos-demo-vsi-ziguinchor",
        "application_id": "app-demo-engaged",
        "person_id": OWN_CANDIDATE,
        "authority_id": "aut-demo-ara",
        "partner_id": "par-demo-sn-ziguinchor",
        "partnership_id": "pship-demo-ara-ziguinchor",
        "organisation_id": "org-demo-dcc",
        "mission_id": mission_id,
        "stage": "mid",
        "name": "security_alert",
    }
    async with httpx.AsyncClient(timeout=30) as http:

        async def call(service: str, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
            r = await http.request(method, platform.url(service) + path, headers=headers, **kw)
            assert r.status_code < 300, f"preparing the matrix: {method} {path}: {r.status_code} {r.text}"
            return r.json()

        incident = await call(
            "missions",
            "POST",
            f"/missions/{mission_id}/incidents",
            staff,
            json={"category": "health", "severity": "low", "description": "matrix"},
        )
        context["incident_id"] = incident["incident_id"]
        alert = await call(
            "missions",
            "POST",
            "/security-alerts",
            staff,
            json={"country": "SN", "level": "vigilance", "message": "matrix", "respond_within_hours": 24},
        )
        context["alert_id"] = alert["alert_id"]
        match = await call(
            "partners",
            "POST",
            "/match-requests",
            staff,
            json={"authority_id": "aut-demo-ara", "countries": ["SN"], "themes": ["health"]},
        )
        context["request_id"] = match["request_id"]
        branch = platform.auth("branch", **OWN["branch"])
        subscription = await call(
            "notifications",
            "POST",
            "/subscriptions",
            branch,
            json={"url": "https://127.0.0.1:9/hook", "event_types": ["missions.MissionStarted"]},
        )
        context["subscription_id"] = subscription["subscription_id"]
        log = await call("notifications", "GET", "/notifications", staff, params={"region": "FR-ARA", "limit": 1})
        assert log["items"], "no notification in FR-ARA yet"
        context["notification_id"] = log["items"][0]["notification_id"]
    platform._authz_context = context
    return context
