"""The candidate's email from their account and the anonymous rate limit, without I/O."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from vies_recruitment.use_cases import candidate_email
from vies_shared.errors import Forbidden, InvalidInput
from vies_shared.ratelimit import RateLimiter, TooManyRequests
from vies_shared.web import Principal


def runtime(env: str) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(env=env))


def test_a_candidate_applies_with_the_verified_email_of_their_account() -> None:
    verified = Principal(sub="c", role="candidate", email="me@example.org", email_verified=True)
    assert candidate_email(runtime("production"), verified, "someone.else@example.org") == "me@example.org"
    assert candidate_email(runtime("production"), verified, None) == "me@example.org"
    unverified = Principal(sub="c", role="candidate", email="me@example.org", email_verified=False)
    with pytest.raises(Forbidden, match="verify your email address first"):
        candidate_email(runtime("dev"), unverified, "me@example.org")
    no_email = Principal(sub="c", role="candidate")
    with pytest.raises(Forbidden, match="verify your email address first"):
        candidate_email(runtime("production"), no_email, "me@example.org")
    # Development tokens may carry no email at all: then the body's.
    assert candidate_email(runtime("dev"), no_email, "me@example.org") == "me@example.org"
    staff = Principal(sub="s", role="staff")
    assert candidate_email(runtime("production"), staff, "them@example.org") == "them@example.org"
    with pytest.raises(InvalidInput):
        candidate_email(runtime("production"), staff, None)


def test_the_bucket_refills_at_its_rate_and_stays_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(30, max_keys=3, clock=lambda: now[0])
    for _ in range(30):
        limiter.take("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("a")
    assert refused.value.retry_after == 2  # one call every 2 s at 30 a minute
    limiter.take("b")  # another address has its own bucket
    now[0] += 2.0
    limiter.take("a")
    for key in ("c", "d", "e"):
        limiter.take(key)
    assert len(limiter._buckets) <= 3
