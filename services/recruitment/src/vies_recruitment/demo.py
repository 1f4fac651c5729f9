"""Demo data for ``make run`` (``VIES_DEMO_DATA=true``): fixed ids, seeded through the use cases, idempotent.

The partners service seeds the same authorities, partners, partnerships and
sending organisation (same ids) and publishes their events; as recruitment may
start before those events arrive, the projection documents are created here
too, insert-only, so the events overwrite them when they come.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from vies_recruitment import store, use_cases
from vies_recruitment.domain.person import SELF
from vies_recruitment.schemas import ApplicationIn, CandidateIn, EngagementIn, PositionIn
from vies_recruitment.settings import RecruitmentSettings
from vies_shared.errors import DomainError
from vies_shared.logging import get_logger
from vies_shared.service import Runtime
from vies_shared.web import Principal

STAFF = Principal(sub="demo-seed", role="staff")
log = get_logger(component="demo")

AUTHORITIES = {
    "aut-demo-ara": ("Région Auvergne-Rhône-Alpes", "FR-ARA"),
    "aut-demo-lyon": ("Métropole de Lyon", "FR-ARA"),
    "aut-demo-saint-denis": ("Ville de Saint-Denis de La Réunion", "FR-974"),
}
PARTNERS = {"par-demo-sn-ziguinchor": "SN", "par-demo-mg-majunga": "MG", "par-demo-vn-hue": "VN"}
PARTNERSHIPS = {
    "pship-demo-ara-ziguinchor": ("aut-demo-ara", "par-demo-sn-ziguinchor", "SN"),
    "pship-demo-reunion-majunga": ("aut-demo-saint-denis", "par-demo-mg-majunga", "MG"),
    "pship-demo-lyon-hue": ("aut-demo-lyon", "par-demo-vn-hue", "VN"),
}
ORGANISATION = "org-demo-dcc"

# (id, body, publish, close reason)
POSITIONS: list[tuple[str, dict[str, Any], bool, str | None]] = [
    (
        "pos-demo-vsi-ziguinchor",
        {
            "partnership_id": "pship-demo-ara-ziguinchor",
            "scheme": "vsi",
            "title": "Coordinateur·rice santé communautaire",
            "description": "Appui au district sanitaire de Ziguinchor : prévention, formation des relais.",
            "starts_on": date(2027, 1, 4),
            "duration_months": 12,
            "places": 2,
            "languages": ["fr", "wo"],
            "skills": ["public health", "training"],
            "sending_organisation_id": ORGANISATION,
        },
        True,
        None,
    ),
    (
        "pos-demo-sc-majunga",
        {
            "partnership_id": "pship-demo-reunion-majunga",
            "scheme": "service_civique",
            "title": "Sensibilisation à la protection des mangroves",
            "description": "Animations dans les écoles de Mahajanga avec la Région Boeny.",
            "starts_on": date(2027, 2, 1),
            "duration_months": 8,
            "places": 3,
            "languages": ["fr"],
            "skills": ["education", "environment"],
        },
        True,
        None,
    ),
    (
        "pos-demo-rec-ziguinchor",
        {
            "partnership_id": "pship-demo-ara-ziguinchor",
            "scheme": "reciprocity",
            "title": "Volontaire de Ziguinchor accueilli à Lyon",
            "description": "Mission en réciprocité au service des relations internationales de la Région.",
            "starts_on": date(2027, 3, 1),
            "duration_months": 12,
            "places": 1,
            "languages": ["fr"],
            "skills": ["communication"],
        },
        True,
        None,
    ),
    (
        "pos-demo-jsi-majunga",
        {
            "partnership_id": "pship-demo-reunion-majunga",
            "scheme": "jsi_vvvsi",
            "title": "Chantier jeunes : rénovation d'une école",
            "description": "Projet de 15 jours pour un groupe de jeunes réunionnais.",
            "starts_on": date(2027, 7, 5),
            "duration_months": 1,
            "duration_days": 15,
            "action_days": 10,
            "sponsor": "Association marraine de démonstration",
            "places": 8,
            "languages": ["fr"],
            "skills": [],
        },
        True,
        None,
    ),
    (
        "pos-demo-vec-hue",
        {
            "partnership_id": "pship-demo-lyon-hue",
            "scheme": "vec",
            "title": "Appui à la conservation du patrimoine de Hué",
            "description": "Mission de compétences pour un·e architecte du patrimoine.",
            "starts_on": date(2027, 4, 1),
            "duration_months": 4,
            "places": 1,
            "languages": ["fr", "en"],
            "skills": ["architecture", "heritage"],
        },
        False,
        None,
    ),
    (
        "pos-demo-sc-cancelled",
        {
            "partnership_id": "pship-demo-ara-ziguinchor",
            "scheme": "service_civique",
            "title": "Appui aux cantines scolaires",
            "description": "Poste annulé faute de tuteur disponible.",
            "starts_on": date(2027, 1, 4),
            "duration_months": 6,
            "places": 1,
        },
        True,
        "pas de tuteur disponible",
    ),
]

# (application id, candidate, status to reach) — every state on the VSI position
APPLICATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("app-demo-screened", {"name": "Camille Roux", "birth_date": date(1996, 4, 2)}, "screened"),
    ("app-demo-shortlisted", {"name": "Léa Bernard", "birth_date": date(1994, 9, 12)}, "shortlisted"),
    ("app-demo-interview", {"name": "Hugo Lefèvre", "birth_date": date(1990, 1, 30)}, "interview_scheduled"),
    ("app-demo-selected", {"name": "Inès Moreau", "birth_date": date(1998, 6, 18)}, "selected"),
    ("app-demo-engaged", {"name": "Thomas Girard", "birth_date": date(1988, 11, 5)}, "engaged"),
    ("app-demo-rejected", {"name": "Manon Petit", "birth_date": date(1999, 2, 24)}, "rejected"),
    ("app-demo-withdrawn", {"name": "Nathan Faure", "birth_date": date(1993, 8, 9)}, "withdrawn"),
    (
        "app-demo-ineligible",
        {"name": "Awa Sarr", "birth_date": date(1997, 3, 3), "nationality": "SN", "residence_country": "SN"},
        "ineligible",
    ),
]
PIPELINE = ["screened", "shortlisted", "interview_scheduled", "selected", "engaged"]


async def _projections(runtime: Runtime[RecruitmentSettings]) -> None:
    """Directory records the partners service also publishes (insert-only: its events win)."""
    db = runtime.db

    async def insert(collection: str, record_id: str, fields: dict[str, Any]) -> None:
        await db[collection].update_one({"_id": record_id}, {"$setOnInsert": fields}, upsert=True)

    for authority_id, (name, region) in AUTHORITIES.items():
        await insert(store.AUTHORITIES, authority_id, {"name": name, "region": region})
    for partner_id, country in PARTNERS.items():
        await insert(store.PARTNERS, partner_id, {"status": "approved", "country": country})
    for partnership_id, (authority_id, partner_id, country) in PARTNERSHIPS.items():
        fields = {"authority_id": authority_id, "partner_id": partner_id, "country": country, "status": "active"}
        await insert(store.PARTNERSHIPS, partnership_id, fields)
    await insert(
        store.SENDING_ORGANISATIONS,
        ORGANISATION,
        {
            "name": "Délégation catholique pour la coopération (demo)",
            "approved_from": "2024-01-01",
            "approved_until": "2027-12-31",
        },
    )


# The person behind the missions service's demo mission in Senegal (volunteer demo-vol-1, signing in as
# chloe.volunteer): engaged before the platform, so no application made her record. Insert-only.
DEMO_VOLUNTEER = (
    "demo-vol-1",
    {
        "name": "Chloé Garnier",
        "email": "chloe.volunteer@vies.local",
        "email_key": "chloe.volunteer@vies.local",
        "phone": None,
        "birth_date": "2001-05-14",
        "nationality": "FR",
        "residence_country": "FR",
        "language": "fr",
        "languages": ["fr", "wo"],
        "skills": ["agronomy"],
        "origin": SELF,
    },
)


async def _exists(runtime: Runtime[RecruitmentSettings], collection: str, record_id: str) -> bool:
    return await runtime.db[collection].find_one({"_id": record_id}, {"_id": 1}) is not None


async def _advance(runtime: Runtime[RecruitmentSettings], application_id: str, target: str) -> None:
    if target == "rejected":
        await use_cases.reject(runtime, STAFF, application_id, "profil trop éloigné du poste")
        return
    if target == "withdrawn":
        await use_cases.withdraw(runtime, STAFF, application_id)
        return
    if target not in PIPELINE:
        return
    for step in PIPELINE[1 : PIPELINE.index(target) + 1]:
        if step == "shortlisted":
            await use_cases.shortlist(runtime, STAFF, application_id)
        elif step == "interview_scheduled":
            at = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
            await use_cases.schedule_interview(runtime, STAFF, application_id, at)
        elif step == "selected":
            await use_cases.select(runtime, STAFF, application_id)
        elif step == "engaged":
            contract = EngagementIn(starts_on=date(2027, 1, 4), ends_on=date(2027, 12, 31))
            await use_cases.engage(runtime, STAFF, application_id, contract)


async def seed(runtime: Runtime[RecruitmentSettings]) -> None:
    """Create the demo records that do not exist yet; a failure is logged, never fatal at start-up."""
    try:
        await _projections(runtime)
        volunteer_id, volunteer = DEMO_VOLUNTEER
        await runtime.db[store.PERSONS].update_one({"_id": volunteer_id}, {"$setOnInsert": volunteer}, upsert=True)
        for position_id, body, publish, close_reason in POSITIONS:
            if await _exists(runtime, store.POSITIONS, position_id):
                continue
            await use_cases.create_position(runtime, STAFF, PositionIn(**body), position_id=position_id)
            if publish:
                await use_cases.publish_position(runtime, STAFF, position_id)
            if close_reason:
                await use_cases.close_position(runtime, STAFF, position_id, close_reason)
        for index, (application_id, person, target) in enumerate(APPLICATIONS, start=1):
            if await _exists(runtime, store.APPLICATIONS, application_id):
                continue
            first = person["name"].split()[0].lower()
            profile = CandidateIn(
                email=f"{first}.demo{index}@example.org",
                nationality=person.get("nationality", "FR"),
                residence_country=person.get("residence_country", "FR"),
                languages=["fr", "wo"] if index % 2 else ["fr"],
                skills=["public health"] if index % 3 else ["training", "public health"],
                **{k: v for k, v in person.items() if k in ("name", "birth_date")},
            )
            candidate = Principal(sub=f"cand-demo-{index}", role="candidate", email=profile.email, email_verified=True)
            application = ApplicationIn(
                candidate=profile, motivation="Je souhaite m'engager dans la santé communautaire."
            )
            await use_cases.apply(
                runtime, candidate, "pos-demo-vsi-ziguinchor", application, application_id=application_id
            )
            await _advance(runtime, application_id, target)
    except DomainError as exc:
        log.warning("demo_seed_incomplete", error=exc.message)
