"""Who may read or act on a mission (the access rules).

- volunteer: their own mission only (read, check-ins, safety responses, incidents, and
  the checklist items that are theirs to do: training, travel registration, emergency contact);
- centre: missions in their country (everything a centre does on the ground, including
  certifying the volunteer's insurance and visa);
- authority: reads its own missions; hosting a volunteer in France (reciprocity), it also
  prepares the stay (the checklist items in France: visa, housing, tutor, French classes, the
  return commitment), records check-ins and holds the follow-up interviews;
- branch: reads its region's missions;
- partner (``partner_id`` claim): reads the missions it hosts, through the partner view only
  (``READ_HOSTED``), nothing beyond the mission itself;
- staff: everything.
"""

from __future__ import annotations

from typing import Any, Protocol

from vies_shared.errors import Forbidden


class Actor(Protocol):
    """The caller's identity and scope claims (``vies_shared.web.Principal`` fits)."""

    @property
    def sub(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def authority_id(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def partner_id(self) -> str | None: ...


READ = "read"
READ_HOSTED = "read_hosted"  # the mission itself: READ, or the host partner (partner view)
VOLUNTEER_ACT = "volunteer_act"  # check-ins, safety responses, incident reports, own checklist items
MANAGE = "manage"  # start, extend, end, interrupt, follow-ups, incident handling, insurance and visa
HOST = "host"  # reciprocity: the checklist items in France, done by the hosting authority
FOLLOW_UP = "follow_up"  # hold a follow-up interview: the centre, or the hosting authority in France
RECIPROCITY_SCHEMES = ("reciprocity", "service_civique_reciprocity")
FRANCE_SIDE_ITEMS = ("visa", "housing", "tutor", "french_classes", "return_commitment")
HOSTING_AUTHORITY_ACTIONS = (HOST, VOLUNTEER_ACT, FOLLOW_UP)

# Checklist items the volunteer does and ticks; insurance and visa are certified by the centre (MANAGE).
VOLUNTEER_CHECKLIST_ITEMS = ("training", "travel_registration", "emergency_contact")


def checklist_action(item: str, scheme: str | None = None) -> str:
    """The action ticking ``item`` needs: the volunteer's own items; under reciprocity the items in
    France (HOST, the hosting authority's); else MANAGE (insurance, visa certified by the centre)."""
    if item in VOLUNTEER_CHECKLIST_ITEMS:
        return VOLUNTEER_ACT
    if scheme in RECIPROCITY_SCHEMES and item in FRANCE_SIDE_ITEMS:
        return HOST
    return MANAGE


# End of mission: who reads the volunteer's report and the authority's evaluation (besides staff).
READS_VOLUNTEER_REPORT = ("volunteer", "centre", "branch")
READS_EVALUATION = ("authority", "centre", "branch")


def sees_partner_view(actor: Actor) -> bool:
    """Whether ``actor`` reads missions through the host partner's view (and only it)."""
    return actor.role == "partner"


def require_partner_filters(actor: Actor, *, region: str | None, flagged: bool | None) -> None:
    """A host partner filters its missions by country, status, authority and partner, not region or review flag."""
    if sees_partner_view(actor) and (region is not None or flagged is not None):
        raise Forbidden("a partner may filter its missions by country, status, authority and partner only")


def require_evaluator(actor: Actor, mission: dict[str, Any]) -> None:
    """The evaluation of a mission is its authority's (or staff's)."""
    if actor.role != "staff" and actor.authority_id != mission["authority_id"]:
        raise Forbidden("only the mission's authority evaluates it")


def reads_volunteer_report(actor: Actor) -> bool:
    """Whether ``actor`` reads the volunteer's end-of-mission report."""
    return actor.role == "staff" or actor.role in READS_VOLUNTEER_REPORT


def reads_evaluation(actor: Actor) -> bool:
    """Whether ``actor`` reads the authority's evaluation of the mission."""
    return actor.role == "staff" or actor.role in READS_EVALUATION


# Who sees a volunteer's emergency contact on a safety check: those who make the calls.
EMERGENCY_CONTACT_ROLES = ("centre", "staff")


def sees_emergency_contact(actor: Actor) -> bool:
    """Whether ``actor`` is shown the volunteers' emergency contacts in a safety check's lists."""
    return actor.role in EMERGENCY_CONTACT_ROLES


def may_download_certificate(actor: Actor, mission: dict[str, Any]) -> bool:
    """The end-of-mission certificate: the mission's volunteer, its authority and staff only."""
    # Narrower than READ: the centre and the branch follow the mission but the certificate is the
    # volunteer's document, which the sending authority co-signs in practice.
    if actor.role == "staff" or _owns(actor, mission):
        return True
    return actor.role == "authority" and bool(actor.authority_id) and actor.authority_id == mission["authority_id"]


def hosts_in_france(actor: Actor, mission: dict[str, Any]) -> bool:
    """Whether ``actor`` is the authority hosting ``mission``'s volunteer in France (reciprocity)."""
    return (
        actor.role == "authority"
        and bool(actor.authority_id)
        and actor.authority_id == mission.get("authority_id")
        and mission.get("scheme") in RECIPROCITY_SCHEMES
    )


def _owns(actor: Actor, mission: dict[str, Any]) -> bool:
    return (
        actor.role == "volunteer" and mission.get("volunteer_id") is not None and mission["volunteer_id"] == actor.sub
    )


def _in_country(actor: Actor, country: str) -> bool:
    return actor.role == "centre" and bool(actor.country) and (actor.country or "").upper() == country.upper()


def hosts(actor: Actor, mission: dict[str, Any]) -> bool:
    """Whether ``actor`` is the partner hosting ``mission`` (a ``partner`` token whose ``partner_id`` matches)."""
    return actor.role == "partner" and bool(actor.partner_id) and actor.partner_id == mission.get("partner_id")


def can(actor: Actor, action: str, mission: dict[str, Any]) -> bool:
    """Whether ``actor`` may do ``action`` on ``mission`` (a stored mission document)."""
    if actor.role == "staff":
        return True
    if action == READ_HOSTED:
        if actor.role == "partner":
            return hosts(actor, mission)
        action = READ
    if _in_country(actor, mission["country"]):
        return True
    if _owns(actor, mission):
        return action in (READ, VOLUNTEER_ACT)
    if action in HOSTING_AUTHORITY_ACTIONS and hosts_in_france(actor, mission):
        return True
    return action == READ and _follows(actor, mission)


def _follows(actor: Actor, mission: dict[str, Any]) -> bool:
    """Whether ``actor`` reads ``mission`` from afar: its sending authority, or the branch of its region."""
    if actor.role == "authority":
        return bool(actor.authority_id) and actor.authority_id == mission["authority_id"]
    if actor.role == "branch":
        return bool(actor.region) and actor.region == mission.get("region")
    return False


def require(actor: Actor, action: str, mission: dict[str, Any]) -> None:
    """Raise ``Forbidden`` unless ``actor`` may do ``action`` on ``mission``."""
    if not can(actor, action, mission):
        raise Forbidden(f"role {actor.role!r} may not {action.replace('_', ' ')} mission {mission['_id']}")


def mission_scope(actor: Actor, *, hosted: bool = False) -> dict[str, Any]:
    """A MongoDB filter restricting mission lists to what ``actor`` may read.

    ``hosted``: the list of missions themselves, which the host partner may read (partner view);
    every other list (incidents, interviews) stays closed to partners.
    """
    if actor.role == "staff":
        return {}
    if actor.role == "partner" and hosted and actor.partner_id:
        return {"partner_id": actor.partner_id}
    if actor.role == "centre" and actor.country:
        return {"country": actor.country.upper()}
    if actor.role == "authority" and actor.authority_id:
        return {"authority_id": actor.authority_id}
    if actor.role == "branch" and actor.region:
        return {"region": actor.region}
    if actor.role == "volunteer":
        return {"volunteer_id": actor.sub}
    raise Forbidden(f"role {actor.role!r} may not read missions")


def require_country(actor: Actor, country: str) -> None:
    """Country-wide actions (security alerts): staff, or the centre of that country."""
    if actor.role == "staff" or _in_country(actor, country):
        return
    raise Forbidden(f"role {actor.role!r} may not act on country {country}")


def safety_check_scope(actor: Actor, alert_id: str, country: str) -> dict[str, Any]:
    """A MongoDB filter restricting a safety check's entries to what ``actor`` may see.

    Authorities see their own volunteers, branches their region's; the centre of the alert's
    country and staff see every entry, anyone else is refused.
    """
    if actor.role == "authority" and actor.authority_id:
        return {"alert_id": alert_id, "authority_id": actor.authority_id}
    if actor.role == "branch" and actor.region:
        return {"alert_id": alert_id, "region": actor.region}
    require_country(actor, country)
    return {"alert_id": alert_id}


def alert_scope(actor: Actor) -> dict[str, Any]:
    """A MongoDB filter restricting security alert lists: a centre sees its own country's, staff,
    authorities and branches every alert."""
    if actor.role == "centre":
        if not actor.country:
            raise Forbidden("centre token without a country")
        return {"country": actor.country.upper()}
    if actor.role not in ("staff", "authority", "branch"):
        raise Forbidden(f"role {actor.role!r} may not list security alerts")
    return {}
