"""What the network's pages share (duty officer, regional branch, head office): who may open them, paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from vies_portal.account import require
from vies_portal.apis import ApiError, ApiUnavailable
from vies_portal.web import api

PAGE_SIZE = 20


@dataclass(frozen=True)
class Pager:
    """One page of a list: where it starts, and the links to the pages around it (filters kept)."""

    page: int
    pages: int
    total: int
    previous_url: str
    next_url: str

    @property
    def offset(self) -> int:
        """The API's ``offset`` for this page."""
        return (self.page - 1) * PAGE_SIZE


def page_number(value: str | int | None) -> int:
    """A page asked for in the address (1 when missing or nonsense)."""
    try:
        number = int(value or 1)
    except ValueError:
        return 1
    return min(max(number, 1), 10_000)


def pager(request: Request, total: int, page: int, name: str = "page") -> Pager:
    """Links to the previous and next pages of ``request``'s list, its other parameters kept."""
    pages = max(1, -(-total // PAGE_SIZE))
    params = {k: v for k, v in request.query_params.items() if k != name and v}

    def link(number: int) -> str:
        return f"{request.url.path}?{urlencode({**params, name: number})}"

    return Pager(
        page=page,
        pages=pages,
        total=total,
        previous_url=link(page - 1) if page > 1 else "",
        next_url=link(page + 1) if page < pages else "",
    )


def staff_member(request: Request) -> dict[str, Any]:
    """The signed-in agency staff member (duty officer, head office); 403 for anyone else."""
    return require(request, "staff")


def branch_adviser(request: Request) -> dict[str, Any]:
    """The signed-in regional branch adviser with its region; 403 without one."""
    person = require(request, "branch")
    if not person.get("region"):
        raise ApiError(403)
    return person


async def listed(request: Request, service: str, path: str, **params: Any) -> dict[str, Any]:
    """A list from an API; a refusal or an outage shows as an empty list marked ``unavailable``."""
    try:
        return await api(request, service, "GET", path, params=params)
    except (ApiError, ApiUnavailable):
        return {"items": [], "total": 0, "unavailable": True}
