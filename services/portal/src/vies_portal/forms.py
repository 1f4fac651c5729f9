"""Form helpers: countries in the reader's language, field errors, values kept across errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cache, lru_cache
from typing import Any

from babel import Locale
from markupsafe import Markup

SCHEMES = ("vsi", "service_civique", "vec", "jsi_vvvsi", "reciprocity", "service_civique_reciprocity")
Document = dict[str, Any]


@cache
def countries(lang: str) -> list[tuple[str, str]]:
    """(ISO code, name) of every country, sorted by name in ``lang``."""
    names = Locale.parse(lang).territories
    # Two-letter codes only: the numeric ones are regions of the world, not countries.
    pairs = [(code, name) for code, name in names.items() if len(code) == 2 and code.isalpha() and code != "ZZ"]
    return sorted(pairs, key=lambda pair: pair[1])


def country_options(countries: Sequence[tuple[str, str]], selected: str | None) -> Markup:
    """The ``<option>`` of every country, ``selected`` (a code, any case) marked as chosen.

    Written once per list of countries, then only the chosen option changes: a Jinja loop over
    the 250 countries cost a page of the positions more than the rest of it together.
    """
    html, tag_ends = _options(tuple(countries))
    end = tag_ends.get((selected or "").upper())
    if end is None:
        return html
    return html[: end - 1] + Markup(" selected") + html[end - 1 :]


@lru_cache(maxsize=8)
def _options(countries: tuple[tuple[str, str], ...]) -> tuple[Markup, dict[str, int]]:
    """The options' HTML, and where the opening tag of each code's option ends in it."""
    parts: list[Markup] = []
    tag_ends: dict[str, int] = {}
    length = 0
    for code, name in countries:
        tag = Markup('<option value="{}">').format(code)
        tag_ends.setdefault(code, length + len(tag))
        option = tag + Markup("{}</option>").format(name)
        parts.append(option)
        length += len(option)
    return Markup("").join(parts), tag_ends


def country_name(code: str | None, lang: str) -> str:
    """A country's name in ``lang`` (the code itself when unknown)."""
    if not code:
        return ""
    return str(Locale.parse(lang).territories.get(code.upper(), code))


def parse_date(value: str | None) -> date | None:
    """A date typed as YYYY-MM-DD (the format of ``<input type=date>``), or None."""
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def words(value: str | None) -> list[str]:
    """A comma-separated list typed by a person ("en, es" → ["en", "es"])."""
    return [w.strip() for w in (value or "").split(",") if w.strip()]
