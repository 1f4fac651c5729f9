"""Vetting, directory, partnership, sending organisation and indicator rules (pure domain, table-driven)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from vies_partners.domain import directory, partnership, sending_organisation, vetting
from vies_partners.domain.indicators import Targets, direction, indicators
from vies_shared.errors import Forbidden, InvalidInput, NotAllowedInState

AT = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "action", "role", "note", "outcome"),
    [
        ("pending", "approve", "centre", None, "approved"),
        ("pending", "reject", "staff", "no legal status", "rejected"),
        ("approved", "suspend", "centre", "audit", "suspended"),
        ("suspended", "reinstate", "staff", None, "approved"),
        ("pending", "reject", "staff", "  ", InvalidInput),
        ("approved", "suspend", "staff", None, InvalidInput),
        ("pending", "suspend", "staff", "audit", NotAllowedInState),
        ("approved", "approve", "staff", None, NotAllowedInState),
        ("rejected", "approve", "staff", None, NotAllowedInState),
        ("approved", "reject", "staff", "late", NotAllowedInState),
        ("suspended", "reinstate", "centre", None, Forbidden),
        ("approved", "reinstate", "staff", None, NotAllowedInState),
    ],
)
def test_vetting_transitions(status: str, action: str, role: str, note: str | None, outcome: object) -> None:
    if isinstance(outcome, str):
        step = vetting.transition(status, action, by="u1", role=role, at=AT, note=note)
        assert (step.from_status, step.to_status, step.by, step.at) == (status, outcome, "u1", AT)
        assert step.to_doc()["action"] == action
    else:
        with pytest.raises(outcome):  # type: ignore[call-overload]
            vetting.transition(status, action, by="u1", role=role, at=AT, note=note)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("Commune de Ziguinchor", "Ziguinchor", "SN"), ("COMMUNE  DE ZIGUINCHÒR", "ziguinchor", "sn"), True),
        (("Asociación Inti", "Cusco", "PE"), ("asociacion inti", "CUSCO", "PE"), True),
        (("Asociación Inti", "Cusco", "PE"), ("Asociación Inti", "Lima", "PE"), False),
        (("Mairie d'Abomey", "Abomey", "BJ"), ("Mairie d Abomey", "Abomey", "BJ"), True),
        (("Mairie d'Abomey", "Abomey", "BJ"), ("Mairie d'Abomey", "Abomey", "TG"), False),
    ],
)
def test_partner_duplicates_ignore_case_accents_and_spacing(
    a: tuple[str, str, str], b: tuple[str, str, str], same: bool
) -> None:
    assert (directory.partner_key(*a) == directory.partner_key(*b)) is same


@pytest.mark.parametrize(("region", "ok"), [("FR-ARA", True), ("FR-974", True), ("FR-PF", True), ("FR-XX", False)])
def test_regions_come_from_the_reference_list(region: str, ok: bool) -> None:
    if ok:
        directory.check_region(region)
    else:
        with pytest.raises(InvalidInput):
            directory.check_region(region)


def test_theme_list_is_fixed_and_labelled() -> None:
    assert len(directory.THEMES) == 12 and directory.theme_label("water_sanitation") == "water and sanitation"


@pytest.mark.parametrize(
    ("status", "starts", "ends", "error"),
    [
        ("approved", date(2026, 1, 1), None, None),
        ("approved", date(2026, 1, 1), date(2027, 1, 1), None),
        ("approved", date(2026, 1, 1), date(2026, 1, 1), InvalidInput),
        ("pending", date(2026, 1, 1), None, NotAllowedInState),
        ("suspended", date(2026, 1, 1), None, NotAllowedInState),
        ("rejected", date(2026, 1, 1), None, NotAllowedInState),
    ],
)
def test_new_partnership(status: str, starts: date, ends: date | None, error: type[Exception] | None) -> None:
    if error is None:
        partnership.check_new_partnership(status, starts, ends)
    else:
        with pytest.raises(error):
            partnership.check_new_partnership(status, starts, ends)


def test_ending_a_partnership_needs_a_reason_once() -> None:
    partnership.check_end("active", "project finished")
    with pytest.raises(InvalidInput):
        partnership.check_end("active", " ")
    with pytest.raises(NotAllowedInState):
        partnership.check_end("ended", "again")
    assert partnership.needs_review("suspended") and not partnership.needs_review("approved")


@pytest.mark.parametrize(
    ("start", "until", "error"),
    [
        (None, None, None),
        (date(2024, 1, 1), date(2027, 12, 31), None),
        (date(2024, 1, 1), date(2028, 1, 1), None),  # exactly 4 years
        (date(2024, 1, 1), date(2028, 1, 2), InvalidInput),
        (date(2024, 2, 29), date(2028, 2, 29), None),
        (date(2024, 1, 1), None, InvalidInput),
        (date(2024, 1, 1), date(2023, 1, 1), InvalidInput),
    ],
)
def test_sending_approval_lasts_at_most_four_years(
    start: date | None, until: date | None, error: type[Exception] | None
) -> None:
    if error is None:
        sending_organisation.check_approval(start, until, 4)
    else:
        with pytest.raises(error):
            sending_organisation.check_approval(start, until, 4)


def test_approval_validity() -> None:
    valid = sending_organisation.approval_valid_on
    assert valid(date(2024, 1, 1), date(2027, 12, 31), date(2026, 11, 26))
    assert not valid(date(2020, 1, 1), date(2023, 12, 31), date(2026, 11, 26))
    assert not valid(None, None, date(2026, 11, 26))


def test_indicators_against_targets() -> None:
    assert direction("reciprocity") == "hosted_in_france" and direction("vsi") == "sent_abroad"
    result = indicators(
        enrolled_authorities=40,
        enrolled_new_to_cooperation=20,
        mission_schemes=[("vsi", True), ("service_civique", True), ("reciprocity", False)],
        partnership_countries=["SN", "SN", "VN"],
        targets=Targets(missions=2, authorities=40, new_to_cooperation_share=0.5),
    ).model_dump()
    assert result["authorities"]["target_met"] is True
    assert result["missions"]["programme"] == 2 and result["missions"]["target_met"] is True
    assert result["missions"]["by_direction"] == {"sent_abroad": 2, "hosted_in_france": 1}
    assert result["partnerships_by_country"] == {"SN": 2, "VN": 1}
    short = indicators(
        enrolled_authorities=40,
        enrolled_new_to_cooperation=19,
        mission_schemes=[],
        partnership_countries=[],
        targets=Targets(missions=250, authorities=40, new_to_cooperation_share=0.5),
    ).model_dump()
    assert short["authorities"]["target_met"] is False and short["missions"]["total"] == 0
