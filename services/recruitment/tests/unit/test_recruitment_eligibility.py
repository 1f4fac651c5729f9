"""Each scheme rule with a passing and a failing case at its boundary (table-driven)."""

from __future__ import annotations

from datetime import date

import pytest

from vies_recruitment.domain.eligibility import (
    PERMIT_NEEDS_ONE_YEAR,
    PERMIT_WITHOUT_RESIDENCE_CONDITION,
    RULES,
    SCHEMES,
    Candidate,
    Case,
    EligibilityPolicy,
    Placement,
    add_months,
    age_on,
    catalogue,
    check,
    months_between,
)

START = date(2027, 3, 1)
POLICY = EligibilityPolicy()


def born(years_before_start: int, days: int = 0) -> date:
    """Birth date so that the candidate turns ``years_before_start`` ``days`` days after the start date."""
    from datetime import timedelta

    return add_months(START, -12 * years_before_start) + timedelta(days=days)


def adult(nationality: str = "FR", residence: str = "FR", **kw: object) -> Candidate:
    return Candidate(born(30), nationality, residence, **kw)  # type: ignore[arg-type]


def young(nationality: str, residence: str, others: tuple[str, ...] = (), **kw: object) -> Candidate:
    return Candidate(born(20), nationality, residence, False, others, **kw)  # type: ignore[arg-type]


def employee(seniority_months: int) -> Candidate:
    return adult(employment="employee", seniority_months=seniority_months)


SC_NATIONALITY = "service_civique.nationality_or_residence"
JSI_DESTINATION = "jsi_vvvsi.destination"
SCR = "service_civique_reciprocity"
ONE_YEAR = PERMIT_NEEDS_ONE_YEAR
NO_CONDITION = PERMIT_WITHOUT_RESIDENCE_CONDITION
# Service Civique reciprocity is frozen by default (its own case below); the table checks its rules open.
OPEN = EligibilityPolicy(service_civique_reciprocity_frozen=False)


def codes(case: Case) -> set[str]:
    return {r.code for r in check(case)}


