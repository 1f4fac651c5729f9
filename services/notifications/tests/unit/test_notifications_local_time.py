"""Deadlines written on the reader's clock: the mission country's zone for volunteers, Paris for head office."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import pytest

from vies_notifications import local_time


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("SN", "Africa/Dakar"),
        ("bj", "Africa/Porto-Novo"),
        ("BR", "America/Sao_Paulo"),  # several zones: the capital's
        ("US", "America/New_York"),
        ("VN", "Asia/Ho_Chi_Minh"),
        ("XX", "Europe/Paris"),  # unknown: Paris
        (None, "Europe/Paris"),
    ],
)
def test_zone_for(country: str | None, zone: str) -> None:
    assert local_time.zone_for(country) == zone


def test_deadline_is_written_in_local_time_and_in_paris_with_the_zone() -> None:
    facts = local_time.deadline_facts("2027-03-01T17:00:00Z", "VN")
    assert facts == {
        "respond_by_local": "2027-03-02 00:00 (Asia/Ho_Chi_Minh, UTC+07:00)",
        "respond_by_paris": "2027-03-01 18:00 (Europe/Paris, UTC+01:00)",
    }
    summer = local_time.written(datetime(2027, 7, 1, 12, 0, tzinfo=UTC), local_time.PARIS)
    assert summer == "2027-07-01 14:00 (Europe/Paris, UTC+02:00)"
    assert local_time.deadline_facts(None, "SN") == {} and local_time.deadline_facts("not a date", "SN") == {}


@pytest.mark.parametrize(
    ("subdivisions", "zone"),
    [
        (["BR-AM"], "America/Manaus"),  # Amazonas: Manaus time, not Brasília's
        (["BR-AM", "BR-RR"], "America/Manaus"),  # one clock for all targeted
        (["BR-AM", "BR-AC"], "America/Sao_Paulo"),  # two clocks: the capital's
        (["BR-RJ"], "America/Sao_Paulo"),  # not listed: the capital's
        ([], "America/Sao_Paulo"),
        (None, "America/Sao_Paulo"),
    ],
)
def test_an_alert_for_subdivisions_is_read_on_their_clock(subdivisions: list[str] | None, zone: str) -> None:
    assert local_time.zone_for("BR", subdivisions) == zone


def test_every_subdivision_zone_is_a_zone_of_its_country() -> None:
    listed = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    pairs = {(line.split("\t")[0], line.split("\t")[2]) for line in listed.splitlines() if line and line[0] != "#"}
    wrong = {s: z for s, z in local_time.SUBDIVISION_ZONES.items() if (s[:2], z) not in pairs}
    assert not wrong, f"not a zone of that country in zone.tab: {wrong}"
