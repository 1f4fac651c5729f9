"""A signed contract as recruitment keeps it: ids and dates only, for the person's VSI time on record.

An engagement is signed here (``Application.engage``) or made elsewhere and learned from missions'
``MissionPlanned``; the missions' events then move its dates: extended, ended, interrupted. The
VSI lifetime cap counts the time from its start to the day served until (the planned end while
the mission runs).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from vies_shared.aggregate import Aggregate, IsoDate
from vies_shared.events.missions import MissionPlanned
from vies_shared.months import months_between

ENDED = "ended"
INTERRUPTED = "interrupted"


class Engagement(Aggregate):
    """A signed contract: ids and dates only, kept for the person's VSI time on record.

    ``position_id`` and ``engaged_at`` are absent on one made elsewhere; ``mission_status`` is
    absent until the mission ends or is interrupted.
    """

    engagement_id: str = Field(alias="_id")
    application_id: str | None
    person_id: str
    position_id: str | None = None
    authority_id: str
    partner_id: str
    country: str
    scheme: str
    starts_on: IsoDate
    ends_on: IsoDate
    served_until: IsoDate | None
    mission_id: str | None
    engaged_at: datetime | None = None
    mission_status: str | None = None

    @classmethod
    def made_elsewhere(cls, planned: MissionPlanned) -> Engagement:
        """An engagement recruitment did not sign, joining the volunteer's history from its mission."""
        return cls(
            engagement_id=planned.engagement_id,
            mission_id=planned.mission_id,
            starts_on=planned.starts_on,
            ends_on=planned.ends_on,
            person_id=planned.volunteer_id,
            scheme=planned.scheme,
            country=planned.country,
            authority_id=planned.authority_id,
            partner_id=planned.partner_id,
            application_id=None,
            served_until=None,
        )

    def planned(self, planned: MissionPlanned) -> None:
        """Its mission is planned: linked to it, with the mission's dates."""
        self.mission_id, self.starts_on, self.ends_on = planned.mission_id, planned.starts_on, planned.ends_on

    def extend(self, ends_on: date) -> None:
        """A longer mission counts longer towards the VSI lifetime cap."""
        self.ends_on = ends_on

    def end(self, day: date, *, interrupted: bool = False) -> None:
        """Time actually served stops on ``day``: the mission ended, or was interrupted (an early return)."""
        self.served_until = day
        self.mission_status = INTERRUPTED if interrupted else ENDED

    def months_served(self) -> float:
        """Its length in months, from the start to the day served until (the planned end until then)."""
        return months_between(self.starts_on, self.served_until or self.ends_on)


def vsi_months_on_record(
    engagements: list[Engagement], elsewhere: float, *, except_application: str | None = None
) -> float:
    """VSI time on record: the VSI engagements (but the one of ``except_application``) and the
    months served elsewhere that were confirmed, rounded to 4 places."""
    total = elsewhere
    for engagement in engagements:
        if engagement.scheme == "vsi" and not (except_application and engagement.application_id == except_application):
            total += engagement.months_served()
    return round(total, 4)
