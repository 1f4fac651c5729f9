"""French by default, English on request: Babel catalogues, dates in the zone that concerns the reader.

The ``.po`` catalogues in ``locale/`` (one file per area of the portal) are the source; they are
compiled in memory when the portal starts (Babel's ``write_mo``), so no generated ``.mo`` file has
to be kept in step.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("fr", "en")
DEFAULT = "fr"
LOCALE_DIR = Path(__file__).parent / "locale"
PARIS = ZoneInfo("Europe/Paris")
# Main zone of the mission countries the demo and the reference data use; others fall back to UTC.
COUNTRY_ZONES = {
    "SN": "Africa/Dakar",
    "MA": "Africa/Casablanca",
    "TN": "Africa/Tunis",
    "BF": "Africa/Ouagadougou",
    "BJ": "Africa/Porto-Novo",
    "CM": "Africa/Douala",
    "CI": "Africa/Abidjan",
    "MG": "Indian/Antananarivo",
    "ML": "Africa/Bamako",
    "TG": "Africa/Lome",
    "VN": "Asia/Ho_Chi_Minh",
    "KH": "Asia/Phnom_Penh",
    "LA": "Asia/Vientiane",
    "HT": "America/Port-au-Prince",
    "PE": "America/Lima",
    "BR": "America/Sao_Paulo",
    "IN": "Asia/Kolkata",
    "PH": "Asia/Manila",
    "LB": "Asia/Beirut",
    "PS": "Asia/Gaza",
}


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (French texts are the msgids' own translations)."""
    # One catalogue per area of the portal (messages.po, volunteer.po, ...), merged here so
    # that pages written side by side do not all edit one file. A message translated in two
    # catalogues keeps the first file's translation (in name order), whatever the others say.
    po_paths = sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po"))
    if not po_paths:
        return gettext.NullTranslations()
    catalog = Catalog(locale=lang)
    for po_path in po_paths:
        with po_path.open("rb") as po:
            for message in read_po(po, locale=lang):
                if message.id and message.string and catalog.get(message.id) is None:
                    catalog[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def pick(lang: str | None) -> str:
    """A supported language, French when unknown."""
    return lang if lang in LANGUAGES else DEFAULT


def gettext_for(lang: str) -> Callable[[str], str]:
    """``_`` for one language."""
    return translations(pick(lang)).gettext


def zone_of(country: str | None) -> ZoneInfo:
    """The time zone that concerns a volunteer in ``country`` (Europe/Paris for France or unknown)."""
    name = COUNTRY_ZONES.get((country or "").upper())
    return ZoneInfo(name) if name else PARIS


def when(value: Any, lang: str, country: str | None = None) -> str:
    """A date-time in the reader's language, in Paris time or the mission country's, zone written."""
    moment = _parse(value)
    if moment is None:
        return str(value or "")
    if isinstance(moment, datetime):
        zone = zone_of(country)
        text = format_datetime(moment.astimezone(zone), "d MMM y HH:mm", locale=pick(lang))
        return f"{text} ({zone.key})"
    return format_date(moment, "long", locale=pick(lang))


def day(value: Any, lang: str) -> str:
    """A calendar date in the reader's language."""
    moment = _parse(value)
    if moment is None:
        return str(value or "")
    return format_date(moment if not isinstance(moment, datetime) else moment.date(), "long", locale=pick(lang))


def _parse(value: Any) -> date | datetime | None:
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))
        return date.fromisoformat(value)
    except ValueError:
        return None
