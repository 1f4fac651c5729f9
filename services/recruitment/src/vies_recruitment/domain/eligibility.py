"""Eligibility rules of the five volunteering schemes, as data, each with its source.

One place holds every rule: screening of applications, ``POST /eligibility-checks``,
publishing a position (the rules about the placement only) and engaging a
volunteer (the rules with the contract's real dates) all call ``check``.

A rule answers one yes/no question about a case (a placement, optionally a
candidate and their past VSI time) and carries a reason a candidate can read in
French and English. Reasons name the rule's parameters, never the candidate's
own data, so they may travel on ``*.events`` topics (contract 1.5).

Where official sources disagree the parameter is a setting (``EligibilityPolicy``
built from ``RecruitmentSettings``) and the comment says which source we follow.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from vies_shared.reference import is_eea, is_eea_or_switzerland

SCHEMES: tuple[str, ...] = ("vsi", "service_civique", "vec", "jsi_vvvsi", "reciprocity")
HOST_COUNTRY_FRANCE = "FR"
_EPSILON = 1e-9


@dataclass(frozen=True)
class EligibilityPolicy:
    """Rule parameters; defaults follow the sources cited next to each rule."""

    vsi_min_age: int = 18
    vsi_max_contract_months: int = 24
    vsi_lifetime_cap_months: int = 72
    service_civique_min_age: int = 16
    service_civique_max_age: int = 25
    service_civique_max_age_disability: int = 30
    service_civique_min_months: int = 6
    service_civique_max_months: int = 12
    vec_min_age: int = 18
    vec_max_months: int = 6
    jsi_min_age: int = 15
    jsi_max_age: int = 25
    jsi_min_days: int = 10
    jsi_max_days: int = 31
    reciprocity_min_age: int = 18
    reciprocity_max_months: int = 24


@dataclass(frozen=True)
class Candidate:
    """What the rules need to know about a candidate."""

    birth_date: date
    nationality: str
    residence_country: str
    disability: bool = False


@dataclass(frozen=True)
class Placement:
    """Where and when a volunteer would serve, under which scheme; ``ends_on`` is the last day."""

    scheme: str
    country: str
    starts_on: date
    ends_on: date
    partner_country: str | None = None  # reciprocity: the partner's country the volunteer comes from

    @classmethod
    def for_duration(
        cls,
        scheme: str,
        country: str,
        starts_on: date,
        *,
        months: int | None = None,
        days: int | None = None,
        partner_country: str | None = None,
    ) -> Placement:
        """A placement of ``days`` days when given, else of ``months`` months, from ``starts_on``."""
        if days:
            ends_on = starts_on + timedelta(days=days - 1)
        else:
            ends_on = add_months(starts_on, months or 0) - timedelta(days=1)
        return cls(scheme, country.upper(), starts_on, max(ends_on, starts_on), partner_country)

    @property
    def months(self) -> float:
        """Length in months (whole months, then remaining days as thirtieths)."""
        return months_between(self.starts_on, self.ends_on)

    @property
    def days(self) -> int:
        """Length in days, both ends included."""
        return (self.ends_on - self.starts_on).days + 1


@dataclass(frozen=True)
class Case:
    """One question put to the rules: a placement, maybe a candidate, and their VSI time already served."""

    placement: Placement
    candidate: Candidate | None = None
    vsi_months_served: float = 0.0
    policy: EligibilityPolicy = field(default_factory=EligibilityPolicy)

    @property
    def age_at_start(self) -> int:
        """The candidate's age in whole years on the first day."""
        assert self.candidate is not None
        return age_on(self.candidate.birth_date, self.placement.starts_on)


@dataclass(frozen=True)
class Reason:
    """A failed rule, readable by a candidate in French and English."""

    code: str
    fr: str
    en: str

    def as_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"code": self.code, "fr": self.fr, "en": self.en}


@dataclass(frozen=True)
class Rule:
    """One eligibility rule of a scheme; ``about`` says whether it needs a candidate."""

    code: str
    scheme: str
    about: Literal["candidate", "placement"]
    source: str
    fr: str
    en: str
    passes: Callable[[Case], bool]

    def reason(self, policy: EligibilityPolicy) -> Reason:
        """The rule's reason with the policy's parameters filled in."""
        return Reason(self.code, self.fr.format(p=policy), self.en.format(p=policy))


