"""A service outside development refuses to start with settings that let anyone mint a token."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vies_dev.testing.helpers import free_port
from vies_shared.settings import DEV_JWT_SECRET

SERVICES = ["recruitment", "partners", "missions", "notifications"]


def _start(service: str, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIES_")}
    env.update({"VIES_HTTP_PORT": str(free_port()), "VIES_LOG_LEVEL": "WARNING", **extra})
    return subprocess.run(
        [sys.executable, "-c", f"from vies_{service}.app import main; main()"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=180,  # only catches a hang: a loaded machine takes a while to import a service
    )


@pytest.mark.parametrize("service", SERVICES)
def test_the_published_secret_outside_dev_exits_with_a_clear_message(service: str) -> None:
    done = _start(
        service, {"VIES_JWT_SECRET": DEV_JWT_SECRET, "VIES_OIDC_ISSUER": "https://auth.example.org/realms/vies"}
    )
    assert done.returncode == 2
    assert "refusing to start" in done.stderr
    assert "published development secret" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_short_secret_or_no_issuer_outside_dev_exits_too() -> None:
    short = _start(
        "partners", {"VIES_JWT_SECRET": "changeme", "VIES_OIDC_ISSUER": "https://auth.example.org/realms/vies"}
    )
    assert short.returncode == 2
    assert "shorter than 32 bytes" in short.stderr
    nothing = _start("partners", {})
    assert nothing.returncode == 2
    assert "no token issuer configured" in nothing.stderr


def test_the_published_or_a_short_safety_link_key_outside_dev_exits_too() -> None:
    from vies_shared.safety_link import DEV_SAFETY_LINK_KEY

    issuer = {"VIES_OIDC_ISSUER": "https://auth.example.org/realms/vies"}
    published = _start("missions", {**issuer, "VIES_SAFETY_LINK_KEYS": DEV_SAFETY_LINK_KEY})
    assert published.returncode == 2
    assert "refusing to start" in published.stderr and "published development key" in published.stderr
    short = _start("missions", {**issuer, "VIES_SAFETY_LINK_KEYS": "changeme"})
    assert short.returncode == 2 and "at least 32 bytes" in short.stderr
    assert "Traceback" not in published.stderr + short.stderr
