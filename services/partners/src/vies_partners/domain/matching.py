"""Partner identification: a transparent score in 0..1 with human-readable reasons.

THE WEIGHTS LIVE HERE (``WEIGHTS`` and the track-record constants below), and nowhere else.

score = Σ weight_i × component_i / Σ weight_i, over the components that apply to the request:

| component    | weight | value in 0..1                                                     | applies when      |
|--------------|--------|-------------------------------------------------------------------|-------------------|
| theme        | 0.30   | share of the requested themes the partner works on                | themes given      |
| country      | 0.20   | 1 if the partner is in a preferred country, else 0                | countries given   |
| language     | 0.15   | share of the requested languages the partner speaks               | languages given   |
| capacity     | 0.15   | remaining places / volunteers wanted, capped at 1 (0 when full)   | always            |
| track record | 0.15   | 0.5 with no history, +0.1 per volunteer hosted (up to 5),         | always            |
|              |        | −0.25 per serious incident (severity high or critical), in 0..1   |                   |
| reciprocity  | 0.05   | 1 if the partner can send volunteers to France, else 0            | reciprocity asked |

Remaining places = hosting capacity − volunteers currently on mission with the partner (missions
planned or started and not yet ended, learned from ``missions.*`` events).

Partners are never suggested when they are not approved, when their country has an open crisis
security alert, or when the scheme rules out their country (VSI missions take place outside the
European Economic Area: law 2005-159 of 23 Feb 2005 and the france-volontaires.org VSI page, as
recorded in docs/DOMAIN.md). Ties are broken by partner id so the ranking is deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vies_partners.domain.directory import theme_label
from vies_partners.domain.vetting import can_be_matched


@dataclass(frozen=True)
class MatchingWeights:
    """Relative weight of each score component (normalised over the components that apply)."""

    theme: float = 0.30
    country: float = 0.20
    language: float = 0.15
    capacity: float = 0.15
    track_record: float = 0.15
    reciprocity: float = 0.05


WEIGHTS = MatchingWeights()
TRACK_NEUTRAL = 0.5  # a partner with no history is neither favoured nor penalised
TRACK_PER_HOSTED = 0.1  # each volunteer hosted adds this much...
TRACK_HOSTED_CAP = 5  # ...for at most this many volunteers
TRACK_PER_SERIOUS_INCIDENT = 0.25  # each serious incident takes this much away
SERIOUS_SEVERITIES = frozenset({"high", "critical"})
SCHEMES_OUTSIDE_EEA = frozenset({"vsi"})


@dataclass(frozen=True)
class PartnerProfile:
    """What matching knows of a partner: its directory entry and its record from missions' events."""

    partner_id: str
    country: str
    status: str
    themes: frozenset[str]
    languages: frozenset[str]
    hosting_capacity: int
    reciprocity: bool
    on_mission: int = 0
    hosted: int = 0
    serious_incidents: int = 0
    # Derived once, so ranking thousands of partners does not recompute them per request.
    remaining_capacity: int = field(init=False)
    track: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "remaining_capacity", max(0, self.hosting_capacity - self.on_mission))
        object.__setattr__(self, "track", track_record(self.hosted, self.serious_incidents))


@dataclass(frozen=True)
class MatchCriteria:
    """What an authority asks for."""

    countries: frozenset[str] = frozenset()
    themes: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    scheme: str | None = None
    volunteers: int = 1
    reciprocity: bool = False

    @property
    def wants_reciprocity(self) -> bool:
        """Reciprocity counts when asked for explicitly or through the reciprocity scheme."""
        return self.reciprocity or self.scheme in ("reciprocity", "service_civique_reciprocity")


@dataclass(frozen=True)
class Suggestion:
    """A ranked partner: its score, the reasons and each component's value."""

    partner_id: str
    score: float
    reasons: list[str]
    components: dict[str, float] = field(default_factory=dict)


def track_record(hosted: int, serious_incidents: int) -> float:
    """The track-record component from volunteers hosted and serious incidents."""
    value = (
        TRACK_NEUTRAL
        + TRACK_PER_HOSTED * min(hosted, TRACK_HOSTED_CAP)
        - TRACK_PER_SERIOUS_INCIDENT * serious_incidents
    )
    return min(1.0, max(0.0, value))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def components(
    profile: PartnerProfile, criteria: MatchCriteria, weights: MatchingWeights = WEIGHTS
) -> dict[str, tuple[float, float]]:
    """Each applicable component as (weight, value in 0..1)."""
    parts: dict[str, tuple[float, float]] = {}
    if criteria.themes:
        parts["theme"] = (weights.theme, len(criteria.themes & profile.themes) / len(criteria.themes))
    if criteria.countries:
        parts["country"] = (weights.country, 1.0 if profile.country in criteria.countries else 0.0)
    if criteria.languages:
        parts["language"] = (weights.language, len(criteria.languages & profile.languages) / len(criteria.languages))
    parts["capacity"] = (weights.capacity, min(1.0, profile.remaining_capacity / max(1, criteria.volunteers)))
    parts["track_record"] = (weights.track_record, profile.track)
    if criteria.wants_reciprocity:
        parts["reciprocity"] = (weights.reciprocity, 1.0 if profile.reciprocity else 0.0)
    return parts


