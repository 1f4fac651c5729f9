"""Settings of the recruitment service (``VIES_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from vies_recruitment.domain.eligibility import EligibilityPolicy
from vies_shared.settings import ServiceSettings


class RecruitmentSettings(ServiceSettings):
    """Recruitment settings; the eligibility parameters are settings where official sources disagree."""

    service: str = "recruitment"
    # service-civique.gouv.fr: one page says 16-25, the "envoyer un volontaire à l'étranger" page
    # says 18-25 abroad. We follow the general rule (16) and let operators raise it to 18.
    service_civique_min_age: int = Field(default=16, ge=16, le=18)
    service_civique_max_age: int = 25
    service_civique_max_age_disability: int = 30
    # Code du travail (congé de solidarité internationale): at most 6 months per leave, after
    # 12 months' seniority; they bind employees only (a VEC retiree is on no leave).
    vec_max_months: int = Field(default=6, ge=1)
    vec_min_seniority_months: int = Field(default=12, ge=0)
    # fonjep.org / humanis.org JSI and VVV-SI: "about 15 days", at least 10 of solidarity action,
    # groups of 4 to 16 (5 on another page); no source sets a maximum length, so none by default.
    jsi_min_days: int = Field(default=15, ge=1)
    jsi_min_action_days: int = Field(default=10, ge=1)
    jsi_max_days: int | None = Field(default=None, ge=1)
    jsi_group_min: int = Field(default=4, ge=1)
    jsi_group_max: int = Field(default=16, ge=1)
    # service-civique.gouv.fr (2026): new Service Civique reciprocity requests are frozen pending a
    # budget; set VIES_SERVICE_CIVIQUE_RECIPROCITY_FROZEN=false when the programme reopens.
    service_civique_reciprocity_frozen: bool = True
    # Law 2005-159 art. 4: one contract at most 2 years, at most 6 years over a lifetime.
    vsi_max_contract_months: int = 24
    vsi_lifetime_cap_months: int = 72
    # POST /eligibility-checks is public (a portal's anonymous visitors): per client IP, this many
    # anonymous checks a minute (a token bucket in each process); calls with a token are not counted.
    eligibility_anonymous_per_minute: int = Field(default=30, ge=1, le=10_000)

    def eligibility_policy(self) -> EligibilityPolicy:
        """The rule parameters the eligibility module uses."""
        return EligibilityPolicy(
            service_civique_min_age=self.service_civique_min_age,
            service_civique_max_age=self.service_civique_max_age,
            service_civique_max_age_disability=self.service_civique_max_age_disability,
            vec_max_months=self.vec_max_months,
            vec_min_seniority_months=self.vec_min_seniority_months,
            jsi_min_days=self.jsi_min_days,
            jsi_min_action_days=self.jsi_min_action_days,
            jsi_max_days=self.jsi_max_days,
            jsi_group_min=self.jsi_group_min,
            jsi_group_max=self.jsi_group_max,
            service_civique_reciprocity_frozen=self.service_civique_reciprocity_frozen,
            vsi_max_contract_months=self.vsi_max_contract_months,
            vsi_lifetime_cap_months=self.vsi_lifetime_cap_months,
        )
