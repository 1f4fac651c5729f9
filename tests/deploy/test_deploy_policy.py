"""Policy over the rendered overlays: security, probes, resources, PDBs,
autoscaling, network policies, and Kafka topics and ACLs derived from the
contract (vies_shared.events.topics)."""

from __future__ import annotations

import copy

import k8s_policy
import pytest
from deploy_checks import load_all
from k8s_policy import by_name, of_kind, pod_template, selects

from vies_shared.events import topics as contract

REGIONS = ("regions-fr-ara", "regions-fr-974")


@pytest.mark.parametrize("overlay", ["staging", "production", *REGIONS])
def test_overlay_follows_the_policy(rendered: dict[str, str], overlay: str) -> None:
    docs = load_all(rendered[overlay])
    # A region rendered on its own has no namespace policies, Kafka or MongoDB: the
    # environment overlays that include it are checked with them.
    assert k8s_policy.check_all(docs, whole_namespace=overlay not in REGIONS) == []


@pytest.mark.parametrize("service", contract.SERVICES)
def test_production_runs_each_service_as_api_and_worker(production: list[dict], service: str) -> None:
    deployments = by_name(production, "Deployment")
    policies = of_kind(production, "NetworkPolicy")
    pdbs = of_kind(production, "PodDisruptionBudget")
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(production, "HorizontalPodAutoscaler")}
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(production, "ScaledObject")}
    for component, role in (("api", "api"), ("worker", "worker")):
        name = f"vies-{service}-{component}"
        assert name in deployments, f"no Deployment {name}"
        doc = deployments[name]
        template = pod_template(doc)
        labels = template["metadata"]["labels"]
        (app,) = [c for c in template["spec"]["containers"] if c["name"] == "app"]
        assert {"name": "VIES_ROLE", "value": role} in app["env"]
        assert app["image"].endswith(f"/vies/{service}:0.1.0")
        assert app["startupProbe"] and app["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert app["securityContext"]["runAsNonRoot"] is True
        assert app["securityContext"]["readOnlyRootFilesystem"] is True
        assert app["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert template["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert template["spec"]["terminationGracePeriodSeconds"] > 30
        assert "cpu" in app["resources"]["requests"] and "memory" in app["resources"]["limits"]
        assert [p for p in pdbs if selects(p["spec"]["selector"], labels)], f"no PDB for {name}"
        assert [p for p in policies if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels)]
        if component == "api":
            assert name in hpas and name not in scaled
        else:
            assert name in scaled and name not in hpas


def test_production_has_strimzi_and_mongodb(production: list[dict]) -> None:
    (kafka,) = of_kind(production, "Kafka")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    pools = of_kind(production, "KafkaNodePool")
    assert sorted(tuple(p["spec"]["roles"]) for p in pools) == [("broker",), ("controller",)]
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    topics = {t["spec"]["topicName"]: t for t in of_kind(production, "KafkaTopic")}
    assert set(topics) == {t.name for t in contract.all_topics()}
    assert topics["vies.recruitment.contacts"]["spec"]["config"]["cleanup.policy"] == "compact"
    users = by_name(production, "KafkaUser")
    assert {f"vies-{s}" for s in contract.SERVICES} <= set(users)
    assert {"vies-regional-fr-ara", "vies-regional-fr-974"} <= set(users)
    (mongodb,) = of_kind(production, "MongoDBCommunity")
    assert mongodb["spec"]["members"] == 3
    assert {u["name"] for u in mongodb["spec"]["users"]} >= {f"vies-{s}" for s in contract.SERVICES}


def test_regional_consumers_never_read_contacts(production: list[dict]) -> None:
    users = by_name(production, "KafkaUser")
    contacts = contract.contacts_topic()
    for region in ("fr-ara", "fr-974"):
        read, write, groups, _ = k8s_policy._acl_sets(users[f"vies-regional-{region}"])
        assert contacts not in read and not write
        assert groups == {(f"vies.regional.{region.upper()}", "prefix")}


def test_a_new_contract_topic_without_kafkatopic_or_acl_fails(
    production: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifests follow topics.py: a topic added there fails the check until deployed."""
    original_all, original_service = contract.all_topics, contract.service_topics

    def all_topics(prefix: str = "") -> list[contract.TopicSpec]:
        return [*original_all(prefix), contract.TopicSpec(f"{prefix}vies.missions.alerts")]

    def service_topics(service: str, prefix: str = "") -> contract.ServiceTopics:
        topics = original_service(service, prefix)
        if service == "missions":
            return contract.ServiceTopics((*topics.publishes, f"{prefix}vies.missions.alerts"), topics.consumes)
        return topics

    monkeypatch.setattr(contract, "all_topics", all_topics)
    monkeypatch.setattr(contract, "service_topics", service_topics)
    errors = k8s_policy.check_kafka(production)
    assert "KafkaTopic: none for contract topic vies.missions.alerts" in errors
    assert any(e.startswith("KafkaUser/vies-missions: writes") for e in errors), errors


def test_an_acl_wider_than_the_contract_fails(production: list[dict]) -> None:
    docs = [dict(d) for d in production]
    users = by_name(docs, "KafkaUser")
    partners = users["vies-partners"]
    partners["spec"] = {
        **partners["spec"],
        "authorization": {
            "type": "simple",
            "acls": [
                *partners["spec"]["authorization"]["acls"],
                {"resource": {"type": "topic", "name": "vies.recruitment.contacts"}, "operations": ["Read"]},
            ],
        },
    }
    errors = k8s_policy.check_kafka(docs)
    assert any(e.startswith("KafkaUser/vies-partners: reads") for e in errors), errors


def _settings_variables(app: str) -> set[str]:
    """The VIES_* variables a workload's settings class reads (pydantic-settings, prefix VIES_)."""
    from vies_shared.settings import ServiceSettings

    if app == "regional":
        # `vies regional run` reads the shared settings plus its webhook; VIES_REGION_SLUG only
        # feeds the kustomize replacements of components/regional.
        fields = set(ServiceSettings.model_fields) | {"regional_webhook_url", "region_slug"}
    elif app == "portal":
        from vies_portal.settings import PortalSettings

        fields = set(PortalSettings.model_fields)
    else:
        module = pytest.importorskip(f"vies_{app}.settings")
        (cls,) = [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings
        ]
        fields = set(cls.model_fields)
    return {f"VIES_{name.upper()}" for name in fields}


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_every_variable_set_is_a_setting(rendered: dict[str, str], overlay: str) -> None:
    """A misspelt or renamed VIES_* variable would be silently ignored (extra="ignore")."""
    docs = load_all(rendered[overlay])
    for doc in of_kind(docs, "Deployment"):
        app = doc["metadata"]["labels"]["app.kubernetes.io/name"]
        values, secrets = k8s_policy.container_env(docs, k8s_policy.app_container(doc))
        unknown = {v for v in set(values) | set(secrets) if v.startswith("VIES_")} - _settings_variables(app)
        assert not unknown, f"{doc['metadata']['name']} sets {sorted(unknown)}, which no setting reads"


def test_an_egress_to_the_internet_that_leaves_the_shared_address_space_open_fails(production: list[dict]) -> None:
    """The webhook worker must not reach 100.64.0.0/10 (carrier-grade NAT, some clouds' metadata)."""
    assert k8s_policy.check_network_policies(production) == []
    docs = copy.deepcopy(production)
    worker = by_name(docs, "NetworkPolicy")["vies-notifications-worker"]
    (block,) = [
        peer["ipBlock"] for rule in worker["spec"]["egress"] for peer in rule.get("to") or [] if "ipBlock" in peer
    ]
    assert set(k8s_policy.NON_GLOBAL_IPV4) <= set(block["except"])
    block["except"] = [cidr for cidr in block["except"] if cidr != "100.64.0.0/10"]
    errors = k8s_policy.check_network_policies(docs)
    assert errors == [
        "Deployment/vies-notifications-worker: NetworkPolicy/vies-notifications-worker egress to 0.0.0.0/0 "
        "keeps ['100.64.0.0/10'] open"
    ]