def combine(parts: dict[str, tuple[float, float]]) -> float:
    """The weighted mean of the components, rounded to 4 decimals."""
    total_weight = sum(w for w, _ in parts.values())
    value = sum(w * v for w, v in parts.values()) / total_weight if total_weight else 0.0
    return round(min(1.0, max(0.0, value)), 4)


def reasons(profile: PartnerProfile, criteria: MatchCriteria) -> list[str]:
    """Human-readable reasons, one per applicable component, in the order of the table above."""
    out: list[str] = []
    if criteria.themes:
        common = sorted(criteria.themes & profile.themes)
        out.append(f"same theme: {', '.join(theme_label(t) for t in common)}" if common else "no theme in common")
    if criteria.countries:
        out.append(
            f"in a preferred country: {profile.country}"
            if profile.country in criteria.countries
            else f"in {profile.country}, not a preferred country"
        )
    if criteria.languages:
        spoken = sorted(criteria.languages & profile.languages)
        out.append(
            f"speaks {', '.join(spoken)}" if spoken else f"speaks none of {', '.join(sorted(criteria.languages))}"
        )
    remaining = profile.remaining_capacity
    out.append(
        f"has capacity for {remaining}"
        if remaining
        else f"has no free place (capacity {profile.hosting_capacity}, {profile.on_mission} on mission)"
    )
    out.append(
        f"has hosted {_plural(profile.hosted, 'volunteer')}, {_plural(profile.serious_incidents, 'serious incident')}"
    )
    if criteria.wants_reciprocity:
        out.append("can send volunteers to France" if profile.reciprocity else "cannot send volunteers to France")
    return out


def score(profile: PartnerProfile, criteria: MatchCriteria, weights: MatchingWeights = WEIGHTS) -> Suggestion:
    """Score one partner against a request, with the reasons that explain it."""
    parts = components(profile, criteria, weights)
    return Suggestion(
        partner_id=profile.partner_id,
        score=combine(parts),
        reasons=reasons(profile, criteria),
        components={name: round(v, 4) for name, (_, v) in parts.items()},
    )


def excluded(
    profile: PartnerProfile, criteria: MatchCriteria, crisis_countries: frozenset[str], eea: frozenset[str]
) -> bool:
    """Whether a partner must never be suggested for this request."""
    if not can_be_matched(profile.status):
        return True
    if profile.country in crisis_countries:
        return True
    return criteria.scheme in SCHEMES_OUTSIDE_EEA and profile.country in eea


def fast_value(criteria: MatchCriteria, weights: MatchingWeights = WEIGHTS) -> Callable[[PartnerProfile], float]:
    """The same number as ``combine(components(...))``, as one tight function for ranking thousands of partners.

    It adds the same terms in the same order, so the results are identical (a unit test checks it).
    """
    themes, countries, languages = criteria.themes, criteria.countries, criteria.languages
    n_themes, n_languages = len(themes), len(languages)
    volunteers = max(1, criteria.volunteers)
    reciprocity = criteria.wants_reciprocity
    applicable = []
    if themes:
        applicable.append(weights.theme)
    if countries:
        applicable.append(weights.country)
    if languages:
        applicable.append(weights.language)
    applicable += [weights.capacity, weights.track_record]
    if reciprocity:
        applicable.append(weights.reciprocity)
    total = sum(applicable)
    w_theme, w_country, w_language = weights.theme, weights.country, weights.language
    w_capacity, w_track, w_reciprocity = weights.capacity, weights.track_record, weights.reciprocity

    def value(p: PartnerProfile) -> float:
        v: float = 0
        if n_themes:
            v += w_theme * (len(themes & p.themes) / n_themes)
        if countries:
            v += w_country * (1.0 if p.country in countries else 0.0)
        if n_languages:
            v += w_language * (len(languages & p.languages) / n_languages)
        v += w_capacity * min(1.0, p.remaining_capacity / volunteers)
        v += w_track * p.track
        if reciprocity:
            v += w_reciprocity * (1.0 if p.reciprocity else 0.0)
        return round(min(1.0, max(0.0, v / total)), 4)

    return value


def rank(
    profiles: Iterable[PartnerProfile],
    criteria: MatchCriteria,
    *,
    crisis_countries: frozenset[str] = frozenset(),
    eea: frozenset[str] = frozenset(),
    limit: int = 10,
    weights: MatchingWeights = WEIGHTS,
) -> list[Suggestion]:
    """The best ``limit`` partners, highest score first, ties by partner id."""
    # Score everyone numerically, keep the best, then write reasons only for those shown (5,000 partners stay fast).
    value = fast_value(criteria, weights)
    banned = crisis_countries | eea if criteria.scheme in SCHEMES_OUTSIDE_EEA else crisis_countries
    # Same rule as ``excluded``, inlined for speed.
    candidates = (p for p in profiles if p.status == "approved" and p.country not in banned)
    best = heapq.nsmallest(limit, ((-value(p), p.partner_id, p) for p in candidates), key=lambda item: item[:2])
    return [score(p, criteria, weights) for _, _, p in best]
