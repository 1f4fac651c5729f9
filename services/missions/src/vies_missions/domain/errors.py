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

    def __init__(self, scheme: str, max_months: int, latest_end: date, source: str | None = None) -> None:
        details: dict[str, object] = {
            "scheme": scheme,
            "max_months": max_months,
            "latest_ends_on": latest_end.isoformat(),
        }
        if source:
            details["source"] = source
        super().__init__(
            f"a {scheme} contract lasts at most {max_months} months: the end date may not be after {latest_end}",
            details=details,
        )


class ExtensionBeyondLifetimeCap(NotAllowedInState):
    """A VSI extension that would take the volunteer past the lifetime cap, the months served before counted."""

    code = "extension_beyond_lifetime_cap"

    def __init__(self, *, cap_months: int, served_before: float, with_extension: float, source: str) -> None:
        super().__init__(
            f"VSI time over a lifetime is capped at {cap_months} months: {served_before:g} served before this "
            f"mission, {with_extension:g} with this extension",
            details={
                "rule": "vsi.lifetime_cap",
                "source": source,
                "cap_months": cap_months,
                "months_served_before": served_before,
                "months_with_extension": with_extension,
            },
        )
