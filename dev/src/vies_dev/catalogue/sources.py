"""What the catalogue is generated from: the registered event models and the services' definitions.

Event types, versions, keys and meanings come from the models in
``vies_shared.events``; topics from ``vies_shared.events.topics``; who publishes
and who consumes what from each service's ``ServiceDefinition`` (``publishes``,
``handlers``, ``tombstone_handler``). A service whose package cannot be imported
(not installed, or still being written) is listed as not loaded rather than
stopping the catalogue.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from vies_shared.events.base import Event, registered_models
from vies_shared.events.topics import SERVICES


@dataclass(frozen=True)
class ServiceInfo:
    """What one service's definition says it publishes and consumes."""

    name: str
    loaded: bool
    title: str = ""
    publishes: frozenset[str] = frozenset()
    handles: frozenset[str] = frozenset()
    reads_tombstones: bool = False
    error: str = ""


@dataclass(frozen=True)
class EventEntry:
    """One event type at one schema version, with where it travels and who uses it."""

    model: type[Event]
    publishers: tuple[str, ...]
    consumers: tuple[str, ...]

    @property
    def ce_type(self) -> str:
        """The CloudEvents ``ce_type``."""
        return self.model.TYPE

    @property
    def version(self) -> int:
        """The schema version (``ce_schemaversion``)."""
        return self.model.VERSION

    @property
    def ref(self) -> str:
        """``<ce_type>.v<version>``: file names and AsyncAPI component ids."""
        return f"{self.ce_type}.v{self.version}"

    @property
    def name(self) -> str:
        """The event's name without its service, e.g. ``MissionPlanned``."""
        return self.ce_type.split(".", 1)[1]

    @property
    def service(self) -> str:
        """The producing service (the part of ``ce_type`` before the dot)."""
        return self.model.service()

    @property
    def key(self) -> str:
        """The field holding the Kafka key and ``ce_subject``."""
        return self.model.KEY

    @property
    def topic(self) -> str:
        """The topic (without prefix) the event is published on."""
        return topic_of(self.model)

    @property
    def description(self) -> str:
        """The model's docstring: what the event means."""
        return inspect.cleandoc(self.model.__doc__ or "").strip()

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.description.splitlines()[0] if self.description else ""


@dataclass(frozen=True)
class Catalogue:
    """Every event type and version, and the services that publish and consume them."""

    events: tuple[EventEntry, ...]
    services: tuple[ServiceInfo, ...] = field(default=())

    def of_service(self, service: str) -> list[EventEntry]:
        """The events a service produces, by type then version."""
        return [e for e in self.events if e.service == service]

    def on_topic(self, topic: str) -> list[EventEntry]:
        """The events published on a topic."""
        return [e for e in self.events if e.topic == topic]

    def service(self, name: str) -> ServiceInfo | None:
        """The definition summary of a service, if listed."""
        return next((s for s in self.services if s.name == name), None)

    def tombstone_readers(self) -> list[str]:
        """Services that delete contact data on a tombstone of the contacts topic."""
        return [s.name for s in self.services if s.reads_tombstones]


def topic_of(model: type[Event]) -> str:
    """The topic an event goes to (as the outbox routes it, by its class): contact data to the contacts topic."""
    return model.topic()


def load_service(name: str) -> ServiceInfo:
    """Read ``vies_<name>.app.definition``; a service that cannot be imported is reported, not fatal."""
    try:
        module = importlib.import_module(f"vies_{name}.app")
        definition = module.definition
    except Exception as exc:  # noqa: BLE001 - any import failure of a service in progress is tolerated
        return ServiceInfo(name=name, loaded=False, error=f"{type(exc).__name__}: {exc}")
    return ServiceInfo(
        name=name,
        loaded=True,
        title=str(definition.title),
        publishes=frozenset(m.TYPE for m in definition.publishes),
        handles=frozenset(definition.handled_types()),
        reads_tombstones=definition.tombstone_handler is not None,
    )


def build_catalogue(models: Iterable[type[Event]], services: Sequence[ServiceInfo]) -> Catalogue:
    """Join models and service definitions into a catalogue."""
    entries = []
    for model in sorted(models, key=lambda m: (m.TYPE, m.VERSION)):
        declared = tuple(s.name for s in services if model.TYPE in s.publishes)
        # Until a service declares it, an event is published by the service its type names.
        publishers = declared or (model.service(),)
        consumers = tuple(s.name for s in services if model.TYPE in s.handles)
        entries.append(EventEntry(model=model, publishers=publishers, consumers=consumers))
    return Catalogue(events=tuple(entries), services=tuple(services))


def load_catalogue(
    models: Iterable[type[Event]] | None = None,
    services: Mapping[str, ServiceInfo] | None = None,
) -> Catalogue:
    """The platform's catalogue: the registry's models and the four services' definitions."""
    infos = [services[s] if services and s in services else load_service(s) for s in SERVICES]
    # Imported after the services so that any model they register is included.
    return build_catalogue(registered_models() if models is None else models, infos)
