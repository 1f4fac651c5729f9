"""What a candidate declares for the scheme rules, as the pre-check and the application forms send it.

Both forms ask the same facts (every nationality, the residence permit, the VSI time served
elsewhere, employee or retiree for VEC) under the same field names, so that the values typed,
the portal's own checks and the API's field errors map back to the same fields.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from fastapi import Request

from vies_portal.web import _

OTHER_NATIONALITIES = ("other_nationality_1", "other_nationality_2")
"""The form's fields for a dual (or triple) national's other nationalities, in order."""
RESIDENCE_PERMITS = ("needs_one_year_in_france", "without_residence_condition")
"""The permits recruitment knows (Code du service national art. L120-4): its 1°, 2° and 4° need more
than a year in France; its 3° (student, refugee...) and the Algerian student certificate do not."""
NEEDS_ONE_YEAR = RESIDENCE_PERMITS[0]
EMPLOYMENTS = ("employee", "retiree")
"""VEC: going on international solidarity leave as an employee, or as a retiree."""


def other_nationalities(values: dict[str, str]) -> list[tuple[str, str]]:
    """(form field, country code) of each other nationality given, without repeats of the first."""
    seen = {values.get("nationality", "").upper()}
    found = []
    for name in OTHER_NATIONALITIES:
        code = values.get(name, "").strip().upper()
        if code and code not in seen:
            seen.add(code)
            found.append((name, code))
    return found


def months(value: str | None) -> str | None:
    """A number of months as typed ("7,5" in French is 7.5), or None when empty."""
    text = (value or "").strip().replace(",", ".")
    return text or None


def declared(values: dict[str, str]) -> dict[str, Any]:
    """The declared facts both APIs take under the same names (empty ones left out)."""
    body: dict[str, Any] = {"other_nationalities": [code for _, code in other_nationalities(values)]}
    for name in ("residence_permit", "employment"):
        if values.get(name):
            body[name] = values[name]
    if values.get("residence_permit") and values.get("in_france_since"):
        body["in_france_since"] = values["in_france_since"]
    if values.get("employment") == "employee" and values.get("seniority_months"):
        body["seniority_months"] = values["seniority_months"].strip()
    return body


def eligibility_body(values: dict[str, str]) -> dict[str, Any]:
    """``POST /eligibility-checks`` from the pre-check form."""
    days = values.get("duration_days", "").strip()
    duration = values.get("duration_months", "").strip()
    if not duration and days.isdigit() and int(days) > 0:
        # A project of a few days counts in days; months are then only the API's required bound.
        duration = str(max(1, ceil(int(days) / 30)))
    body: dict[str, Any] = {
        "birth_date": values.get("birth_date") or None,
        "nationality": values.get("nationality") or None,
        "residence_country": values.get("residence_country") or None,
        "destination_country": values.get("destination_country") or None,
        "starts_on": values.get("starts_on") or None,
        "duration_months": duration or None,
        "disability": values.get("disability") == "on",
        **declared(values),
    }
    for name in ("scheme", "partner_country", "duration_days", "action_days", "group_size"):
        if values.get(name, "").strip():
            body[name] = values[name].strip()
    served = months(values.get("vsi_months_served_elsewhere"))
    if served:
        body["vsi_months_served"] = served
    return body


def application_facts(values: dict[str, str]) -> dict[str, Any]:
    """The declared facts of an application's ``candidate`` (the rest of the profile is the caller's)."""
    body = declared(values)
    served = months(values.get("vsi_months_served_elsewhere"))
    if served:
        body["vsi_months_served_elsewhere"] = served
    return body


def form_field(api_field: str, values: dict[str, str]) -> str:
    """The form field an API field error concerns (``other_nationalities.1`` is the second one given)."""
    name = api_field.removeprefix("candidate.")
    if name == "vsi_months_served":
        return "vsi_months_served_elsewhere"
    head, _, rest = name.partition(".")
    if head == "other_nationalities":
        given = other_nationalities(values)
        index = int(rest.split(".")[0]) if rest.split(".")[0].isdigit() else 0
        return given[index][0] if index < len(given) else OTHER_NATIONALITIES[0]
    return head


def missing(request: Request, values: dict[str, str], required: tuple[str, ...]) -> dict[str, str]:
    """Field errors the portal sees before asking the API: required fields, and facts a choice needs."""
    errors = {name: _(request, "This field is required.") for name in required if not values.get(name, "").strip()}
    if values.get("residence_permit") == NEEDS_ONE_YEAR and not values.get("in_france_since"):
        errors["in_france_since"] = _(request, "With this permit, say since when you have lived in France.")
    if values.get("employment") == "employee" and not values.get("seniority_months", "").strip():
        errors["seniority_months"] = _(request, "As an employee, give your months with your employer.")
    return errors


def from_profile(profile: dict[str, Any]) -> dict[str, str]:
    """The declared facts of the person's last application, to fill the form again."""
    values = {name: "" for name in OTHER_NATIONALITIES}
    for name, code in zip(OTHER_NATIONALITIES, profile.get("other_nationalities") or [], strict=False):
        values[name] = str(code)
    for name in ("residence_permit", "in_france_since", "employment", "seniority_months"):
        value = profile.get(name)
        values[name] = "" if value is None else str(value)
    return values


def field_errors(request: Request, fields: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    """An API's field errors keyed by form field, in the person's words."""
    return {form_field(name, values): field_message(request, message) for name, message in fields.items()}


def field_message(request: Request, message: str) -> str:
    """A pydantic message (English, technical) as a sentence for the person filling the form."""
    lowered = message.lower()
    if "valid date" in lowered or ("date" in lowered and "input" in lowered):
        return _(request, "Enter a date as day, month and year.")
    if "pattern" in lowered or "string should match" in lowered or "input should be '" in lowered:
        return _(request, "Choose a value from the list.")
    if "at least 1 character" in lowered or "field required" in lowered or "none is not" in lowered:
        return _(request, "This field is required.")
    if "greater than" in lowered or "less than" in lowered or "valid number" in lowered or "valid integer" in lowered:
        return _(request, "Enter a number within the limits.")
    return _(request, "This value is not valid.")
