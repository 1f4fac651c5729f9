"""Per-request and per-message context carried into the events they cause."""

from __future__ import annotations

from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("vies_correlation_id", default=None)
causation_id: ContextVar[str | None] = ContextVar("vies_causation_id", default=None)
