"""Deadlines in the reader's own time: the mission place's time zone for volunteers, Paris for head office.

A volunteer in Dakar reads "2027-03-01 17:00 (Africa/Dakar, UTC+00:00)", the duty officer in
France reads the same moment in Europe/Paris; the zone is always written out so nobody has to
guess which clock a deadline refers to (deadlines were once shown in UTC).

The country → zone table is the IANA ``zone.tab`` shipped with the ``tzdata`` package. A country
spanning several zones gets its capital's zone (``CAPITAL_ZONES``), unless the alert targets
subdivisions that all keep one other clock (``SUBDIVISION_ZONES``): an alert for Amazonas is read
on Manaus time, not Brasília's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PARIS = "Europe/Paris"

# Countries with several zones: the capital's (the agency's centres sit in capitals).
CAPITAL_ZONES: dict[str, str] = {
    "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CD": "Africa/Kinshasa",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "MN": "Asia/Ulaanbaatar",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "US": "America/New_York",
    "UZ": "Asia/Tashkent",
    "FR": PARIS,
}


# Subdivisions (ISO 3166-2) of the several-zone countries of ``CAPITAL_ZONES`` whose clock is not the
# capital's; a subdivision not listed keeps the capital's zone.
SUBDIVISION_ZONES: dict[str, str] = {
    **dict.fromkeys(("BR-AM", "BR-RR", "BR-RO"), "America/Manaus"),
    "BR-AC": "America/Rio_Branco",
    "BR-MT": "America/Cuiaba",
    "BR-MS": "America/Campo_Grande",
    **dict.fromkeys(
        (
            "CD-HK",
            "CD-HL",
            "CD-LU",
            "CD-TA",
            "CD-NK",
            "CD-SK",
            "CD-MA",
            "CD-IT",
            "CD-TO",
            "CD-BU",
            "CD-HU",
            "CD-KS",
            "CD-KC",
            "CD-KE",
            "CD-LO",
            "CD-SA",
            "CD-SU",
            "CD-TU",
        ),
        "Africa/Lubumbashi",
    ),
    **dict.fromkeys(
        ("ID-BA", "ID-NB", "ID-NT", "ID-KS", "ID-KI", "ID-KU", "ID-SA", "ID-SN", "ID-SG", "ID-ST", "ID-SR", "ID-GO"),
        "Asia/Makassar",
    ),
    **dict.fromkeys(("ID-MA", "ID-MU", "ID-PA", "ID-PB", "ID-PD", "ID-PE", "ID-PS", "ID-PT"), "Asia/Jayapura"),
    **dict.fromkeys(("MX-BCS", "MX-SIN", "MX-NAY"), "America/Mazatlan"),
    "MX-BCN": "America/Tijuana",
    "MX-SON": "America/Hermosillo",
    "MX-CHH": "America/Chihuahua",
    "MX-ROO": "America/Cancun",
}


@cache
def _zone_table() -> dict[str, str]:
    """First zone listed per country in IANA ``zone.tab`` (country code, coordinates, zone, comment)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        country, _, zone, *_ = line.split("\t")
        table.setdefault(country.upper(), zone)
    return table


def zone_for(country: str | None, subdivisions: list[str] | None = None) -> str:
    """The time zone of a mission country (Paris when unknown), or of the targeted subdivisions
    when they all keep the same clock."""
    code = (country or "").upper()
    country_zone = CAPITAL_ZONES.get(code) or _zone_table().get(code) or PARIS
    zones = {SUBDIVISION_ZONES.get(s.upper(), country_zone) for s in subdivisions or []}
    return zones.pop() if len(zones) == 1 else country_zone


def _parse(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def written(moment: datetime | str, zone: str) -> str:
    """``moment`` on the clock of ``zone``, with the zone and its UTC offset written out."""
    try:
        local = _parse(moment).astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local, zone = _parse(moment).astimezone(UTC), "UTC"
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} ({zone}, UTC{offset[:3]}:{offset[3:]})"


def deadline_facts(
    respond_by: datetime | str | None, country: str | None, subdivisions: list[str] | None = None
) -> dict[str, str]:
    """The deadline for the volunteers (local) and for head office (Paris), ready for the templates."""
    if not respond_by:
        return {}
    try:
        return {
            "respond_by_local": written(respond_by, zone_for(country, subdivisions)),
            "respond_by_paris": written(respond_by, PARIS),
        }
    except ValueError:
        return {}
