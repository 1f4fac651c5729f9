"""Demo data for ``make run`` (``VIES_DEMO_DATA=true``): fixed ids, seeded through the use cases, idempotent."""

from __future__ import annotations

from datetime import date
from typing import Any

from vies_partners import store, use_cases
from vies_partners.schemas import AuthorityIn, Contact, PartnerIn, PartnershipIn, SendingOrganisationIn
from vies_partners.settings import PartnersSettings
from vies_shared.service import Runtime
from vies_shared.web import Principal

STAFF = Principal(sub="demo-seed", role="staff")

AUTHORITIES: list[tuple[str, dict[str, Any]]] = [
    (
        "aut-demo-ara",
        {
            "name": "Région Auvergne-Rhône-Alpes",
            "kind": "region",
            "region": "FR-ARA",
            "territoires_volontaires": True,
            "new_to_cooperation": False,
        },
    ),
    (
        "aut-demo-lyon",
        {
            "name": "Métropole de Lyon",
            "kind": "intercommunality",
            "region": "FR-ARA",
            "territoires_volontaires": False,
            "new_to_cooperation": False,
        },
    ),
    (
        "aut-demo-finistere",
        {
            "name": "Département du Finistère",
            "kind": "department",
            "region": "FR-BRE",
            "territoires_volontaires": True,
            "new_to_cooperation": True,
        },
    ),
    (
        "aut-demo-saint-denis",
        {
            "name": "Ville de Saint-Denis de La Réunion",
            "kind": "commune",
            "region": "FR-974",
            "territoires_volontaires": True,
            "new_to_cooperation": True,
        },
    ),
    (
        "aut-demo-cayenne",
        {
            "name": "Communauté d'agglomération du Centre Littoral",
            "kind": "intercommunality",
            "region": "FR-973",
            "territoires_volontaires": True,
            "new_to_cooperation": True,
        },
    ),
    (
        "aut-demo-occitanie",
        {
            "name": "Commune de Figeac",
            "kind": "commune",
            "region": "FR-OCC",
            "territoires_volontaires": False,
            "new_to_cooperation": True,
        },
    ),
]

# (id, status, fields)
PARTNERS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "par-demo-sn-ziguinchor",
        "approved",
        {
            "name": "Commune de Ziguinchor",
            "kind": "local_authority",
            "country": "SN",
            "city": "Ziguinchor",
            "themes": ["health", "water_sanitation"],
            "languages": ["fr", "wo"],
            "hosting_capacity": 3,
            "reciprocity": True,
        },
    ),
    (
        "par-demo-bf-koudougou",
        "approved",
        {
            "name": "Association Yelemani",
            "kind": "association",
            "country": "BF",
            "city": "Koudougou",
            "themes": ["agriculture_food", "gender_equality"],
            "languages": ["fr"],
            "hosting_capacity": 2,
            "reciprocity": False,
        },
    ),
    (
        "par-demo-mg-majunga",
        "approved",
        {
            "name": "Région Boeny",
            "kind": "local_authority",
            "country": "MG",
            "city": "Mahajanga",
            "themes": ["environment_climate", "education"],
            "languages": ["fr", "mg"],
            "hosting_capacity": 2,
            "reciprocity": True,
        },
    ),
    (
        "par-demo-bj-abomey",
        "pending",
        {
            "name": "Mairie d'Abomey",
            "kind": "local_authority",
            "country": "BJ",
            "city": "Abomey",
            "themes": ["culture_heritage"],
            "languages": ["fr"],
            "hosting_capacity": 1,
            "reciprocity": False,
        },
    ),
    (
        "par-demo-ma-agadir",
        "approved",
        {
            "name": "Association Tamount",
            "kind": "ngo",
            "country": "MA",
            "city": "Agadir",
            "themes": ["youth_sport", "education"],
            "languages": ["fr", "ar"],
            "hosting_capacity": 4,
            "reciprocity": True,
        },
    ),
    (
        "par-demo-vn-hue",
        "approved",
        {
            "name": "Hue City People's Committee",
            "kind": "local_authority",
            "country": "VN",
            "city": "Hue",
            "themes": ["culture_heritage", "local_governance"],
            "languages": ["vi", "en", "fr"],
            "hosting_capacity": 2,
            "reciprocity": False,
        },
    ),
    (
        "par-demo-kh-siemreap",
        "pending",
        {
            "name": "Siem Reap Youth Centre",
            "kind": "ngo",
            "country": "KH",
            "city": "Siem Reap",
            "themes": ["youth_sport", "education"],
            "languages": ["km", "en"],
            "hosting_capacity": 2,
            "reciprocity": False,
        },
    ),
    (
        "par-demo-in-pondicherry",
        "approved",
        {
            "name": "Pondicherry Heritage Trust",
            "kind": "association",
            "country": "IN",
            "city": "Puducherry",
            "themes": ["culture_heritage", "environment_climate"],
            "languages": ["en", "fr", "ta"],
            "hosting_capacity": 2,
            "reciprocity": False,
        },
    ),
    (
        "par-demo-pe-cusco",
        "approved",
        {
            "name": "Municipalidad Provincial del Cusco",
            "kind": "local_authority",
            "country": "PE",
            "city": "Cusco",
            "themes": ["culture_heritage", "economic_development"],
            "languages": ["es", "qu"],
            "hosting_capacity": 3,
            "reciprocity": True,
        },
    ),
    (
        "par-demo-br-recife",
        "pending",
        {
            "name": "ONG Saúde Criança Recife",
            "kind": "ngo",
            "country": "BR",
            "city": "Recife",
            "themes": ["health", "youth_sport"],
            "languages": ["pt"],
            "hosting_capacity": 2,
            "reciprocity": False,
        },
    ),
    (
        "par-demo-ht-jacmel",
        "approved",
        {
            "name": "Mairie de Jacmel",
            "kind": "local_authority",
            "country": "HT",
            "city": "Jacmel",
            "themes": ["education", "local_governance"],
            "languages": ["fr", "ht"],
            "hosting_capacity": 2,
            "reciprocity": False,
        },
    ),
    (
        "par-demo-vu-portvila",
        "approved",
        {
            "name": "Port Vila Municipal Council",
            "kind": "local_authority",
            "country": "VU",
            "city": "Port Vila",
            "themes": ["environment_climate", "water_sanitation"],
            "languages": ["bi", "en", "fr"],
            "hosting_capacity": 1,
            "reciprocity": False,
        },
    ),
    (
        "par-demo-km-moroni",
        "pending",
        {
            "name": "Association Maeecha",
            "kind": "association",
            "country": "KM",
            "city": "Moroni",
            "themes": ["education", "health"],
            "languages": ["fr", "ar"],
            "hosting_capacity": 2,
            "reciprocity": True,
        },
    ),
]

