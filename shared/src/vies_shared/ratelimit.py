"""An in-process token bucket per client IP, for public endpoints.

Each process keeps its own buckets (no shared state: with N replicas a client gets at most
N times the rate, which is enough against a script hammering the endpoint). The table of
buckets is bounded: when it is full, buckets that have refilled completely are dropped, and
failing that the oldest ones, so a flood of addresses cannot grow memory without limit.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from vies_shared.errors import DomainError


class TooManyRequests(DomainError):
    """The caller's bucket is empty (429, with ``Retry-After``)."""

    status = 429
    code = "too_many_requests"

    def __init__(self, retry_after: int, what: str = "requests") -> None:
        super().__init__(
            f"too many {what} from your address: retry in {retry_after} s",
            details={"retry_after": retry_after},
        )
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """``per_minute`` calls a minute per key, in bursts of at most ``per_minute``."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        what: str = "requests",
    ) -> None:
        self.what = what
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket, or raise ``TooManyRequests`` with the seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            self._buckets.move_to_end(key)
        if bucket.tokens < 1.0:
            raise TooManyRequests(max(1, math.ceil((1.0 - bucket.tokens) / self.rate)), self.what)
        bucket.tokens -= 1.0

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.capacity]
        for key in full:
            del self._buckets[key]
        while len(self._buckets) >= self.max_keys:
            self._buckets.popitem(last=False)


def client_ip(request: Request, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str:
    """The caller's address: the peer's, or the last hop of ``X-Forwarded-For`` when the peer is trusted.

    Behind the Ingress every request comes from the Ingress controller; it is one of the
    trusted peers (``VIES_TRUSTED_REQUEST_ID_FROM``) and appends the real client address.
    """
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded or not _in(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def _in(host: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)
