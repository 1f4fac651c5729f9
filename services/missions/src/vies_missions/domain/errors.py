"""Errors of the missions domain, mapped to HTTP codes by the kit (409 unless stated)."""

from __future__ import annotations

from datetime import date

from vies_shared.errors import NotAllowedInState


class MissionNotReady(NotAllowedInState):
    """Departure refused while pre-departure checklist items are missing (409 listing them)."""

    code = "mission_not_ready"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"pre-departure checklist incomplete: missing {', '.join(missing)}", details={"missing": missing}
        )
        self.missing = missing


class ExtensionBeyondSchemeLimit(NotAllowedInState):
    """A new end date beyond the longest contract the scheme allows."""

    code = "extension_beyond_limit"

    def __init__(self, scheme: str, max_months: int, latest_end: date) -> None:
        super().__init__(
            f"a {scheme} contract lasts at most {max_months} months: the end date may not be after {latest_end}",
            details={"scheme": scheme, "max_months": max_months, "latest_ends_on": latest_end.isoformat()},
        )
