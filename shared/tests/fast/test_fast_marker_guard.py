"""The test plugin keeps fast tests off the servers: one asking for a stack fixture fails before it runs."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import plugin

pytestmark = pytest.mark.fast


class Item:
    """What ``pytest_runtest_setup`` reads of a test item."""

    def __init__(self, fast: bool, fixturenames: list[str]) -> None:
        self.fast = fast
        self.fixturenames = fixturenames

    def get_closest_marker(self, name: str) -> Any:
        return object() if name == "fast" and self.fast else None


def test_a_fast_test_asking_for_the_stack_is_refused() -> None:
    with pytest.raises(pytest.fail.Exception, match="vies_settings"):
        plugin.pytest_runtest_setup(Item(True, ["vies_settings", "tmp_path"]))  # type: ignore[arg-type]


def test_fast_tests_without_servers_and_other_tests_with_them_run() -> None:
    plugin.pytest_runtest_setup(Item(True, ["tmp_path"]))  # type: ignore[arg-type]
    plugin.pytest_runtest_setup(Item(False, ["vies_stack"]))  # type: ignore[arg-type]
