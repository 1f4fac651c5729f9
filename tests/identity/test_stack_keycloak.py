"""``vies stack status`` shows Keycloak once it runs; the plugin started it on demand."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from vies_dev.devstack.cli import stack_app
from vies_shared.keycloak import KeycloakEndpoints

pytestmark = pytest.mark.integration


def test_stack_status_lists_a_healthy_keycloak(vies_stack: Any, vies_keycloak: KeycloakEndpoints) -> None:
    if vies_stack.stack is None:
        pytest.skip("an external stack: its status is not ours to read")
    status = vies_stack.stack.status()
    assert status["keycloak"]["healthy"], status
    assert vies_keycloak.url.endswith(f":{status['keycloak']['port']}")
    shown = CliRunner().invoke(stack_app, ["status", "--root", str(vies_stack.stack.root)])
    row = next(line for line in shown.output.splitlines() if line.startswith("keycloak"))
    assert "healthy" in row and str(status["keycloak"]["port"]) in row, shown.output
    assert shown.exit_code == 0, shown.output
