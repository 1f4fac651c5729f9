"""Helpers for the recruitment service's tests: partners-directory events an outside producer publishes."""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict

from typing_extensions import Unpack

from vies_dev.testing import publish_event, wait_until
from vies_recruitment import store
from vies_shared.events.base import Event
from vies_shared.events.partners import (
    AuthorityRegistered,
    PartnerApproved,
    PartnershipEstablished,
    SendingOrganisationRegistered,
)
from vies_shared.events.topics import events_topic


async def publish(bootstrap: str, prefix: str, event: Event, region: str | None = None) -> str:
    """Publish a partners or missions event with a plain aiokafka producer."""
    return await publish_event(bootstrap, events_topic(event.service(), prefix), event, region=region)


class Directory(TypedDict, total=False):
    """What a test may change of the directory ``directory_events`` makes (the rest keeps its defaults)."""

    authority_id: str
    region: str
    partner_id: str
    partnership_id: str
    country: str
    organisation_id: str | None
    approved_until: date | None


def directory_events(
    *,
    authority_id: str = "auth-1",
    region: str = "FR-ARA",
    partner_id: str = "partner-1",
    partnership_id: str = "ps-1",
    country: str = "SN",
    organisation_id: str | None = "org-1",
    approved_until: date | None = date(2029, 12, 31),
) -> list[tuple[Event, str | None]]:
    """An authority, an approved partner, their partnership and a sending organisation, each event with its region."""
    events: list[tuple[Event, str | None]] = [
        (
            AuthorityRegistered(
                authority_id=authority_id,
                name="Région test",
                kind="region",
                region=region,
                contact_email="international@region.example",
                territoires_volontaires=True,
            ),
            region,
        ),
        (PartnerApproved(partner_id=partner_id), region),
        (
            PartnershipEstablished(
                partnership_id=partnership_id,
                authority_id=authority_id,
                partner_id=partner_id,
                country=country,
                themes=["water"],
                starts_on=date(2026, 1, 1),
            ),
            region,
        ),
    ]
    if organisation_id:
        organisation = SendingOrganisationRegistered(
            organisation_id=organisation_id,
            name="Association d'envoi",
            approval_number="VSI-2025-01",
            approved_from=date(2025, 1, 1),
            approved_until=approved_until,
        )
        events.append((organisation, None))
    return events


async def seed_directory(svc: Any, bootstrap: str, prefix: str, **directory: Unpack[Directory]) -> None:
    """An authority, an approved partner, their partnership and a sending organisation, as partners publishes them."""
    events = directory_events(**directory)
    for event, event_region in events:
        await publish(bootstrap, prefix, event, event_region)
    db = svc.runtime.db
    # Each event's projection in recruitment, by the event's subject.
    projected: dict[type[Event], tuple[str, dict[str, Any]]] = {
        AuthorityRegistered: (store.AUTHORITIES, {"name": {"$exists": True}}),
        PartnerApproved: (store.PARTNERS, {"status": "approved"}),
        PartnershipEstablished: (store.PARTNERSHIPS, {}),
        SendingOrganisationRegistered: (store.SENDING_ORGANISATIONS, {}),
    }

    async def known() -> bool:
        for event, _ in events:
            collection, state = projected[type(event)]
            if not await db[collection].count_documents({"_id": event.subject, **state}):
                return False
        return True

    await wait_until(known, timeout=30, message="partners directory projected")


def candidate(name: str, email: str, birth_date: str = "1995-05-17", **overrides: Any) -> dict[str, Any]:
    """An application body."""
    profile = {
        "name": name,
        "email": email,
        "phone": "+33600000000",
        "birth_date": birth_date,
        "nationality": "FR",
        "residence_country": "FR",
        "language": "fr",
        "languages": ["fr", "wo"],
        "skills": ["water"],
    }
    profile.update(overrides)
    return {"candidate": profile, "motivation": f"Motivation of {name}"}


def position(partnership_id: str = "ps-1", **overrides: Any) -> dict[str, Any]:
    """A VSI position body."""
    body: dict[str, Any] = {
        "partnership_id": partnership_id,
        "scheme": "vsi",
        "title": "Water engineer in Saint-Louis",
        "description": "Drinking water network with the municipality",
        "starts_on": "2027-03-01",
        "duration_months": 12,
        "places": 1,
        "languages": ["fr", "wo"],
        "skills": ["water"],
        "sending_organisation_id": "org-1",
    }
    body.update(overrides)
    return body
