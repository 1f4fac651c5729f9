"""Every template renders in French and English, text and HTML parts, with autoescaped HTML."""

from __future__ import annotations

import pytest

from vies_notifications import rendering
from vies_notifications.domain.routing import TEMPLATES


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("name", TEMPLATES)
def test_template_renders(name: str, language: str) -> None:
    content = rendering.render(name, language, rendering.sample_context(name), strict=True)
    assert content.subject and "\n" not in content.subject
    assert content.text.startswith("Bonjour Camille Martin," if language == "fr" else "Hello Camille Martin,")
    assert f'<html lang="{language}">' in content.html and "</html>" in content.html
    assert content.subject in content.html or "&" in content.html  # the title is the subject (escaped)
    assert content.sms and len(content.sms) <= rendering.SMS_MAX_CHARS
    signature = "VIES, la plateforme" if language == "fr" else "VIES, the international"
    assert signature in content.text


def test_french_and_english_differ_and_unknown_language_falls_back_to_french() -> None:
    context = rendering.sample_context("security_alert")
    fr = rendering.render("security_alert", "fr", context)
    en = rendering.render("security_alert", "en", context)
    assert fr.subject.startswith("ALERTE SÉCURITÉ") and en.subject.startswith("SECURITY ALERT")
    assert rendering.render("security_alert", "de", context) == fr
    assert fr.sms.startswith("VIES ALERTE SN")


def test_html_is_autoescaped_and_text_is_not() -> None:
    context = {**rendering.sample_context("application_rejected"), "reason": "<script>alert(1)</script> & co"}
    content = rendering.render("application_rejected", "fr", context, strict=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in content.html and "<script>" not in content.html
    assert "<script>alert(1)</script> & co" in content.text


def test_every_screening_reason_is_listed() -> None:
    context = rendering.sample_context("application_ineligible")
    content = rendering.render("application_ineligible", "fr", context, strict=True)
    for reason in context["reasons"]:
        assert f"- {reason}" in content.text and f"<li>{reason}</li>" in content.html


def test_missing_variables_fail_in_strict_mode() -> None:
    with pytest.raises(Exception, match="undefined"):
        rendering.render("security_alert", "fr", {"recipient_name": "x"}, strict=True)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_security_alert_carries_the_message_and_the_local_deadline(language: str) -> None:
    context = rendering.sample_context("security_alert")
    content = rendering.render("security_alert", language, context, strict=True)
    for part in (content.text, content.sms):
        assert "Manifestations à Dakar" in part and "2027-03-01 18:00 (Africa/Dakar, UTC+00:00)" in part
        assert "https://vies.example.org/volunteer/safety-checks/al-1" in part
    assert "Manifestations à Dakar" in content.html and "Africa/Dakar" in content.html
    assert "UTC)" not in content.text  # no longer a bare UTC time


def test_security_alert_sms_shortens_a_long_message_and_keeps_the_link() -> None:
    long = "Quittez la zone nord par la route nationale 2. " * 30
    context = {**rendering.sample_context("security_alert"), "message": long}
    content = rendering.render("security_alert", "fr", context, strict=True)
    assert long.strip() in content.text  # the email has all of it
    assert len(content.sms) <= 340 and "..." in content.sms  # the message cut at 160 characters
    assert content.sms.endswith("https://vies.example.org/volunteer/safety-checks/al-1")


def test_security_alert_of_an_older_event_still_renders() -> None:
    context = {
        "recipient_name": "x",
        "alert_id": "a",
        "country": "SN",
        "level": "crisis",
        "respond_by": "2027-01-01 10:00",
    }
    content = rendering.render("security_alert", "en", context)
    assert "before 2027-01-01 10:00 UTC" in content.text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_welcome_of_a_volunteer_hosted_in_france_gives_contacts_in_france_and_no_ariane(language: str) -> None:
    context = {
        **rendering.sample_context("volunteer_welcome"),
        "country": "FR",
        "scheme": "reciprocity",
        "hosted_in_france": True,
        "authority_name": "Ville de Lyon",
        "authority_email": "international@lyon.example.org",
        "branch_name": "Auvergne-Rhône-Alpes",
        "branch_email": "antenne.fr-ara@vies.example.org",
        "branch_phone": "+33400000000",
    }
    content = rendering.render("volunteer_welcome", language, context, strict=True)
    for part in (content.text, content.html):
        assert "Ariane" not in part and "centre.sn@vies.example.org" not in part
        assert "international@lyon.example.org" in part and "antenne.fr-ara@vies.example.org" in part
        assert "112" in part and "VLS-T" in part
    abroad = rendering.render("volunteer_welcome", language, rendering.sample_context("volunteer_welcome"))
    assert "Ariane" in abroad.text and "centre.sn@vies.example.org" in abroad.text