CASES = [
    # (id, scheme, country, months or days, candidate, served months, partner country, failing code or None)
    # --- VSI
    ("vsi adult on 18th birthday", "vsi", "SN", 12, Candidate(born(18), "FR", "FR"), 0, None, None),
    ("vsi 17 the day before 18th birthday", "vsi", "SN", 12, Candidate(born(18, 1), "FR", "FR"), 0, None, "vsi.adult"),
    ("vsi no upper age", "vsi", "SN", 12, Candidate(born(80), "FR", "FR"), 0, None, None),
    ("vsi outside EEA", "vsi", "MA", 12, adult(), 0, None, None),
    ("vsi in an EEA country", "vsi", "PT", 12, adult(), 0, None, "vsi.outside_eea"),
    ("vsi in Norway (EEA, not EU)", "vsi", "NO", 12, adult(), 0, None, "vsi.outside_eea"),
    ("vsi in La Reunion (France)", "vsi", "RE", 12, adult("SN", "SN"), 0, None, "vsi.outside_eea"),
    ("vsi in New Caledonia (France)", "vsi", "NC", 12, adult("SN", "SN"), 0, None, "vsi.outside_eea"),
    (
        "vsi in Senegal for a French-Senegalese",
        "vsi",
        "SN",
        12,
        adult("FR", "FR", other_nationalities=("SN",)),
        0,
        None,
        "vsi.not_nationality_country",
    ),
    (
        "vsi in Mali for a French-Senegalese",
        "vsi",
        "ML",
        12,
        adult("FR", "FR", other_nationalities=("SN",)),
        0,
        None,
        None,
    ),
    ("vsi in nationality country", "vsi", "SN", 12, adult("SN", "FR"), 0, None, "vsi.not_nationality_country"),
    ("vsi in residence country", "vsi", "SN", 12, adult("FR", "SN"), 0, None, "vsi.not_residence_country"),
    ("vsi contract of 24 months", "vsi", "SN", 24, adult(), 0, None, None),
    ("vsi contract of 25 months", "vsi", "SN", 25, adult(), 0, None, "vsi.contract_max"),
    ("vsi 5y10m served + 2 months", "vsi", "SN", 2, adult(), 70, None, None),
    ("vsi 5y11m served + 2 months", "vsi", "SN", 2, adult(), 71, None, "vsi.lifetime_cap"),
    # --- Service Civique: a 25-year-old the day before / after their 26th birthday
    (
        "sc 25, start the day before 26th birthday",
        "service_civique",
        "SN",
        6,
        Candidate(born(26, 1), "FR", "FR"),
        0,
        None,
        None,
    ),
    (
        "sc 26, start the day after 26th birthday",
        "service_civique",
        "SN",
        6,
        Candidate(born(26, -1), "FR", "FR"),
        0,
        None,
        "service_civique.max_age",
    ),
    (
        "sc 26 on the 26th birthday",
        "service_civique",
        "SN",
        6,
        Candidate(born(26), "FR", "FR"),
        0,
        None,
        "service_civique.max_age",
    ),
    ("sc 30 with disability", "service_civique", "SN", 6, Candidate(born(31, 1), "FR", "FR", True), 0, None, None),
    (
        "sc 31 with disability",
        "service_civique",
        "SN",
        6,
        Candidate(born(31), "FR", "FR", True),
        0,
        None,
        "service_civique.max_age",
    ),
    ("sc 16 on start date", "service_civique", "SN", 6, Candidate(born(16), "FR", "FR"), 0, None, None),
    (
        "sc 15 the day before 16th birthday",
        "service_civique",
        "SN",
        6,
        Candidate(born(16, 1), "FR", "FR"),
        0,
        None,
        "service_civique.min_age",
    ),
    ("sc 6 months", "service_civique", "SN", 6, Candidate(born(20), "FR", "FR"), 0, None, None),
    ("sc 5 months", "service_civique", "SN", 5, Candidate(born(20), "FR", "FR"), 0, None, "service_civique.duration"),
    ("sc 12 months", "service_civique", "SN", 12, Candidate(born(20), "FR", "FR"), 0, None, None),
    ("sc 13 months", "service_civique", "SN", 13, Candidate(born(20), "FR", "FR"), 0, None, "service_civique.duration"),
    # --- Service Civique, nationality or residence (CSN L120-4)
    ("sc US national living in the US", "service_civique", "SN", 6, young("US", "US"), 0, None, SC_NATIONALITY),
    ("sc Belgian living in Belgium", "service_civique", "SN", 6, young("BE", "BE"), 0, None, None),
    ("sc Norwegian (EEA)", "service_civique", "SN", 6, young("NO", "NO"), 0, None, None),
    ("sc US-French dual national", "service_civique", "SN", 6, young("US", "US", ("FR",)), 0, None, None),
    (
        "sc foreigner in France 13 months, permit needing a year",
        "service_civique",
        "SN",
        6,
        young("MA", "FR", residence_permit=ONE_YEAR, in_france_since=add_months(START, -13)),
        0,
        None,
        None,
    ),
    (
        "sc foreigner in France exactly a year, permit needing more than a year",
        "service_civique",
        "SN",
        6,
        young("MA", "FR", residence_permit=ONE_YEAR, in_france_since=add_months(START, -12)),
        0,
        None,
        SC_NATIONALITY,
    ),
    (
        "sc foreigner in France 2 months, permit without residence condition",
        "service_civique",
        "SN",
        6,
        young("MA", "FR", residence_permit=NO_CONDITION, in_france_since=add_months(START, -2)),
        0,
        None,
        None,
    ),
    (
        "sc foreigner with a permit but living abroad",
        "service_civique",
        "SN",
        6,
        young("MA", "MA", residence_permit=NO_CONDITION),
        0,
        None,
        SC_NATIONALITY,
    ),
    ("sc foreigner in France without permit", "service_civique", "SN", 6, young("MA", "FR"), 0, None, SC_NATIONALITY),
    # --- VEC: employees on international solidarity leave; retirees bound by neither limit
    ("vec 18", "vec", "SN", 6, Candidate(born(18), "FR", "FR", employment="retiree"), 0, None, None),
    ("vec 17", "vec", "SN", 6, Candidate(born(18, 1), "FR", "FR", employment="retiree"), 0, None, "vec.adult"),
    ("vec says neither employee nor retiree", "vec", "SN", 3, adult(), 0, None, "vec.employee_or_retiree"),
    ("vec employee 6 months, 12 months' seniority", "vec", "SN", 6, employee(12), 0, None, None),
    ("vec employee 7 months", "vec", "SN", 7, employee(24), 0, None, "vec.leave_duration"),
    ("vec employee 11 months' seniority", "vec", "SN", 3, employee(11), 0, None, "vec.leave_seniority"),
    ("vec retiree 9 months", "vec", "SN", 9, adult(employment="retiree"), 0, None, None),
    # --- JSI / VVV-SI (durations in days as negative numbers; 10 days of action unless said)
    ("jsi 15 years old", "jsi_vvvsi", "SN", -15, Candidate(born(15), "FR", "FR"), 0, None, None),
    ("jsi 14 years old", "jsi_vvvsi", "SN", -15, Candidate(born(15, 1), "FR", "FR"), 0, None, "jsi_vvvsi.age"),
    ("jsi 25 years old", "jsi_vvvsi", "SN", -15, Candidate(born(26, 1), "FR", "FR"), 0, None, None),
    ("jsi 26 years old", "jsi_vvvsi", "SN", -15, Candidate(born(26), "FR", "FR"), 0, None, "jsi_vvvsi.age"),
    ("jsi 15 days", "jsi_vvvsi", "SN", -15, Candidate(born(20), "FR", "FR"), 0, None, None),
    ("jsi 12 days", "jsi_vvvsi", "SN", -12, Candidate(born(20), "FR", "FR"), 0, None, "jsi_vvvsi.duration"),
    ("jsi 40 days (no maximum)", "jsi_vvvsi", "SN", -40, Candidate(born(20), "FR", "FR"), 0, None, None),
    ("jsi in France", "jsi_vvvsi", "FR", -15, Candidate(born(20), "FR", "FR"), 0, None, None),
    ("jsi in La Reunion", "jsi_vvvsi", "RE", -15, Candidate(born(20), "FR", "FR"), 0, None, None),
    ("jsi in a non-ODA country", "jsi_vvvsi", "CA", -15, Candidate(born(20), "FR", "FR"), 0, None, JSI_DESTINATION),
    (
        "jsi in Chile (graduated from ODA)",
        "jsi_vvvsi",
        "CL",
        -15,
        Candidate(born(20), "FR", "FR"),
        0,
        None,
        JSI_DESTINATION,
    ),
    # --- Reciprocity: hosted in France, candidate from the partner's country outside EEA and Switzerland
    ("reciprocity from Senegal", "reciprocity", "FR", 12, adult("SN", "SN"), 0, "SN", None),
    ("reciprocity hosted abroad", "reciprocity", "SN", 12, adult("SN", "SN"), 0, "SN", "reciprocity.hosted_in_france"),
    (
        "reciprocity from another country",
        "reciprocity",
        "FR",
        12,
        adult("MA", "MA"),
        0,
        "SN",
        "reciprocity.from_partner_country",
    ),
    (
        "reciprocity partner in Switzerland",
        "reciprocity",
        "FR",
        12,
        adult("CH", "CH"),
        0,
        "CH",
        "reciprocity.partner_outside_eea",
    ),
    (
        "reciprocity partner in the EEA",
        "reciprocity",
        "FR",
        12,
        adult("DE", "DE"),
        0,
        "DE",
        "reciprocity.partner_outside_eea",
    ),
    ("reciprocity 17", "reciprocity", "FR", 12, Candidate(born(18, 1), "SN", "SN"), 0, "SN", "reciprocity.adult"),
    ("reciprocity 25 months", "reciprocity", "FR", 25, adult("SN", "SN"), 0, "SN", "reciprocity.contract_max"),
    # --- Service Civique reciprocity (open here: OPEN policy below), with Service Civique's ages and durations
    ("sc reciprocity 20-year-old Senegalese, 10 months", SCR, "FR", 10, young("SN", "SN"), 0, "SN", None),
    ("sc reciprocity 40-year-old", SCR, "FR", 10, adult("SN", "SN"), 0, "SN", f"{SCR}.max_age"),
    ("sc reciprocity 20 months", SCR, "FR", 20, young("SN", "SN"), 0, "SN", f"{SCR}.duration"),
    ("sc reciprocity 15-year-old", SCR, "FR", 6, Candidate(born(16, 1), "SN", "SN"), 0, "SN", f"{SCR}.min_age"),
    ("sc reciprocity hosted abroad", SCR, "SN", 10, young("SN", "SN"), 0, "SN", f"{SCR}.hosted_in_france"),
    (
        "sc reciprocity from Morocco, partner in Senegal",
        SCR,
        "FR",
        10,
        young("MA", "MA"),
        0,
        "SN",
        f"{SCR}.from_partner_country",
    ),
    ("sc reciprocity partner in Switzerland", SCR, "FR", 10, young("CH", "CH"), 0, "CH", f"{SCR}.partner_outside_eea"),
]


