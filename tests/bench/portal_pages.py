"""Benchmark: server time of the portal's pages with concurrent signed-in people (target: p95 < 300 ms).

Each simulated person signs in through the provider's real login form (code flow with PKCE, as a
browser would), reads each of its pages once (warm-up, not counted: the first calls after a start
open the portal's and the APIs' connection pools), then reads its pages in a loop: candidates the
positions, a position, their applications and their data; officers their dashboard (four APIs called
together) and a position's pipeline. People start at random moments within a think time and read a
page for a think time give or take ``--jitter``, as people do, rather than all clicking at the same
instant (``--jitter 0`` with ``--warm-up 0`` gives the old lock-step run). Latency is measured per
request by this client (the portal and the APIs are local, but on a small machine the client's own
CPU shares the cores), and the portal's own ``vies_portal_page_seconds`` histogram is read back
before and after: ``server`` gives, per route, the pages counted and the share served within the
target, which is the server's time. Prints JSON; exits 1 when a page's p95 is over the target.

Run against ``make run`` (not part of the test suite):
    python tests/bench/portal_pages.py [--portal http://127.0.0.1:8000] [--users 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import random
import re
import sys
import time
from collections import defaultdict
from typing import Any
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
    client: httpx.AsyncClient,
    portal: str,
    pages: list[str],
    until: float,
    pause: Pause,
    out: dict[str, list[float]],
) -> None:
    """Read ``pages`` in turn until the deadline, timing each one, pausing between pages."""
    await asyncio.sleep(pause.first())
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
        await asyncio.sleep(pause.next())


class Pause:
    """A person's reading time: ``think`` seconds give or take ``jitter`` (a share of it); a random start."""

    def __init__(self, think: float, jitter: float, rng: random.Random) -> None:
        self.think, self.jitter, self.rng = think, jitter, rng

    def first(self) -> float:
        """Before the first page: anywhere within one reading time (none without jitter: all start together)."""
        return self.rng.uniform(0, self.think) if self.jitter else 0.0

    def next(self) -> float:
        """Between two pages."""
        return self.think * (1 + self.rng.uniform(-self.jitter, self.jitter))


async def warm_up(client: httpx.AsyncClient, portal: str, pages: list[str]) -> None:
    """Each page once, not counted."""
    for path in pages:
        await client.get(portal + path, follow_redirects=False)


async def page_histogram(http: httpx.AsyncClient, portal: str) -> dict[str, dict[float, float]]:
    """The portal's ``vies_portal_page_seconds`` buckets per route (cumulative counts by upper bound)."""
    text = (await http.get(f"{portal}/metrics")).text
    found: dict[str, dict[float, float]] = defaultdict(dict)
    pattern = r'^vies_portal_page_seconds_bucket\{le="([^"]+)",route="([^"]+)"\} (\S+)$'
    for bound, route, count in re.findall(pattern, text, re.M):
        found[route][float("inf") if bound == "+Inf" else float(bound)] = float(count)
    return found


def server_times(before: dict[str, dict[float, float]], after: dict[str, dict[float, float]]) -> dict[str, Any]:
    """Per route: pages counted by the portal during the run, the share within the target, the p95's bucket."""
    target = TARGET_MS / 1000
    report: dict[str, Any] = {}
    for route, buckets in sorted(after.items()):
        counts = {le: n - before.get(route, {}).get(le, 0.0) for le, n in sorted(buckets.items())}
        total = counts.get(float("inf"), 0.0)
        if not total:
            continue
        within = max((n for le, n in counts.items() if le <= target), default=0.0)
        p95 = next(le for le, n in counts.items() if n >= 0.95 * total)
        report[route] = {
            "pages": int(total),
            "within_target": round(within / total, 3),
            "p95_at_most_ms": None if p95 == float("inf") else round(p95 * 1000),
        }
    return report


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portal", default="http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--think", type=float, default=1.0, help="seconds a person reads a page before the next one (0: saturate)"
    )
    parser.add_argument("--jitter", type=float, default=0.25, help="reading time varies by this share of --think")
    parser.add_argument("--warm-up", type=int, default=1, help="rounds of each person's pages before timing")
    parser.add_argument("--seed", type=int, default=12, help="of the reading times, for runs to compare")
    args = parser.parse_args()
    portal = args.portal.rstrip("/")
    rng = random.Random(args.seed)
    plan = [PEOPLE[i % len(PEOPLE)] for i in range(args.users)]
    clients = await asyncio.gather(*(signed_in(portal, username) for username, _ in plan))
    for _ in range(args.warm_up):
        await asyncio.gather(
            *(warm_up(client, portal, pages) for client, (_, pages) in zip(clients, plan, strict=True))
        )
    timings: dict[str, list[float]] = defaultdict(list)
    async with httpx.AsyncClient(timeout=30) as http:
        histogram_before = await page_histogram(http, portal)
        until = time.monotonic() + args.seconds
        started = time.monotonic()
        await asyncio.gather(
            *(
                person(client, portal, pages, until, Pause(args.think, args.jitter, rng), timings)
                for client, (_, pages) in zip(clients, plan, strict=True)
            )
        )
        elapsed = time.monotonic() - started
        server = server_times(histogram_before, await page_histogram(http, portal))
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
        "jitter": args.jitter,
        "warm_up_rounds": args.warm_up,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(sum(len(v) for v in timings.values()) / elapsed, 1),
        "pages": pages,
        "server": server,
        "target_p95_ms": TARGET_MS,
        "over_target_or_failed": over,
    }
    print(json.dumps(report, indent=2))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
