"""Programme indicators as figures: bar geometry for server-rendered SVG charts, and their CSV rows.

Pure functions (no I/O): the pages hand them the partners service's ``/programme/indicators``
answer; the templates draw the bars; the CSV export writes the rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Drawing area of a horizontal bar chart, in SVG user units (the SVG scales to its container): each
# row has its label on a line of its own above the bar, so long names in either language fit.
WIDTH = 640
ROOM = 520  # the longest bar; the rest of the line holds its figure
LABEL_HEIGHT = 20
BAR_HEIGHT = 22
GAP = 16
ROW = LABEL_HEIGHT + BAR_HEIGHT + GAP
# Progress bars: the target sits at two thirds of the room, so a bar can show up to 150 % of it.
TARGET_AT = ROOM * 2 / 3


@dataclass(frozen=True)
class Bar:
    """One bar: a measured value against its target, with its geometry."""

    key: str
    value: float
    target: float | None
    y: int
    width: float
    target_x: float | None
    met: bool

    @property
    def label_y(self) -> int:
        """Baseline of the label above the bar."""
        return self.y - 6


def _row_top(index: int) -> int:
    return GAP + LABEL_HEIGHT + index * ROW


def bars(measures: Iterable[tuple[str, float, float | None]]) -> list[Bar]:
    """Bars on one scale (counts without targets): the longest value fills the room."""
    items = list(measures)
    scale_max = max([1.0, *(v for _, v, _ in items)])
    return [
        Bar(key, value, None, _row_top(index), round(ROOM * value / scale_max, 1), None, True)
        for index, (key, value, _) in enumerate(items)
    ]


def progress_bars(measures: Iterable[tuple[str, float, float | None]]) -> list[Bar]:
    """Each bar against its own target (counts and shares alike): the target line is where 100 % is."""
    found = []
    for index, (key, value, target) in enumerate(measures):
        # Without a target, any activity shows as reached and none as an empty bar.
        reached = value / target if target else (1.0 if value > 0 else 0.0)
        found.append(
            Bar(
                key=key,
                value=value,
                target=target,
                y=_row_top(index),
                width=round(TARGET_AT * min(reached, 1.5), 1),
                target_x=round(TARGET_AT, 1),
                met=value >= target if target else value > 0,
            )
        )
    return found


def chart_height(count: int) -> int:
    """The SVG height for ``count`` bars."""
    return _row_top(count) - LABEL_HEIGHT + 4


def progress(indicators: Mapping[str, Any]) -> list[Bar]:
    """The programme's three targets: enrolled authorities, their share new to cooperation, programme missions."""
    authorities = indicators.get("authorities") or {}
    missions = indicators.get("missions") or {}
    share = float(authorities.get("new_to_cooperation_share") or 0) * 100
    target_share = float(authorities.get("target_new_to_cooperation_share") or 0) * 100
    return progress_bars(
        [
            ("authorities", float(authorities.get("enrolled") or 0), _number(authorities.get("target"))),
            ("missions", float(missions.get("programme") or 0), _number(missions.get("target"))),
            ("new_share", round(share, 1), round(target_share, 1)),
        ]
    )


def by_scheme(indicators: Mapping[str, Any]) -> list[Bar]:
    """Missions per scheme (no target)."""
    counts = (indicators.get("missions") or {}).get("by_scheme") or {}
    return bars([(str(scheme), float(n), None) for scheme, n in sorted(counts.items())])


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


CSV_COLUMNS = (
    "scope",
    "enrolled_authorities",
    "target_authorities",
    "new_to_cooperation",
    "new_to_cooperation_share",
    "target_new_to_cooperation_share",
    "programme_missions",
    "target_missions",
    "missions_total",
    "sent_abroad",
    "hosted_in_france",
    "partnership_countries",
)


def csv_row(scope: str, indicators: Mapping[str, Any]) -> list[Any]:
    """One line of the export: the whole country (``FR``) or a region."""
    authorities = indicators.get("authorities") or {}
    missions = indicators.get("missions") or {}
    direction = missions.get("by_direction") or {}
    return [
        scope,
        authorities.get("enrolled", 0),
        authorities.get("target", ""),
        authorities.get("new_to_cooperation", 0),
        authorities.get("new_to_cooperation_share", 0),
        authorities.get("target_new_to_cooperation_share", ""),
        missions.get("programme", 0),
        missions.get("target", ""),
        missions.get("total", 0),
        direction.get("sent_abroad", 0),
        direction.get("hosted_in_france", 0),
        len(indicators.get("partnerships_by_country") or {}),
    ]


def indicators_csv(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """The CSV export (header, then one line per scope); cells a spreadsheet would run as formulas are quoted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for scope, indicators in rows:
        writer.writerow([_inert(cell) for cell in csv_row(scope, indicators)])
    return buffer.getvalue()


def _inert(cell: Any) -> Any:
    # A text starting with = + - @ is a formula to a spreadsheet (CSV injection): prefix it.
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@"):
        return "'" + cell
    return cell
