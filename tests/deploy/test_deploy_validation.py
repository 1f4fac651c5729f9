"""The whole offline check (split, kubernetes-validate, check-jsonschema, policy)
passes on every overlay and fails on a deliberately broken one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from deploy_checks import REPO, render, validate

BROKEN = REPO / "tests" / "deploy" / "fixtures" / "broken"
REGIONS = frozenset({"regions-fr-ara", "regions-fr-974"})


@pytest.mark.skipif(
    os.environ.get("VIES_DEPLOY_VALIDATED") == "1",
    reason="make deploy-check has just run the same validators on the same overlays",
)
def test_every_overlay_passes_every_check(rendered: dict[str, str], tmp_path: Path) -> None:
    assert validate(rendered, tmp_path, partial=REGIONS) == []


@pytest.fixture(scope="module")
def broken_errors(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return validate({"broken": render(BROKEN)}, tmp_path_factory.mktemp("broken"))


def test_broken_fixture_misspelt_builtin_field_fails(broken_errors: list[str]) -> None:
    assert any(
        e.startswith("ERROR")
        and "deployment/vies-missions-api" in e
        and "'terminationGracePeriodSecond' was unexpected" in e
        for e in broken_errors
    ), broken_errors


def test_broken_fixture_misspelt_custom_resource_field_fails(broken_errors: list[str]) -> None:
    assert any("vies-missions-events" in e and "'partitons' was unexpected" in e for e in broken_errors), broken_errors


def test_broken_fixture_container_without_run_as_non_root_fails(broken_errors: list[str]) -> None:
    assert (
        "broken: Deployment/vies-partners-worker container app: securityContext.runAsNonRoot is not true"
        in broken_errors
    ), broken_errors


def test_broken_fixture_topic_without_kafkatopic_fails(broken_errors: list[str]) -> None:
    assert "broken: KafkaTopic: none for contract topic vies.notifications.dlq" in broken_errors, broken_errors


def test_broken_fixture_ingress_routing_a_whole_host_fails(broken_errors: list[str]) -> None:
    assert any(
        e.startswith("broken: Ingress/vies-api missions.staging.vies.example.org/: routes every path")
        for e in broken_errors
    ), broken_errors


def test_broken_fixture_worker_with_a_jwt_secret_fails(broken_errors: list[str]) -> None:
    assert any(
        e.startswith("broken: Deployment/vies-recruitment-worker: JWT secret VIES_JWT_SECRET") for e in broken_errors
    ), broken_errors


def test_broken_fixture_literal_webhook_key_fails(broken_errors: list[str]) -> None:
    api = "broken: Deployment/vies-notifications-api"
    assert f"{api} container app: VIES_WEBHOOK_SECRET_KEY is a literal (read it from a Secret)" in broken_errors
    assert f"{api}: VIES_WEBHOOK_SECRET_KEY does not come from a Secret (the service refuses to start)" in (
        broken_errors
    )


def test_broken_fixture_has_no_other_errors(broken_errors: list[str]) -> None:
    """Each fault is caught once per Kubernetes version, and nothing else is reported."""
    unexpected = [
        e
        for e in broken_errors
        if not any(
            key in e
            for key in (
                "terminationGracePeriodSecond",
                "partitons",
                "runAsNonRoot",
                "vies.notifications.dlq",
                "missions.staging.vies.example.org/:",
                "vies-recruitment-worker: JWT secret",
                "vies-recruitment-worker: a worker pod gets token settings",
                "vies-notifications-api container app: VIES_WEBHOOK_SECRET_KEY is a literal",
                "vies-notifications-api: VIES_WEBHOOK_SECRET_KEY does not come from a Secret",
            )
        )
    ]
    assert unexpected == []


def test_a_custom_resource_without_schema_fails(tmp_path: Path) -> None:
    doc = "apiVersion: example.org/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n"
    errors = validate({"widget": doc}, tmp_path, partial=frozenset({"widget"}))
    assert any("Widget (example.org/v1) has no schema" in e for e in errors), errors


def test_a_builtin_kind_unknown_to_the_kubernetes_version_fails(tmp_path: Path) -> None:
    """kubernetes-validate only warns on a kind it has no schema for; the check fails on it."""
    doc = (
        "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h\n"
        "spec:\n  scaleTargetRef: {kind: Deployment, name: d}\n  maxReplicas: 2\n"
    )
    errors = validate({"old": doc}, tmp_path, partial=frozenset({"old"}))
    assert any(e.startswith("WARN") and "v2beta2" in e for e in errors), errors
