"""Match score of an eligible application against its position's languages and skills."""

from __future__ import annotations

from collections.abc import Iterable

LANGUAGE_WEIGHT = 0.6  # a shared working language matters more than any single skill
SKILL_WEIGHT = 0.4


def _norm(values: Iterable[str]) -> set[str]:
    return {v.strip().lower() for v in values if v and v.strip()}


def coverage(required: Iterable[str], offered: Iterable[str]) -> float:
    """Share of ``required`` found in ``offered`` (1.0 when nothing is required)."""
    needed = _norm(required)
    if not needed:
        return 1.0
    return len(needed & _norm(offered)) / len(needed)


def match_score(
    required_languages: Iterable[str],
    required_skills: Iterable[str],
    languages: Iterable[str],
    skills: Iterable[str],
) -> float:
    """A score in 0..1: weighted coverage of the required languages and skills."""
    score = LANGUAGE_WEIGHT * coverage(required_languages, languages) + SKILL_WEIGHT * coverage(required_skills, skills)
    return round(score, 3)
