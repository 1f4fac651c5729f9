"""Territoires Volontaires programme indicators against the programme's public targets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

# Volunteers from partner countries hosted in France: VSI and Service Civique in reciprocity.
HOSTING_SCHEMES = frozenset({"reciprocity", "service_civique_reciprocity"})


@dataclass(frozen=True)
class Targets:
    """The programme's targets (from settings)."""

    missions: int
    authorities: int
    new_to_cooperation_share: float


def direction(scheme: str) -> str:
    """``hosted_in_france`` for reciprocity, ``sent_abroad`` for every other scheme."""
    return "hosted_in_france" if scheme in HOSTING_SCHEMES else "sent_abroad"


class AuthorityIndicators(BaseModel):
    """Authorities enrolled in the programme, how many are new to cooperation, against the targets."""

    enrolled: int
    new_to_cooperation: int
    new_to_cooperation_share: float
    target: int
    target_new_to_cooperation_share: float
    target_met: bool


class Directions(BaseModel):
    """Missions of volunteers sent abroad and of volunteers from partner countries hosted in France."""

    sent_abroad: int
    hosted_in_france: int


class MissionIndicators(BaseModel):
    """Missions in all, of enrolled authorities (``programme``), by scheme and direction, against the target."""

    total: int
    programme: int
    by_scheme: dict[str, int]
    by_direction: Directions
    target: int
    target_met: bool


class Indicators(BaseModel):
    """Territoires Volontaires indicators against the programme's targets (``region``: those of one region)."""

    authorities: AuthorityIndicators
    missions: MissionIndicators
    partnerships_by_country: dict[str, int]
    region: str | None = None


def indicators(
    *,
    enrolled_authorities: int,
    enrolled_new_to_cooperation: int,
    mission_schemes: Iterable[tuple[str, bool]] = (),
    partnership_countries: Iterable[str] = (),
    targets: Targets,
    mission_counts: Iterable[tuple[str, bool, int]] = (),
    partnership_country_counts: Mapping[str, int] | None = None,
    region: str | None = None,
) -> Indicators:
    """The indicators: ``mission_schemes`` holds (scheme, whether the authority is enrolled) per mission.

    ``mission_counts`` (scheme, enrolled, number of missions) and ``partnership_country_counts``
    (country → partnerships) say the same already counted by the database.
    """
    by_scheme: Counter[str] = Counter()
    by_direction: Counter[str] = Counter()
    programme_missions = 0
    counted = [(scheme, enrolled, 1) for scheme, enrolled in mission_schemes]
    for scheme, enrolled, number in [*counted, *mission_counts]:
        by_scheme[scheme] += number
        by_direction[direction(scheme)] += number
        programme_missions += number if enrolled else 0
    countries: Counter[str] = Counter(partnership_countries)
    countries.update(partnership_country_counts or {})
    share = enrolled_new_to_cooperation / enrolled_authorities if enrolled_authorities else 0.0
    return Indicators(
        authorities=AuthorityIndicators(
            enrolled=enrolled_authorities,
            new_to_cooperation=enrolled_new_to_cooperation,
            new_to_cooperation_share=round(share, 4),
            target=targets.authorities,
            target_new_to_cooperation_share=targets.new_to_cooperation_share,
            target_met=enrolled_authorities >= targets.authorities and share >= targets.new_to_cooperation_share,
        ),
        missions=MissionIndicators(
            total=sum(by_scheme.values()),
            programme=programme_missions,
            by_scheme=dict(sorted(by_scheme.items())),
            by_direction=Directions(
                sent_abroad=by_direction["sent_abroad"], hosted_in_france=by_direction["hosted_in_france"]
            ),
            target=targets.missions,
            target_met=programme_missions >= targets.missions,
        ),
        partnerships_by_country=dict(sorted(countries.items())),
        region=region,
    )
