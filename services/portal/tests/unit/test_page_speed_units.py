"""What keeps a page's server time down: one token refresh per page, a pool per API, countries written once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from starlette.requests import Request

from vies_portal.apis import SERVICES, Apis
from vies_portal.forms import country_options
from vies_portal.sessions import Session
from vies_portal.settings import PortalSettings
from vies_portal.web import SignInRequired, access_token


class Provider:
    """A provider whose refresh takes a moment and counts its calls (or refuses: the session ended)."""

    def __init__(self, refuse: bool = False) -> None:
        self.refreshes = 0
        self.refuse = refuse

    async def refresh(self, tokens: dict[str, Any]) -> dict[str, Any]:
        self.refreshes += 1
        await asyncio.sleep(0.01)
        if self.refuse:
            from vies_portal.oidc import ProviderError

            raise ProviderError("refresh refused")
        return {"access_token": f"new-{self.refreshes}", "refresh_token": "r2", "expires_at": time.time() + 300}


def _request(provider: Provider) -> Request:
    """A page's request whose session's access token is about to expire."""
    session = Session(
        id="sid",
        csrf="c",
        tokens={"access_token": "old", "refresh_token": "r", "expires_at": time.time() + 10},
        person={"sub": "p", "role": "candidate"},
    )
    portal = type("Portal", (), {"provider": provider})()
    app = type("App", (), {"state": type("State", (), {"portal": portal})()})()
    request = Request({"type": "http", "headers": [], "app": app})
    request.state.session = session
    return request


async def test_a_pages_calls_made_together_refresh_the_tokens_once() -> None:
    provider = Provider()
    request = _request(provider)
    tokens = await asyncio.gather(*(access_token(request) for _ in range(4)))
    assert provider.refreshes == 1 and tokens == ["new-1"] * 4


async def test_a_refused_refresh_ends_the_session_for_every_call_of_the_page() -> None:
    provider = Provider(refuse=True)
    request = _request(provider)
    results = await asyncio.gather(*(access_token(request) for _ in range(3)), return_exceptions=True)
    assert provider.refreshes == 1 and all(isinstance(r, SignInRequired) for r in results)
    assert results[0].expired and request.state.session.tokens is None  # type: ignore[union-attr]


async def test_each_api_has_its_own_pool() -> None:
    apis = Apis(PortalSettings())
    try:
        assert set(apis.http) == set(SERVICES) and len({id(c) for c in apis.http.values()}) == len(SERVICES)
    finally:
        await apis.aclose()


def _loop(countries: list[tuple[str, str]], selected: str) -> str:
    """The options as the template's loop wrote them before."""
    from markupsafe import escape

    chosen = selected.upper()
    return "".join(
        f'<option value="{code}"{" selected" if code == chosen else ""}>{escape(name)}</option>'
        for code, name in countries
    )


@pytest.mark.parametrize("selected", ["", "SN", "sn", "FR", "XX", None])
def test_country_options_mark_the_chosen_country_as_the_loop_did(selected: str | None) -> None:
    countries = [("FR", "France"), ("CI", "Côte d’Ivoire & <co>"), ("SN", "Sénégal")]
    assert str(country_options(countries, selected)) == _loop(countries, selected or "")
    assert str(country_options(countries, "")) == _loop(countries, "")  # the cached list is left as it was
