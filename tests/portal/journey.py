"""A person's visit through the portal in a real browser: a screenshot and an axe-core audit of every page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import ConsoleMessage, Page

from .conftest import ARTEFACTS

SERIOUS = ("serious", "critical")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


class Journey:
    """Follows one test's pages: every page looked at is photographed and audited."""

    def __init__(self, page: Page, name: str, portal_url: str) -> None:
        self.page = page
        self.portal_url = portal_url
        self.folder = ARTEFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0
        self.visited: list[str] = []
        self.csp_errors: list[str] = []
        self.violations: list[str] = []
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_errors.append(message.text)

    async def look(self, label: str, *, audit: bool = True) -> Path:
        """Screenshot the page; on the portal's pages run axe-core and keep serious or critical violations."""
        await self.page.wait_for_load_state("domcontentloaded")
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{slug}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        url = self.page.url
        if url.startswith(self.portal_url):
            if url not in self.visited:
                self.visited.append(url)
            if audit:
                await self.audit(label)
        return path

    async def audit(self, label: str) -> None:
        """axe-core on the current page (WCAG 2.1 A and AA rules)."""
        result: dict[str, Any] = await self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
        )
        for violation in result["violations"]:
            if violation.get("impact") in SERIOUS:
                targets = [", ".join(node["target"]) for node in violation["nodes"][:3]]
                self.violations.append(f"{label} ({self.page.url}): {violation['id']} {violation['impact']} {targets}")

    async def revisit_in(self, lang: str) -> None:
        """Read every portal page seen so far again in another language (screenshot and audit)."""
        await self.page.goto(f"{self.portal_url}/language/{lang}?next=/")
        for url in list(self.visited):
            if "/auth/" in url or "/language/" in url:
                continue
            await self.page.goto(url)
            path = url.removeprefix(self.portal_url).split("?")[0] or "/"
            await self.look(f"{lang} {path}")

    def assert_clean(self) -> None:
        """No serious or critical accessibility violation, no CSP violation, on any page."""
        assert not self.violations, "\n".join(self.violations)
        assert not self.csp_errors, "\n".join(self.csp_errors)


async def sign_in(page: Page, portal_url: str, username: str, password: str, next_path: str = "/") -> None:
    """Through the provider's real login form, back to ``next_path`` on the portal."""
    await page.goto(f"{portal_url}/sign-in?next={next_path}")
    await page.wait_for_url("**/protocol/openid-connect/auth**")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#kc-login")
    await page.wait_for_url(f"{portal_url}/**")


async def session_id(page: Page) -> str:
    """The portal's session cookie in this browser (a random id, nothing else)."""
    for cookie in await page.context.cookies():
        if cookie["name"] == "vies_session":
            return str(cookie["value"])
    raise AssertionError("no session cookie")
