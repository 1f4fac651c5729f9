"""Which worker runs which test module: the modules needing Keycloak all go to the one worker running it."""

from __future__ import annotations

from vies_dev.testing.plugin import IDENTITY_WORKER, next_module_for

QUEUE = ["shared/test_a.py", "tests/portal/test_journey.py", "tests/e2e/test_b.py", "tests/identity/test_c.py"]


def identity(module: str) -> bool:
    return module.startswith(("tests/portal/", "tests/identity/"))


def test_the_identity_worker_runs_quick_modules_while_its_keycloak_boots_then_the_identity_modules_first() -> None:
    assert next_module_for(IDENTITY_WORKER, QUEUE, identity, booting=True) == "shared/test_a.py"
    assert next_module_for(IDENTITY_WORKER, QUEUE, identity, booting=False) == "tests/portal/test_journey.py"


def test_the_identity_worker_takes_what_is_left_of_either_kind() -> None:
    assert next_module_for(IDENTITY_WORKER, ["tests/identity/test_c.py"], identity, booting=True) == QUEUE[3]
    assert next_module_for(IDENTITY_WORKER, ["tests/e2e/test_b.py"], identity, booting=False) == QUEUE[2]


def test_another_worker_never_takes_a_module_needing_keycloak() -> None:
    assert next_module_for("gw1", QUEUE, identity, booting=False) == "shared/test_a.py"
    assert next_module_for("gw1", ["tests/portal/test_journey.py", "tests/identity/test_c.py"], identity, False) is None
