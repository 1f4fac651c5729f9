"""The volunteer's contact form as recruitment's PATCH /persons/{id} reads it, and its errors back beside the fields."""

from __future__ import annotations

from typing import Any

from vies_portal.apis import ApiError
from vies_portal.volunteer import _contact_body, _contact_errors, _contact_values


def test_the_emergency_contact_is_sent_whole_only_when_given() -> None:
    form = {"name": "Chloé Garnier", "phone": "", "language": "fr"}
    assert _contact_body(form) == {"name": "Chloé Garnier", "phone": None, "language": "fr"}
    given = {
        **form,
        "emergency_name": " Marie Garnier ",
        "emergency_relation": "mère",
        "emergency_phone": "+33 6 12 34 56 78",
        "emergency_email": "",
    }
    assert _contact_body(given)["emergency_contact"] == {
        "name": "Marie Garnier",
        "relation": "mère",
        "phone": "+33 6 12 34 56 78",
        "email": None,
    }


def test_the_form_shows_what_is_held() -> None:
    profile: dict[str, Any] = {
        "name": "Chloé Garnier",
        "phone": None,
        "language": "en",
        "emergency_contact": {"name": "Marie", "relation": "mère", "phone": "+3361234", "email": None},
    }
    values = _contact_values(profile)
    assert values["phone"] == "" and values["language"] == "en"
    assert values["emergency_name"] == "Marie" and values["emergency_email"] == ""


def test_api_field_errors_land_beside_the_emergency_fields(monkeypatch: Any) -> None:
    monkeypatch.setattr("vies_portal.volunteer._", lambda request, message: message)
    error = ApiError(422, fields={"emergency_contact.phone": "String should match pattern", "phone": "too long"})
    assert set(_contact_errors(None, error)) == {"emergency_phone", "phone"}  # type: ignore[arg-type]
