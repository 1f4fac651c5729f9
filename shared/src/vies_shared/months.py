"""Contract months: how schemes count a placement's length, the same way in every service.

The 72-month VSI lifetime cap is declared in recruitment and enforced in missions:
both must count months identically, so the arithmetic lives here once.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months (end of month clamps: 31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(starts_on: date, last_day: date) -> float:
    """Length of the period from ``starts_on`` to ``last_day`` included, in months.

    Whole calendar months first, then the remaining days counted as thirtieths,
    so 1 Jan-30 Jun is exactly 6.0 and 1 Jan-1 Jul is 6.033.
    """
    end = last_day + timedelta(days=1)
    if end <= starts_on:
        return 0.0
    whole = (end.year - starts_on.year) * 12 + end.month - starts_on.month
    while whole > 0 and add_months(starts_on, whole) > end:
        whole -= 1
    rest = (end - add_months(starts_on, whole)).days
    return whole + rest / 30