PARTNERSHIPS: list[tuple[str, dict[str, Any]]] = [
    (
        "pship-demo-ara-ziguinchor",
        {
            "authority_id": "aut-demo-ara",
            "partner_id": "par-demo-sn-ziguinchor",
            "themes": ["health"],
            "starts_on": date(2026, 1, 1),
            "ends_on": date(2028, 12, 31),
        },
    ),
    (
        "pship-demo-reunion-majunga",
        {
            "authority_id": "aut-demo-saint-denis",
            "partner_id": "par-demo-mg-majunga",
            "themes": ["environment_climate"],
            "starts_on": date(2026, 3, 1),
        },
    ),
    (
        "pship-demo-lyon-hue",
        {
            "authority_id": "aut-demo-lyon",
            "partner_id": "par-demo-vn-hue",
            "themes": ["culture_heritage"],
            "starts_on": date(2025, 9, 1),
        },
    ),
]


async def _exists(runtime: Runtime, collection: str, record_id: str) -> bool:
    return await runtime.db[collection].find_one({"_id": record_id}, {"_id": 1}) is not None


async def seed(runtime: Runtime[PartnersSettings]) -> None:
    """Create the demo records that do not exist yet."""
    for authority_id, fields in AUTHORITIES:
        if not await _exists(runtime, store.AUTHORITIES, authority_id):
            contact = Contact(
                name="Service des relations internationales", email=f"international@{authority_id}.example.fr"
            )
            await use_cases.register_authority(
                runtime, STAFF, AuthorityIn(contact=contact, **fields), authority_id=authority_id
            )
    for partner_id, status, fields in PARTNERS:
        if not await _exists(runtime, store.PARTNERS, partner_id):
            await use_cases.register_partner(runtime, STAFF, PartnerIn(**fields), partner_id=partner_id)
            if status == "approved":
                await use_cases.vet_partner(runtime, STAFF, partner_id, "approve", "demo data")
    for partnership_id, fields in PARTNERSHIPS:
        if not await _exists(runtime, store.PARTNERSHIPS, partnership_id):
            await use_cases.establish_partnership(
                runtime, STAFF, PartnershipIn(**fields), partnership_id=partnership_id
            )
    if not await _exists(runtime, store.SENDING_ORGANISATIONS, "org-demo-dcc"):
        await use_cases.register_sending_organisation(
            runtime,
            STAFF,
            SendingOrganisationIn(
                name="Délégation catholique pour la coopération (demo)",
                approval_number="VSI-DEMO-001",
                approved_from=date(2024, 1, 1),
                approved_until=date(2027, 12, 31),
            ),
            organisation_id="org-demo-dcc",
        )
