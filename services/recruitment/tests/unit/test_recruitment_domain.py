"""Application and position life cycles, publishing conditions and match scores (table-driven)."""

from __future__ import annotations

from datetime import date

import pytest

from vies_recruitment.domain import application as states
from vies_recruitment.domain.eligibility import EligibilityPolicy, Placement
from vies_recruitment.domain.matching import match_score
from vies_recruitment.domain.position import (
    CLOSED,
    DRAFT,
    PartnerStanding,
    SendingApproval,
    publish_problems,
)
from vies_shared.errors import NotAllowedInState

ALLOWED = [
    (states.SCREENED, "shortlist", states.SHORTLISTED),
    (states.SHORTLISTED, "interview", states.INTERVIEW_SCHEDULED),
    (states.INTERVIEW_SCHEDULED, "interview", states.INTERVIEW_SCHEDULED),
    (states.INTERVIEW_SCHEDULED, "select", states.SELECTED),
    (states.SELECTED, "engage", states.ENGAGED),
    (states.SELECTED, "reject", states.REJECTED),
    (states.SCREENED, "withdraw", states.WITHDRAWN),
    (states.SELECTED, "withdraw", states.WITHDRAWN),
]
REFUSED = [
    (states.INELIGIBLE, "shortlist"),
    (states.SCREENED, "select"),
    (states.SHORTLISTED, "engage"),
    (states.REJECTED, "engage"),
    (states.ENGAGED, "withdraw"),
    (states.ENGAGED, "reject"),
    (states.WITHDRAWN, "shortlist"),
    (states.INELIGIBLE, "withdraw"),
]


@pytest.mark.parametrize(("status", "action", "target"), ALLOWED)
def test_allowed_transitions(status: str, action: str, target: str) -> None:
    assert states.next_status(status, action) == target


@pytest.mark.parametrize(("status", "action"), REFUSED)
def test_refused_transitions_say_why(status: str, action: str) -> None:
    with pytest.raises(NotAllowedInState) as err:
        states.next_status(status, action)
    assert action in err.value.message


GOOD_VSI = Placement.for_duration("vsi", "SN", date(2027, 3, 1), months=12)
APPROVED = PartnerStanding(known=True, status="approved")
SENDING_OK = SendingApproval(known=True, approved_from=date(2025, 1, 1), approved_until=date(2028, 12, 31))


@pytest.mark.parametrize(
    ("placement", "active", "partner", "sending", "expected"),
    [
        (GOOD_VSI, True, APPROVED, SENDING_OK, set()),
        (GOOD_VSI, False, APPROVED, SENDING_OK, {"position.partnership_ended"}),
        (GOOD_VSI, True, PartnerStanding(known=False), SENDING_OK, {"position.partner_not_approved"}),
        (GOOD_VSI, True, PartnerStanding(known=True, status="rejected"), SENDING_OK, {"position.partner_not_approved"}),
        (GOOD_VSI, True, PartnerStanding(True, "approved", suspended=True), SENDING_OK, {"position.partner_suspended"}),
        (GOOD_VSI, True, APPROVED, None, {"position.sending_organisation_missing"}),
        (
            GOOD_VSI,
            True,
            APPROVED,
            SendingApproval(True, date(2025, 1, 1), date(2027, 2, 28)),
            {"position.sending_organisation_not_approved"},
        ),
        (GOOD_VSI, True, APPROVED, SendingApproval(True, date(2025, 1, 1), date(2027, 3, 1)), set()),
        (GOOD_VSI, True, APPROVED, SendingApproval(True, None, None), {"position.sending_organisation_not_approved"}),
        (GOOD_VSI, True, APPROVED, SendingApproval(False), {"position.sending_organisation_not_approved"}),
        (
            Placement.for_duration("vsi", "ES", date(2027, 3, 1), months=30),
            True,
            APPROVED,
            SENDING_OK,
            {"vsi.outside_eea", "vsi.contract_max"},
        ),
        (
            Placement.for_duration("service_civique", "SN", date(2027, 3, 1), months=4),
            True,
            APPROVED,
            None,
            {"service_civique.duration"},
        ),
    ],
)
def test_publish_problems(
    placement: Placement, active: bool, partner: PartnerStanding, sending: SendingApproval | None, expected: set[str]
) -> None:
    problems = publish_problems(
        status=DRAFT,
        placement=placement,
        policy=EligibilityPolicy(),
        partnership_active=active,
        partner=partner,
        sending=sending,
    )
    assert {p.code for p in problems} == expected


def test_only_drafts_are_published() -> None:
    with pytest.raises(NotAllowedInState):
        publish_problems(
            status=CLOSED,
            placement=GOOD_VSI,
            policy=EligibilityPolicy(),
            partnership_active=True,
            partner=APPROVED,
            sending=SENDING_OK,
        )


@pytest.mark.parametrize(
    ("languages", "skills", "spoken", "has", "score"),
    [
        ([], [], [], [], 1.0),
        (["fr", "wo"], ["water"], ["fr", "wo"], ["Water"], 1.0),
        (["fr", "wo"], ["water"], ["fr"], [], 0.3),
        (["fr"], ["water", "health"], ["en"], ["health"], 0.2),
    ],
)
def test_match_score(languages: list[str], skills: list[str], spoken: list[str], has: list[str], score: float) -> None:
    assert match_score(languages, skills, spoken, has) == pytest.approx(score)
