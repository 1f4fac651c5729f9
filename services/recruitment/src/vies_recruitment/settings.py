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
    # Code du travail (congé de solidarité internationale): at most 6 months per leave.
    vec_max_months: int = Field(default=6, ge=1)
    # fonjep.org JSI/VVV-SI: "about 15 days", at least 10 days of solidarity action.
    jsi_min_days: int = Field(default=10, ge=1)
    jsi_max_days: int = Field(default=31, ge=1)
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
            jsi_min_days=self.jsi_min_days,
            jsi_max_days=self.jsi_max_days,
            vsi_max_contract_months=self.vsi_max_contract_months,
            vsi_lifetime_cap_months=self.vsi_lifetime_cap_months,
        )
