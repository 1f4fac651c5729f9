"""The regional view applies an authority's corrections (partners.AuthorityUpdated), never its contact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from vies_shared.events import partners as p
from vies_shared.events.base import Event
from vies_shared.events.envelope import EventMeta, encode
from vies_shared.regional.consumer import kept_types
from vies_shared.regional.view import View, apply_in_memory

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
REGISTERED = p.AuthorityRegistered(
    authority_id="auth-1",
    name="Commune test",
    kind="commune",
    region="FR-ARA",
    contact_email="international@commune.example",
    territoires_volontaires=False,
)


def run(*events: Event) -> View:
    view: View = {}
    for i, event in enumerate(events):
        meta: EventMeta = encode(event, region="FR-ARA", time=T0 + timedelta(seconds=i))[0]
        apply_in_memory(view, meta, event)
    return view


def test_enrolment_and_new_to_cooperation_reach_the_view_and_the_contact_does_not() -> None:
    enrolled = p.AuthorityUpdated(
        authority_id="auth-1",
        region="FR-ARA",
        changed=["contact", "territoires_volontaires", "territoires_volontaires_since"],
        contact_email="new.officer@commune.example",
        territoires_volontaires=True,
        territoires_volontaires_since=date(2026, 11, 2),
    )
    newcomer = p.AuthorityUpdated(
        authority_id="auth-1", region="FR-ARA", changed=["new_to_cooperation"], new_to_cooperation=True
    )
    view = run(REGISTERED, enrolled, newcomer)
    authority = view["authorities"]["auth-1"]
    assert authority["territoires_volontaires"] is True
    assert authority["territoires_volontaires_since"] == "2026-11-02"
    assert authority["new_to_cooperation"] is True
    assert authority["name"] == "Commune test"
    assert "contact_email" not in authority and "contact" not in authority


def test_a_correction_leaves_unchanged_fields_alone_and_redelivery_changes_nothing() -> None:
    corrected = p.AuthorityUpdated(
        authority_id="auth-1", region="FR-ARA", changed=["new_to_cooperation"], new_to_cooperation=False
    )
    once = run(REGISTERED, corrected)
    assert once["authorities"]["auth-1"]["territoires_volontaires"] is False
    assert run(REGISTERED, corrected, corrected)["authorities"]["auth-1"]["new_to_cooperation"] is False


def test_the_regional_consumer_keeps_both_new_directory_events() -> None:
    assert {"partners.AuthorityUpdated", "partners.PartnerUpdated"} <= set(kept_types())
