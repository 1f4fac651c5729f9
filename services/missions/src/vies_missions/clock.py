"""The service's clock: wall time, or a function set by tests in ``runtime.extras["clock"]``."""

from __future__ import annotations

from datetime import datetime

from vies_shared.service import Runtime


def now(runtime: Runtime) -> datetime:
    """The current UTC time as the service sees it (schedulers and use cases share it; ``uow.now()`` too)."""
    return runtime.now()
