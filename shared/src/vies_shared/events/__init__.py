"""Contract events, their CloudEvents envelope and the type registry."""

from vies_shared.events import missions, notifications, partners, recruitment
from vies_shared.events.base import Event, known_types, lookup, registered_models

__all__ = [
    "Event",
    "known_types",
    "lookup",
    "missions",
    "notifications",
    "partners",
    "recruitment",
    "registered_models",
]