@pytest.mark.parametrize(
    ("scheme", "country", "length", "candidate", "served", "partner", "failing"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_rule_boundaries(
    scheme: str,
    country: str,
    length: int,
    candidate: Candidate,
    served: float,
    partner: str | None,
    failing: str | None,
) -> None:
    months, days = (None, -length) if length < 0 else (length, None)
    placement = Placement.for_duration(
        scheme, country, START, months=months, days=days, partner_country=partner, action_days=10
    )
    failed = codes(Case(placement, candidate, served, OPEN))
    assert failed == ({failing} if failing else set())


JSI_GROUP_AND_ACTION = [
    # (id, action days, group size, failing code or None): the group's position
    ("group of 4, 10 days of action", 10, 4, None),
    ("group of 16", 10, 16, None),
    ("group of 3", 10, 3, "jsi_vvvsi.group_size"),
    ("group of 17", 10, 17, "jsi_vvvsi.group_size"),
    ("9 days of action", 9, 8, "jsi_vvvsi.action_days"),
    ("action days not given", None, 8, "jsi_vvvsi.action_days"),
]


@pytest.mark.parametrize(
    ("action_days", "group", "failing"), [pytest.param(*c[1:], id=c[0]) for c in JSI_GROUP_AND_ACTION]
)
def test_jsi_group_and_action_days(action_days: int | None, group: int, failing: str | None) -> None:
    placement = Placement.for_duration("jsi_vvvsi", "SN", START, days=15, action_days=action_days, group_size=group)
    assert codes(Case(placement, None, 0, POLICY)) == ({failing} if failing else set())


def test_service_civique_reciprocity_frozen_by_default_and_reopened_by_the_setting() -> None:
    placement = Placement.for_duration(SCR, "FR", START, months=10, partner_country="SN")
    assert codes(Case(placement, young("SN", "SN"), 0, POLICY)) == {f"{SCR}.open"}
    assert codes(Case(placement, young("SN", "SN"), 0, OPEN)) == set()


def test_every_failed_rule_answers_with_its_source() -> None:
    placement = Placement.for_duration("service_civique", "SN", START, months=6)
    (reason,) = check(Case(placement, young("US", "US"), 0, POLICY))
    assert reason.as_dict()["source"].startswith("Code du service national, art. L120-4")


def test_every_rule_has_a_source_and_both_languages_and_is_covered_by_a_failing_case() -> None:
    covered = {c[-1] for c in CASES} | {c[-1] for c in JSI_GROUP_AND_ACTION} | {f"{SCR}.open"}
    for rule in RULES:
        assert rule.source and rule.fr and rule.en, rule.code
        assert rule.code in covered, f"no failing case for {rule.code}"
        reason = rule.reason(POLICY)
        assert "{" not in reason.fr and "{" not in reason.en


def test_all_failed_rules_are_reported_together() -> None:
    placement = Placement.for_duration("vsi", "PT", START, months=30)
    case = Case(placement, Candidate(born(17), "PT", "PT", other_nationalities=("BR",)), 50, POLICY)
    assert codes(case) == {
        "vsi.adult",
        "vsi.outside_eea",
        "vsi.not_nationality_country",
        "vsi.not_residence_country",
        "vsi.contract_max",
        "vsi.lifetime_cap",
    }


def test_placement_rules_alone_skip_candidate_rules() -> None:
    placement = Placement.for_duration("service_civique", "SN", START, months=13)
    assert codes(Case(placement, None, 0, POLICY)) == {"service_civique.duration"}


def test_policy_settings_change_the_rules() -> None:
    strict = EligibilityPolicy(service_civique_min_age=18)
    placement = Placement.for_duration("service_civique", "SN", START, months=6)
    case = Case(placement, Candidate(born(17), "FR", "FR"), 0, strict)
    assert codes(case) == {"service_civique.min_age"}
    assert "18" in check(case)[0].en


@pytest.mark.parametrize(
    ("start", "last", "months"),
    [
        (date(2027, 1, 1), date(2027, 6, 30), 6.0),
        (date(2027, 1, 1), date(2027, 7, 1), 6 + 1 / 30),
        (date(2027, 1, 31), date(2027, 2, 27), 1.0),  # one month from 31 Jan clamps to 28 Feb
        (date(2020, 1, 1), date(2025, 11, 30), 71.0),
        (date(2027, 1, 1), date(2026, 12, 31), 0.0),
    ],
)
def test_months_between(start: date, last: date, months: float) -> None:
    assert months_between(start, last) == pytest.approx(months)


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(2001, 3, 1), date(2027, 2, 28), 25),
        (date(2001, 3, 1), date(2027, 3, 1), 26),
        (date(2008, 2, 29), date(2026, 2, 28), 17),
        (date(2008, 2, 29), date(2026, 3, 1), 18),
    ],
)
def test_age_on(birth: date, day: date, age: int) -> None:
    assert age_on(birth, day) == age


