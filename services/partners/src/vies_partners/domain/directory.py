"""The directory's vocabulary: authority and partner kinds, the fixed theme list, names and codes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from vies_shared.errors import InvalidInput
from vies_shared.reference import is_france, is_region

AuthorityKind = Literal["region", "department", "commune", "intercommunality", "other"]
PartnerKind = Literal["local_authority", "ngo", "association", "public_body", "other"]

# The fixed list of cooperation themes, code → label in English and French.
THEMES: dict[str, tuple[str, str]] = {
    "education": ("education", "éducation"),
    "health": ("health", "santé"),
    "agriculture_food": ("agriculture and food", "agriculture et alimentation"),
    "water_sanitation": ("water and sanitation", "eau et assainissement"),
    "environment_climate": ("environment and climate", "environnement et climat"),
    "culture_heritage": ("culture and heritage", "culture et patrimoine"),
    "youth_sport": ("youth and sport", "jeunesse et sport"),
    "local_governance": ("local governance", "gouvernance locale"),
    "economic_development": ("economic development", "développement économique"),
    "digital": ("digital", "numérique"),
    "gender_equality": ("gender equality", "égalité femmes-hommes"),
    "other": ("other", "autre"),
}
Theme = Literal[
    "education",
    "health",
    "agriculture_food",
    "water_sanitation",
    "environment_climate",
    "culture_heritage",
    "youth_sport",
    "local_governance",
    "economic_development",
    "digital",
    "gender_equality",
    "other",
]

COUNTRY_PATTERN = r"^[A-Z]{2}$"
LANGUAGE_PATTERN = r"^[a-z]{2}$"


def theme_label(code: str) -> str:
    """The English label of a theme code (the code itself if unknown)."""
    return THEMES.get(code, (code, code))[0]


def normalise(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name, for duplicate detection."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = re.sub(r"[^0-9a-z]+", " ", stripped.casefold())
    return " ".join(words.split())


def partner_key(name: str, city: str, country: str) -> str:
    """Two partners are the same when name, city and country match once normalised."""
    return f"{normalise(name)}|{normalise(city)}|{country.upper()}"


def authority_key(name: str, region: str) -> str:
    """Two authorities are the same when their normalised names match in one region."""
    return f"{normalise(name)}|{region}"


def check_region(region: str) -> None:
    """Refuse a region code that is not an ISO 3166-2 French region or overseas territory."""
    if not is_region(region):
        raise InvalidInput(f"unknown French region {region!r} (ISO 3166-2, e.g. FR-ARA, FR-974)")


def check_partner_country(country: str) -> None:
    """International partners are abroad: France, its overseas territories included (RE, NC, ...), is refused."""
    if is_france(country):
        raise InvalidInput(
            f"an international partner cannot be in France ({country.upper()} is French territory); "
            "register it as an authority"
        )


def changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` whose value differs from ``current`` (a PATCH that changes nothing is empty)."""
    return {name: value for name, value in wanted.items() if current.get(name) != value}
