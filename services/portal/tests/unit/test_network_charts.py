"""The indicators' charts and CSV export, without a stack."""

from __future__ import annotations

import csv
import io

from vies_portal import charts

INDICATORS = {
    "authorities": {
        "enrolled": 12,
        "new_to_cooperation": 3,
        "new_to_cooperation_share": 0.25,
        "target": 30,
        "target_new_to_cooperation_share": 0.2,
    },
    "missions": {
        "total": 50,
        "programme": 40,
        "by_scheme": {"vsi": 30, "service_civique": 20},
        "by_direction": {"sent_abroad": 45, "hosted_in_france": 5},
        "target": 20,
        "target_met": True,
    },
    "partnerships_by_country": {"SN": 2, "MG": 1},
}


def test_bars_share_one_scale_and_mark_their_targets() -> None:
    authorities, missions, share = charts.progress(INDICATORS)
    # The longest of values and targets (40 missions) fills the drawing area; the others in proportion.
    room = charts.WIDTH - charts.LABEL_WIDTH - 60
    assert missions.width == room and authorities.width == round(room * 12 / 40, 1)
    assert authorities.target_x == round(charts.LABEL_WIDTH + room * 30 / 40, 1)
    assert not authorities.met and missions.met and share.met
    assert share.value == 25.0 and share.target == 20.0
    assert [b.y for b in (authorities, missions, share)] == sorted({authorities.y, missions.y, share.y})
    assert charts.chart_height(3) > share.y + charts.BAR_HEIGHT


def test_an_empty_programme_draws_no_bar_beyond_its_frame() -> None:
    bars = charts.progress({})
    assert all(b.width == 0 and b.value == 0 for b in bars)
    assert [b.key for b in charts.by_scheme(INDICATORS)] == ["service_civique", "vsi"]


def test_the_csv_has_the_country_then_each_region_and_no_formula() -> None:
    text = charts.indicators_csv([("FR", INDICATORS), ("=HYPERLINK(1)", {})])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(charts.CSV_COLUMNS)
    assert rows[1][:3] == ["FR", "12", "30"] and rows[1][6:9] == ["40", "20", "50"] and rows[1][-1] == "2"
    assert rows[2][0] == "'=HYPERLINK(1)"
