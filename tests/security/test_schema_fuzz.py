"""Schemathesis over every service's OpenAPI with a staff token: no 5xx, and answers match their schema.

Bounded: a fixed number of generated requests per operation and a time budget per
service, so it fits in ``make test``: past the budget (a loaded machine) every remaining
operation is still exercised, with fewer requests. Every failure of every operation is
collected and reported together, with the request that caused it.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from .conftest import SERVICES, SecuredPlatform

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 12
# Once the time budget is spent: enough to reach each remaining operation in both modes.
EXAMPLES_PAST_BUDGET = 3
# Valid requests (they reach the use cases) and invalid ones (they must be a 4xx, never a 5xx).
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
SECONDS_PER_SERVICE = 30.0


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_error_and_every_answer_matches_its_schema(secured_platform: SecuredPlatform, service: str) -> None:
    base_url = secured_platform.url(service)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = secured_platform.auth("staff", "fuzz-staff")
    failures: list[str] = []
    calls = 0
    deadline = time.monotonic() + SECONDS_PER_SERVICE

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in [(op, mode) for op in operations for mode in MODES]:
        examples = EXAMPLES_PER_OPERATION if time.monotonic() < deadline else EXAMPLES_PAST_BUDGET
        calls += _exercise(operation, mode, examples, base_url, headers, failures)

    print(f"{service}: {len(operations)} operations, {calls} calls")
    assert len(operations) >= 9 and calls >= len(operations) * EXAMPLES_PAST_BUDGET
    assert not failures, f"{len(failures)} failure(s) in {calls} calls:\n" + "\n\n".join(failures[:20])


def _exercise(
    operation: Any, mode: GenerationMode, examples: int, base_url: str, headers: dict[str, str], failures: list[str]
) -> int:
    """Up to ``examples`` generated requests for one operation in one mode; failures are appended, the call count
    returned."""
    calls = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        except Exception as exc:
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:800]}")

    with contextlib.suppress(Unsatisfiable):
        exercise()
    return calls
