"""The journey's steps, next actions, interviews and stalling (pure domain)."""

from __future__ import annotations

from datetime import date

import pytest

from vies_partners.domain.journey import STEP_ORDER, JourneyFacts, MissionFacts, interviews_of, is_stalled, view

TODAY = date(2026, 11, 26)


def facts(upto: str | None, *, enrolled: bool = True, missions: list[MissionFacts] | None = None) -> JourneyFacts:
    reached: dict[str, date | None] = {}
    on = True
    for i, step in enumerate(STEP_ORDER):
        reached[step] = date(2026, 1, 1 + i) if on else None
        if step == upto:
            on = False
    return JourneyFacts("aut-1", enrolled, reached, missions or [])


@pytest.mark.parametrize(
    ("upto", "next_step", "french"),
    [
        ("registered", "partner_found", "Trouvez un partenaire"),
        ("partner_found", "position_published", "Publiez une offre"),
        ("position_published", "candidate_selected", "Étudiez les candidatures"),
        ("candidate_selected", "volunteer_engaged", "Signez le contrat"),
        ("volunteer_engaged", "mission_started", "Préparez le départ"),
        ("mission_started", "mission_ended", "Suivez la mission"),
        ("mission_ended", "done", "Parcours terminé"),
    ],
)
def test_next_action_follows_the_first_pending_step(upto: str, next_step: str, french: str) -> None:
    body = view(facts(upto), today=TODAY, start_within_days=30).model_dump()
    assert body["next"]["step"] == next_step and body["next"]["fr"].startswith(french) and body["next"]["en"]
    pending = [s["step"] for s in body["steps"] if s["date"] == "pending"]
    assert pending == list(STEP_ORDER[STEP_ORDER.index(upto) + 1 :])


def test_interview_due_dates_come_from_the_mission_dates() -> None:
    planned = MissionFacts("m-1", starts_on=date(2026, 9, 1), ends_on=date(2027, 8, 31))
    assert [(i.stage, i.due_on) for i in interviews_of(planned, 30)] == [
        ("start", date(2026, 10, 1)),
        ("mid", date(2027, 3, 2)),
        ("end", date(2027, 8, 31)),
    ]
    started = MissionFacts(
        "m-1",
        starts_on=date(2026, 9, 1),
        ends_on=date(2027, 8, 31),
        departed_on=date(2026, 9, 15),
        ended_on=date(2027, 3, 15),
        interviews_done={"start": date(2026, 10, 1)},
    )
    assert [(i.stage, i.due_on, i.done_on) for i in interviews_of(started, 30)] == [
        ("start", date(2026, 10, 15), date(2026, 10, 1)),
        ("mid", date(2026, 12, 14), None),  # 181 days: half way
        ("end", date(2027, 3, 15), None),
    ]


def test_after_the_steps_the_next_action_is_the_earliest_interview_and_overdue_ones_show() -> None:
    mission = MissionFacts(
        "m-9",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 7, 1),
        departed_on=date(2026, 1, 1),
        ended_on=date(2026, 7, 1),
        interviews_done={"start": date(2026, 1, 20)},
    )
    body = view(facts("mission_ended", missions=[mission]), today=TODAY, start_within_days=30).model_dump()
    assert body["next"]["step"] == "interview_mid" and "m-9" in body["next"]["fr"]
    assert [i["overdue"] for i in body["interviews"]] == [False, True, True]
    assert body["complete"] is False


@pytest.mark.parametrize(
    ("upto", "enrolled", "last_day", "stalled"),
    [
        ("registered", True, date(2026, 10, 1), True),  # 56 days
        ("registered", True, date(2026, 10, 27), True),  # exactly 30 days
        ("registered", True, date(2026, 10, 28), False),  # 29 days
        ("registered", False, date(2026, 1, 1), False),  # not enrolled in the programme
        ("mission_ended", True, date(2026, 1, 1), False),  # nothing left to do
    ],
)
def test_stalled_after_thirty_days_without_progress(upto: str, enrolled: bool, last_day: date, stalled: bool) -> None:
    f = facts(upto, enrolled=enrolled)
    reached = {k: (last_day if v else None) for k, v in f.reached.items()}
    f = JourneyFacts(f.authority_id, enrolled, reached, [])
    assert is_stalled(f, today=TODAY, after_days=30, start_within_days=30) is stalled
