"""Which queries a piece of code sends, and whether MongoDB serves each one with an index.

A query that runs per command or per event must never scan its collection: the cost of a
scan grows with the data, and on the local stack it holds SecantusDB's lock meanwhile.
``QueryRecorder`` records the filters (and sorts) of the reads, updates, deletes and counts
any client of this process sends while it is active; ``collection_scans`` explains each
distinct query as a ``find`` and returns those whose winning plan reads the whole collection.

    with QueryRecorder() as recorder:
        ...  # run the journey, the handlers, the relay
    assert await collection_scans(client, recorder.queries) == []
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from bson import json_util
from pymongo import AsyncMongoClient, monitoring

from vies_shared.storage import COMMAND_OBSERVERS

Document = dict[str, Any]
# Collections whose queries are not the platform's (the server's own, the test harness's).
IGNORED_DATABASES = frozenset({"admin", "config", "local"})


@dataclass(frozen=True)
class Query:
    """One query shape: where it ran, its filter and sort (values kept: explain needs them)."""

    database: str
    collection: str
    command: str
    filter: str  # canonical extended JSON (types kept), so equal filters compare equal
    sort: str

    def describe(self) -> str:
        """A line for an assertion message."""
        sort = f" sort {self.sort}" if self.sort != "{}" else ""
        return f"{self.command} {self.database}.{self.collection} {self.filter}{sort}"


# Where a write command keeps its statements, each with its own filter ``q``.
_STATEMENTS = {"update": "updates", "delete": "deletes"}


def _queries(command_name: str, command: Mapping[str, Any]) -> list[tuple[str, Document, Document]]:
    """(collection, filter, sort) of each query inside one command."""
    collection = command.get(command_name)
    if not isinstance(collection, str):
        return []
    match command_name:
        case "find" | "count" | "distinct":
            query = command.get("filter") or command.get("query") or {}
        case "findAndModify":
            query = command.get("query") or {}
        case "update" | "delete":
            statements = command.get(_STATEMENTS[command_name]) or []
            return [(collection, statement.get("q") or {}, {}) for statement in statements]
        case "aggregate":
            return _aggregate_queries(collection, command.get("pipeline") or [])
        case _:
            return []
    return [(collection, query, command.get("sort") or {})]


def _aggregate_queries(collection: str, pipeline: list[Document]) -> list[tuple[str, Document, Document]]:
    """The query of a pipeline: its leading ``$match`` (and the ``$sort`` after it), else a whole-collection read."""
    first = pipeline[0] if pipeline else {}
    if "$match" in first:
        sort = pipeline[1].get("$sort", {}) if len(pipeline) > 1 else {}
        return [(collection, first["$match"], sort)]
    if pipeline and any(stage.keys() & {"$changeStream", "$collStats", "$indexStats"} for stage in pipeline):
        return []
    return [(collection, {}, {})]


class QueryRecorder(monitoring.CommandListener):
    """Records the query shapes of every client of this process (``storage.COMMAND_OBSERVERS``)."""

    def __init__(self) -> None:
        self.queries: set[Query] = set()

    def __enter__(self) -> QueryRecorder:
        COMMAND_OBSERVERS.append(self.observe)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        COMMAND_OBSERVERS.remove(self.observe)

    def observe(self, event: monitoring.CommandStartedEvent) -> None:
        """Keep the query shapes of one command."""
        if event.database_name in IGNORED_DATABASES:
            return
        for collection, query, sort in _queries(event.command_name, event.command):
            if collection.startswith("system."):
                continue
            self.queries.add(
                Query(
                    database=event.database_name,
                    collection=collection,
                    command=event.command_name,
                    filter=json_util.dumps(query, sort_keys=True, json_options=json_util.CANONICAL_JSON_OPTIONS),
                    sort=json_util.dumps(sort, json_options=json_util.CANONICAL_JSON_OPTIONS),
                )
            )

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Also usable as a client's own listener."""
        self.observe(event)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to record."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to record."""


def _stages(plan: Document) -> Iterator[str]:
    yield str(plan.get("stage", ""))
    for key in ("inputStage", "outerStage", "innerStage"):
        if isinstance(plan.get(key), dict):
            yield from _stages(plan[key])
    for child in plan.get("inputStages") or []:
        yield from _stages(child)


async def plan_stages(client: AsyncMongoClient[Document], query: Query, raw: Document | None = None) -> list[str]:
    """The stages of the winning plan MongoDB picks for ``query`` (run as a ``find``)."""
    find: Document = {"find": query.collection, "filter": raw if raw is not None else _loads(query.filter)}
    sort = _loads(query.sort)
    if sort:
        find["sort"] = sort
    explained = await client[query.database].command("explain", find, verbosity="queryPlanner")
    return list(_stages(explained["queryPlanner"]["winningPlan"]))


async def collection_scans(client: AsyncMongoClient[Document], queries: set[Query]) -> list[str]:
    """The queries among ``queries`` that MongoDB answers by reading the whole collection."""
    scans: list[str] = []
    for query in sorted(queries, key=lambda q: (q.database, q.collection, q.filter, q.sort)):
        if query.filter == "{}":
            scans.append(f"{query.describe()}: no filter at all")
            continue
        stages = await plan_stages(client, query)
        if "COLLSCAN" in stages:
            scans.append(f"{query.describe()}: {' > '.join(stages)}")
    return scans


def _loads(text: str) -> Document:
    value: Document = json_util.loads(text, json_options=json_util.CANONICAL_JSON_OPTIONS)
    return value
