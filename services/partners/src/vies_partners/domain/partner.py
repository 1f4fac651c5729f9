"""An international partner: its directory entry, its vetting, and the changes it publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from vies_partners.domain.directory import changed_fields
from vies_partners.domain.vetting import transition
from vies_shared.aggregate import Aggregate, Document
from vies_shared.events import Event
from vies_shared.events.partners import (
    PartnerApproved,
    PartnerRegistered,
    PartnerReinstated,
    PartnerRejected,
    PartnerSuspended,
    PartnerUpdated,
)

PENDING = "pending"


class Partner(Aggregate):
    """A host organisation abroad; pending until vetted, then approved, rejected or suspended."""

    partner_id: str = Field(alias="_id")
    key: str
    name_key: str
    name: str
    kind: str
    country: str
    city: str
    themes: list[str]
    languages: list[str]
    hosting_capacity: int
    reciprocity: bool
    contacts: list[dict[str, Any]]
    contact_email: str | None
    status: str
    history: list[dict[str, Any]]
    registered_at: datetime
    changed_at: datetime
    updated_at: datetime | None = None  # absent until corrected

    @classmethod
    def register(
        cls,
        partner_id: str,
        *,
        key: str,
        name_key: str,
        details: dict[str, Any],
        by: str,
        role: str,
        at: datetime,
    ) -> Partner:
        """A new partner, pending until vetted; ``details`` are its registration's fields."""
        partner = cls(
            partner_id=partner_id,
            key=key,
            name_key=name_key,
            **details,
            status=PENDING,
            history=[
                {"action": "register", "from": None, "to": PENDING, "by": by, "role": role, "at": at, "note": None}
            ],
            registered_at=at,
            changed_at=at,
        )
        partner.themes, partner.languages = sorted(set(partner.themes)), sorted(set(partner.languages))
        partner.record(
            PartnerRegistered(
                partner_id=partner_id,
                name=partner.name,
                kind=details["kind"],
                country=partner.country,
                city=partner.city,
                themes=partner.themes,
                languages=partner.languages,
                hosting_capacity=partner.hosting_capacity,
                reciprocity=partner.reciprocity,
                # The organisation's own address, so a host partner hears of its volunteers from the
                # start; never a contact person's (personal data stays off the events topic).
                contact_email=partner.contact_email,
            )
        )
        return partner

    def changes_wanted(self, wanted: Document) -> Document:
        """What of ``wanted`` differs from the entry."""
        return changed_fields(self.to_doc(), wanted)

    def correct(self, changes: Document, at: datetime) -> None:
        """Apply ``changes`` (from ``changes_wanted``) and publish what changed (contact persons by name only)."""
        for name, value in changes.items():
            setattr(self, name, value)
        self.updated_at = at
        self.record(
            PartnerUpdated(
                partner_id=self.partner_id,
                changed=sorted(changes),
                themes=changes.get("themes"),
                languages=changes.get("languages"),
                hosting_capacity=changes.get("hosting_capacity"),
                reciprocity=changes.get("reciprocity"),
                contact_email=changes.get("contact_email"),
            )
        )

    def vet(self, action: str, *, by: str, role: str, at: datetime, note: str | None) -> None:
        """Approve, reject, suspend or reinstate the partner; the step joins its history."""
        step = transition(self.status, action, by=by, role=role, at=at, note=note)
        self.status = step.to_status
        self.history = [*self.history, step.to_doc()]
        self.changed_at = step.at
        self.record(self._vetted(action, step.note))

    def _vetted(self, action: str, note: str | None) -> Event:
        if action == "approve":
            return PartnerApproved(partner_id=self.partner_id, country=self.country)
        if action == "reject":
            return PartnerRejected(partner_id=self.partner_id, reason=note or "")
        if action == "suspend":
            return PartnerSuspended(partner_id=self.partner_id, reason=note or "")
        return PartnerReinstated(partner_id=self.partner_id)

    def view(self, *, details: bool) -> Document:
        """The partner as answered; contact persons and vetting history only with ``details``."""
        view: Document = {
            "partner_id": self.partner_id,
            "name": self.name,
            "kind": self.kind,
            "country": self.country,
            "city": self.city,
            "themes": self.themes,
            "languages": self.languages,
            "hosting_capacity": self.hosting_capacity,
            "reciprocity": self.reciprocity,
            "status": self.status,
            "registered_at": self.registered_at,
            "updated_at": self.updated_at,
        }
        if details:
            view["contacts"] = self.contacts
            view["contact_email"] = self.contact_email
            view["history"] = self.history
        return view


def _registered(by: str, role: str, at: datetime) -> dict[str, Any]:
    """The first step of a partner's history: its registration."""
    return {"action": "register", "from": None, "to": PENDING, "by": by, "role": role, "at": at, "note": None}
