"""A match request: what an authority asked for and the partners suggested, kept with its two events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from vies_partners.domain.matching import MatchCriteria, Suggestion
from vies_shared.aggregate import Aggregate, Document
from vies_shared.events.partners import MatchesProposed, MatchRequested, MatchSuggestion


class MatchRequest(Aggregate):
    """An authority's request and the ranking it got (written once; read back by its id)."""

    request_id: str = Field(alias="_id")
    authority_id: str
    region: str | None
    criteria: dict[str, Any]
    excluded_crisis_countries: list[str] = Field(default_factory=list)  # older requests lack it
    suggestions: list[dict[str, Any]]
    requested_at: datetime
    requested_by: str

    @classmethod
    def answered(
        cls,
        request_id: str,
        *,
        authority_id: str,
        region: str | None,
        asked: dict[str, Any],
        criteria: MatchCriteria,
        crisis: frozenset[str],
        suggestions: list[Suggestion],
        by: str,
        at: datetime,
    ) -> MatchRequest:
        """The request with its ranking; records ``MatchRequested`` and ``MatchesProposed``."""
        request = cls(
            request_id=request_id,
            authority_id=authority_id,
            region=region,
            criteria=asked,
            excluded_crisis_countries=sorted(crisis),
            suggestions=[
                {"partner_id": s.partner_id, "score": s.score, "reasons": s.reasons, "components": s.components}
                for s in suggestions
            ],
            requested_at=at,
            requested_by=by,
        )
        request.record(
            MatchRequested(
                request_id=request_id,
                authority_id=authority_id,
                countries=sorted(criteria.countries),
                themes=sorted(criteria.themes),
                languages=sorted(criteria.languages),
                scheme=criteria.scheme,
                volunteers=criteria.volunteers,
                reciprocity=criteria.wants_reciprocity,
            ),
            region=request.region,
        )
        request.record(
            MatchesProposed(
                request_id=request_id,
                authority_id=authority_id,
                suggestions=[
                    MatchSuggestion(partner_id=s.partner_id, score=s.score, reasons=s.reasons) for s in suggestions
                ],
            ),
            region=request.region,
        )
        return request

    def view(self) -> Document:
        """The request as answered."""
        return {
            "request_id": self.request_id,
            "authority_id": self.authority_id,
            "criteria": self.criteria,
            "excluded_crisis_countries": self.excluded_crisis_countries,
            "suggestions": self.suggestions,
            "requested_at": self.requested_at,
        }
