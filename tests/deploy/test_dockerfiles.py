"""Static checks of the images (no Docker engine here): one parameterised Dockerfile for the services and
the portal and one for the regional consumer, every image named with its build arguments in
deploy/docker/docker-bake.json; each image multi-stage on python:3.11-slim, dependencies pinned by
constraints.txt, nothing to build in the final stage, a numeric non-root user matching the pods'
runAsUser, no HEALTHCHECK, every build argument it uses declared in its stage, the port the contract
and the Deployments use, and a .dockerignore that sends what the Dockerfiles copy and nothing else."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from deploy_checks import REPO

from vies_shared.settings import DEFAULT_HTTP_PORTS

DOCKER = REPO / "deploy" / "docker"
BAKE = DOCKER / "docker-bake.json"
SERVICE_DOCKERFILE = DOCKER / "service.Dockerfile"
REGIONAL_IMAGE = DOCKER / "regional.Dockerfile"
# The web portal (services/portal, console script vies-portal, port 8000 like its pods).
PORTAL_PORT = 8000
IMAGE_PORTS = {**DEFAULT_HTTP_PORTS, "portal": PORTAL_PORT}
POD_UID = 10001  # components/pod-defaults runAsUser / runAsGroup
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|cmake|apt-get|apk|pip install)\b")
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Image:
    """A target of the bake file: its Dockerfile and the build arguments it is built with."""

    name: str
    dockerfile: Path
    args: dict[str, str]


def bake_images() -> dict[str, Image]:
    """Every image the bake file builds, by target name (VERSION left to its default)."""
    targets = json.loads(BAKE.read_text(encoding="utf-8"))["target"]
    return {
        name: Image(
            name,
            REPO / target.get("context", ".") / target["dockerfile"],
            {k: v for k, v in target.get("args", {}).items() if "${" not in v},
        )
        for name, target in targets.items()
    }


IMAGES = bake_images()


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [arg for ins, arg in self.instructions if ins == instruction]


def parse(path: Path, build_args: dict[str, str] | None = None) -> tuple[list[Stage], list[tuple[str, str]]]:
    """Stages (FROM ... AS name, then their instructions) and all instructions, continuation lines joined.

    Build arguments are substituted as Docker does: in a stage, only those its ``ARG`` lines declare
    (a default, else the value given); using one the stage does not declare fails, since Docker would
    silently make it empty.
    """
    given = build_args or {}
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    every_arg = {line.split()[1].partition("=")[0] for line in lines if line.upper().startswith("ARG ")}
    stages: list[Stage] = []
    everything: list[tuple[str, str]] = []
    scope: dict[str, str] = {}

    def substitute(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name in scope:
                return scope[name]
            assert name not in every_arg, f"{path.name}: ${name} used where no ARG declares it"
            return match.group(0)

        return VARIABLE.sub(one, value)

    for line in lines:
        instruction, _, raw = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            scope = {}
        arg = substitute(raw.strip())
        if instruction == "ARG":
            name, eq, default = arg.partition("=")
            scope[name] = given.get(name, default.strip('"') if eq else "")
        everything.append((instruction, arg))
        if instruction == "FROM":
            words = arg.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append((instruction, arg))
    return stages, everything


def test_the_bake_file_builds_every_service_the_portal_and_the_regional_image() -> None:
    assert set(IMAGES) == {*IMAGE_PORTS, "regional"}
    for service in IMAGE_PORTS:
        assert IMAGES[service].dockerfile == SERVICE_DOCKERFILE, service
        assert IMAGES[service].args["SERVICE"] == service
    assert IMAGES["regional"].dockerfile == REGIONAL_IMAGE
    # One Dockerfile for the services: none left beside them.
    assert not list((REPO / "services").glob("*/Dockerfile"))


@pytest.mark.parametrize("image", IMAGES.values(), ids=lambda i: i.name)
def test_image_is_multi_stage_slim_non_root_without_healthcheck(image: Image) -> None:
    stages, everything = parse(image.dockerfile, image.args)
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
    stages, _ = parse(SERVICE_DOCKERFILE, IMAGES[service].args)
    build, final = stages[0], stages[-1]
    # The entry point is the service's console script, through a fixed name (ENTRYPOINT takes no ARG).
    assert final.values("ENTRYPOINT") == ['["vies-service"]']
    assert any(f"ln -s vies-{service} /opt/venv/bin/vies-service" in run for run in build.values("RUN"))
    assert any(f"./services/{service}" in run and "./shared" in run for run in build.values("RUN"))
    assert f'org.opencontainers.image.title="vies-{service}"' in " ".join(final.values("LABEL"))
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
        image = IMAGES.get(app, IMAGES["regional"])
        stages, _ = parse(image.dockerfile, image.args)
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
    for image in IMAGES.values():
        stages, _ = parse(image.dockerfile, image.args)
        for stage in stages:
            for copy in stage.values("COPY"):
                words = shlex.split(copy)
                if any(w.startswith("--from=") for w in words):
                    continue
                for source in words[:-1]:
                    probe = source.rstrip("/") + ("/pyproject.toml" if source.endswith("/") else "")
                    assert sent_to_builder(probe), f"{image.name} copies {source}, which .dockerignore excludes"
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
        "dev/src/vies_dev/devstack/stack.py",
        "dev/pyproject.toml",
    ):
        assert not sent_to_builder(excluded), f"{excluded} reaches the build context"
