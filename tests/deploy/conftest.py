"""Fixtures of the deployment tests: the overlays rendered once per session."""

from __future__ import annotations

import pytest
from deploy_checks import K8S, OVERLAYS, load_all, render


def overlay_key(overlay: str) -> str:
    """overlays/regions/fr-ara -> regions-fr-ara (the file name deploy.mk uses too)."""
    return overlay.removeprefix("overlays/").replace("/", "-")


@pytest.fixture(scope="session")
def rendered() -> dict[str, str]:
    """Every overlay deploy-check renders, as kustomize output text."""
    return {overlay_key(o): render(K8S / o) for o in OVERLAYS}


@pytest.fixture(scope="session")
def production(rendered: dict[str, str]) -> list[dict]:
    return load_all(rendered["production"])
