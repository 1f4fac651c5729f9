"""Partnerships between a French authority and an approved partner abroad."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from pydantic import Field

from vies_partners.domain.vetting import can_enter_partnership
from vies_shared.aggregate import Aggregate, Document, IsoDate
from vies_shared.errors import InvalidInput, NotAllowedInState
from vies_shared.events.partners import PartnershipEnded, PartnershipEstablished

ACTIVE = "active"
ENDED = "ended"


def check_new_partnership(partner_status: str, starts_on: date, ends_on: date | None) -> None:
    """A partnership needs an approved partner and an end (if any) after its start."""
    if not can_enter_partnership(partner_status):
        raise NotAllowedInState(f"the partner is {partner_status}: only an approved partner can enter a partnership")
    if ends_on is not None and ends_on <= starts_on:
        raise InvalidInput("ends_on must be after starts_on")


def check_end(status: str, reason: str) -> None:
    """Ending needs a reason and a partnership that has not ended yet."""
    if not reason.strip():
        raise InvalidInput("a reason is required to end a partnership")
    if status == ENDED:
        raise NotAllowedInState("the partnership has already ended")


def needs_review(partner_status: str) -> bool:
    """A suspended partner keeps its partnerships, but they are flagged for review."""
    return partner_status == "suspended"


class Partnership(Aggregate):
    """A partnership between a French authority and an approved partner abroad."""

    partnership_id: str = Field(alias="_id")
    authority_id: str
    partner_id: str
    country: str
    region: str | None
    themes: list[str]
    starts_on: IsoDate
    ends_on: IsoDate | None
    status: str
    established_at: datetime
    established_by: str
    ended_at: datetime | None = None  # absent until ended
    end_reason: str | None = None
    ended_by: str | None = None

    @classmethod
    def establish(
        cls,
        partnership_id: str,
        *,
        authority: Document,
        partner: Document,
        themes: Sequence[str],
        starts_on: date,
        ends_on: date | None,
        by: str,
        at: datetime,
    ) -> Partnership:
        """An authority and an approved partner start a partnership."""
        check_new_partnership(partner["status"], starts_on, ends_on)
        established = cls(
            partnership_id=partnership_id,
            authority_id=authority["_id"],
            partner_id=partner["_id"],
            country=partner["country"],
            region=authority["region"],
            themes=sorted(set(themes)),
            starts_on=starts_on,
            ends_on=ends_on,
            status=ACTIVE,
            established_at=at,
            established_by=by,
        )
        established.record(
            PartnershipEstablished(
                partnership_id=partnership_id,
                authority_id=established.authority_id,
                partner_id=established.partner_id,
                country=established.country,
                themes=established.themes,
                starts_on=starts_on,
                ends_on=ends_on,
                region=established.region,
            ),
            region=established.region,
        )
        return established

    def end(self, reason: str, by: str, at: datetime) -> None:
        """End the partnership, with a reason."""
        check_end(self.status, reason)
        self.status, self.ended_at, self.end_reason, self.ended_by = ENDED, at, reason.strip(), by
        self.record(PartnershipEnded(partnership_id=self.partnership_id, reason=reason.strip()), region=self.region)

    def view(self, partner_status: str | None) -> Document:
        """The partnership as answered, flagged for review when its partner is suspended."""
        return {
            "partnership_id": self.partnership_id,
            "authority_id": self.authority_id,
            "partner_id": self.partner_id,
            "country": self.country,
            "region": self.region,
            "themes": self.themes,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
            "status": self.status,
            "established_at": self.established_at,
            "ended_at": self.ended_at,
            "end_reason": self.end_reason,
            "partner_status": partner_status,
            "needs_review": needs_review(partner_status or "") and self.status == ACTIVE,
        }
