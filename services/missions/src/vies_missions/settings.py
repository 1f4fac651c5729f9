"""Settings of the missions service (``VIES_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from vies_shared.settings import ServiceSettings


def _default_scheme_limits() -> dict[str, int]:
    # Longest contract per scheme, in months (docs/DOMAIN.md):
    # - vsi: one contract at most 2 years (law 2005-159 of 23 Feb 2005, art. 4);
    # - reciprocity: hosted "as VSI" (law 2021-1031 art. 8, decree 2022-1067), so 24 months too;
    # - service_civique: 6 to 12 months (service-civique.gouv.fr, "envoyer un volontaire à l'étranger");
    # - vec: at most 6 months when taken as international solidarity leave (labour code, fonjep.org);
    # - jsi_vvvsi: projects of about 15 days (fonjep.org); one month leaves room for travel.
    # - service_civique_reciprocity: Service Civique's 6 to 12 months.
    return {
        "vsi": 24,
        "reciprocity": 24,
        "service_civique": 12,
        "service_civique_reciprocity": 12,
        "vec": 6,
        "jsi_vvvsi": 1,
    }


class MissionsSettings(ServiceSettings):
    """What an operator may tune; intervals are in seconds so tests can use tiny values."""

    service: str = "missions"
    check_in_interval_days: float = Field(default=14.0, gt=0)
    check_in_interval_seconds: float | None = Field(default=None, gt=0)
    check_in_scan_seconds: float = Field(default=60.0, gt=0)
    check_in_scan_batch: int = Field(default=200, ge=1)
    max_missed_per_scan: int = Field(default=60, ge=1)
    # Missed check-ins must come out once per due date even with several replicas: the
    # scheduler is idempotent by design (unique key per mission and due date written with the
    # event); the lease only saves work. Tests turn it off to prove that.
    check_in_scan_exclusive: bool = True
    safety_deadline_scan_seconds: float = Field(default=15.0, gt=0)
    # The ladder of a safety check: a reminder to those who have not answered at half the
    # window and this long before the deadline; at the deadline the unaccounted list goes to the
    # centre and the duty officer (SafetyCheckClosed); this long after it, to the head office.
    safety_reminder_before_deadline_seconds: float = Field(default=3600.0, gt=0)
    safety_head_office_delay_seconds: float = Field(default=3600.0, ge=0)
    # Like missed check-ins, the ladder is idempotent by design (conditional writes with the event);
    # the lease only saves work. Tests turn it off to run two schedulers at once.
    safety_ladder_exclusive: bool = True
    incident_escalation_delay_seconds: float = Field(default=3600.0, gt=0)
    incident_escalation_scan_seconds: float = Field(default=60.0, gt=0)
    scheme_max_months: dict[str, int] = Field(default_factory=_default_scheme_limits)
    # Law 2005-159 art. 4: VSI time over a lifetime at most six years; recruitment tells each
    # engagement's months served before (VolunteerEngaged.vsi_months_served_before).
    vsi_lifetime_cap_months: int = Field(default=72, ge=1)
    follow_up_start_offset_days: int = Field(default=30, ge=0)
    follow_up_end_offset_days: int = Field(default=30, ge=0)
    # An interview not held this many days after its due date is reported (FollowUpInterviewOverdue).
    follow_up_grace_days: int = Field(default=7, ge=0)
    follow_up_scan_seconds: float = Field(default=3600.0, gt=0)
    # An urgent check-in opens an incident with this severity (category "other").
    urgent_check_in_severity: str = "critical"
    # The one-tap safety answer link: the keys shared with notifications only (comma-separated,
    # the first signs; VIES_SAFETY_LINK_KEYS), how long a link still answers after its check closed, and
    # how many calls a minute one client address may make on the public link endpoints.
    safety_link_keys: str = ""
    safety_link_valid_days: float = Field(default=7.0, ge=0)
    safety_link_per_minute: int = Field(default=60, ge=1)
    # The organisation whose name signs the end-of-mission certificate (VIES_CERTIFICATE_ISSUER).
    certificate_issuer: str = Field(default="France Volontaires", min_length=1)

    @property
    def check_in_interval(self) -> float:
        """The default check-in interval of a new mission, in seconds."""
        return self.check_in_interval_seconds or self.check_in_interval_days * 86400
