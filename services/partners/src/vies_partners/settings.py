"""Settings of the partners service (``VIES_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from vies_shared.settings import ServiceSettings


class PartnersSettings(ServiceSettings):
    """Partners service settings; the programme targets come from the Territoires Volontaires launch."""

    service: str = "partners"
    # How many ranked partners a match request answers with.
    match_limit: int = Field(default=10, ge=1, le=100)
    # An enrolled authority with no journey step for this many days is "stalled".
    stalled_after_days: int = Field(default=30, ge=0)
    # The start-of-mission follow-up interview is due this many days after departure (agency practice:
    # interviews at start, middle and end; docs/DOMAIN.md "The agency's own practice"; the exact delay is ours).
    interview_start_within_days: int = Field(default=30, ge=0)
    # Territoires Volontaires public targets at launch (docs/DOMAIN.md): 250 missions, at least 40 authorities,
    # at least half of them new to international action.
    target_missions: int = Field(default=250, ge=0)
    target_authorities: int = Field(default=40, ge=0)
    target_new_to_cooperation_share: float = Field(default=0.5, ge=0, le=1)
    # A sending organisation's ministry approval lasts at most this many years (docs/DOMAIN.md: approval for
    # at most 4 years, law 2005-159 and its decree on approved associations).
    sending_approval_max_years: int = Field(default=4, ge=1)
