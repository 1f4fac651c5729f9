"""Outside development the service refuses to start without a key for webhook secrets or a way to check owners."""

from __future__ import annotations

import os
import subprocess
import sys

from vies_dev.testing.helpers import free_port

PRODUCTION = {"VIES_ENV": "production", "VIES_OIDC_ISSUER": "https://auth.example.org/realms/vies"}


def _start(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIES_")}
    env.update({"VIES_HTTP_PORT": str(free_port()), "VIES_LOG_LEVEL": "WARNING", **PRODUCTION, **extra})
    return subprocess.run(
        [sys.executable, "-c", "from vies_notifications.app import main; main()"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_webhook_secret_key_outside_dev_exits_with_a_clear_message() -> None:
    done = _start({})
    assert done.returncode == 2, done.stderr
    assert "vies-notifications: refusing to start: VIES_WEBHOOK_SECRET_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr
    published = _start({"VIES_WEBHOOK_SECRET_KEY": "vies-dev-webhook-key-change-me-in-production"})
    assert published.returncode == 2 and "published development key" in published.stderr


def test_a_delivering_process_without_the_owner_directory_exits_too() -> None:
    key = {"VIES_WEBHOOK_SECRET_KEY": "k8jRzV0n0m4m3y9bW2x6QF3yq8gLw1bZt5c7d9e1f3g="}
    worker = _start({**key, "VIES_ROLE": "worker"})
    assert worker.returncode == 2, worker.stderr
    assert "VIES_OWNER_DIRECTORY_CLIENT_SECRET" in worker.stderr and "Traceback" not in worker.stderr
