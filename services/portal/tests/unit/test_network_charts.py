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


def test_each_progress_bar_is_measured_against_its_own_target() -> None:
    authorities, missions, share = charts.progress(INDICATORS)
    # The target line is at the same place for every bar; a bar is as long as the part of its target reached.
    assert authorities.target_x == missions.target_x == share.target_x == round(charts.TARGET_AT, 1)
    assert authorities.width == round(charts.TARGET_AT * 12 / 30, 1)
    assert missions.width == round(charts.TARGET_AT * 1.5, 1)  # 40 of 20: capped at 150 %
    assert share.value == 25.0 and share.target == 20.0 and share.width == round(charts.TARGET_AT * 1.25, 1)
    assert not authorities.met and missions.met and share.met
    assert authorities.y < missions.y < share.y and share.label_y < share.y
    assert charts.chart_height(3) >= share.y + charts.BAR_HEIGHT


def test_counts_share_one_scale_and_an_empty_programme_draws_no_bar() -> None:
    service_civique, vsi = charts.by_scheme(INDICATORS)
    assert (service_civique.key, vsi.key) == ("service_civique", "vsi")
    assert vsi.width == charts.ROOM and service_civique.width == round(charts.ROOM * 20 / 30, 1)
    assert all(b.width == 0 and not b.met for b in charts.progress({})[:2])


def test_the_csv_has_the_country_then_each_region_and_no_formula() -> None:
    text = charts.indicators_csv([("FR", INDICATORS), ("=HYPERLINK(1)", {})])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(charts.CSV_COLUMNS)
    assert rows[1][:3] == ["FR", "12", "30"] and rows[1][6:9] == ["40", "20", "50"] and rows[1][-1] == "2"
    assert rows[2][0] == "'=HYPERLINK(1)"
