"""The Territoires Volontaires journey of an authority, built only from facts learned from events.

registered → partner found → position published → candidate selected → volunteer engaged →
mission started → mission ended, plus the follow-up interviews at the start, middle and end of each
mission (the agency's practice: at least three formal interviews, docs/DOMAIN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import BaseModel

# step → (French label, English label, next action in French, next action in English)
STEPS: dict[str, tuple[str, str, str, str]] = {
    "registered": (
        "Inscription",
        "Registered",
        "Inscrivez votre collectivité sur la plateforme.",
        "Register your authority on the platform.",
    ),
    "partner_found": (
        "Partenaire trouvé",
        "Partner found",
        "Trouvez un partenaire : lancez une demande d'identification de partenaires, puis établissez un partenariat.",
        "Find a partner: submit a match request, then establish a partnership.",
    ),
    "position_published": (
        "Offre de mission publiée",
        "Position published",
        "Publiez une offre de mission de volontariat dans le cadre de votre partenariat.",
        "Publish a volunteer position within your partnership.",
    ),
    "candidate_selected": (
        "Candidat sélectionné",
        "Candidate selected",
        "Étudiez les candidatures et sélectionnez un candidat.",
        "Review the applications and select a candidate.",
    ),
    "volunteer_engaged": (
        "Volontaire engagé",
        "Volunteer engaged",
        "Signez le contrat d'engagement du volontaire sélectionné.",
        "Sign the engagement contract with the selected volunteer.",
    ),
    "mission_started": (
        "Mission commencée",
        "Mission started",
        "Préparez le départ du volontaire : formation, visa, voyage.",
        "Prepare the volunteer's departure: training, visa, travel.",
    ),
    "mission_ended": (
        "Mission terminée",
        "Mission ended",
        "Suivez la mission en cours jusqu'à son terme.",
        "Follow the mission under way until it ends.",
    ),
}
STEP_ORDER: tuple[str, ...] = tuple(STEPS)
INTERVIEW_STAGES: dict[str, tuple[str, str]] = {
    "start": ("de début de mission", "start-of-mission"),
    "mid": ("de mi-parcours", "mid-mission"),
    "end": ("de fin de mission", "end-of-mission"),
}


@dataclass(frozen=True)
class MissionFacts:
    """What the journey knows of one mission of the authority."""

    mission_id: str
    starts_on: date | None = None
    ends_on: date | None = None
    departed_on: date | None = None
    ended_on: date | None = None
    interviews_done: dict[str, date] = field(default_factory=dict)


@dataclass(frozen=True)
class JourneyFacts:
    """The first date each step was reached (None: not yet), the authority's missions and who it is."""

    authority_id: str
    enrolled: bool
    reached: dict[str, date | None]
    missions: list[MissionFacts] = field(default_factory=list)
    name: str = ""
    region: str = ""
    enrolled_since: date | None = None
    new_to_cooperation: bool | None = None


@dataclass(frozen=True)
class Interview:
    """A follow-up interview: when it is due (derived from the mission's dates) and when it was done."""

    mission_id: str
    stage: str
    due_on: date | None
    done_on: date | None


def interviews_of(mission: MissionFacts, start_within_days: int) -> list[Interview]:
    """Start, mid-point and end interviews, due dates derived from the mission's actual or planned dates."""
    start = mission.departed_on or mission.starts_on
    end = mission.ended_on or mission.ends_on
    due_start = start + timedelta(days=start_within_days) if start else None
    due_mid = start + (end - start) / 2 if start and end and end > start else None
    return [
        Interview(mission.mission_id, "start", due_start, mission.interviews_done.get("start")),
        Interview(mission.mission_id, "mid", due_mid, mission.interviews_done.get("mid")),
        Interview(mission.mission_id, "end", end, mission.interviews_done.get("end")),
    ]


def _pending(value: date | None) -> str:
    return value.isoformat() if value else "pending"


def last_progress(facts: JourneyFacts) -> date | None:
    """The latest date at which the authority moved forward (a step or an interview)."""
    dates = [d for d in facts.reached.values() if d]
    dates += [d for m in facts.missions for d in m.interviews_done.values()]
    return max(dates) if dates else None


class StepLine(BaseModel):
    """A step of the journey, in French and English, with the date it was reached or ``pending``."""

    step: str
    label_fr: str
    label_en: str
    date: str


class InterviewLine(BaseModel):
    """A follow-up interview of a mission: due and done dates (or ``pending``), overdue or not."""

    mission_id: str
    stage: str
    due_on: str
    done_on: str
    overdue: bool


class NextAction(BaseModel):
    """The next thing to do, in French and English (``step``: a step, ``interview_<stage>`` or ``done``)."""

    step: str
    fr: str
    en: str


