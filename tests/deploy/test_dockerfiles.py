"""Static checks of the images (no Docker engine here): multi-stage on
python:3.11-slim, dependencies pinned by constraints.txt, nothing to build in
the final stage, a numeric non-root user matching the pods' runAsUser, no
HEALTHCHECK, the port the contract and the Deployments use, and a
.dockerignore that sends what the Dockerfiles copy and nothing else."""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from deploy_checks import REPO

from vies_shared.settings import DEFAULT_HTTP_PORTS

SERVICE_IMAGES = {s: REPO / "services" / s / "Dockerfile" for s in DEFAULT_HTTP_PORTS}
# The web portal (services/portal, console script vies-portal, port 8000 like its pods).
PORTAL_PORT = 8000
IMAGE_PORTS = {**DEFAULT_HTTP_PORTS, "portal": PORTAL_PORT}
SERVICE_IMAGES["portal"] = REPO / "services" / "portal" / "Dockerfile"
REGIONAL_IMAGE = REPO / "deploy" / "docker" / "regional.Dockerfile"
POD_UID = 10001  # components/pod-defaults runAsUser / runAsGroup
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|cmake|apt-get|apk|pip install)\b")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [arg for ins, arg in self.instructions if ins == instruction]


def parse(path: Path) -> tuple[list[Stage], list[tuple[str, str]]]:
    """Stages (FROM ... AS name, then their instructions) and all instructions, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    stages: list[Stage] = []
    everything: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arg = line.partition(" ")
        instruction = instruction.upper()
        everything.append((instruction, arg.strip()))
        if instruction == "FROM":
            words = arg.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append((instruction, arg.strip()))
    return stages, everything


def image_files() -> list[Path]:
    return [*SERVICE_IMAGES.values(), REGIONAL_IMAGE]


@pytest.mark.parametrize("path", image_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_image_is_multi_stage_slim_non_root_without_healthcheck(path: Path) -> None:
    stages, everything = parse(path)
    assert len(stages) >= 2, "multi-stage build expected"
    assert all(s.base == "python:3.11-slim" for s in stages), [s.base for s in stages]
    assert not [i for i, _ in everything if i == "HEALTHCHECK"], "Kubernetes probes replace HEALTHCHECK"
    final = stages[-1]
    users = final.values("USER")
    assert users, "the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]} is not a numeric non-root uid"
    assert int(uid) == POD_UID and (not gid or int(gid) == POD_UID), "uid/gid differ from the pods' runAsUser"
    # Everything is installed in the build stage and copied; the final stage builds nothing.
    assert any(v.startswith(f"--from={stages[0].name} ") for v in final.values("COPY"))
    for run in final.values("RUN"):
        assert not BUILD_TOOLS.search(run.replace("pip uninstall", "")), f"build step in the final stage: {run}"
    installs = [r for r in stages[0].values("RUN") if "pip" in r and " install " in r]
    assert installs and all("-c constraints.txt" in r for r in installs), "dependencies not pinned by constraints.txt"


@pytest.mark.parametrize(("service", "port"), IMAGE_PORTS.items())
def test_service_image_runs_its_console_script_on_its_port(service: str, port: int) -> None:
    stages, _ = parse(SERVICE_IMAGES[service])
    final = stages[-1]
    assert final.values("ENTRYPOINT") == [f'["vies-{service}"]']
    assert final.values("EXPOSE") == [str(port)]
    env = " ".join(final.values("ENV"))
    assert f"VIES_HTTP_PORT={port}" in env
    # uvicorn binds 127.0.0.1 by default (VIES_HTTP_HOST): probes need every interface.
    assert "VIES_HTTP_HOST=0.0.0.0" in env


def test_deployments_use_the_image_port(rendered: dict[str, str]) -> None:
    from deploy_checks import load_all
    from k8s_policy import app_container, of_kind

    for doc in of_kind(load_all(rendered["production"]), "Deployment"):
        app = doc["metadata"]["labels"]["app.kubernetes.io/name"]
        path = SERVICE_IMAGES.get(app, REGIONAL_IMAGE)
        stages, _ = parse(path)
        (port,) = app_container(doc)["ports"]
        assert stages[-1].values("EXPOSE") == [str(port["containerPort"])], doc["metadata"]["name"]


def _dockerignore() -> list[tuple[bool, str]]:
    patterns = []
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, line.lstrip("!").rstrip("/")))
    return patterns


def sent_to_builder(relative: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also matches what is below it."""
    parts = relative.split("/")
    included = True
    for negated, pattern in _dockerignore():
        matched = pattern == "**" or any(
            fnmatch.fnmatchcase("/".join(parts[: i + 1]), pattern.replace("**/", "*/"))
            or (pattern.startswith("**/") and fnmatch.fnmatchcase(parts[i], pattern[3:]))
            for i in range(len(parts))
        )
        if matched:
            included = negated
    return included


def test_dockerignore_sends_what_the_images_copy_and_nothing_else() -> None:
    for path in image_files():
        stages, _ = parse(path)
        for stage in stages:
            for copy in stage.values("COPY"):
                words = shlex.split(copy)
                if any(w.startswith("--from=") for w in words):
                    continue
                for source in words[:-1]:
                    probe = source.rstrip("/") + ("/pyproject.toml" if source.endswith("/") else "")
                    assert sent_to_builder(probe), f"{path.name} copies {source}, which .dockerignore excludes"
    assert sent_to_builder("shared/src/vies_shared/settings.py")
    for excluded in (
        ".git/HEAD",
        ".venv/bin/python",
        ".stack/kafka/libs/x.jar",
        "tests/deploy/conftest.py",
        "services/missions/tests/unit/test_x.py",
        "shared/src/vies_shared/__pycache__/x.cpython-311.pyc",
        "deploy/k8s/base/kustomization.yaml",
        "build/deploy/rendered/production.yaml",
    ):
        assert not sent_to_builder(excluded), f"{excluded} reaches the build context"
