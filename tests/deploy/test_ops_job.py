"""The dead-letter Job printed by deploy/k8s/hack/vies-dlq-job.sh is valid,
restricted, runs `vies dlq ...` with the vies-ops Kafka user, and keeps its
arguments intact."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import k8s_policy
import pytest
import yaml
from deploy_checks import K8S, K8S_VERSIONS, tool

SCRIPT = K8S / "hack" / "vies-dlq-job.sh"


def job(*args: str) -> str:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX shell")
    return subprocess.run([sh, str(SCRIPT), *args], capture_output=True, text=True, check=True).stdout


def test_dead_letter_job_is_valid_and_restricted(tmp_path: Path) -> None:
    text = job("registry.example.org/vies/regional:0.1.0", "replay", "--service", "missions", "--ref", '0:1"2')
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    for version in K8S_VERSIONS:
        result = subprocess.run(
            [tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout
    doc = yaml.safe_load(text)
    assert k8s_policy.check_security([doc]) == []
    assert k8s_policy.check_probes_and_resources([doc]) == []
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["vies", "dlq"]
    assert container["args"] == ["replay", "--service", "missions", "--ref", '0:1"2']
    env = {e["name"]: e for e in container["env"]}
    assert env["VIES_KAFKA_SASL_USERNAME"]["value"] == "vies-ops"
    assert env["VIES_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "vies-ops"


def test_dead_letter_job_usage_without_arguments() -> None:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX shell")
    result = subprocess.run([sh, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "vies-dlq-job.sh IMAGE list" in result.stderr
