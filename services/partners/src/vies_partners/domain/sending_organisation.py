"""Sending organisations: French associations approved by the foreign ministry to send VSI volunteers."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from vies_shared.aggregate import Aggregate, Document, IsoDate
from vies_shared.errors import InvalidInput
from vies_shared.events.partners import SendingOrganisationApprovalChanged, SendingOrganisationRegistered


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def check_approval(approved_from: date | None, approved_until: date | None, max_years: int) -> None:
    """An approval has both dates or none, ends after it starts and lasts at most ``max_years``.

    docs/DOMAIN.md (VSI row): associations are approved to send VSI volunteers for at most 4 years
    (law 2005-159 and its implementing decree); ``max_years`` comes from settings.
    """
    if (approved_from is None) != (approved_until is None):
        raise InvalidInput("approved_from and approved_until go together")
    if approved_from is None or approved_until is None:
        return
    if approved_until <= approved_from:
        raise InvalidInput("approved_until must be after approved_from")
    if approved_until > add_years(approved_from, max_years):
        raise InvalidInput(f"an approval lasts at most {max_years} years")


def approval_valid_on(approved_from: date | None, approved_until: date | None, day: date) -> bool:
    """Whether the approval covers ``day``."""
    return approved_from is not None and approved_until is not None and approved_from <= day <= approved_until


class SendingOrganisation(Aggregate):
    """A French association approved (or once approved) to send VSI volunteers."""

    organisation_id: str = Field(alias="_id")
    key: str
    name: str
    approval_number: str | None
    approved_from: IsoDate | None
    approved_until: IsoDate | None
    registered_at: datetime

    @classmethod
    def register(
        cls,
        organisation_id: str,
        *,
        key: str,
        name: str,
        approval_number: str | None,
        approved_from: date | None,
        approved_until: date | None,
        max_years: int,
        at: datetime,
    ) -> SendingOrganisation:
        """Add an organisation to the network's directory, with its approval (if any)."""
        check_approval(approved_from, approved_until, max_years)
        organisation = cls(
            organisation_id=organisation_id,
            key=key,
            name=name,
            approval_number=approval_number,
            approved_from=approved_from,
            approved_until=approved_until,
            registered_at=at,
        )
        organisation.record(
            SendingOrganisationRegistered(
                organisation_id=organisation_id,
                name=name,
                approval_number=approval_number,
                approved_from=approved_from,
                approved_until=approved_until,
            )
        )
        return organisation

    def change_approval(
        self, approval_number: str | None, approved_from: date | None, approved_until: date | None, max_years: int
    ) -> None:
        """A renewed, changed or withdrawn (all None) approval."""
        check_approval(approved_from, approved_until, max_years)
        self.approval_number, self.approved_from, self.approved_until = approval_number, approved_from, approved_until
        self.record(
            SendingOrganisationApprovalChanged(
                organisation_id=self.organisation_id,
                approval_number=approval_number,
                approved_from=approved_from,
                approved_until=approved_until,
            )
        )

    def view(self, today: date) -> Document:
        """The organisation as answered, and whether its approval is valid ``today``."""
        return {
            "organisation_id": self.organisation_id,
            "name": self.name,
            "approval_number": self.approval_number,
            "approved_from": self.approved_from.isoformat() if self.approved_from else None,
            "approved_until": self.approved_until.isoformat() if self.approved_until else None,
            "approval_valid": approval_valid_on(self.approved_from, self.approved_until, today),
            "registered_at": self.registered_at,
        }
