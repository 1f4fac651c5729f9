"""Rules of the portal that need no stack: catalogues, redirects, timelines, dates, errors."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po

from vies_portal import i18n
from vies_portal.account import timeline
from vies_portal.apis import _error
from vies_portal.app import content_security_policy
from vies_portal.settings import PortalSettings
from vies_portal.web import forwarded_for, local_path

PACKAGE = Path(i18n.__file__).parent


def _used_messages() -> set[str]:
    """Every message the templates and the code hand to ``_``/``translate`` (single-line literals)."""
    found: set[str] = set()
    for path in [*PACKAGE.glob("templates/*.html"), *PACKAGE.glob("*.py")]:
        text = path.read_text()
        found |= set(re.findall(r"""(?<!\w)_\(\s*"([^"]+)"\s*\)""", text))
        found |= set(re.findall(r"""(?:_|translate)\(\s*request,\s*"([^"]+)"\s*\)""", text))
    return found


def test_every_message_has_a_french_translation() -> None:
    translated: set[str] = set()
    for po_path in (PACKAGE / "locale/fr/LC_MESSAGES").glob("*.po"):
        with po_path.open("rb") as po:
            catalog = read_po(po, locale="fr")
        translated |= {str(m.id) for m in catalog if m.id and m.string and all(m.string)}
    missing = sorted(_used_messages() - translated)
    assert not missing, f"translate in a locale/fr/LC_MESSAGES/*.po file: {missing}"


def test_french_by_default_english_on_request() -> None:
    assert i18n.pick(None) == "fr" and i18n.pick("de") == "fr" and i18n.pick("en") == "en"
    assert i18n.gettext_for("fr")("Sign in") == "Se connecter"
    assert i18n.gettext_for("en")("Sign in") == "Sign in"


def test_times_are_written_with_their_zone() -> None:
    assert i18n.when("2027-01-04T10:00:00Z", "fr") == "4 janv. 2027 11:00 (Europe/Paris)"
    # A volunteer abroad: the mission country's time.
    assert i18n.when("2027-01-04T10:00:00Z", "en", "SN") == "4 Jan 2027 10:00 (Africa/Dakar)"
    assert i18n.day("2027-01-04", "fr") == "4 janvier 2027"


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/my/data", "/my/data"), ("https://evil.example", "/"), ("//evil.example", "/"), ("/\\evil", "/"), ("", "/")],
)
def test_redirects_stay_inside_the_portal(target: str, expected: str) -> None:
    assert local_path(target) == expected


def test_timeline_of_an_application() -> None:
    steps = timeline({"status": "interview_scheduled", "eligible": True})
    assert [s["step"] for s in steps if s["done"]] == ["submitted", "screened", "shortlisted", "interview_scheduled"]
    assert [s["step"] for s in steps if s["current"]] == ["interview_scheduled"]
    ineligible = timeline({"status": "ineligible", "eligible": False})
    assert [s["step"] for s in ineligible] == ["submitted", "screened"]
    withdrawn = timeline({"status": "withdrawn", "eligible": True})
    assert [s["step"] for s in withdrawn] == ["submitted", "screened", "withdrawn"]


def test_api_field_errors_are_keyed_by_form_field() -> None:
    response = httpx.Response(
        422,
        json={
            "error": "invalid_input",
            "detail": "invalid",
            "errors": [{"field": "candidate.birth_date", "message": "Input should be a valid date", "type": "x"}],
        },
    )
    error = _error(response)
    assert error.status == 422 and error.fields == {"candidate.birth_date": "Input should be a valid date"}


def test_content_security_policy_has_no_inline_script() -> None:
    csp = content_security_policy(PortalSettings(oidc_issuer="https://auth.example.org/realms/vies"))
    assert "script-src 'self';" in csp and "unsafe" not in csp
    assert "form-action 'self' https://auth.example.org" in csp


def test_cookies_are_secure_outside_local_http() -> None:
    assert not PortalSettings(public_url="http://127.0.0.1:8000").secure_cookies
    assert PortalSettings(public_url="https://portal.example.org").secure_cookies


@pytest.mark.parametrize(
    ("header", "peer", "expected"),
    [
        (None, "203.0.113.7", "203.0.113.7"),  # run locally: the peer is the visitor
        ("198.51.100.4", "10.2.3.4", "198.51.100.4, 10.2.3.4"),  # behind the Ingress controller
        ("1.1.1.1, 198.51.100.4", "10.2.3.4", "1.1.1.1, 198.51.100.4, 10.2.3.4"),  # a forged hop stays leftmost
    ],
)
def test_the_visitors_address_chain_is_sent_on(header: str | None, peer: str, expected: str) -> None:
    from starlette.requests import Request

    headers = [(b"x-forwarded-for", header.encode())] if header else []
    request = Request({"type": "http", "headers": headers, "client": (peer, 50000)})
    assert forwarded_for(request) == expected
