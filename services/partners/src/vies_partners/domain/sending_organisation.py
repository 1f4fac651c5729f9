"""Sending organisations: French associations approved by the foreign ministry to send VSI volunteers."""

from __future__ import annotations

from datetime import date

from vies_shared.errors import InvalidInput


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def check_approval(approved_from: date | None, approved_until: date | None, max_years: int) -> None:
    """An approval has both dates or none, ends after it starts and lasts at most ``max_years``.

    docs/DOMAIN.md (VSI row): associations are approved to send VSI volunteers for at most 4 years
    (law 2005-159 and its implementing decree); ``max_years`` comes from settings.
    """
    if (approved_from is None) != (approved_until is None):
        raise InvalidInput("approved_from and approved_until go together")
    if approved_from is None or approved_until is None:
        return
    if approved_until <= approved_from:
        raise InvalidInput("approved_until must be after approved_from")
    if approved_until > add_years(approved_from, max_years):
        raise InvalidInput(f"an approval lasts at most {max_years} years")


def approval_valid_on(approved_from: date | None, approved_until: date | None, day: date) -> bool:
    """Whether the approval covers ``day``."""
    return approved_from is not None and approved_until is not None and approved_from <= day <= approved_until
