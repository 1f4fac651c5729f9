"""A French local or regional authority: its record in the directory and the changes it publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from vies_partners.domain.directory import changed_fields
from vies_shared.aggregate import Aggregate, Document, IsoDate
from vies_shared.events.partners import AuthorityRegistered, AuthorityUpdated


class Authority(Aggregate):
    """A French authority taking part in the programme (its region decides which branch sees it)."""

    authority_id: str = Field(alias="_id")
    key: str
    name: str
    kind: str
    region: str
    contact: dict[str, Any]
    contact_email: str | None
    territoires_volontaires: bool
    new_to_cooperation: bool
    registered_at: datetime
    registered_by: str
    territoires_volontaires_since: IsoDate | None = None  # absent until enrolment is recorded
    updated_at: datetime | None = None  # absent until corrected

    @classmethod
    def register(
        cls,
        authority_id: str,
        *,
        key: str,
        details: dict[str, Any],
        by: str,
        at: datetime,
    ) -> Authority:
        """A new authority in the directory; ``details`` are its registration's fields."""
        contact = details["contact"]
        authority = cls(
            authority_id=authority_id,
            key=key,
            name=details["name"],
            kind=details["kind"],
            region=details["region"],
            contact=contact,
            contact_email=contact["email"],
            territoires_volontaires=details["territoires_volontaires"],
            new_to_cooperation=details["new_to_cooperation"],
            registered_at=at,
            registered_by=by,
        )
        authority.record(
            AuthorityRegistered(
                authority_id=authority_id,
                name=authority.name,
                kind=details["kind"],
                region=authority.region,
                contact_email=contact["email"],
                territoires_volontaires=authority.territoires_volontaires,
                new_to_cooperation=authority.new_to_cooperation,
            ),
            region=authority.region,
        )
        return authority

    def changes_wanted(self, wanted: Document) -> Document:
        """What of ``wanted`` differs from the record (a new contact brings its address along)."""
        changes = changed_fields(self.to_doc(), wanted)
        if "contact" in changes:
            changes["contact_email"] = changes["contact"]["email"]
        return changes

    def correct(self, changes: Document, at: datetime) -> None:
        """Apply ``changes`` (from ``changes_wanted``) and publish what changed."""
        for name, value in changes.items():
            setattr(self, name, value)
        self.updated_at = at
        self.record(
            AuthorityUpdated(
                authority_id=self.authority_id,
                region=self.region,
                changed=sorted(name for name in changes if name != "contact_email"),
                contact_email=changes.get("contact_email"),
                territoires_volontaires=changes.get("territoires_volontaires"),
                territoires_volontaires_since=changes.get("territoires_volontaires_since"),
                new_to_cooperation=changes.get("new_to_cooperation"),
            ),
            region=self.region,
        )

    def view(self) -> Document:
        """The authority as answered."""
        return {
            "authority_id": self.authority_id,
            "name": self.name,
            "kind": self.kind,
            "region": self.region,
            "contact": self.contact,
            "contact_email": self.contact_email,
            "territoires_volontaires": self.territoires_volontaires,
            "territoires_volontaires_since": self.to_doc().get("territoires_volontaires_since"),
            "new_to_cooperation": self.new_to_cooperation,
            "registered_at": self.registered_at,
            "updated_at": self.updated_at,
        }
