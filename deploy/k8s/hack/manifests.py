#!/usr/bin/env python3
"""Split rendered kustomize output for the offline checks of ``make deploy-check``.

    python deploy/k8s/hack/manifests.py split OUT RENDERED.yaml...

For each rendered multi-document file ``NAME.yaml`` it writes
  OUT/builtin/NAME.yaml                      the built-in kinds, one multi-document
                                             file for one kubernetes-validate call
  OUT/custom/<group>/<kind>_<version>/NAME--<object>.yaml
                                             one file per custom resource, checked by
                                             check-jsonschema against
                                             deploy/schemas/<group>/<kind>_<version>.json
A custom resource without a schema file, or a document without apiVersion/kind,
is an error: nothing reaches the cluster unchecked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

# API groups served by Kubernetes itself (validated by kubernetes-validate).
BUILTIN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def group_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def schema_path(doc: dict, schema_dir: Path = SCHEMA_DIR) -> Path:
    """Where the JSON schema of a custom resource lives."""
    group, version = group_version(doc["apiVersion"])
    return schema_dir / group / f"{doc['kind'].lower()}_{version}.json"


def is_builtin(doc: dict) -> bool:
    return group_version(doc["apiVersion"])[0] in BUILTIN_GROUPS


def load(path: Path) -> list[dict]:
    """The non-empty documents of a multi-document YAML file."""
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def split(out: Path, rendered: list[Path], schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Write the split files; return the errors (empty when every document is checkable)."""
    errors: list[str] = []
    for path in rendered:
        name = path.stem
        builtin: list[dict] = []
        for doc in load(path):
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                errors.append(f"{path}: a document without apiVersion/kind")
                continue
            if is_builtin(doc):
                builtin.append(doc)
                continue
            schema = schema_path(doc, schema_dir)
            if not schema.is_file():
                errors.append(
                    f"{path}: {doc['kind']} ({doc['apiVersion']}) has no schema {schema.relative_to(schema_dir.parent)}"
                )
                continue
            group, version = group_version(doc["apiVersion"])
            target = out / "custom" / group / f"{doc['kind'].lower()}_{version}"
            target.mkdir(parents=True, exist_ok=True)
            obj_name = doc.get("metadata", {}).get("name", "unnamed")
            (target / f"{name}--{obj_name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        (out / "builtin").mkdir(parents=True, exist_ok=True)
        (out / "builtin" / f"{name}.yaml").write_text(yaml.safe_dump_all(builtin, sort_keys=False), encoding="utf-8")
    return errors


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "split":
        print(__doc__, file=sys.stderr)
        return 2
    errors = split(Path(argv[1]), [Path(p) for p in argv[2:]])
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
