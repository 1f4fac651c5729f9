"""Kafka topic names of the public contract (docs/CONTRACT.md section 1).

Names are built from an optional prefix (``VIES_TOPIC_PREFIX``) so a test run, a
staging cluster or a tenant can share a broker without sharing topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SERVICES: tuple[str, ...] = ("partners", "recruitment", "missions", "notifications")

CONTACTS_TOPIC_SUFFIX = "recruitment.contacts"


def events_topic(service: str, prefix: str = "") -> str:
    """The ``vies.<service>.events`` topic a service publishes its events on."""
    return f"{prefix}vies.{service}.events"


def dlq_topic(service: str, prefix: str = "") -> str:
    """The ``vies.<service>.dlq`` topic where a consuming service parks dead letters."""
    return f"{prefix}vies.{service}.dlq"


def contacts_topic(prefix: str = "") -> str:
    """The compacted ``vies.recruitment.contacts`` topic (personal contact data, contract 1.5)."""
    return f"{prefix}vies.{CONTACTS_TOPIC_SUFFIX}"


# Which topic an event class travels on (its ``TOPIC``): its service's events, or the compacted contacts.
TopicKind = Literal["events", "contacts"]


def topic_of_kind(kind: TopicKind, service: str, prefix: str = "") -> str:
    """The topic of an event of ``kind`` produced by ``service``."""
    return contacts_topic(prefix) if kind == "contacts" else events_topic(service, prefix)


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: its name and whether it is log-compacted."""

    name: str
    compacted: bool = False


def all_topics(prefix: str = "") -> list[TopicSpec]:
    """Every topic named by the contract, for stack start-up and Kubernetes manifests."""
    specs = [TopicSpec(events_topic(s, prefix)) for s in SERVICES]
    specs += [TopicSpec(dlq_topic(s, prefix)) for s in SERVICES]
    specs.append(TopicSpec(contacts_topic(prefix), compacted=True))
    return specs


@dataclass(frozen=True)
class ServiceTopics:
    """What one service writes and reads, the source of truth for Kafka ACLs."""

    publishes: tuple[str, ...]
    consumes: tuple[str, ...]


def service_topics(service: str, prefix: str = "") -> ServiceTopics:
    """Topics a service publishes to and consumes from (its own dead letters included)."""
    others = tuple(events_topic(s, prefix) for s in SERVICES if s != service)
    publishes: tuple[str, ...] = (events_topic(service, prefix), dlq_topic(service, prefix))
    consumes: tuple[str, ...] = (*others, dlq_topic(service, prefix))
    if service == "recruitment":
        publishes += (contacts_topic(prefix),)
    if service in ("missions", "notifications"):
        consumes += (contacts_topic(prefix),)
    return ServiceTopics(publishes=publishes, consumes=consumes)


# Regional branches and outside subscribers read the events topics only, never contacts.
def regional_topics(prefix: str = "") -> tuple[str, ...]:
    """Topics a regional consumer or an outside subscriber may read."""
    return tuple(events_topic(s, prefix) for s in SERVICES)
