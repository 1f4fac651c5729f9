"""Scoring and ranking of partners (pure domain, table-driven)."""

from __future__ import annotations

import random

import pytest

from vies_partners.domain.matching import (
    WEIGHTS,
    MatchCriteria,
    PartnerProfile,
    fast_value,
    rank,
    score,
    track_record,
)


def profile(partner_id: str = "p1", **over: object) -> PartnerProfile:
    values: dict[str, object] = {
        "partner_id": partner_id,
        "country": "SN",
        "status": "approved",
        "themes": frozenset({"health"}),
        "languages": frozenset({"fr"}),
        "hosting_capacity": 2,
        "reciprocity": False,
    }
    values.update(over)
    return PartnerProfile(**values)  # type: ignore[arg-type]


FULL = MatchCriteria(countries=frozenset({"SN"}), themes=frozenset({"health"}), languages=frozenset({"fr"}))


@pytest.mark.parametrize(
    ("hosted", "serious", "expected"),
    [(0, 0, 0.5), (3, 0, 0.8), (5, 0, 1.0), (9, 0, 1.0), (1, 1, 0.35), (0, 2, 0.0), (5, 1, 0.75)],
)
def test_track_record(hosted: int, serious: int, expected: float) -> None:
    assert track_record(hosted, serious) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("over", "criteria", "expected", "reason"),
    [
        # Everything matches, no history: (0.30 + 0.20 + 0.15 + 0.15 + 0.15 x 0.5) / 0.95
        ({}, FULL, 0.9211, "same theme: health"),
        ({"themes": frozenset({"education"})}, FULL, 0.6053, "no theme in common"),
        ({"country": "BF"}, FULL, 0.7105, "in BF, not a preferred country"),
        ({"languages": frozenset({"en"})}, FULL, 0.7632, "speaks none of fr"),
        ({"on_mission": 2}, FULL, 0.7632, "has no free place (capacity 2, 2 on mission)"),
        ({"hosted": 3}, FULL, 0.9684, "has hosted 3 volunteers, 0 serious incidents"),
        ({"hosted": 1, "serious_incidents": 1}, FULL, 0.8974, "has hosted 1 volunteer, 1 serious incident"),
        # Only capacity and track record apply when nothing is asked: (0.15 + 0.15 x 0.5) / 0.30
        ({}, MatchCriteria(), 0.75, "has capacity for 2"),
        # Two volunteers wanted, one place left: capacity counts half.
        ({"on_mission": 1}, MatchCriteria(volunteers=2), 0.5, "has capacity for 1"),
        # Reciprocity asked: (0.15 + 0.075 + 0.05 x reciprocity) / 0.35
        ({}, MatchCriteria(scheme="reciprocity"), 0.6429, "cannot send volunteers to France"),
        ({"reciprocity": True}, MatchCriteria(reciprocity=True), 0.7857, "can send volunteers to France"),
    ],
)
def test_score_and_reasons(over: dict[str, object], criteria: MatchCriteria, expected: float, reason: str) -> None:
    suggestion = score(profile(**over), criteria)
    assert suggestion.score == pytest.approx(expected, abs=1e-4)
    assert reason in suggestion.reasons
    assert 0 <= suggestion.score <= 1


def test_reasons_explain_every_component_in_order() -> None:
    suggestion = score(profile(themes=frozenset({"health", "education"}), hosted=3), FULL)
    assert suggestion.reasons == [
        "same theme: health",
        "in a preferred country: SN",
        "speaks fr",
        "has capacity for 2",
        "has hosted 3 volunteers, 0 serious incidents",
    ]
    assert set(suggestion.components) == {"theme", "country", "language", "capacity", "track_record"}


def test_weights_are_positive_and_documented_in_one_place() -> None:
    weights = [
        WEIGHTS.theme,
        WEIGHTS.country,
        WEIGHTS.language,
        WEIGHTS.capacity,
        WEIGHTS.track_record,
        WEIGHTS.reciprocity,
    ]
    assert all(w > 0 for w in weights) and sum(weights) == pytest.approx(1.0)


def test_rank_is_deterministic_and_excludes_unmatchable_partners() -> None:
    profiles = [
        profile("b-tie"),
        profile("a-tie"),
        profile("weaker", themes=frozenset({"education"})),
        profile("pending", status="pending"),
        profile("suspended", status="suspended"),
        profile("rejected", status="rejected"),
        profile("crisis", country="ML"),
        profile("eea", country="PT"),
    ]
    eea = frozenset({"PT"})
    ranked = rank(profiles, FULL, crisis_countries=frozenset({"ML"}), eea=eea)
    assert [s.partner_id for s in ranked] == ["a-tie", "b-tie", "eea", "weaker"]
    assert ranked == rank(list(reversed(profiles)), FULL, crisis_countries=frozenset({"ML"}), eea=eea)
    vsi = MatchCriteria(themes=frozenset({"health"}), scheme="vsi")
    assert "eea" not in [s.partner_id for s in rank(profiles, vsi, eea=eea)]
    assert [s.partner_id for s in rank(profiles, FULL, limit=1)] == ["a-tie"]


def test_rank_prefers_free_places_and_a_clean_record() -> None:
    def order(*profiles: PartnerProfile) -> list[str]:
        return [s.partner_id for s in rank(profiles, FULL)]

    assert order(profile("a-full", on_mission=2), profile("b-fresh")) == ["b-fresh", "a-full"]
    assert order(profile("a-incidents", serious_incidents=1), profile("b-fresh")) == ["b-fresh", "a-incidents"]
    assert order(profile("a-fresh"), profile("b-experienced", hosted=2)) == ["b-experienced", "a-fresh"]


def test_fast_ranking_value_equals_the_explained_score() -> None:
    rng = random.Random(7)
    themes = ["health", "education", "digital", "other"]
    for _ in range(500):
        p = profile(
            f"p{rng.randint(0, 99)}",
            country=rng.choice(["SN", "BF", "VN"]),
            themes=frozenset(rng.sample(themes, rng.randint(1, 3))),
            languages=frozenset(rng.sample(["fr", "en", "es"], rng.randint(1, 2))),
            hosting_capacity=rng.randint(0, 4),
            on_mission=rng.randint(0, 4),
            hosted=rng.randint(0, 7),
            serious_incidents=rng.randint(0, 2),
            reciprocity=rng.random() < 0.5,
        )
        criteria = MatchCriteria(
            countries=frozenset(rng.sample(["SN", "BF", "VN"], rng.randint(0, 2))),
            themes=frozenset(rng.sample(themes, rng.randint(0, 2))),
            languages=frozenset(rng.sample(["fr", "en", "es"], rng.randint(0, 2))),
            scheme=rng.choice([None, "vsi", "reciprocity"]),
            volunteers=rng.randint(1, 3),
            reciprocity=rng.random() < 0.2,
        )
        assert fast_value(criteria)(p) == score(p, criteria).score
