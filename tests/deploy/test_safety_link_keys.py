"""The one-tap safety answer links' keys in the manifests: one Secret, two readers, links to the portal's page."""

from __future__ import annotations

import copy

import k8s_policy
import pytest
from deploy_checks import load_all
from k8s_policy import by_name, container_env, pod_template

ENVIRONMENTS = ("staging", "production")
KEYS = "VIES_SAFETY_LINK_KEYS"


def _app_env(docs: list[dict], deployment: str) -> list[dict]:
    env: list[dict] = pod_template(by_name(docs, "Deployment")[deployment])["spec"]["containers"][0]["env"]
    return env


@pytest.mark.parametrize("overlay", ENVIRONMENTS)
def test_missions_api_and_notifications_workers_share_one_secret_and_link_the_portal(
    rendered: dict[str, str], overlay: str
) -> None:
    docs = load_all(rendered[overlay])
    deployments = by_name(docs, "Deployment")
    readers = {}
    for name, doc in deployments.items():
        _, secrets = container_env(docs, k8s_policy.app_container(doc))
        if KEYS in secrets:
            readers[name] = secrets[KEYS]
    assert readers == {
        "vies-missions-api": ("vies-safety-link-keys", "keys"),
        "vies-notifications-worker": ("vies-safety-link-keys", "keys"),
    }
    portal, _ = container_env(docs, k8s_policy.app_container(deployments["vies-portal"]))
    worker, _ = container_env(docs, k8s_policy.app_container(deployments["vies-notifications-worker"]))
    assert worker["VIES_SAFETY_CHECK_URL"] == f"{portal['VIES_PUBLIC_URL']}/s/{{token}}"
    assert k8s_policy.check_safety_links(docs) == []


def test_a_missing_literal_stray_or_second_key_secret_and_a_foreign_link_fail(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    worker = _app_env(docs, "vies-notifications-worker")
    worker[:] = [v for v in worker if v["name"] != KEYS]
    worker.append({"name": KEYS, "value": "k" * 40})
    other = {"secretKeyRef": {"name": "another-secret", "key": "keys"}}
    _app_env(docs, "vies-missions-worker").append({"name": KEYS, "valueFrom": other})
    missions_api = _app_env(docs, "vies-missions-api")
    missions_api[:] = [v for v in missions_api if v["name"] != KEYS]
    missions_api.append({"name": KEYS, "valueFrom": other})
    worker.append({"name": "VIES_SAFETY_CHECK_URL", "value": "https://elsewhere.example.org/s/{token}"})
    errors = k8s_policy.check_safety_links(docs)
    notifications, missions = "Deployment/vies-notifications-worker", "Deployment/vies-missions-worker"
    assert f"{notifications} container app: {KEYS} is a literal (read it from a Secret)" in errors, errors
    assert f"{notifications} container app: {KEYS} does not come from a Secret (no safety answer links)" in errors
    assert f"{missions} container app: gets {KEYS}, which only missions' API and notifications' workers need" in errors
    assert (
        f"{notifications} container app: VIES_SAFETY_CHECK_URL 'https://elsewhere.example.org/s/{{token}}' "
        "is not the portal's /s/ page" in errors
    )
    # The API pods now read another Secret than the one they would share with the workers.
    _app_env(docs, "vies-notifications-worker").append(
        {"name": KEYS, "valueFrom": {"secretKeyRef": {"name": "vies-safety-link-keys", "key": "keys"}}}
    )
    assert any(e.startswith(f"{KEYS} comes from different Secrets") for e in k8s_policy.check_safety_links(docs))
