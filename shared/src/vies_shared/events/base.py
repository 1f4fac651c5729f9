"""Base class of every contract event and the registry of event types.

An event model names its CloudEvents ``ce_type`` (a stable string from the
contract, never a Python path), its schema version and the field holding the
aggregate id used as Kafka key and ``ce_subject``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from vies_shared.events.topics import TopicKind, topic_of_kind


class Event(BaseModel):
    """A contract event: frozen, and tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    KEY: ClassVar[str] = ""
    # The outbox publishes it, and consumers subscribe to it, on this kind of topic (``topic``).
    TOPIC: ClassVar[TopicKind] = "events"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.TYPE:
            register(cls)

    @property
    def subject(self) -> str:
        """The aggregate id this event is about (Kafka key and ``ce_subject``)."""
        return str(getattr(self, self.KEY))

    @classmethod
    def service(cls) -> str:
        """The producing service, the part of ``ce_type`` before the dot."""
        return cls.TYPE.split(".", 1)[0]

    @classmethod
    def topic(cls, prefix: str = "") -> str:
        """The Kafka topic this event travels on: ``vies.<service>.events``, or the contacts topic."""
        return topic_of_kind(cls.TOPIC, cls.service(), prefix)


_REGISTRY: dict[tuple[str, int], type[Event]] = {}


def register(model: type[Event]) -> None:
    """Record a model under its (``ce_type``, schema version)."""
    if not model.KEY or model.KEY not in model.model_fields:
        raise TypeError(f"{model.__name__}.KEY must name one of its fields")
    existing = _REGISTRY.get((model.TYPE, model.VERSION))
    if existing is not None and existing is not model:
        raise TypeError(f"{model.TYPE} v{model.VERSION} is registered twice")
    _REGISTRY[(model.TYPE, model.VERSION)] = model


def lookup(ce_type: str, version: int) -> type[Event] | None:
    """The model registered for a type and version, or None."""
    return _REGISTRY.get((ce_type, version))


def known_types() -> set[str]:
    """Every registered ``ce_type`` whatever its version."""
    return {t for t, _ in _REGISTRY}


def registered_models() -> list[type[Event]]:
    """All registered models, sorted by type then version."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def events_in(module: ModuleType) -> list[type[Event]]:
    """The contract events a module defines, in the order it defines them (e.g. what a service publishes)."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Event) and value.TYPE and value.__module__ == module.__name__
    ]
