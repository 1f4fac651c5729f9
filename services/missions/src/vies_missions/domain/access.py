"""Who may read or act on a mission (issue 5, access rules).

- volunteer: their own mission only (read, check-ins, safety responses, incidents);
- centre: missions in their country (everything a centre does on the ground);
- authority: reads its own missions; branch: reads its region's missions;
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


READ = "read"
VOLUNTEER_ACT = "volunteer_act"  # check-ins, safety responses, incident reports
MANAGE = "manage"  # checklist, start, extend, end, interrupt, follow-ups, incident handling


def _owns(actor: Actor, mission: dict[str, Any]) -> bool:
    return (
        actor.role == "volunteer" and mission.get("volunteer_id") is not None and mission["volunteer_id"] == actor.sub
    )


def _in_country(actor: Actor, country: str) -> bool:
    return actor.role == "centre" and bool(actor.country) and (actor.country or "").upper() == country.upper()


def can(actor: Actor, action: str, mission: dict[str, Any]) -> bool:
    """Whether ``actor`` may do ``action`` on ``mission`` (a stored mission document)."""
    if actor.role == "staff":
        return True
    if _in_country(actor, mission["country"]):
        return True
    if _owns(actor, mission):
        return action in (READ, VOLUNTEER_ACT)
    if action != READ:
        return False
    if actor.role == "authority":
        return bool(actor.authority_id) and actor.authority_id == mission["authority_id"]
    if actor.role == "branch":
        return bool(actor.region) and actor.region == mission.get("region")
    return False


def require(actor: Actor, action: str, mission: dict[str, Any]) -> None:
    """Raise ``Forbidden`` unless ``actor`` may do ``action`` on ``mission``."""
    if not can(actor, action, mission):
        raise Forbidden(f"role {actor.role!r} may not {action.replace('_', ' ')} mission {mission['_id']}")


def mission_scope(actor: Actor) -> dict[str, Any]:
    """A MongoDB filter restricting mission lists to what ``actor`` may read."""
    if actor.role == "staff":
        return {}
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
