"""The runtime kit stays free of development tools: what a service image installs is vies-shared and its service.

The local stack, the pytest plugin, the test helpers and the catalogue live in vies-dev (``dev/``). Two
checks keep them from creeping back: every import in ``vies_shared`` (lazy ones included) names the
standard library, the kit itself or a distribution its ``pyproject.toml`` depends on (directly or through
one of those); and every ``vies_shared`` module imports, and ``vies --help`` runs, with the development
package and the test tools hidden as if they were not installed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SHARED = Path(__file__).resolve().parents[2]
KIT = SHARED / "src" / "vies_shared"
# What a service image does not have: the development package, its tools and the services themselves.
DEV_ONLY = (
    "vies_dev",
    "secantus",
    "secantusdb",
    "pytest",
    "_pytest",
    "pytest_asyncio",
    "jsonschema",
    "schemathesis",
    "pypdf",
    "vies_recruitment",
    "vies_partners",
    "vies_missions",
    "vies_notifications",
    "vies_portal",
)


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a module, wherever they stand (function bodies too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value.partition(".")[0])
    return names


def declared_closure() -> set[str]:
    """The distributions the kit declares, and theirs in turn (with the extras asked for), by canonical name."""
    declared = tomllib.loads((SHARED / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    seen: set[str] = set()
    pending = [Requirement(r) for r in declared]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            nested = requires(requirement.name) or []
        except PackageNotFoundError:
            continue  # an optional platform-specific package: nothing of it is imported here
        for line in nested:
            child = Requirement(line)
            environments = [{"extra": extra} for extra in requirement.extras or {""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                pending.append(child)
    return seen


def test_the_kit_imports_only_what_its_pyproject_declares() -> None:
    allowed = declared_closure()
    providers = packages_distributions()
    undeclared: dict[str, list[str]] = {}
    for path in sorted(KIT.rglob("*.py")):
        for name in imported_modules(path):
            if name in sys.stdlib_module_names or name in {"__future__", "vies_shared"}:
                continue
            if not {canonicalize_name(d) for d in providers.get(name, [])} & allowed:
                undeclared.setdefault(name, []).append(str(path.relative_to(SHARED)))
    assert not undeclared, f"imports outside shared/pyproject.toml's dependencies: {undeclared}"


def test_the_kit_declares_no_development_tool() -> None:
    closure = declared_closure()
    assert not {canonicalize_name(n) for n in DEV_ONLY} & closure
    project = tomllib.loads((SHARED / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "pytest11" not in project.get("entry-points", {}), "the pytest plugin belongs to vies-dev"


# Run in a fresh interpreter: hides the development modules and their `vies` commands, then imports
# every module of the kit and renders `vies --help`.
HIDDEN_DEV_PROBE = """
import importlib, importlib.abc, importlib.metadata, pkgutil, sys
HIDDEN = set(sys.argv[1].split(","))

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden)", name=name)
        return None

sys.meta_path.insert(0, Hide())
every = importlib.metadata.entry_points
def installed(**params):
    found = every(**params)
    return type(found)(e for e in found if e.module.partition(".")[0] not in HIDDEN)
importlib.metadata.entry_points = installed

import vies_shared
# A __main__ module runs its command when imported: its imports are checked by the ast test.
modules = pkgutil.walk_packages(vies_shared.__path__, "vies_shared.")
names = [m.name for m in modules if not m.name.endswith(".__main__")]
for name in names:
    importlib.import_module(name)
from typer.testing import CliRunner
from vies_shared.cli import app
result = CliRunner().invoke(app, ["--help"])
assert result.exit_code == 0, result.output
print(len(names), " ".join(sorted(str(g.name) for g in app.registered_groups)))
"""


def test_every_kit_module_imports_without_the_development_package() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HIDDEN_DEV_PROBE, ",".join(DEV_ONLY)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    count, _, groups = done.stdout.strip().partition(" ")
    assert int(count) >= 40, done.stdout
    # The operators' commands are there; the development ones come only with vies-dev.
    assert set(groups.split()) == {"dlq", "outbox", "regional"}, groups
