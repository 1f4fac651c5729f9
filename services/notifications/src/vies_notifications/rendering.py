"""Message templates: Jinja2 files per language with a subject, a plain-text part, an HTML part and an SMS text.

``templates/<lang>/<name>.txt`` defines the blocks ``subject``, ``text`` and
optionally ``sms`` (plain text, not escaped); ``templates/<lang>/<name>.html``
is the HTML part, autoescaped so that data from events can never inject markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, Undefined, select_autoescape

SUPPORTED_LANGUAGES: tuple[str, ...] = ("fr", "en")
SMS_MAX_CHARS = 459  # three concatenated GSM segments of 153 characters


@dataclass(frozen=True)
class Rendered:
    """One message in one language."""

    subject: str
    text: str
    html: str
    sms: str


@cache
def _environment(strict: bool) -> Environment:
    return Environment(
        loader=PackageLoader("vies_notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined if strict else Undefined,
        keep_trailing_newline=False,
    )


def _block(template: Template, name: str, context: Mapping[str, Any]) -> str:
    render = template.blocks.get(name)
    if render is None:
        return ""
    return "".join(render(template.new_context(dict(context)))).strip()


def render(name: str, language: str, context: Mapping[str, Any], *, strict: bool = False) -> Rendered:
    """Render template ``name`` in ``language`` (French when the language is not supported)."""
    lang = language if language in SUPPORTED_LANGUAGES else "fr"
    env = _environment(strict)
    text_template = env.get_template(f"{lang}/{name}.txt")
    html_template = env.get_template(f"{lang}/{name}.html")
    subject = " ".join(_block(text_template, "subject", context).split())
    sms = " ".join(_block(text_template, "sms", context).split()) or subject
    return Rendered(
        subject=subject,
        text=text_template.render(dict(context)).strip() + "\n",
        html=html_template.render(dict(context)),
        sms=sms[:SMS_MAX_CHARS],
    )


# Sample data for the preview endpoint and the template tests: every variable each template uses.
_COMMON: dict[str, Any] = {"recipient_name": "Camille Martin"}
SAMPLES: dict[str, dict[str, Any]] = {
    "application_received": {"application_id": "app-1", "position_title": "Appui aux maraîchers <Thiès>"},
    "new_application": {"application_id": "app-1", "position_title": "Appui aux maraîchers", "candidate_id": "c-1"},
    "application_ineligible": {
        "application_id": "app-1",
        "position_title": "Appui aux maraîchers",
        "reasons": [
            "âge hors des limites du dispositif (16-25 ans)",
            "pays de nationalité identique au pays de mission",
        ],
    },
    "interview_scheduled": {"application_id": "app-1", "position_title": "Appui", "at": "2026-12-03 10:00"},
    "candidate_selected": {"application_id": "app-1", "position_title": "Appui aux maraîchers"},
    "application_rejected": {
        "application_id": "app-1",
        "position_title": "Appui",
        "reason": "profil plus adapté retenu",
    },
    "volunteer_welcome": {
        "engagement_id": "eng-1",
        "country": "SN",
        "starts_on": "2027-01-15",
        "ends_on": "2028-01-14",
        "scheme": "vsi",
        "centre_email": "centre.sn@vies.example.org",
        "centre_city": "Dakar",
        "hosted_in_france": False,
        "authority_name": None,
        "authority_email": None,
        "branch_name": None,
        "branch_email": None,
        "branch_phone": None,
    },
    "volunteer_engaged": {
        "engagement_id": "eng-1",
        "volunteer_id": "v-1",
        "position_title": "Appui aux maraîchers",
        "authority_name": "Région Auvergne-Rhône-Alpes",
        "country": "SN",
        "starts_on": "2027-01-15",
        "ends_on": "2028-01-14",
        "scheme": "vsi",
    },
    "matches_proposed": {
        "request_id": "req-1",
        "authority_name": "Ville de Lyon",
        "suggestions": [
            {"partner_id": "p-1", "score": 0.92, "reasons": ["thème agriculture", "langue française"]},
            {"partner_id": "p-2", "score": 0.71, "reasons": []},
        ],
    },
    "partnership_established": {
        "partnership_id": "ps-1",
        "authority_name": "Ville de Lyon",
        "partner_id": "p-1",
        "country": "SN",
        "themes": ["agriculture", "eau"],
        "starts_on": "2027-01-01",
        "ends_on": "2029-12-31",
    },
    "mission_planned": {
        "mission_id": "m-1",
        "volunteer_id": "v-1",
        "authority_name": "Ville de Lyon",
        "country": "SN",
        "starts_on": "2027-01-15",
        "ends_on": "2028-01-14",
        "scheme": "vsi",
    },
    "check_in_reminder": {"mission_id": "m-1", "due_on": "2027-02-01"},
    "check_in_missed_again": {
        "mission_id": "m-1",
        "volunteer_id": "v-1",
        "country": "SN",
        "due_on": "2027-02-15",
        "missed_in_a_row": 2,
    },
    "incident_reported": {
        "incident_id": "inc-1",
        "mission_id": "m-1",
        "category": "security",
        "severity": "critical",
        "country": "SN",
        "authority_name": "Ville de Lyon",
    },
    "security_alert": {
        "alert_id": "al-1",
        "country": "SN",
        "level": "crisis",
        "respond_by": "2027-03-01 18:00",
        "respond_by_local": "2027-03-01 18:00 (Africa/Dakar, UTC+00:00)",
        "respond_by_paris": "2027-03-01 19:00 (Europe/Paris, UTC+01:00)",
        "respond_within_hours": 6.0,
        "message": "Manifestations à Dakar : restez chez vous, évitez le centre-ville et la corniche. "
        "Gardez votre téléphone chargé. Point de regroupement si besoin : Espace Volontariats, rue 10, Point E.",
        "alert_url": "https://vies.example.org/volunteer/safety-checks/al-1",
    },
    "safety_check_unaccounted": {"alert_id": "al-1", "country": "SN", "unaccounted_mission_ids": ["m-1", "m-7"]},
    "mission_ended_volunteer": {"mission_id": "m-1", "country": "SN", "ended_on": "2028-01-14"},
    "return_seminar_invitation": {
        "mission_id": "m-1",
        "country": "SN",
        "ended_on": "2028-01-14",
        "seminar_url": "https://vies.example.org/volunteer/return-seminar",
    },
    "mission_ended": {
        "mission_id": "m-1",
        "volunteer_id": "v-1",
        "country": "SN",
        "authority_name": "Ville de Lyon",
        "ended_on": "2028-01-14",
    },
    "safety_check_reminder": {
        "alert_id": "al-1",
        "country": "SN",
        "level": "crisis",
        "respond_by": "2027-03-01 18:00",
        "respond_by_local": "2027-03-01 18:00 (Africa/Dakar, UTC+00:00)",
        "message": "Restez chez vous, évitez le centre-ville.",
        "alert_url": "https://vies.example.org/volunteer/safety-checks/al-1",
    },
    "safety_check_escalated": {
        "alert_id": "al-1",
        "country": "SN",
        "unaccounted_mission_ids": ["m-7"],
        "respond_by_paris": "2027-03-01 19:00 (Europe/Paris, UTC+01:00)",
    },
    "safety_delivery_failed": {
        "failed_template": "security_alert",
        "failed_channel": "email",
        "failed_role": "volunteer",
        "failed_recipient": "v-1",
        "error": "SMTP recipients refused: 550 5.1.1 mailbox unavailable",
        "alert_id": "al-1",
        "incident_id": None,
        "mission_id": None,
        "country": "SN",
    },
    "incident_escalated": {
        "incident_id": "inc-1",
        "mission_id": "m-1",
        "severity": "critical",
        "country": "SN",
        "authority_name": "Ville de Lyon",
    },
    "mission_interrupted": {
        "mission_id": "m-1",
        "volunteer_id": "v-1",
        "country": "SN",
        "authority_name": "Ville de Lyon",
        "interrupted_on": "2027-05-02",
        "reason": "rapatriement sanitaire",
    },
    "host_partner_update": {
        "mission_id": "m-1",
        "departed_on": "2027-01-15",
        "ended_on": None,
        "reason": None,
        "interrupted_on": None,
    },
    "partner_suspended": {"partner_id": "p-1", "partner_name": "Association Jokkoo", "reason": "vetting reopened"},
    "regional_digest": {
        "region": "FR-ARA",
        "region_name": "Auvergne-Rhône-Alpes",
        "day": "2027-01-15",
        "sections": {
            "positions_published": ["pos-1 Appui aux maraîchers (SN)"],
            "applications_submitted": ["app-1 (pos-1)", "app-2 (pos-1)"],
            "volunteers_engaged": ["eng-1 (SN)"],
            "missions_started": ["m-1 (SN)"],
            "missions_ended": [],
            "incidents_open": ["inc-1 high (m-1)"],
            "safety_checks": ["al-1 SN: 1 unaccounted"],
        },
    },
    "webhook_disabled": {
        "subscription_id": "sub-1",
        "url": "https://hooks.example.org/vies",
        "failing_since": "2027-01-14 08:00 UTC",
        "last_error": "HTTP 503",
    },
}


def sample_context(name: str) -> dict[str, Any]:
    """Sample variables for template ``name`` (KeyError if unknown)."""
    return {**_COMMON, **SAMPLES[name]}
