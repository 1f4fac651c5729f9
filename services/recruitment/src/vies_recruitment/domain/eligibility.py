"""Eligibility rules of the volunteering schemes, as data, each with its source.

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

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from vies_shared.months import add_months, months_between
from vies_shared.reference import is_eea, is_eea_or_switzerland, is_france, is_oda_recipient

SCHEMES: tuple[str, ...] = ("vsi", "service_civique", "vec", "jsi_vvvsi", "reciprocity", "service_civique_reciprocity")
RECIPROCITY_SCHEMES = frozenset({"reciprocity", "service_civique_reciprocity"})
"""Volunteers from partner countries hosted in France: VSI in reciprocity and Service Civique in reciprocity."""
HOST_COUNTRY_FRANCE = "FR"
_EPSILON = 1e-9

# What a foreign candidate declares about their stay in France (Service Civique); the authority
# or staff confirms it against the permit before the contract is signed.
PERMIT_NEEDS_ONE_YEAR = "needs_one_year_in_france"
PERMIT_WITHOUT_RESIDENCE_CONDITION = "without_residence_condition"
RESIDENCE_PERMITS = (PERMIT_NEEDS_ONE_YEAR, PERMIT_WITHOUT_RESIDENCE_CONDITION)
EMPLOYEE = "employee"
RETIREE = "retiree"


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
    service_civique_residence_months: int = 12
    service_civique_reciprocity_frozen: bool = True
    vec_min_age: int = 18
    vec_max_months: int = 6
    vec_min_seniority_months: int = 12
    jsi_min_age: int = 15
    jsi_max_age: int = 25
    jsi_min_days: int = 15
    jsi_min_action_days: int = 10
    jsi_max_days: int | None = None
    jsi_group_min: int = 4
    jsi_group_max: int = 16
    reciprocity_min_age: int = 18
    reciprocity_max_months: int = 24


@dataclass(frozen=True)
class Candidate:
    """What the rules need to know about a candidate.

    ``nationality`` and ``other_nationalities`` together are every nationality a dual (or more)
    national holds. ``residence_permit`` (one of ``RESIDENCE_PERMITS``) and ``in_france_since``
    are declared by a foreign candidate for Service Civique; ``employment`` (``employee`` or
    ``retiree``) and ``seniority_months`` by a VEC candidate.
    """

    birth_date: date
    nationality: str
    residence_country: str
    disability: bool = False
    other_nationalities: tuple[str, ...] = ()
    residence_permit: str | None = None
    in_france_since: date | None = None
    employment: str | None = None
    seniority_months: int | None = None

    @property
    def nationalities(self) -> frozenset[str]:
        """Every nationality of the candidate, upper case."""
        return frozenset(code.upper() for code in (self.nationality, *self.other_nationalities))


@dataclass(frozen=True)
class Placement:
    """Where and when a volunteer would serve, under which scheme; ``ends_on`` is the last day."""

    scheme: str
    country: str
    starts_on: date
    ends_on: date
    partner_country: str | None = None  # reciprocity: the partner's country the volunteer comes from
    action_days: int | None = None  # jsi_vvvsi: days of solidarity action within the project
    group_size: int | None = None  # jsi_vvvsi: the young people of the group (the position's places)

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
        action_days: int | None = None,
        group_size: int | None = None,
    ) -> Placement:
        """A placement of ``days`` days when given, else of ``months`` months, from ``starts_on``."""
        if days:
            ends_on = starts_on + timedelta(days=days - 1)
        else:
            ends_on = add_months(starts_on, months or 0) - timedelta(days=1)
        last_day = max(ends_on, starts_on)
        return cls(scheme, country.upper(), starts_on, last_day, partner_country, action_days, group_size)

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
    """A failed rule, readable by a candidate in French and English, with the text it comes from."""

    code: str
    fr: str
    en: str
    source: str | None = None

    def as_dict(self) -> dict[str, str]:
        """JSON form (``source`` when the reason comes from a rule)."""
        out = {"code": self.code, "fr": self.fr, "en": self.en}
        if self.source:
            out["source"] = self.source
        return out


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
        return Reason(self.code, self.fr.format(p=policy), self.en.format(p=policy), self.source)


# --- calendar arithmetic -------------------------------------------------------------------


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on ``day`` (a birthday counts from the day itself)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


# --- the rules -----------------------------------------------------------------------------


def _has(case: Case) -> Candidate:
    assert case.candidate is not None
    return case.candidate


def _comes_from_partner_country(case: Case) -> bool:
    candidate = _has(case)
    origins = candidate.nationalities | {candidate.residence_country.upper()}
    if case.placement.partner_country is not None:
        return case.placement.partner_country.upper() in origins
    return any(not is_eea_or_switzerland(country) for country in origins)


def _outside_eea_and_france(case: Case) -> bool:
    # French overseas codes (RE, GP, NC, ...) are France, a member of the EU: never "abroad".
    return not (is_eea(case.placement.country) or is_france(case.placement.country))


def _not_in_a_nationality_country(case: Case) -> bool:
    country = case.placement.country
    nationalities = _has(case).nationalities
    return country not in nationalities and not ("FR" in nationalities and is_france(country))


def _may_serve_in_service_civique(case: Case) -> bool:
    candidate = _has(case)
    if any(is_eea(country) for country in candidate.nationalities):
        return True
    if candidate.residence_permit not in RESIDENCE_PERMITS or not is_france(candidate.residence_country):
        return False
    if candidate.residence_permit == PERMIT_WITHOUT_RESIDENCE_CONDITION:
        return True
    since = candidate.in_france_since
    # "More than a year" in France on the first day of the mission.
    required = add_months(case.placement.starts_on, -case.policy.service_civique_residence_months)
    return since is not None and since < required


def _service_civique_max_age(case: Case) -> bool:
    policy = case.policy
    limit = policy.service_civique_max_age_disability if _has(case).disability else policy.service_civique_max_age
    return case.age_at_start <= limit


def _service_civique_duration(case: Case) -> bool:
    policy = case.policy
    return (
        policy.service_civique_min_months - _EPSILON
        <= case.placement.months
        <= policy.service_civique_max_months + _EPSILON
    )


def _vec_leave_applies(case: Case) -> bool:
    # Only employees take international solidarity leave; retirees are bound by neither limit.
    return _has(case).employment == EMPLOYEE


def _jsi_duration(case: Case) -> bool:
    days, policy = case.placement.days, case.policy
    return days >= policy.jsi_min_days and (policy.jsi_max_days is None or days <= policy.jsi_max_days)


def _jsi_group(case: Case) -> bool:
    size = case.placement.group_size
    # One applicant joins a group: the group's size is checked on the group's position.
    return size is None or case.policy.jsi_group_min <= size <= case.policy.jsi_group_max


_VSI_LAW = "Loi n° 2005-159 du 23 février 2005 relative au contrat de volontariat de solidarité internationale"
_CSN = "Code du service national"
_SC_RECIPROCITY = "service-civique.gouv.fr, « Accueillir un volontaire étranger en réciprocité »"
_JSI = "fonjep.org et humanis.org, programmes JSI et VVV-SI"

RULES: tuple[Rule, ...] = (
    # --- VSI: the law of 23 February 2005 and the france-volontaires.org VSI page
    Rule(
        "vsi.adult",
        "vsi",
        "candidate",
        f"{_VSI_LAW}, art. 1 (contrat conclu avec une personne majeure)",
        "Il faut être majeur ({p.vsi_min_age} ans) à la date de début de la mission ; il n'y a pas d'âge maximum.",
        "You must be an adult ({p.vsi_min_age}) on the mission's start date; there is no upper age limit.",
        lambda c: c.age_at_start >= c.policy.vsi_min_age,
    ),
    Rule(
        "vsi.outside_eea",
        "vsi",
        "placement",
        f"{_VSI_LAW}, art. 2 (mission dans un État autre que les États de l'Union européenne ou de l'EEE)",
        "La mission doit se dérouler hors de l'Espace économique européen et hors de France, outre-mer compris.",
        "The mission must take place outside the European Economic Area and outside France, overseas included.",
        _outside_eea_and_france,
    ),
    Rule(
        "vsi.not_nationality_country",
        "vsi",
        "candidate",
        f"{_VSI_LAW}, art. 2 (pas de mission dans l'État dont le volontaire est ressortissant)",
        "La mission ne peut pas avoir lieu dans un pays dont vous avez la nationalité.",
        "The mission cannot take place in a country of which you are a national.",
        _not_in_a_nationality_country,
    ),
    Rule(
        "vsi.not_residence_country",
        "vsi",
        "candidate",
        f"{_VSI_LAW}, art. 2 (ni dans l'État où le volontaire réside régulièrement)",
        "La mission ne peut pas avoir lieu dans le pays où vous résidez.",
        "The mission cannot take place in the country where you live.",
        lambda c: c.placement.country != _has(c).residence_country.upper(),
    ),
    Rule(
        "vsi.contract_max",
        "vsi",
        "placement",
        f"{_VSI_LAW}, art. 4 (contrat conclu pour une durée maximale de deux ans)",
        "Un contrat de VSI dure au plus {p.vsi_max_contract_months} mois.",
        "A VSI contract lasts at most {p.vsi_max_contract_months} months.",
        lambda c: c.placement.months <= c.policy.vsi_max_contract_months + _EPSILON,
    ),
    Rule(
        "vsi.lifetime_cap",
        "vsi",
        "candidate",
        f"{_VSI_LAW}, art. 4 (durée cumulée des missions : six ans au plus)",
        "Le temps de VSI cumulé sur une vie, ce contrat compris, ne peut dépasser {p.vsi_lifetime_cap_months} mois.",
        "Lifetime VSI time, this contract included, cannot exceed {p.vsi_lifetime_cap_months} months.",
        lambda c: c.vsi_months_served + c.placement.months <= c.policy.vsi_lifetime_cap_months + _EPSILON,
    ),
    # --- Service Civique abroad. The sources disagree on the minimum age abroad (16 generally,
    # 18 on the page about missions abroad): a setting, 16 by default.
    Rule(
        "service_civique.min_age",
        "service_civique",
        "candidate",
        f"{_CSN}, art. L120-1 ; service-civique.gouv.fr, « Envoyer un volontaire à l'étranger »",
        "Il faut avoir au moins {p.service_civique_min_age} ans à la date de début de la mission.",
        "You must be at least {p.service_civique_min_age} on the mission's start date.",
        lambda c: c.age_at_start >= c.policy.service_civique_min_age,
    ),
    Rule(
        "service_civique.max_age",
        "service_civique",
        "candidate",
        f"{_CSN}, art. L120-1 (25 ans, 30 ans en situation de handicap)",
        "Il faut avoir au plus {p.service_civique_max_age} ans à la date de début de la mission "
        "({p.service_civique_max_age_disability} ans pour une personne en situation de handicap).",
        "You must be at most {p.service_civique_max_age} on the mission's start date "
        "({p.service_civique_max_age_disability} with a recognised disability).",
        _service_civique_max_age,
    ),
    Rule(
        "service_civique.nationality_or_residence",
        "service_civique",
        "candidate",
        f"{_CSN}, art. L120-4 (nationalité française, d'un État de l'UE ou de l'EEE, ou titre de séjour "
        "énuméré, le plus souvent avec plus d'un an de séjour en France)",
        "Il faut être de nationalité française, d'un pays de l'Union européenne ou de l'EEE, ou résider en "
        "France avec l'un des titres de séjour prévus par la loi (depuis plus de "
        "{p.service_civique_residence_months} mois pour la plupart d'entre eux).",
        "You must be a national of France, of an EU or EEA country, or live in France with one of the residence "
        "permits the law lists (for most of them, for more than {p.service_civique_residence_months} months).",
        _may_serve_in_service_civique,
    ),
    Rule(
        "service_civique.duration",
        "service_civique",
        "placement",
        f"{_CSN}, art. L120-1 (6 à 12 mois) ; service-civique.gouv.fr",
        "Une mission de Service Civique dure de {p.service_civique_min_months} à {p.service_civique_max_months} mois.",
        "A Service Civique mission lasts {p.service_civique_min_months} to {p.service_civique_max_months} months.",
        _service_civique_duration,
    ),
    # --- VEC: missions of employees and retirees carried by a French association. Employees go on
    # international solidarity leave, whose default rules bind them; retirees are bound by neither.
    Rule(
        "vec.adult",
        "vec",
        "candidate",
        "fonjep.org, « Volontariat d'Échanges et de Compétences » (salariés et retraités)",
        "Le VEC s'adresse aux adultes ({p.vec_min_age} ans et plus).",
        "VEC is for adults ({p.vec_min_age} and over).",
        lambda c: c.age_at_start >= c.policy.vec_min_age,
    ),
    Rule(
        "vec.employee_or_retiree",
        "vec",
        "candidate",
        "fonjep.org, « Volontariat d'Échanges et de Compétences » (salariés et retraités)",
        "Indiquez si vous partez comme salarié (congé de solidarité internationale) ou comme retraité.",
        "Say whether you go as an employee (international solidarity leave) or as a retiree.",
        lambda c: _has(c).employment in (EMPLOYEE, RETIREE),
    ),
    Rule(
        "vec.leave_seniority",
        "vec",
        "candidate",
        "Code du travail, art. L3142-67 s. (congé de solidarité internationale : 12 mois d'ancienneté)",
        "Un salarié doit avoir au moins {p.vec_min_seniority_months} mois d'ancienneté dans l'entreprise.",
        "An employee needs at least {p.vec_min_seniority_months} months' seniority with the employer.",
        lambda c: not _vec_leave_applies(c) or (_has(c).seniority_months or 0) >= c.policy.vec_min_seniority_months,
    ),
    Rule(
        "vec.leave_duration",
        "vec",
        "candidate",
        "Code du travail, art. L3142-67 s. (congé de solidarité internationale : 6 mois au plus)",
        "En congé de solidarité internationale, une mission dure au plus {p.vec_max_months} mois.",
        "On international solidarity leave, a mission lasts at most {p.vec_max_months} months.",
        lambda c: not _vec_leave_applies(c) or c.placement.months <= c.policy.vec_max_months + _EPSILON,
    ),
    # --- JSI / VVV-SI: projects of groups of young people, about 15 days with at least 10 of
    # solidarity action, in France or in a country eligible for official development assistance.
    Rule(
        "jsi_vvvsi.age",
        "jsi_vvvsi",
        "candidate",
        f"{_JSI} (jeunes de 15 à 25 ans)",
        "Les projets JSI / VVV-SI sont ouverts aux jeunes de {p.jsi_min_age} à {p.jsi_max_age} ans.",
        "JSI / VVV-SI projects are open to young people aged {p.jsi_min_age} to {p.jsi_max_age}.",
        lambda c: c.policy.jsi_min_age <= c.age_at_start <= c.policy.jsi_max_age,
    ),
    Rule(
        "jsi_vvvsi.duration",
        "jsi_vvvsi",
        "placement",
        f"{_JSI} (environ 15 jours)",
        "Un projet JSI / VVV-SI dure au moins {p.jsi_min_days} jours.",
        "A JSI / VVV-SI project lasts at least {p.jsi_min_days} days.",
        _jsi_duration,
    ),
    Rule(
        "jsi_vvvsi.action_days",
        "jsi_vvvsi",
        "placement",
        f"{_JSI} (au moins 10 jours d'action de solidarité)",
        "Un projet JSI / VVV-SI compte au moins {p.jsi_min_action_days} jours d'action de solidarité.",
        "A JSI / VVV-SI project has at least {p.jsi_min_action_days} days of solidarity action.",
        lambda c: (c.placement.action_days or 0) >= c.policy.jsi_min_action_days,
    ),
    Rule(
        "jsi_vvvsi.destination",
        "jsi_vvvsi",
        "placement",
        f"{_JSI} (en France ou dans un pays éligible à l'aide publique au développement) ; "
        "OCDE, liste du CAD des bénéficiaires d'APD",
        "Le projet se déroule en France ou dans un pays de la liste du CAD de l'OCDE des bénéficiaires d'aide "
        "publique au développement.",
        "The project takes place in France or in a country on the OECD DAC list of ODA recipients.",
        lambda c: is_france(c.placement.country) or is_oda_recipient(c.placement.country),
    ),
    Rule(
        "jsi_vvvsi.group_size",
        "jsi_vvvsi",
        "placement",
        f"{_JSI} (groupes de 4 à 16 jeunes)",
        "Un projet JSI / VVV-SI réunit un groupe de {p.jsi_group_min} à {p.jsi_group_max} jeunes.",
        "A JSI / VVV-SI project brings together a group of {p.jsi_group_min} to {p.jsi_group_max} young people.",
        _jsi_group,
    ),
    # --- VSI in reciprocity: foreign volunteers hosted in France under a VSI contract.
    Rule(
        "reciprocity.hosted_in_france",
        "reciprocity",
        "placement",
        "Loi n° 2021-1031 du 4 août 2021, art. 8 ; décret n° 2022-1067 (accueil en France)",
        "Une mission en réciprocité se déroule en France, chez la collectivité.",
        "A reciprocity mission takes place in France, hosted by the authority.",
        lambda c: c.placement.country == HOST_COUNTRY_FRANCE,
    ),
    Rule(
        "reciprocity.partner_outside_eea",
        "reciprocity",
        "placement",
        "Loi n° 2021-1031, art. 8 (volontaires d'États hors de l'UE et de l'EEE)",
        "Le pays partenaire doit être hors de l'Espace économique européen et de la Suisse.",
        "The partner's country must be outside the European Economic Area and Switzerland.",
        lambda c: c.placement.partner_country is None or not is_eea_or_switzerland(c.placement.partner_country),
    ),
    Rule(
        "reciprocity.from_partner_country",
        "reciprocity",
        "candidate",
        "Loi n° 2021-1031, art. 8 (volontaires venant des pays qui accueillent des volontaires français)",
        "Il faut venir du pays du partenaire (nationalité ou résidence), hors EEE et Suisse.",
        "You must come from the partner's country (nationality or residence), outside the EEA and Switzerland.",
        _comes_from_partner_country,
    ),
    Rule(
        "reciprocity.adult",
        "reciprocity",
        "candidate",
        "Décret n° 2022-1067 (contrat de VSI en réciprocité : personne majeure)",
        "Il faut être majeur ({p.reciprocity_min_age} ans) à la date de début de la mission.",
        "You must be an adult ({p.reciprocity_min_age}) on the mission's start date.",
        lambda c: c.age_at_start >= c.policy.reciprocity_min_age,
    ),
    Rule(
        "reciprocity.contract_max",
        "reciprocity",
        "placement",
        f"{_VSI_LAW}, art. 4, applicable au VSI en réciprocité (deux ans au plus)",
        "Une mission en réciprocité dure au plus {p.reciprocity_max_months} mois.",
        "A reciprocity mission lasts at most {p.reciprocity_max_months} months.",
        lambda c: c.placement.months <= c.policy.reciprocity_max_months + _EPSILON,
    ),
    # --- Service Civique in reciprocity: young people from countries that host French volunteers,
    # with Service Civique's ages and durations; new requests can be frozen by a setting.
    Rule(
        "service_civique_reciprocity.open",
        "service_civique_reciprocity",
        "placement",
        f"{_SC_RECIPROCITY} (nouvelles demandes gelées dans l'attente d'un budget)",
        "Les nouvelles demandes de Service Civique en réciprocité sont suspendues pour le moment.",
        "New Service Civique reciprocity requests are suspended for now.",
        lambda c: not c.policy.service_civique_reciprocity_frozen,
    ),
    Rule(
        "service_civique_reciprocity.hosted_in_france",
        "service_civique_reciprocity",
        "placement",
        f"{_SC_RECIPROCITY} (accueil en France)",
        "Une mission de Service Civique en réciprocité se déroule en France.",
        "A Service Civique reciprocity mission takes place in France.",
        lambda c: c.placement.country == HOST_COUNTRY_FRANCE,
    ),
    Rule(
        "service_civique_reciprocity.partner_outside_eea",
        "service_civique_reciprocity",
        "placement",
        f"{_SC_RECIPROCITY} (hors EEE et Suisse)",
        "Le pays partenaire doit être hors de l'Espace économique européen et de la Suisse.",
        "The partner's country must be outside the European Economic Area and Switzerland.",
        lambda c: c.placement.partner_country is None or not is_eea_or_switzerland(c.placement.partner_country),
    ),
    Rule(
        "service_civique_reciprocity.from_partner_country",
        "service_civique_reciprocity",
        "candidate",
        f"{_CSN}, art. L120-4 (ressortissants d'un pays où des volontaires français sont affectés) ; {_SC_RECIPROCITY}",
        "Il faut venir du pays du partenaire (nationalité ou résidence), hors EEE et Suisse.",
        "You must come from the partner's country (nationality or residence), outside the EEA and Switzerland.",
        _comes_from_partner_country,
    ),
    Rule(
        "service_civique_reciprocity.min_age",
        "service_civique_reciprocity",
        "candidate",
        f"{_CSN}, art. L120-1 ; {_SC_RECIPROCITY}",
        "Il faut avoir au moins {p.service_civique_min_age} ans à la date de début de la mission.",
        "You must be at least {p.service_civique_min_age} on the mission's start date.",
        lambda c: c.age_at_start >= c.policy.service_civique_min_age,
    ),
    Rule(
        "service_civique_reciprocity.max_age",
        "service_civique_reciprocity",
        "candidate",
        f"{_CSN}, art. L120-1 (25 ans, 30 ans en situation de handicap) ; {_SC_RECIPROCITY}",
        "Il faut avoir au plus {p.service_civique_max_age} ans à la date de début de la mission "
        "({p.service_civique_max_age_disability} ans pour une personne en situation de handicap).",
        "You must be at most {p.service_civique_max_age} on the mission's start date "
        "({p.service_civique_max_age_disability} with a recognised disability).",
        _service_civique_max_age,
    ),
    Rule(
        "service_civique_reciprocity.duration",
        "service_civique_reciprocity",
        "placement",
        f"{_CSN}, art. L120-1 (6 à 12 mois) ; {_SC_RECIPROCITY}",
        "Une mission de Service Civique en réciprocité dure de {p.service_civique_min_months} à "
        "{p.service_civique_max_months} mois.",
        "A Service Civique reciprocity mission lasts {p.service_civique_min_months} to "
        "{p.service_civique_max_months} months.",
        _service_civique_duration,
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
    """What a person or an authority needs to know about a scheme, in French and English.

    ``costs``: what the scheme costs the authority; ``approval``: the approval it needs. A guide
    without rules (``checked`` False) is guidance only: the platform does not recruit for it.
    """

    code: str
    name: dict[str, str]
    for_whom: dict[str, str]
    ages: dict[str, str]
    durations: dict[str, str]
    where: dict[str, str]
    who_sends_or_hosts: dict[str, str]
    costs: dict[str, str]
    approval: dict[str, str]
    sources: tuple[str, ...]
    checked: bool = True


def _guides(p: EligibilityPolicy) -> list[SchemeGuide]:
    frozen_fr = " Nouvelles demandes suspendues pour le moment." if p.service_civique_reciprocity_frozen else ""
    frozen_en = " New requests are suspended for now." if p.service_civique_reciprocity_frozen else ""
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
                "fr": "Hors de l'Espace économique européen et hors de France (outre-mer compris), ni dans un pays "
                "de nationalité ni dans celui de résidence.",
                "en": "Outside the European Economic Area and outside France (overseas included), neither in a "
                "country of nationality nor of residence.",
            },
            {
                "fr": "Une association agréée par le ministère des Affaires étrangères (agrément de 4 ans au plus).",
                "en": "An association approved by the foreign ministry (approval for at most 4 years).",
            },
            {
                "fr": "L'association d'envoi verse l'indemnité, assure la protection sociale, l'assurance, le voyage "
                "et la formation avant le départ ; l'État en cofinance une part ; la collectivité finance le projet "
                "et, le plus souvent, une partie du coût du volontaire.",
                "en": "The sending association pays the allowance, social cover, insurance, travel and pre-departure "
                "training; the State co-finances part of it; the authority funds the project and usually part of "
                "the volunteer's cost.",
            },
            {
                "fr": "Passer par une association agréée VSI (la collectivité ne signe pas le contrat elle-même).",
                "en": "Go through a VSI-approved association (the authority does not sign the contract itself).",
            },
            (f"{_VSI_LAW}, art. 1 à 9", "france-volontaires.org, « Volontariat de Solidarité Internationale »"),
        ),
        SchemeGuide(
            "service_civique",
            {"fr": "Service Civique à l'international", "en": "Service Civique abroad"},
            {
                "fr": "Jeunes Français, de l'UE ou de l'EEE, ou étrangers résidant en France avec un titre de séjour "
                "prévu par la loi ; un tuteur en France et un référent à l'étranger.",
                "en": "Young nationals of France, the EU or the EEA, or foreigners living in France with a permit "
                "the law lists; a tutor in France and a mentor abroad.",
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
            {
                "fr": "L'État verse l'indemnité principale ; la structure d'accueil verse un complément mensuel fixé "
                "par décret et prend en charge le voyage, l'assurance et la formation civique et citoyenne.",
                "en": "The State pays the main allowance; the host organisation pays a monthly top-up set by decree "
                "and covers travel, insurance and the civic training.",
            },
            {
                "fr": "Un agrément Service Civique de la collectivité, ou l'intermédiation d'une structure agréée.",
                "en": "A Service Civique approval of the authority, or intermediation by an approved organisation.",
            },
            (f"{_CSN}, art. L120-1 et L120-4", "service-civique.gouv.fr, « Envoyer un volontaire à l'étranger »"),
        ),
        SchemeGuide(
            "vec",
            {"fr": "Volontariat d'Échanges et de Compétences", "en": "Skills Exchange Volunteering"},
            {"fr": "Salariés et retraités.", "en": "Employees and retired people."},
            {"fr": f"{p.vec_min_age} ans et plus.", "en": f"{p.vec_min_age} and over."},
            {
                "fr": f"Missions courtes ; pour un salarié en congé de solidarité internationale, {p.vec_max_months} "
                f"mois au plus et {p.vec_min_seniority_months} mois d'ancienneté ; sans ces limites pour un retraité.",
                "en": f"Short missions; an employee on international solidarity leave goes for at most "
                f"{p.vec_max_months} months with {p.vec_min_seniority_months} months' seniority; a retiree has "
                "neither limit.",
            },
            {"fr": "À l'étranger, chez un partenaire.", "en": "Abroad, with a partner."},
            {"fr": "Une association française.", "en": "A French association."},
            {
                "fr": "Pas d'indemnité : voyage et séjour à la charge du volontaire, de l'association ou de "
                "l'employeur ; la collectivité cofinance le projet.",
                "en": "No allowance: travel and stay paid by the volunteer, the association or the employer; the "
                "authority co-finances the project.",
            },
            {
                "fr": "Aucun agrément de la collectivité ; l'accord de l'employeur pour le congé d'un salarié.",
                "en": "No approval for the authority; the employer's consent to an employee's leave.",
            },
            ("fonjep.org, « Volontariat d'Échanges et de Compétences »", "Code du travail, art. L3142-67 s."),
        ),
        SchemeGuide(
            "jsi_vvvsi",
            {
                "fr": "Jeunesse Solidarité Internationale / Ville Vie Vacances Solidarité Internationale",
                "en": "Youth solidarity projects (JSI / VVV-SI)",
            },
            {
                "fr": f"Groupes de {p.jsi_group_min} à {p.jsi_group_max} jeunes : un projet pour le groupe, "
                "chaque jeune y candidate.",
                "en": f"Groups of {p.jsi_group_min} to {p.jsi_group_max} young people: one project for the group, "
                "each young person applies to it.",
            },
            {"fr": f"{p.jsi_min_age} à {p.jsi_max_age} ans.", "en": f"{p.jsi_min_age} to {p.jsi_max_age}."},
            {
                "fr": f"Environ 15 jours ({p.jsi_min_days} au moins), dont {p.jsi_min_action_days} jours d'action "
                "de solidarité au moins.",
                "en": f"About 15 days ({p.jsi_min_days} at least), {p.jsi_min_action_days} of them at least of "
                "solidarity action.",
            },
            {
                "fr": "En France ou dans un pays de la liste du CAD de l'OCDE des bénéficiaires d'aide publique au "
                "développement.",
                "en": "In France or in a country on the OECD DAC list of ODA recipients.",
            },
            {
                "fr": "Une association française avec une association marraine (« parrain »).",
                "en": "A French association with a sponsoring association (parrain).",
            },
            {
                "fr": "Subvention jusqu'à 8 500 € (10 000 € depuis l'outre-mer ou la Corse), 50 % du budget au "
                "plus ; la collectivité peut cofinancer le reste.",
                "en": "A grant of up to €8,500 (€10,000 from overseas or Corsica), at most 50 % of the budget; the "
                "authority may co-finance the rest.",
            },
            {
                "fr": "Aucun agrément ; le projet est déposé au programme par l'association avec son parrain.",
                "en": "No approval; the association submits the project to the programme with its sponsor.",
            },
            (_JSI, "OCDE, liste du CAD des bénéficiaires d'APD"),
        ),
        SchemeGuide(
            "reciprocity",
            {
                "fr": "VSI en réciprocité (accueil en France)",
                "en": "VSI in reciprocity (hosting in France)",
            },
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
                "fr": "En France ; le volontaire vient d'un pays hors EEE et Suisse ; le contrat mentionne le visa "
                "de long séjour et l'engagement de retour.",
                "en": "In France; the volunteer comes from a country outside the EEA and Switzerland; the contract "
                "names the long-stay visa and the commitment to return.",
            },
            {
                "fr": "La collectivité française accueille, le partenaire étranger envoie.",
                "en": "The French authority hosts, the foreign partner sends.",
            },
            {
                "fr": "La collectivité d'accueil prend en charge logement, tutorat, cours de français et, avec "
                "l'association, l'indemnité, l'assurance, le visa et le voyage.",
                "en": "The hosting authority covers housing, tutoring, French classes and, with the association, "
                "the allowance, insurance, visa and travel.",
            },
            {
                "fr": "Passer par une association agréée VSI.",
                "en": "Go through a VSI-approved association.",
            },
            ("Loi n° 2021-1031, art. 8", "Décret n° 2022-1067", f"{_VSI_LAW}, art. 4"),
        ),
        SchemeGuide(
            "service_civique_reciprocity",
            {
                "fr": "Service Civique en réciprocité (accueil en France)",
                "en": "Service Civique in reciprocity (hosting in France)",
            },
            {
                "fr": "Jeunes des pays qui accueillent des volontaires français, hors EEE et Suisse." + frozen_fr,
                "en": "Young people from countries that host French volunteers, outside the EEA and Switzerland."
                + frozen_en,
            },
            {
                "fr": f"{p.service_civique_min_age} à {p.service_civique_max_age} ans "
                f"({p.service_civique_max_age_disability} ans en situation de handicap).",
                "en": f"{p.service_civique_min_age} to {p.service_civique_max_age} "
                f"({p.service_civique_max_age_disability} with a recognised disability).",
            },
            {
                "fr": f"{p.service_civique_min_months} à {p.service_civique_max_months} mois.",
                "en": f"{p.service_civique_min_months} to {p.service_civique_max_months} months.",
            },
            {"fr": "En France, avec un visa VLS-T.", "en": "In France, with a VLS-T long-stay visa."},
            {
                "fr": "Une collectivité ou un organisme agréé Service Civique accueille.",
                "en": "An authority or organisation with Service Civique approval hosts.",
            },
            {
                "fr": "Comme un Service Civique : indemnité de l'État, complément de la structure d'accueil, "
                "logement et accompagnement à la charge de l'accueil.",
                "en": "As Service Civique: the State's allowance, the host's top-up, housing and support paid by "
                "the host.",
            },
            {
                "fr": "Un agrément Service Civique de la structure d'accueil.",
                "en": "A Service Civique approval of the host.",
            },
            (_SC_RECIPROCITY, f"{_CSN}, art. L120-4"),
        ),
        SchemeGuide(
            "european_solidarity_corps",
            {"fr": "Corps européen de solidarité", "en": "European Solidarity Corps"},
            {"fr": "Jeunes résidant en Europe.", "en": "Young people living in Europe."},
            {"fr": "18 à 30 ans.", "en": "18 to 30."},
            {"fr": "De 2 semaines à 12 mois.", "en": "2 weeks to 12 months."},
            {"fr": "En Europe et dans les pays partenaires du programme.", "en": "In Europe and partner countries."},
            {
                "fr": "Une organisation titulaire du label de qualité du Corps européen de solidarité.",
                "en": "An organisation holding the European Solidarity Corps quality label.",
            },
            {
                "fr": "Financé par des subventions de l'Union européenne (voyage, séjour, argent de poche, "
                "assurance) ; peu de frais pour la collectivité.",
                "en": "Funded by European Union grants (travel, stay, pocket money, insurance); little cost for the "
                "authority.",
            },
            {
                "fr": "Le label de qualité, demandé à l'Agence Erasmus+ France Jeunesse & Sport.",
                "en": "The quality label, from the Erasmus+ France Youth & Sport agency.",
            },
            ("youth.europa.eu/solidarity", "france-volontaires.org, les dispositifs du VIES"),
            checked=False,
        ),
        SchemeGuide(
            "international_work_camps",
            {"fr": "Chantiers internationaux de bénévoles", "en": "International work camps"},
            {"fr": "Toute personne, en groupe international.", "en": "Anyone, in an international group."},
            {"fr": "Dès 16 ou 18 ans selon le chantier.", "en": "From 16 or 18 depending on the camp."},
            {"fr": "2 à 3 semaines.", "en": "2 to 3 weeks."},
            {"fr": "En France ou à l'étranger.", "en": "In France or abroad."},
            {
                "fr": "Une association organisatrice de chantiers.",
                "en": "An association that organises work camps.",
            },
            {
                "fr": "Frais d'inscription et voyage à la charge du bénévole ; la collectivité peut accueillir un "
                "chantier et en fournir le projet, l'hébergement et le matériel.",
                "en": "Registration fee and travel paid by the volunteer; an authority may host a camp and provide "
                "its project, lodging and materials.",
            },
            {
                "fr": "Aucun agrément ; une convention avec l'association organisatrice.",
                "en": "No approval; an agreement with the organising association.",
            },
            ("cotravaux.org, chantiers de bénévoles", "france-volontaires.org, les dispositifs du VIES"),
            checked=False,
        ),
    ]


def catalogue(policy: EligibilityPolicy) -> list[dict[str, Any]]:
    """Every scheme with its costs, approval, rules and sources, for ``GET /schemes``.

    The schemes the platform recruits for come first (``eligibility_checked``); the others are
    described as guidance so an authority can answer "which scheme fits my project".
    """
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
                "costs": guide.costs,
                "approval": guide.approval,
                "sources": list(guide.sources),
                "eligibility_checked": guide.checked,
                "rules": [
                    {**rule.reason(policy).as_dict(), "about": rule.about, "source": rule.source}
                    for rule in rules_of(guide.code)
                ],
            }
        )
    return out
