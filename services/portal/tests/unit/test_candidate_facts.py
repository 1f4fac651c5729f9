"""The facts a candidate declares, as the pre-check and application forms send them to recruitment."""

from __future__ import annotations

from typing import Any

import pytest

from vies_portal import facts
from vies_portal.account import _application_body, _required
from vies_portal.web import template_environment

FORM = {
    "birth_date": "1998-02-11",
    "nationality": "FR",
    "other_nationality_1": "SN",
    "other_nationality_2": "fr",  # the first nationality again: sent once
    "residence_country": "FR",
    "destination_country": "SN",
    "starts_on": "2027-03-01",
    "duration_months": "12",
    "scheme": "vsi",
    "vsi_months_served_elsewhere": "7,5",
    "residence_permit": "",
    "employment": "retiree",
    "seniority_months": "40",  # a retiree's seniority is not sent
}


@pytest.fixture(autouse=True)
def _words_as_written(monkeypatch: Any) -> None:
    monkeypatch.setattr("vies_portal.facts._", lambda request, message: message)


def test_the_pre_check_sends_every_nationality_and_the_declared_facts() -> None:
    body = facts.eligibility_body(FORM)
    assert body["nationality"] == "FR" and body["other_nationalities"] == ["SN"]
    assert body["vsi_months_served"] == "7.5" and body["employment"] == "retiree"
    assert "seniority_months" not in body and "residence_permit" not in body and "in_france_since" not in body
    assert body["scheme"] == "vsi" and body["duration_months"] == "12"


def test_a_group_project_counts_in_days() -> None:
    form = {**FORM, "duration_months": "", "duration_days": "15", "action_days": "10", "group_size": "8"}
    body = facts.eligibility_body(form)
    assert body["duration_days"] == "15" and body["action_days"] == "10" and body["group_size"] == "8"
    assert body["duration_months"] == "1"  # only the API's required bound: the days decide


def test_an_application_declares_the_permit_and_the_time_served() -> None:
    form = {
        **FORM,
        "name": "Awa Ndiaye",
        "residence_permit": "needs_one_year_in_france",
        "in_france_since": "2024-01-10",
        "employment": "employee",
        "seniority_months": " 18 ",
    }
    candidate = _application_body(form)["candidate"]
    assert candidate["other_nationalities"] == ["SN"]
    assert candidate["residence_permit"] == "needs_one_year_in_france" and candidate["in_france_since"] == "2024-01-10"
    assert candidate["vsi_months_served_elsewhere"] == "7.5"
    assert candidate["employment"] == "employee" and candidate["seniority_months"] == "18"


def test_api_field_errors_land_on_the_field_that_was_typed() -> None:
    form = {"nationality": "FR", "other_nationality_1": "", "other_nationality_2": "XX"}
    assert facts.form_field("candidate.other_nationalities.0", form) == "other_nationality_2"
    assert facts.form_field("vsi_months_served", form) == "vsi_months_served_elsewhere"
    assert facts.form_field("candidate.residence_permit", form) == "residence_permit"
    errors = facts.field_errors(
        None, {"candidate.seniority_months": "Input should be greater than or equal to 0"}, form
    )  # type: ignore[arg-type]
    assert errors == {"seniority_months": "Enter a number within the limits."}
    permit = facts.field_message(None, "Input should be 'needs_one_year_in_france' or 'without_residence_condition'")  # type: ignore[arg-type]
    assert permit == "Choose a value from the list."


def test_a_choice_asks_for_the_facts_it_needs() -> None:
    form = {"residence_permit": "needs_one_year_in_france", "employment": "employee", "birth_date": "2000-01-01"}
    errors = facts.missing(None, form, ("birth_date", "nationality"))  # type: ignore[arg-type]
    assert set(errors) == {"nationality", "in_france_since", "seniority_months"}
    # a VEC candidate must say employee or retiree before screening, not be closed as ineligible for it
    assert "employment" in _required(None, {"position_scheme": "vec"})  # type: ignore[arg-type]
    assert "employment" not in _required(None, {"position_scheme": "vsi"})  # type: ignore[arg-type]


def test_the_profile_fills_the_declared_facts_again() -> None:
    profile = {"other_nationalities": ["SN", "MA"], "employment": "employee", "seniority_months": 18}
    values = facts.from_profile(profile)
    assert values["other_nationality_1"] == "SN" and values["other_nationality_2"] == "MA"
    assert values["seniority_months"] == "18" and values["residence_permit"] == ""


def _render(template: str, **context: Any) -> str:
    base = {
        "_": lambda m: m,
        "gettext": lambda m: m,
        "ngettext": lambda s, p, n: s if n == 1 else p,
        "text_of": lambda v: v.get("en", "") if isinstance(v, dict) else str(v),
        "country_name": lambda code: code,
        "day": str,
        "when": str,
        "csrf_token": "t",
        "person": {},
        "session": None,
        "lang": "en",
        "other_lang": "fr",
        "title": "t",
        "path": "/",
        "here": "/",
    }
    return template_environment().get_template(template).render({**base, **context})


def test_the_pre_check_shows_each_failed_rule_with_its_source_and_keeps_the_sections_typed_open() -> None:
    result = {
        "results": [
            {
                "scheme": "vsi",
                "eligible": False,
                "reasons": [
                    {"code": "vsi.not_nationality_country", "en": "Not there", "source": "Loi 2005-159, art. 2"}
                ],
            }
        ]
    }
    html = _render(
        "eligibility.html",
        values=FORM,
        errors={"in_france_since": "With this permit, say since when you have lived in France."},
        result=result,
        problem="",
        countries=[("FR", "France"), ("SN", "Senegal")],
        schemes=("vsi",),
        permits=facts.RESIDENCE_PERMITS,
        employments=facts.EMPLOYMENTS,
    )
    assert "Not there" in html and "Loi 2005-159, art. 2" in html
    assert 'id="section-permit" open' in html  # an error inside: never folded away
    assert 'id="section-vsi" open' in html and 'id="section-reciprocity">' in html
    assert '<option value="SN" selected>' in html  # the other nationality kept
    assert 'href="#in_france_since"' in html  # in the error summary too


def test_the_application_form_asks_only_what_the_positions_scheme_needs() -> None:
    common = {"values": {}, "errors": {}, "problem": "", "countries": [], "permits": facts.RESIDENCE_PERMITS}
    common["employments"] = facts.EMPLOYMENTS
    vec = _render("apply.html", position={"position_id": "p", "title": "T", "scheme": "vec"}, **common)
    assert 'name="employment"' in vec and 'name="residence_permit"' not in vec
    civique = _render("apply.html", position={"position_id": "p", "title": "T", "scheme": "service_civique"}, **common)
    assert 'name="residence_permit"' in civique and 'name="vsi_months_served_elsewhere"' not in civique
    group = {"position_id": "p", "title": "T", "scheme": "jsi_vvvsi", "places": 8, "sponsor": "Les Amis du Sahel"}
    jsi = _render("apply.html", position=group, **common)
    assert "Les Amis du Sahel" in jsi and 'name="other_nationality_1"' in jsi
    # carried in the form, so that a page sent back on an error shows the group again
    assert 'name="position_sponsor" value="Les Amis du Sahel"' in jsi and 'name="position_places" value="8"' in jsi