# --- calendar arithmetic -------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months (end of month clamps: 31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(starts_on: date, last_day: date) -> float:
    """Length of the period from ``starts_on`` to ``last_day`` included, in months.

    Whole calendar months first, then the remaining days counted as thirtieths,
    so 1 Jan-30 Jun is exactly 6.0 and 1 Jan-1 Jul is 6.033.
    """
    end = last_day + timedelta(days=1)
    if end <= starts_on:
        return 0.0
    whole = (end.year - starts_on.year) * 12 + end.month - starts_on.month
    while whole > 0 and add_months(starts_on, whole) > end:
        whole -= 1
    rest = (end - add_months(starts_on, whole)).days
    return whole + rest / 30


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on ``day`` (a birthday counts from the day itself)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


# --- the rules -----------------------------------------------------------------------------


def _has(case: Case) -> Candidate:
    assert case.candidate is not None
    return case.candidate


def _comes_from_partner_country(case: Case) -> bool:
    candidate = _has(case)
    origins = {candidate.nationality.upper(), candidate.residence_country.upper()}
    if case.placement.partner_country is not None:
        return case.placement.partner_country.upper() in origins
    return any(not is_eea_or_switzerland(country) for country in origins)


RULES: tuple[Rule, ...] = (
    # VSI — Loi n° 2005-159 du 23 février 2005 relative au contrat de volontariat de solidarité
    # internationale; france-volontaires.org, page "Volontariat de Solidarité Internationale".
    Rule(
        "vsi.adult",
        "vsi",
        "candidate",
        "Loi 2005-159 art. 1 (contrat conclu avec une personne majeure)",
        "Il faut être majeur ({p.vsi_min_age} ans) à la date de début de la mission ; il n'y a pas d'âge maximum.",
        "You must be an adult ({p.vsi_min_age}) on the mission's start date; there is no upper age limit.",
        lambda c: c.age_at_start >= c.policy.vsi_min_age,
    ),
    Rule(
        "vsi.outside_eea",
        "vsi",
        "placement",
        "Loi 2005-159 art. 1 (mission hors de l'Espace économique européen)",
        "La mission doit se dérouler hors de l'Espace économique européen.",
        "The mission must take place outside the European Economic Area.",
        lambda c: not is_eea(c.placement.country),
    ),
    Rule(
        "vsi.not_nationality_country",
        "vsi",
        "candidate",
        "Loi 2005-159 art. 1 (mission hors de l'État dont le volontaire est ressortissant)",
        "La mission ne peut pas avoir lieu dans le pays dont vous avez la nationalité.",
        "The mission cannot take place in the country of your nationality.",
        lambda c: c.placement.country != _has(c).nationality.upper(),
    ),
    Rule(
        "vsi.not_residence_country",
        "vsi",
        "candidate",
        "Loi 2005-159 art. 1 (ni dans l'État où le volontaire réside régulièrement)",
        "La mission ne peut pas avoir lieu dans le pays où vous résidez.",
        "The mission cannot take place in the country where you live.",
        lambda c: c.placement.country != _has(c).residence_country.upper(),
    ),
    Rule(
        "vsi.contract_max",
        "vsi",
        "placement",
        "Loi 2005-159 art. 4 (durée maximale du contrat : deux ans)",
        "Un contrat de VSI dure au plus {p.vsi_max_contract_months} mois.",
        "A VSI contract lasts at most {p.vsi_max_contract_months} months.",
        lambda c: c.placement.months <= c.policy.vsi_max_contract_months + _EPSILON,
    ),
    Rule(
        "vsi.lifetime_cap",
        "vsi",
        "candidate",
        "Loi 2005-159 art. 4 (durée cumulée des missions : six ans au plus)",
        "Le temps de VSI cumulé sur une vie, ce contrat compris, ne peut dépasser {p.vsi_lifetime_cap_months} mois.",
        "Lifetime VSI time, this contract included, cannot exceed {p.vsi_lifetime_cap_months} months.",
        lambda c: c.vsi_months_served + c.placement.months <= c.policy.vsi_lifetime_cap_months + _EPSILON,
    ),
    # Service Civique à l'international — service-civique.gouv.fr, "Envoyer un volontaire à
    # l'étranger"; Code du service national art. L120-1. The sources disagree on the minimum
    # age abroad (16 generally, 18 on the page about missions abroad): a setting, 16 by default.
    Rule(
        "service_civique.min_age",
        "service_civique",
        "candidate",
        "Code du service national art. L120-1 ; service-civique.gouv.fr",
        "Il faut avoir au moins {p.service_civique_min_age} ans à la date de début de la mission.",
        "You must be at least {p.service_civique_min_age} on the mission's start date.",
        lambda c: c.age_at_start >= c.policy.service_civique_min_age,
    ),
    Rule(
        "service_civique.max_age",
        "service_civique",
        "candidate",
        "Code du service national art. L120-1 (25 ans, 30 ans en situation de handicap)",
        "Il faut avoir au plus {p.service_civique_max_age} ans à la date de début de la mission "
        "({p.service_civique_max_age_disability} ans pour une personne en situation de handicap).",
        "You must be at most {p.service_civique_max_age} on the mission's start date "
        "({p.service_civique_max_age_disability} with a recognised disability).",
        lambda c: (
            c.age_at_start
            <= (c.policy.service_civique_max_age_disability if _has(c).disability else c.policy.service_civique_max_age)
        ),
    ),
    Rule(
        "service_civique.duration",
        "service_civique",
        "placement",
        "Code du service national art. L120-1 (6 à 12 mois) ; service-civique.gouv.fr",
        "Une mission de Service Civique dure de {p.service_civique_min_months} à {p.service_civique_max_months} mois.",
        "A Service Civique mission lasts {p.service_civique_min_months} to {p.service_civique_max_months} months.",
        lambda c: (
            c.policy.service_civique_min_months - _EPSILON
            <= c.placement.months
            <= c.policy.service_civique_max_months + _EPSILON
        ),
    ),
    # VEC — fonjep.org, page "Volontariat d'Échanges et de Compétences": missions of employees and
    # seniors; Code du travail art. L3142-67 s. (congé de solidarité internationale): at most 6 months.
    Rule(
        "vec.adult",
        "vec",
        "candidate",
        "fonjep.org, Volontariat d'Échanges et de Compétences (salariés et retraités)",
        "Le VEC s'adresse aux adultes ({p.vec_min_age} ans et plus).",
        "VEC is for adults ({p.vec_min_age} and over).",
        lambda c: c.age_at_start >= c.policy.vec_min_age,
    ),
    Rule(
        "vec.short_mission",
        "vec",
        "placement",
        "Code du travail art. L3142-67 s. (congé de solidarité internationale : 6 mois au plus)",
        "Une mission de VEC dure au plus {p.vec_max_months} mois.",
        "A VEC mission lasts at most {p.vec_max_months} months.",
        lambda c: c.placement.months <= c.policy.vec_max_months + _EPSILON,
    ),
    # JSI / VVV-SI — fonjep.org and humanis.org programme pages: groups of young people aged 15-25,
    # projects of about 15 days with at least 10 days of solidarity action (maximum: a setting).
    Rule(
        "jsi_vvvsi.age",
        "jsi_vvvsi",
        "candidate",
        "fonjep.org, programmes JSI et VVV-SI (jeunes de 15 à 25 ans)",
        "Les projets JSI / VVV-SI sont ouverts aux jeunes de {p.jsi_min_age} à {p.jsi_max_age} ans.",
        "JSI / VVV-SI projects are open to young people aged {p.jsi_min_age} to {p.jsi_max_age}.",
        lambda c: c.policy.jsi_min_age <= c.age_at_start <= c.policy.jsi_max_age,
    ),
    Rule(
        "jsi_vvvsi.duration",
        "jsi_vvvsi",
        "placement",
        "fonjep.org, programmes JSI et VVV-SI (environ 15 jours, au moins 10 jours d'action)",
        "Un projet JSI / VVV-SI dure de {p.jsi_min_days} à {p.jsi_max_days} jours.",
        "A JSI / VVV-SI project lasts {p.jsi_min_days} to {p.jsi_max_days} days.",
        lambda c: c.policy.jsi_min_days <= c.placement.days <= c.policy.jsi_max_days,
    ),
    # Reciprocity — loi 2021-1031 art. 8 and décret 2022-1067 (VSI in reciprocity, hosted in France);
    # service-civique.gouv.fr "accueillir un volontaire étranger en réciprocité" (outside EEA and
    # Switzerland). We model the VSI-in-reciprocity contract: adult, at most as long as a VSI contract.
    Rule(
        "reciprocity.hosted_in_france",
        "reciprocity",
        "placement",
        "Loi 2021-1031 art. 8 ; décret 2022-1067 (accueil en France)",
        "Une mission en réciprocité se déroule en France, chez la collectivité.",
        "A reciprocity mission takes place in France, hosted by the authority.",
        lambda c: c.placement.country == HOST_COUNTRY_FRANCE,
    ),
    Rule(
        "reciprocity.partner_outside_eea",
        "reciprocity",
        "placement",
        "service-civique.gouv.fr, accueillir un volontaire étranger en réciprocité (hors EEE et Suisse)",
        "Le pays partenaire doit être hors de l'Espace économique européen et de la Suisse.",
        "The partner's country must be outside the European Economic Area and Switzerland.",
        lambda c: c.placement.partner_country is None or not is_eea_or_switzerland(c.placement.partner_country),
    ),
    Rule(
        "reciprocity.from_partner_country",
        "reciprocity",
        "candidate",
        "Loi 2021-1031 art. 8 (volontaires venant des pays qui accueillent des volontaires français)",
        "Il faut venir du pays du partenaire (nationalité ou résidence), hors EEE et Suisse.",
        "You must come from the partner's country (nationality or residence), outside the EEA and Switzerland.",
        _comes_from_partner_country,
    ),
    Rule(
        "reciprocity.adult",
        "reciprocity",
        "candidate",
        "Décret 2022-1067 (contrat de VSI en réciprocité : personne majeure)",
        "Il faut être majeur ({p.reciprocity_min_age} ans) à la date de début de la mission.",
        "You must be an adult ({p.reciprocity_min_age}) on the mission's start date.",
        lambda c: c.age_at_start >= c.policy.reciprocity_min_age,
    ),
    Rule(
        "reciprocity.contract_max",
        "reciprocity",
        "placement",
        "Loi 2005-159 art. 4, applicable au VSI en réciprocité (deux ans au plus)",
        "Une mission en réciprocité dure au plus {p.reciprocity_max_months} mois.",
        "A reciprocity mission lasts at most {p.reciprocity_max_months} months.",
        lambda c: c.placement.months <= c.policy.reciprocity_max_months + _EPSILON,
    ),
)


