"""The event catalogue: generated from the contract's pydantic models, never written by hand.

``vies catalogue generate`` writes ``docs/events/`` (an AsyncAPI 3.0
document of the whole platform, a JSON Schema and an example per event type and
version, and a Markdown page); ``check`` tells whether the checked-in copy is
stale; ``compat`` compares the schemas with the committed baseline and fails on
a breaking change to a published event (see ``compat.py``).
"""

from vies_dev.catalogue.compat import Change, compare
from vies_dev.catalogue.sources import Catalogue, EventEntry, load_catalogue

__all__ = ["Catalogue", "Change", "EventEntry", "compare", "load_catalogue"]
