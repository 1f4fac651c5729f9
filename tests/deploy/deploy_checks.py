"""The offline checks of ``make deploy-check``, callable from the tests.

Same tools, same schemas, same split as deploy/deploy.mk: render with
``kubectl kustomize``, split with deploy/k8s/hack/manifests.py, validate the
built-in kinds with ``kubernetes-validate --strict`` and the custom resources
with ``check-jsonschema``, then the policy checks of k8s_policy.py.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import k8s_policy
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
SCHEMAS = REPO / "deploy" / "schemas"
OVERLAYS = ("overlays/staging", "overlays/production", "overlays/regions/fr-ara", "overlays/regions/fr-974")
K8S_VERSIONS = ("1.33.0", "1.37.0")  # keep in step with DEPLOY_K8S_VERSIONS in deploy/deploy.mk


def tool(name: str) -> str:
    """A console script of the test's virtualenv, else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (make's virtualenv provides it)")
    return found


def manifests_module() -> ModuleType:
    """deploy/k8s/hack/manifests.py, the splitter deploy.mk runs."""
    spec = importlib.util.spec_from_file_location("vies_deploy_manifests", K8S / "hack" / "manifests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(kustomization_dir: Path) -> str:
    """``kubectl kustomize DIR``; raises with kustomize's message when the build fails."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(kustomization_dir)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {kustomization_dir} failed:\n{result.stderr}")
    return result.stdout


def load_all(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def validate(rendered: dict[str, str], work: Path, *, partial: frozenset[str] = frozenset()) -> list[str]:
    """Run every check on rendered overlays {name: yaml}; return all the errors found.

    ``partial`` names renderings that are not a whole namespace (a region on its own).
    """
    work.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in rendered.items():
        path = work / "rendered" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files.append(path)
    split_dir = work / "split"
    errors: list[str] = list(manifests_module().split(split_dir, files, SCHEMAS))

    builtin = sorted((split_dir / "builtin").glob("*.yaml"))
    for version in K8S_VERSIONS:
        result = subprocess.run(
            [tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, *map(str, builtin)],
            capture_output=True,
            text=True,
            check=False,
        )
        # --quiet prints only problems: errors, and warnings for kinds it has no schema for.
        errors += [line for line in result.stdout.splitlines() if line.startswith(("ERROR", "WARN", "FATAL"))]
        if result.returncode != 0 and not result.stdout.strip():
            errors.append(f"kubernetes-validate failed: {result.stderr.strip()}")

    for kind_dir in sorted((split_dir / "custom").glob("*/*")):
        schema = SCHEMAS / kind_dir.parent.name / f"{kind_dir.name}.json"
        result = subprocess.run(
            [tool("check-jsonschema"), "--schemafile", str(schema), *map(str, sorted(kind_dir.glob("*.yaml")))],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            errors += [line.strip() for line in result.stdout.splitlines() if "::" in line] or [result.stdout]

    for name, text in rendered.items():
        whole = name not in partial
        errors += [f"{name}: {e}" for e in k8s_policy.check_all(load_all(text), whole_namespace=whole)]
    return errors
