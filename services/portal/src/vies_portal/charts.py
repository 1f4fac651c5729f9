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

# Drawing area of a horizontal bar chart, in SVG user units (the SVG scales to its container).
WIDTH = 640
LABEL_WIDTH = 230
BAR_HEIGHT = 22
GAP = 14


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


def bars(measures: Iterable[tuple[str, float, float | None]]) -> list[Bar]:
    """Horizontal bars on one scale: the longest of the values and targets fills the drawing area."""
    items = list(measures)
    scale_max = max([1.0, *(v for _, v, _ in items), *(t for _, _, t in items if t is not None)])
    room = WIDTH - LABEL_WIDTH - 60
    found = []
    for index, (key, value, target) in enumerate(items):
        found.append(
            Bar(
                key=key,
                value=value,
                target=target,
                y=GAP + index * (BAR_HEIGHT + GAP),
                width=round(room * value / scale_max, 1),
                target_x=round(LABEL_WIDTH + room * target / scale_max, 1) if target is not None else None,
                met=target is None or value >= target,
            )
        )
    return found


def chart_height(count: int) -> int:
    """The SVG height for ``count`` bars."""
    return GAP + count * (BAR_HEIGHT + GAP) + 8


def progress(indicators: Mapping[str, Any]) -> list[Bar]:
    """The programme's three targets: enrolled authorities, their share new to cooperation, programme missions."""
    authorities = indicators.get("authorities") or {}
    missions = indicators.get("missions") or {}
    share = float(authorities.get("new_to_cooperation_share") or 0) * 100
    target_share = float(authorities.get("target_new_to_cooperation_share") or 0) * 100
    return bars(
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
