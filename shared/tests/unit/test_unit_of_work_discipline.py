"""Use cases touch collections only through their unit of work, checked on the source.

A read or write that passes ``session=`` by hand, or reaches the runtime's raw database from a
transactional function or a handler, can run outside the transaction without anyone noticing:
the collections of a unit of work are bound to its session so that nothing else is needed. This
scan of every service's ``src`` and of the kit fails on such a call, naming file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [ROOT / "shared" / "src", *sorted((ROOT / "services").glob("*/src"))]
# The kit's storage module binds the session (the dev stack, which probes transactions with a client of
# its own, lives in dev/ and is not scanned).
SESSION_ALLOWED = ("shared/src/vies_shared/storage.py",)
# A function taking one of these runs inside a transaction (or is a handler, run in the consumer's).
TRANSACTIONAL_TYPES = {"UnitOfWork", "HandlerContext", "Collections", "Collection"}
# What leads outside the transaction from inside one: the raw database or client, the runtime's
# sessionless reads, another transaction.
OUTSIDE = {"db", "client", "reads", "transactions"}


def _annotation_names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def _decorator_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names: set[str] = set()
    for decorator in function.decorator_list:
        names |= _annotation_names(decorator)
    return names


def runs_in_a_transaction(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated ``@transactional``, or takes a unit of work, its collections or a handler context."""
    if "transactional" in _decorator_names(function):
        return True
    arguments = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
    return any(_annotation_names(argument.annotation) & TRANSACTIONAL_TYPES for argument in arguments)


def violations(source: str, path: str) -> Iterator[str]:
    """Each call passing ``session=`` by hand, and each way out of the transaction inside one."""
    tree = ast.parse(source)
    if not path.startswith(SESSION_ALLOWED):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and any(keyword.arg == "session" for keyword in node.keywords):
                yield f"{path}:{node.lineno}: session= passed by hand; use the unit of work's collections (uow[name])"
    if path == SESSION_ALLOWED[0]:
        return
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or not runs_in_a_transaction(function):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Attribute) and node.attr in OUTSIDE:
                yield (
                    f"{path}:{node.lineno}: {function.name} runs in a transaction but reaches .{node.attr}; "
                    "read and write through its unit of work"
                )


def _scan() -> list[str]:
    found: list[str] = []
    for tree in SOURCES:
        for file in sorted(tree.rglob("*.py")):
            path = file.relative_to(ROOT).as_posix()
            found.extend(violations(file.read_text(encoding="utf-8"), path))
    return found


def test_no_use_case_or_handler_touches_a_collection_outside_its_unit_of_work() -> None:
    assert SOURCES and all(tree.is_dir() for tree in SOURCES)
    found = _scan()
    assert not found, "outside the unit of work:\n" + "\n".join(found)


PLANTED = {
    "session passed by hand": """
async def f(runtime, uow):
    await runtime.db["x"].insert_one({}, session=uow.session)
""",
    "the runtime's database inside a use case": """
@transactional
async def f(uow: UnitOfWork[S], runtime_like) -> None:
    await runtime_like.db["x"].insert_one({})
""",
    "the runtime's reads inside a handler": """
async def on_event(ctx: HandlerContext[S], event: Event) -> None:
    await ctx.runtime.reads["x"].find_one({})
""",
    "a raw database behind a helper taking the unit of work": """
async def helper(uow: "UnitOfWork", other) -> None:
    other.client["db"]["x"].find({})
""",
}


@pytest.mark.parametrize("source", PLANTED.values(), ids=list(PLANTED))
def test_the_check_catches_a_planted_violation(source: str) -> None:
    assert list(violations(source, "services/planted/src/vies_planted/use_cases.py"))


def test_the_check_lets_the_unit_of_work_and_reads_outside_a_transaction_pass() -> None:
    clean = """
@transactional
async def f(uow: UnitOfWork[S], mission_id: str) -> None:
    doc = await uow.get("missions", mission_id, "mission")
    await uow["missions"].replace_one({"_id": mission_id}, doc)

async def list_missions(runtime: Runtime[S]) -> list[Document]:
    return await runtime.db["missions"].find({}).to_list()
"""
    assert not list(violations(clean, "services/planted/src/vies_planted/use_cases.py"))