def rules_of(scheme: str) -> list[Rule]:
    """The rules of one scheme, in order."""
    return [rule for rule in RULES if rule.scheme == scheme]


def check(case: Case) -> list[Reason]:
    """Every failed rule of the placement's scheme (placement rules only when there is no candidate)."""
    if case.placement.scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {case.placement.scheme!r}")
    failed = []
    for rule in rules_of(case.placement.scheme):
        if rule.about == "candidate" and case.candidate is None:
            continue
        if not rule.passes(case):
            failed.append(rule.reason(case.policy))
    return failed


def check_placement(placement: Placement, policy: EligibilityPolicy) -> list[Reason]:
    """The failed rules about the placement alone (publishing a position)."""
    return check(Case(placement=placement, policy=policy))


# --- guidance: the catalogue of schemes ----------------------------------------------------


@dataclass(frozen=True)
class SchemeGuide:
    """What a person needs to know about a scheme, in French and English."""

    code: str
    name: dict[str, str]
    for_whom: dict[str, str]
    ages: dict[str, str]
    durations: dict[str, str]
    where: dict[str, str]
    who_sends_or_hosts: dict[str, str]
    sources: tuple[str, ...]


def _guides(p: EligibilityPolicy) -> list[SchemeGuide]:
    return [
        SchemeGuide(
            "vsi",
            {"fr": "Volontariat de Solidarité Internationale", "en": "International Solidarity Volunteering"},
            {"fr": "Adultes de toute nationalité.", "en": "Adults of any nationality."},
            {
                "fr": f"{p.vsi_min_age} ans et plus, sans âge maximum.",
                "en": f"{p.vsi_min_age} and over, no upper limit.",
            },
            {
                "fr": f"Un contrat de {p.vsi_max_contract_months} mois au plus ; {p.vsi_lifetime_cap_months // 12} ans "
                "au plus sur une vie (les missions de l'agence durent 12 à 24 mois).",
                "en": f"One contract at most {p.vsi_max_contract_months} months; at most "
                f"{p.vsi_lifetime_cap_months // 12} years over a lifetime (the agency's missions run 12 to 24 months).",
            },
            {
                "fr": "Hors de l'Espace économique européen, ni dans le pays de nationalité "
                "ni dans celui de résidence.",
                "en": "Outside the European Economic Area, neither in the country of nationality nor of residence.",
            },
            {
                "fr": "Une association agréée par le ministère des Affaires étrangères (agrément de 4 ans au plus).",
                "en": "An association approved by the foreign ministry (approval for at most 4 years).",
            },
            ("Loi 2005-159 du 23 février 2005", "france-volontaires.org, Volontariat de Solidarité Internationale"),
        ),
        SchemeGuide(
            "service_civique",
            {"fr": "Service Civique à l'international", "en": "Service Civique abroad"},
            {
                "fr": "Jeunes, avec un tuteur en France et un référent à l'étranger.",
                "en": "Young people, with a tutor in France and a mentor abroad.",
            },
            {
                "fr": f"{p.service_civique_min_age} à {p.service_civique_max_age} ans "
                f"({p.service_civique_max_age_disability} ans en situation de handicap).",
                "en": f"{p.service_civique_min_age} to {p.service_civique_max_age} "
                f"({p.service_civique_max_age_disability} with a recognised disability).",
            },
            {
                "fr": f"{p.service_civique_min_months} à {p.service_civique_max_months} mois, "
                "24 h par semaine au moins.",
                "en": f"{p.service_civique_min_months} to {p.service_civique_max_months} months, "
                "at least 24 hours a week.",
            },
            {"fr": "À l'étranger, en coopération décentralisée.", "en": "Abroad, in decentralised cooperation."},
            {
                "fr": "Une collectivité ou un organisme sans but lucratif agréé, par intermédiation.",
                "en": "An approved authority or non-profit, through intermediation.",
            },
            ("Code du service national art. L120-1", "service-civique.gouv.fr, envoyer un volontaire à l'étranger"),
        ),
        SchemeGuide(
            "vec",
            {"fr": "Volontariat d'Échanges et de Compétences", "en": "Skills Exchange Volunteering"},
            {"fr": "Salariés et retraités.", "en": "Employees and retired people."},
            {"fr": f"{p.vec_min_age} ans et plus.", "en": f"{p.vec_min_age} and over."},
            {
                "fr": f"Missions courtes ; {p.vec_max_months} mois au plus en congé de solidarité internationale.",
                "en": f"Short missions; at most {p.vec_max_months} months on international solidarity leave.",
            },
            {"fr": "À l'étranger, chez un partenaire.", "en": "Abroad, with a partner."},
            {"fr": "Une association française.", "en": "A French association."},
            ("fonjep.org, Volontariat d'Échanges et de Compétences", "Code du travail art. L3142-67 s."),
        ),
        SchemeGuide(
            "jsi_vvvsi",
            {
                "fr": "Jeunesse Solidarité Internationale / Ville Vie Vacances Solidarité Internationale",
                "en": "Youth solidarity projects (JSI / VVV-SI)",
            },
            {"fr": "Groupes de 4 à 16 jeunes.", "en": "Groups of 4 to 16 young people."},
            {"fr": f"{p.jsi_min_age} à {p.jsi_max_age} ans.", "en": f"{p.jsi_min_age} to {p.jsi_max_age}."},
            {
                "fr": f"Environ 15 jours ({p.jsi_min_days} à {p.jsi_max_days} jours), dont 10 d'action solidaire.",
                "en": f"About 15 days ({p.jsi_min_days} to {p.jsi_max_days} days), 10 of them of solidarity action.",
            },
            {
                "fr": "En France ou dans un pays éligible à l'aide publique au développement.",
                "en": "In France or a country eligible for development aid.",
            },
            {"fr": "Une association française avec un parrain.", "en": "A French association with a sponsor."},
            ("fonjep.org, programmes JSI et VVV-SI", "humanis.org, programmes JSI et VVV-SI"),
        ),
        SchemeGuide(
            "reciprocity",
            {"fr": "Volontariat en réciprocité (accueil en France)", "en": "Reciprocity (hosting in France)"},
            {
                "fr": "Volontaires venant des pays partenaires qui accueillent des volontaires français.",
                "en": "Volunteers from partner countries that host French volunteers.",
            },
            {"fr": f"{p.reciprocity_min_age} ans et plus.", "en": f"{p.reciprocity_min_age} and over."},
            {
                "fr": f"Comme un VSI : {p.reciprocity_max_months} mois au plus.",
                "en": f"As a VSI: at most {p.reciprocity_max_months} months.",
            },
            {
                "fr": "En France ; le volontaire vient d'un pays hors EEE et Suisse.",
                "en": "In France; the volunteer comes from a country outside the EEA and Switzerland.",
            },
            {
                "fr": "La collectivité française accueille, le partenaire étranger envoie.",
                "en": "The French authority hosts, the foreign partner sends.",
            },
            ("Loi 2021-1031 art. 8", "Décret 2022-1067", "service-civique.gouv.fr, accueillir en réciprocité"),
        ),
    ]


def catalogue(policy: EligibilityPolicy) -> list[dict[str, Any]]:
    """The five schemes with their rules and sources, for ``GET /schemes``."""
    out = []
    for guide in _guides(policy):
        out.append(
            {
                "code": guide.code,
                "name": guide.name,
                "for_whom": guide.for_whom,
                "ages": guide.ages,
                "durations": guide.durations,
                "where": guide.where,
                "who_sends_or_hosts": guide.who_sends_or_hosts,
                "sources": list(guide.sources),
                "rules": [
                    {**rule.reason(policy).as_dict(), "about": rule.about, "source": rule.source}
                    for rule in rules_of(guide.code)
                ],
            }
        )
    return out
