"""The service's clock: wall time, or a function set by tests in ``runtime.extras["clock"]``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def now(runtime: Any) -> datetime:
    """The current UTC time as the service sees it (schedulers and use cases share it)."""
    clock: Callable[[], datetime] | None = runtime.extras.get("clock")
    return clock() if clock is not None else datetime.now(UTC)