def test_catalogue_lists_every_scheme_with_costs_approval_rules_and_sources_in_two_languages() -> None:
    schemes = catalogue(POLICY)
    guidance_only = ["european_solidarity_corps", "international_work_camps"]
    assert [s["code"] for s in schemes] == [*SCHEMES, *guidance_only]
    for scheme in schemes:
        assert scheme["sources"]
        assert bool(scheme["rules"]) is scheme["eligibility_checked"] is (scheme["code"] not in guidance_only)
        for key in ("name", "for_whom", "ages", "durations", "where", "who_sends_or_hosts", "costs", "approval"):
            assert scheme[key]["fr"] and scheme[key]["en"]
        assert all(rule["source"] for rule in scheme["rules"])
    esc = next(s for s in schemes if s["code"] == "european_solidarity_corps")
    assert "18" in esc["ages"]["en"] and "30" in esc["ages"]["en"]


def test_forty_year_old_on_a_twenty_month_service_civique_reciprocity_position_is_refused() -> None:
    placement = Placement.for_duration(SCR, "FR", START, months=20, partner_country="SN")
    reasons = check(Case(placement, adult("SN", "SN"), 0, OPEN))
    assert {r.code for r in reasons} == {f"{SCR}.max_age", f"{SCR}.duration"}
    assert all("L120-1" in (r.source or "") for r in reasons)