class Journey(BaseModel):
    """An authority's Territoires Volontaires journey: each step's date or ``pending``, the follow-up
    interviews, the next thing to do and whether anything is left."""

    authority_id: str
    territoires_volontaires: bool
    steps: list[StepLine]
    interviews: list[InterviewLine]
    next: NextAction
    last_progress_on: date | None
    complete: bool
    name: str
    region: str
    territoires_volontaires_since: date | None
    new_to_cooperation: bool | None


DONE = NextAction(
    step="done",
    fr="Parcours terminé : préparez une nouvelle mission ou un accueil en réciprocité.",
    en="Journey complete: plan a new mission or host a volunteer under reciprocity.",
)


def _next_action(next_step: str | None, pending_interviews: list[Interview]) -> NextAction:
    """The first step not reached; after the steps, the earliest interview due; then nothing."""
    if next_step is not None:
        _, _, todo_fr, todo_en = STEPS[next_step]
        return NextAction(step=next_step, fr=todo_fr, en=todo_en)
    if not pending_interviews:
        return DONE
    first = pending_interviews[0]
    stage_fr, stage_en = INTERVIEW_STAGES[first.stage]
    due = first.due_on.isoformat() if first.due_on else ""
    return NextAction(
        step=f"interview_{first.stage}",
        fr=f"Réalisez l'entretien de suivi {stage_fr} de la mission {first.mission_id} (prévu le {due}).",
        en=f"Hold the {stage_en} follow-up interview of mission {first.mission_id} (due {due}).",
    )


def view(facts: JourneyFacts, *, today: date, start_within_days: int) -> Journey:
    """Each step with its date or ``pending``, the interviews, and the next thing to do in French and English."""
    steps = [
        StepLine(step=name, label_fr=STEPS[name][0], label_en=STEPS[name][1], date=_pending(facts.reached.get(name)))
        for name in STEP_ORDER
    ]
    interviews = [i for m in facts.missions for i in interviews_of(m, start_within_days)]
    next_step = next((name for name in STEP_ORDER if not facts.reached.get(name)), None)
    pending_interviews = sorted(
        (i for i in interviews if i.done_on is None and i.due_on is not None),
        key=lambda i: (i.due_on or today, i.mission_id),
    )
    overdue = [i for i in pending_interviews if i.due_on is not None and i.due_on < today]
    return Journey(
        authority_id=facts.authority_id,
        territoires_volontaires=facts.enrolled,
        steps=steps,
        interviews=[
            InterviewLine(
                mission_id=i.mission_id,
                stage=i.stage,
                due_on=_pending(i.due_on),
                done_on=_pending(i.done_on),
                overdue=i in overdue,
            )
            for i in interviews
        ],
        next=_next_action(next_step, pending_interviews),
        last_progress_on=last_progress(facts),
        # Interviews due after the journey's last steps count as still to do, so "complete" means nothing left.
        complete=next_step is None and not pending_interviews,
        name=facts.name,
        region=facts.region,
        territoires_volontaires_since=facts.enrolled_since,
        new_to_cooperation=facts.new_to_cooperation,
    )


class StalledJourney(BaseModel):
    """An enrolled authority that stopped moving forward: since when, and what it has to do next."""

    authority_id: str
    name: str
    region: str
    last_progress_on: date | None
    days_without_progress: int | None
    next: NextAction


class StalledJourneys(BaseModel):
    """The stalled journeys among a page of the enrolled authorities (``enrolled``: how many in all)."""

    region: str | None
    stalled_after_days: int
    items: list[StalledJourney]
    total: int
    enrolled: int
    limit: int
    offset: int


def stalled(facts: JourneyFacts, *, today: date, after_days: int, start_within_days: int) -> StalledJourney | None:
    """The authority's line among the stalled journeys, None when it is not stalled."""
    if not is_stalled(facts, today=today, after_days=after_days, start_within_days=start_within_days):
        return None
    journey = view(facts, today=today, start_within_days=start_within_days)
    progress = journey.last_progress_on
    return StalledJourney(
        authority_id=facts.authority_id,
        name=facts.name,
        region=facts.region,
        last_progress_on=progress,
        days_without_progress=(today - progress).days if progress else None,
        next=journey.next,
    )


def is_stalled(facts: JourneyFacts, *, today: date, after_days: int, start_within_days: int) -> bool:
    """An enrolled authority that has not moved forward for ``after_days`` days and has something left to do."""
    if not facts.enrolled:
        return False
    if view(facts, today=today, start_within_days=start_within_days).complete:
        return False
    progress = last_progress(facts)
    return progress is None or (today - progress).days >= after_days
