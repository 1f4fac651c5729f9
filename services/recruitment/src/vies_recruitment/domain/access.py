"""Who may see and do what (docs/CONTRACT.md 2): data-level scope on top of roles."""

from __future__ import annotations

from vies_recruitment.domain.application import Application
from vies_recruitment.domain.position import DRAFT, Position
from vies_shared.aggregate import Document
from vies_shared.errors import Forbidden
from vies_shared.web import Principal


def can_read_position(principal: Principal, position: Position) -> bool:
    """Published and closed positions are public to any authenticated role; drafts only to their authority."""
    if principal.is_staff or position.status != DRAFT:
        return True
    return principal.role == "authority" and principal.authority_id == position.authority_id


def require_position_manager(principal: Principal, position: Position) -> None:
    """Only the position's authority (and staff) manage it and its applications."""
    if principal.is_staff:
        return
    if principal.role != "authority" or principal.authority_id != position.authority_id:
        raise Forbidden("only the position's authority may do this")


def can_read_applications_of(principal: Principal, record: Position | Application) -> bool:
    """Authority: its own; branch: its region; staff: all (``record`` is a position or an application)."""
    if principal.is_staff:
        return True
    if principal.role == "authority":
        return principal.authority_id is not None and principal.authority_id == record.authority_id
    if principal.role == "branch":
        return principal.region is not None and principal.region == record.region
    return False


def can_read_application(principal: Principal, application: Application) -> bool:
    """A candidate reads only their own applications; the others as ``can_read_applications_of``."""
    if principal.role == "candidate":
        return principal.sub == application.candidate_id
    return can_read_applications_of(principal, application)


def sees_personal_data(principal: Principal, application: Application) -> bool:
    """Contact and profile data are for the candidate, the recruiting authority and staff, not branches."""
    return principal.role != "branch"


def application_scope(principal: Principal) -> Document:
    """The MongoDB filter limiting an application list to the principal's scope."""
    if principal.is_staff:
        return {}
    if principal.role == "candidate":
        return {"candidate_id": principal.sub}
    if principal.role == "authority" and principal.authority_id:
        return {"authority_id": principal.authority_id}
    if principal.role == "branch" and principal.region:
        return {"region": principal.region}
    raise Forbidden(f"role {principal.role!r} may not list applications")
