"""Handlers keyed by their event class: what the kit reads from a handler's signature, and what it refuses.

A service declares ``handlers=[on_x, ...]``; the ``ce_type`` comes from the annotated event class, so a
handler cannot sit under a mistyped string, and one the kit cannot place stops the service at start-up.
"""

from __future__ import annotations

from typing import Any

import pytest

from vies_shared.events import missions, recruitment
from vies_shared.events.base import Event, events_in, registered_models
from vies_shared.events.partners import PartnerApproved, PartnerRejected, PartnerSuspended
from vies_shared.events.recruitment import ContactUpdated, VolunteerEngaged
from vies_shared.events.topics import contacts_topic, events_topic
from vies_shared.messaging.consumer import (
    HandlerContext,
    Handles,
    InvalidHandler,
    handler_table,
    is_order_safe,
    order_safe,
)
from vies_shared.messaging.outbox import Outbox
from vies_shared.service import Runtime, ServiceDefinition, create_app
from vies_shared.settings import ServiceSettings


async def on_engaged(ctx: HandlerContext, event: VolunteerEngaged) -> None:
    """A handler as a service writes one."""


async def on_engaged_again(ctx: HandlerContext, event: VolunteerEngaged) -> None:
    """A second handler of the same type."""


async def on_decision(ctx: HandlerContext, event: PartnerApproved | PartnerRejected) -> None:
    """One handler for two types, by a union."""


@order_safe
async def on_suspended(ctx: HandlerContext, event: PartnerSuspended) -> None:
    """An order-safe handler."""


async def unannotated(ctx: HandlerContext, event) -> None:  # type: ignore[no-untyped-def]
    """The mistake the kit must catch: no event annotation."""


async def not_an_event(ctx: HandlerContext, event: dict[str, Any]) -> None:
    """Annotated, but with something that is not an event class."""


async def any_event(ctx: HandlerContext, event: Event) -> None:
    """A catch-all's signature: it accepts every event."""


def test_a_handler_is_registered_under_its_annotated_event_type() -> None:
    table = handler_table([on_engaged, on_decision, on_suspended])
    assert table == {
        "recruitment.VolunteerEngaged": on_engaged,
        "partners.PartnerApproved": on_decision,
        "partners.PartnerRejected": on_decision,
        "partners.PartnerSuspended": on_suspended,
    }
    # The replay rule still reads the @order_safe mark through the table.
    assert is_order_safe(table["partners.PartnerSuspended"])
    assert not is_order_safe(table["recruitment.VolunteerEngaged"])


def test_start_up_fails_for_a_handler_without_an_event_annotation() -> None:
    with pytest.raises(InvalidHandler, match=r"unannotated: its 'event' parameter has no annotation"):
        ServiceDefinition(name="missions", title="t", handlers=[on_engaged, unannotated])
    with pytest.raises(InvalidHandler, match=r"not_an_event: .* is not an event class"):
        ServiceDefinition(name="missions", title="t", handlers=[not_an_event])
    # An annotation of the base class names no type: a catch-all must say which events it takes.
    with pytest.raises(InvalidHandler, match=r"any_event: Event names no event type"):
        ServiceDefinition(name="missions", title="t", handlers=[any_event])


def test_start_up_fails_for_two_handlers_of_one_type() -> None:
    with pytest.raises(InvalidHandler) as refused:
        ServiceDefinition(name="missions", title="t", handlers=[on_engaged, on_engaged_again])
    message = str(refused.value)
    assert "two handlers for recruitment.VolunteerEngaged" in message
    assert "on_engaged" in message and "on_engaged_again" in message
    # The same function listed twice is one handler, not two.
    assert handler_table([on_engaged, on_engaged]) == {"recruitment.VolunteerEngaged": on_engaged}


def test_create_app_refuses_an_invalid_definition_before_anything_starts() -> None:
    definition = ServiceDefinition(name="missions", title="t", handlers=[on_engaged])
    definition.handlers = [on_engaged, unannotated]  # changed after construction: the runtime checks again
    with pytest.raises(InvalidHandler, match="unannotated"):
        create_app(definition, ServiceSettings(service="missions"))


def test_a_catch_all_declares_its_events_and_its_annotation_must_accept_them() -> None:
    table = handler_table([Handles((PartnerApproved, PartnerRejected), any_event), on_engaged])
    assert set(table) == {"partners.PartnerApproved", "partners.PartnerRejected", "recruitment.VolunteerEngaged"}
    with pytest.raises(InvalidHandler, match=r"on_engaged is declared for PartnerApproved"):
        handler_table([Handles((PartnerApproved,), on_engaged)])
    with pytest.raises(InvalidHandler, match=r"two handlers for recruitment\.VolunteerEngaged"):
        handler_table([Handles((VolunteerEngaged,), any_event), on_engaged])


def test_handler_context_gives_the_runtime_only_when_there_is_one() -> None:
    ctx: HandlerContext = HandlerContext(uow=None, meta=None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="without a service runtime"):
        _ = ctx.settings


def test_topic_routing_lives_on_the_event_class() -> None:
    assert ContactUpdated.topic("p.") == contacts_topic("p.")
    assert VolunteerEngaged.topic("p.") == events_topic("recruitment", "p.")
    outbox = Outbox.__new__(Outbox)
    outbox.prefix = "p."
    for model in registered_models():
        expected = contacts_topic("p.") if model is ContactUpdated else events_topic(model.service(), "p.")
        assert outbox.topic_for(model.model_construct()) == expected, model.TYPE


async def on_contact(ctx: HandlerContext, event: ContactUpdated) -> None:
    """Reads the contacts topic."""


def test_consumed_topics_follow_the_handled_classes() -> None:
    settings = ServiceSettings(service="missions", topic_prefix="p.", role="api")
    definition = ServiceDefinition(name="missions", title="t", handlers=[on_engaged, on_contact, on_decision])
    runtime = Runtime(definition, settings)
    assert runtime.consumed_topics() == sorted(
        [contacts_topic("p."), events_topic("recruitment", "p."), events_topic("partners", "p.")]
    )


def test_what_a_service_publishes_is_its_event_module() -> None:
    assert set(events_in(missions)) == {m for m in registered_models() if m.service() == "missions"}
    published = events_in(recruitment)
    assert published[0] is recruitment.PositionPublished  # in the order the module defines them
    assert set(published) == {m for m in registered_models() if m.service() == "recruitment"}
