"""Benchmark: server time of the portal's pages with concurrent signed-in people (target: p95 < 300 ms).

Each simulated person signs in through the provider's real login form (code flow with PKCE, as a
browser would), then reads its pages in a loop: candidates the positions, a position, their
applications and their data; officers their dashboard (four APIs called together) and a position's
pipeline. Latency is measured per request on this machine (the portal and the APIs are local, so it
is the server's time) and the portal's own ``vies_portal_page_seconds`` histogram is read back.
Prints JSON; exits 1 when a page's p95 is over the target.

Run against ``make run`` (not part of the test suite):
    python tests/bench/portal_pages.py [--portal http://127.0.0.1:8000] [--users 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
import sys
import time
from collections import defaultdict
from urllib.parse import urljoin

import httpx

from vies_shared.keycloak import DEMO_USERS

CANDIDATE_PAGES = ["/positions", "/positions/pos-demo-vsi-ziguinchor", "/my/applications", "/my/data", "/schemes"]
OFFICER_PAGES = ["/authority", "/authority/positions/pos-demo-vsi-ziguinchor", "/positions"]
PEOPLE = [("amina.candidate", CANDIDATE_PAGES), ("thomas.candidate", CANDIDATE_PAGES), ("ara.authority", OFFICER_PAGES)]
TARGET_MS = 300.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def signed_in(portal: str, username: str) -> httpx.AsyncClient:
    """A client holding a portal session of ``username``, signed in through the provider's login form."""
    client = httpx.AsyncClient(follow_redirects=True, timeout=30)

    async def insecure_cookies(response: httpx.Response) -> None:
        # The provider marks its cookies Secure; browsers send them to http://127.0.0.1, httpx does not.
        for cookie in client.cookies.jar:
            cookie.secure = False

    client.event_hooks["response"] = [insecure_cookies]
    login = await client.get(f"{portal}/sign-in?next=/")
    match = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', login.text)
    if match is None:
        raise SystemExit(f"no login form at {login.url}: is the provider up?")
    action = urljoin(str(login.url), html.unescape(match.group(1)))
    page = await client.post(action, data={"username": username, "password": DEMO_USERS[username].password})
    if not str(page.url).startswith(portal):
        raise SystemExit(f"{username} could not sign in (ended at {page.url})")
    return client


async def person(
    client: httpx.AsyncClient, portal: str, pages: list[str], until: float, think: float, out: dict[str, list[float]]
) -> None:
    """Read ``pages`` in turn until the deadline, timing each one, pausing ``think`` seconds between pages."""
    i = 0
    while time.monotonic() < until:
        path = pages[i % len(pages)]
        i += 1
        started = time.perf_counter()
        response = await client.get(portal + path, follow_redirects=False)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            out[f"{path} status {response.status_code}"].append(elapsed)
        else:
            out[path].append(elapsed)
        if think:
            await asyncio.sleep(think)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portal", default="http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--think", type=float, default=1.0, help="seconds a person reads a page before the next one (0: saturate)"
    )
    args = parser.parse_args()
    portal = args.portal.rstrip("/")
    plan = [PEOPLE[i % len(PEOPLE)] for i in range(args.users)]
    clients = await asyncio.gather(*(signed_in(portal, username) for username, _ in plan))
    timings: dict[str, list[float]] = defaultdict(list)
    until = time.monotonic() + args.seconds
    started = time.monotonic()
    await asyncio.gather(
        *(
            person(client, portal, pages, until, args.think, timings)
            for client, (_, pages) in zip(clients, plan, strict=True)
        )
    )
    elapsed = time.monotonic() - started
    for client in clients:
        await client.aclose()
    pages = {
        path: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 50), 1),
            "p95_ms": round(percentile(values, 95), 1),
            "max_ms": round(max(values), 1),
        }
        for path, values in sorted(timings.items())
    }
    over = [path for path, stats in pages.items() if stats["p95_ms"] > TARGET_MS or " status " in path]
    report = {
        "users": args.users,
        "think_seconds": args.think,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(sum(len(v) for v in timings.values()) / elapsed, 1),
        "pages": pages,
        "target_p95_ms": TARGET_MS,
        "over_target_or_failed": over,
    }
    print(json.dumps(report, indent=2))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
