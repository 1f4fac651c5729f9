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
