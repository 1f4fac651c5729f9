"""A person's preferences: the language of their messages and the categories they do not want.

Kept by person id (a candidate's, a volunteer's, an authority's; a regional branch's is its
region's id). Safety and security messages are sent whatever the opt-outs (``routing``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import Field

from vies_shared.aggregate import Aggregate


class Preferences(Aggregate):
    """The language and opt-outs a person chose; a person who never chose has none (the defaults apply).

    The fields are in the order of the stored document.
    """

    person_id: str = Field(alias="_id")
    language: str | None = None
    opt_out_categories: list[str] = Field(default=[])
    updated_at: datetime | None = None

    @classmethod
    def none_chosen(cls, person_id: str) -> Preferences:
        """The preferences of a person who never chose: the service's language, every category."""
        return cls(person_id=person_id)

    @classmethod
    def choose(cls, person_id: str, language: str, opt_out_categories: Collection[str], now: datetime) -> Preferences:
        """``person_id``'s choice, made ``now``."""
        return cls(
            person_id=person_id,
            language=language,
            opt_out_categories=sorted(set(opt_out_categories)),
            updated_at=now,
        )
