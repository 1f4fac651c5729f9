"""The four services' HTTP APIs, called with the person's own token (or none on public pages)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from vies_portal.settings import PortalSettings

SERVICES = ("recruitment", "partners", "missions", "notifications")
Document = dict[str, Any]
T = TypeVar("T")


@dataclass
class ApiError(Exception):
    """An API said no: its status, error code, sentence and invalid fields (on a 422)."""

    status: int
    code: str = ""
    detail: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    details: Any = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"


@dataclass
class ApiUnavailable(Exception):
    """An API did not answer (down, timeout, 5xx): the page says so and keeps what was typed."""

    service: str

    def __str__(self) -> str:
        return f"{self.service} unavailable"


# Per service: a page's calls go out together, and every person's pages at once; the connections a
# burst of pages opened are kept for the next one rather than opened again.
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=50)


class Apis:
    """A pooled HTTP client per API; every call carries the caller's token.

    One pool per service rather than one for all: httpx scans every connection of a pool at
    each request and response (and every connection again for each idle one), so a call to one
    service no longer pays for the connections kept open to the three others.
    """

    def __init__(self, settings: PortalSettings) -> None:
        self.settings = settings
        self.http = {
            service: httpx.AsyncClient(timeout=settings.api_timeout_seconds, limits=POOL_LIMITS) for service in SERVICES
        }

    async def aclose(self) -> None:
        """Close the pools (shutdown)."""
        await asyncio.gather(*(http.aclose() for http in self.http.values()))

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        request_id: str = "",
        forwarded_for: str = "",
    ) -> Document:
        """The JSON answer of one call, or ApiError / ApiUnavailable.

        ``forwarded_for``: the visitor's address chain (``X-Forwarded-For``), so that an API
        limiting anonymous calls per address (recruitment's pre-check) counts each visitor apart.
        """
        headers = {"Accept": "application/json"}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if request_id:
            headers["X-Request-ID"] = request_id
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.http[service].request(
                method,
                self.settings.api_url(service) + path,
                headers=headers,
                json=json,
                params=clean,
                timeout=self.settings.api_timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise ApiUnavailable(service) from exc
        if response.status_code >= 500:
            raise ApiUnavailable(service)
        if response.status_code >= 400:
            raise _error(response)
        if not response.content:
            return {}
        body: Document = response.json()
        return body

    async def ready(self, service: str) -> bool:
        """Whether a service's ``/readyz`` answers 200."""
        try:
            response = await self.http[service].get(self.settings.api_url(service) + "/readyz", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        return ApiError(response.status_code)
    fields: dict[str, str] = {}
    for item in body.get("errors") or []:
        # "body.candidate.email" -> "candidate.email": the form field it concerns.
        name = str(item.get("field", "")).removeprefix("body.").removeprefix("query.")
        fields.setdefault(name, str(item.get("message", "")))
    return ApiError(
        response.status_code,
        str(body.get("error", "")),
        str(body.get("detail", "")),
        fields,
        body.get("details"),
    )


async def together(*calls: Awaitable[T]) -> list[T]:
    """Several API calls at once (a page never waits for them one after another)."""
    return list(await asyncio.gather(*calls))
