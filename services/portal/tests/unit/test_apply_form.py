"""The application form sent back on an error: what was typed, the position as shown, errors beside the fields.

The portal's own routes run in process (no stack): the session store and the APIs are fakes, the
candidate's session is signed in, and the form is posted as a browser would post it.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from vies_portal.apis import ApiError, ApiUnavailable
from vies_portal.app import create
from vies_portal.oidc import Provider
from vies_portal.sessions import COOKIE, Session
from vies_portal.settings import PortalSettings
from vies_portal.web import Portal, template_environment

CSRF = "csrf-of-the-test-session"
GROUP = {"places": "8", "duration_days": "15", "action_days": "10", "sponsor": "Les Amis du Sahel"}
# A JSI / VVV-SI candidate's form as the browser posts it: the position's hidden fields and every declared fact.
JSI_FORM = {
    "csrf_token": CSRF,
    "position_title": "Chantier jeunes à Ziguinchor",
    "position_scheme": "jsi_vvvsi",
    **{f"position_{name}": value for name, value in GROUP.items()},
    "name": "",  # missing: the portal refuses before asking the API
    "birth_date": "2007-05-02",
    "nationality": "FR",
    "other_nationality_1": "SN",
    "other_nationality_2": "MA",
    "residence_country": "FR",
    "phone": "+33 6 12 34 56 78",
    "language": "en",
    "languages": "fr, wo",
    "skills": "animation",
    "disability": "on",
    "motivation": "Rejoindre le groupe",
}


class Sessions:
    """The session store in memory, holding one signed-in candidate."""

    def __init__(self, lang: str) -> None:
        self.session = Session(
            id="sid",
            csrf=CSRF,
            lang=lang,
            tokens={"access_token": "a", "refresh_token": "r", "id_token": "i", "expires_at": time.time() + 3600},
            person={"sub": "cand-1", "name": "Awa", "email": "awa@example.org", "role": "candidate"},
        )

    async def load(self, session_id: str) -> Session | None:
        return self.session if session_id == self.session.id else None

    def new(self, lang: str = "fr") -> Session:
        return Session(id="new", csrf="other", lang=lang, is_new=True)

    async def save(self, session: Session) -> None:
        return None

    async def delete(self, session_id: str) -> None:
        return None


class Apis:
    """Recruitment answering ``POST /positions/{id}/applications`` with ``refusal``."""

    def __init__(self, refusal: Exception) -> None:
        self.refusal = refusal
        self.calls: list[tuple[str, str]] = []

    async def call(self, service: str, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        raise self.refusal


def _post(form: dict[str, str], refusal: Exception, lang: str = "en") -> tuple[httpx.Response, Apis]:
    settings = PortalSettings()
    app = create(settings)
    apis = Apis(refusal)
    # No lifespan: the collaborators are set here, nothing connects.
    app.state.portal = Portal(
        settings,
        Sessions(lang),  # type: ignore[arg-type]
        Provider(settings, httpx.AsyncClient()),
        apis,  # type: ignore[arg-type]
        template_environment(),
    )
    client = TestClient(app)
    client.cookies.set(COOKIE, "sid")
    return client.post("/positions/pos-jsi/apply", data=form, follow_redirects=False), apis


def _value(html: str, name: str) -> str:
    """The value an input of the page holds."""
    match = re.search(rf'<input id="{name}" name="{name}" [^>]*value="([^"]*)"', html)
    assert match, f"no input {name}"
    return match.group(1)


def _selected(html: str, name: str) -> str:
    """The option selected in a select of the page."""
    select = re.search(rf'<select id="{name}" name="{name}".*?</select>', html, re.S)
    assert select, f"no select {name}"
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(0))
    return chosen.group(1) if chosen else ""


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_jsi_candidates_form_comes_back_whole_with_the_group_shown(lang: str) -> None:
    response, apis = _post(JSI_FORM, ApiUnavailable("recruitment"), lang)
    html = response.text
    assert response.status_code == 422 and not apis.calls  # refused before asking the API
    # The group the candidate joins is shown again, and carried on for the next try.
    assert "Les Amis du Sahel" in html and "<dd>8</dd>" in html and "<dd>10</dd>" in html
    for name, value in GROUP.items():
        assert f'name="position_{name}" value="{value}"' in html
    assert 'name="position_scheme" value="jsi_vvvsi"' in html
    # Everything typed is kept.
    assert _value(html, "birth_date") == "2007-05-02" and _value(html, "phone") == "+33 6 12 34 56 78"
    assert _value(html, "languages") == "fr, wo" and _value(html, "skills") == "animation"
    assert _selected(html, "nationality") == "FR" and _selected(html, "residence_country") == "FR"
    assert _selected(html, "other_nationality_1") == "SN" and _selected(html, "other_nationality_2") == "MA"
    assert '<option value="en" selected>' in html and 'name="disability" type="checkbox" checked' in html
    assert ">Rejoindre le groupe</textarea>" in html
    # The error beside the field and in the summary, in the reader's language.
    required = "Ce champ est obligatoire." if lang == "fr" else "This field is required."
    assert 'id="name-error"><span class="visually-hidden">' in html and required in html
    assert re.search(r'<a href="#name">[^<]+: ' + re.escape(required) + "</a>", html)


def test_the_group_is_shown_again_when_the_api_is_down() -> None:
    form = {**JSI_FORM, "name": "Awa Ndiaye"}
    response, apis = _post(form, ApiUnavailable("recruitment"))
    assert response.status_code == 503 and apis.calls == [("POST", "/positions/pos-jsi/applications")]
    assert "Les Amis du Sahel" in response.text and _value(response.text, "name") == "Awa Ndiaye"


@pytest.mark.parametrize(
    ("scheme", "typed", "api_field", "field"),
    [
        (
            "vsi",
            {"vsi_months_served_elsewhere": "130"},
            "candidate.vsi_months_served_elsewhere",
            "vsi_months_served_elsewhere",
        ),
        (
            "service_civique",
            {"residence_permit": "needs_one_year_in_france", "in_france_since": "2030-01-01"},
            "candidate.in_france_since",
            "in_france_since",
        ),
        (
            "vec",
            {"employment": "employee", "seniority_months": "900"},
            "candidate.seniority_months",
            "seniority_months",
        ),
        # the second nationality given is the API's first other one
        (
            "vsi",
            {"other_nationality_1": "", "other_nationality_2": "SN"},
            "candidate.other_nationalities.0",
            "other_nationality_2",
        ),
    ],
)
def test_the_apis_field_errors_land_beside_the_declared_facts_which_keep_their_values(
    scheme: str, typed: dict[str, str], api_field: str, field: str
) -> None:
    form = {**JSI_FORM, "position_scheme": scheme, "name": "Awa Ndiaye", **typed}
    refusal = ApiError(422, "invalid_input", "invalid", {api_field: "Input should be less than or equal to 720"})
    response, _ = _post(form, refusal)
    html = response.text
    assert response.status_code == 422
    assert f'id="{field}-error"' in html and f'<a href="#{field}">' in html  # beside the field and in the summary
    assert "Enter a number within the limits." in html
    for name, value in typed.items():
        chosen = name in ("residence_permit", "employment") or "nationality" in name
        assert (_selected(html, name) if chosen else _value(html, name)) == value
