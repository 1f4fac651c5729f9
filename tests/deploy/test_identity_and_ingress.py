"""Tokens per pod, Keycloak and its realm, and what the public Ingress routes.

The services' own routes come from their FastAPI apps (the OpenAPI document
lists every public endpoint), so an endpoint added to a service's api.py fails
here until the Ingress routes it, and an operational endpoint can never be
routed by accident.
"""

from __future__ import annotations

import copy
import importlib
import re
from functools import cache

import k8s_policy
import pytest
from deploy_checks import load_all
from fastapi import FastAPI
from k8s_policy import by_name, container_env, is_api, of_kind, path_routes, pod_template, routed

from vies_shared.events import topics as contract
from vies_shared.settings import ServiceSettings

ENVIRONMENTS = ("staging", "production")


@cache
def service_app(service: str) -> FastAPI:
    """The service's FastAPI app as its API pods build it (nothing connects until started)."""
    module = importlib.import_module(f"vies_{service}.settings")
    (settings_cls,) = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings
    ]
    app: FastAPI = importlib.import_module(f"vies_{service}.app").create(settings_cls(env="dev", role="api"))
    return app


def public_paths(service: str) -> list[str]:
    """Every public endpoint of a service (its OpenAPI paths but the in-cluster ones), parameters filled in."""
    paths = (re.sub(r"\{[^}]+\}", "x", p) for p in service_app(service).openapi()["paths"])
    return sorted(p for p in paths if not p.startswith(k8s_policy.IN_CLUSTER_PATHS))


def in_cluster_paths(service: str) -> list[str]:
    """The documented endpoints only the cluster reaches (the staff-only dead-letter API)."""
    paths = (re.sub(r"\{[^}]+\}", "x", p) for p in service_app(service).openapi()["paths"])
    return sorted(p for p in paths if p.startswith(k8s_policy.IN_CLUSTER_PATHS))


def operational_paths(service: str) -> set[str]:
    """The app's endpoints that its OpenAPI document leaves out: docs, health, metrics, AsyncAPI."""
    app = service_app(service)
    documented = set(app.openapi()["paths"])
    return {p for r in app.routes if isinstance(p := getattr(r, "path", None), str) and p not in documented}


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize("overlay", ENVIRONMENTS)
def test_token_settings_per_pod(rendered: dict[str, str], overlay: str) -> None:
    """No worker pod has a JWT secret or any token setting; every API pod has the OIDC issuer and audience."""
    docs = load_all(rendered[overlay])
    deployments = of_kind(docs, "Deployment")
    apis = [d for d in deployments if is_api(d)]
    assert {d["metadata"]["name"] for d in apis} == {f"vies-{s}-api" for s in contract.SERVICES}
    for doc in deployments:
        container = k8s_policy.app_container(doc)
        values, secrets = container_env(docs, container)
        names = set(values) | set(secrets)
        assert not [n for n in names if n.startswith("VIES_JWT_")], doc["metadata"]["name"]
        assert not [s for s, _ in secrets.values() if "jwt" in s], doc["metadata"]["name"]
        assert not [s for s in container.get("envFrom") or [] if "secretRef" in s], doc["metadata"]["name"]
        if k8s_policy.is_portal(k8s_policy._labels(doc)):
            # The portal signs people in at the realm: the issuer, nothing to check tokens with.
            assert [n for n in names if n.startswith(("VIES_OIDC_", "VIES_JWT_"))] == ["VIES_OIDC_ISSUER"]
            assert (
                values["VIES_OIDC_ISSUER"]
                == container_env(docs, k8s_policy.app_container(apis[0]))[0]["VIES_OIDC_ISSUER"]
            )
        elif is_api(doc):
            assert values["VIES_OIDC_ISSUER"].startswith("https://auth.")
            assert values["VIES_OIDC_ISSUER"].endswith("/realms/vies")
            assert values["VIES_OIDC_AUDIENCE"] == "vies-api"
        else:
            assert not [n for n in names if n.startswith(("VIES_OIDC_", "VIES_JWT_"))], doc["metadata"]["name"]
    assert k8s_policy.check_tokens(docs) == []


@pytest.mark.parametrize("overlay", [*ENVIRONMENTS, "regions-fr-ara", "regions-fr-974"])
def test_no_manifest_sets_vies_env_dev(rendered: dict[str, str], overlay: str) -> None:
    docs = load_all(rendered[overlay])
    for doc in docs:
        if doc.get("kind") == "ConfigMap":
            assert (doc.get("data") or {}).get("VIES_ENV") != "dev", doc["metadata"]["name"]
        if doc.get("kind") in k8s_policy.WORKLOAD_KINDS:
            for _, c in k8s_policy.containers(pod_template(doc).get("spec", {})):
                values, _ = container_env(docs, c)
                assert values.get("VIES_ENV", "production") == "production", doc["metadata"]["name"]


def test_the_api_pods_issuer_is_the_overlays_keycloak(production: list[dict]) -> None:
    (kc,) = of_kind(production, "Keycloak")
    (realm_import,) = of_kind(production, "KeycloakRealmImport")
    assert realm_import["spec"]["keycloakCRName"] == kc["metadata"]["name"]
    values, _ = container_env(
        production, k8s_policy.app_container(by_name(production, "Deployment")["vies-missions-api"])
    )
    assert (
        values["VIES_OIDC_ISSUER"]
        == f"{kc['spec']['hostname']['hostname']}/realms/{realm_import['spec']['realm']['realm']}"
    )
    assert values["VIES_OIDC_JWKS_URL"].startswith(f"http://{kc['metadata']['name']}-service:8080/")


def test_a_jwt_secret_on_a_worker_or_vies_env_dev_fails(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    worker = by_name(docs, "Deployment")["vies-partners-worker"]
    worker["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "VIES_JWT_SECRET", "valueFrom": {"secretKeyRef": {"name": "vies-jwt", "key": "secret"}}}
    )
    api = by_name(docs, "Deployment")["vies-recruitment-api"]
    api["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "VIES_ENV", "value": "dev"})
    docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"VIES_ENV": "dev"}})
    errors = k8s_policy.check_tokens(docs)
    assert any(e.startswith("Deployment/vies-partners-worker: JWT secret VIES_JWT_SECRET") for e in errors), errors
    assert any(e.startswith("Deployment/vies-partners-worker: a worker pod gets token settings") for e in errors)
    assert "Deployment/vies-recruitment-api: VIES_ENV=dev (absent or production in a cluster)" in errors
    assert "ConfigMap/x: sets VIES_ENV=dev" in errors


def test_an_api_pod_without_the_issuer_fails(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    api = by_name(docs, "Deployment")["vies-notifications-api"]
    containers = api["spec"]["template"]["spec"]["containers"]
    containers[0]["envFrom"] = [s for s in containers[0]["envFrom"] if "vies-oidc" not in s["configMapRef"]["name"]]
    errors = k8s_policy.check_tokens(docs)
    assert any(e.startswith("Deployment/vies-notifications-api: VIES_OIDC_ISSUER ''") for e in errors), errors
    assert "Deployment/vies-notifications-api: no VIES_OIDC_AUDIENCE" in errors


# --------------------------------------------------------------------------- notifications' secrets


def _env(docs: list[dict], name: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    return container_env(docs, k8s_policy.app_container(by_name(docs, "Deployment")[name]))


@pytest.mark.parametrize("overlay", ENVIRONMENTS)
def test_notifications_pods_read_the_webhook_key_from_one_secret(rendered: dict[str, str], overlay: str) -> None:
    """Outside dev the service refuses to start without VIES_WEBHOOK_SECRET_KEY; API and worker share it."""
    docs = load_all(rendered[overlay])
    for name in ("vies-notifications-api", "vies-notifications-worker"):
        values, secrets = _env(docs, name)
        assert secrets["VIES_WEBHOOK_SECRET_KEY"] == ("vies-notifications-webhook-key", "keys"), name
        assert "VIES_WEBHOOK_SECRET_KEY" not in values, name
    assert k8s_policy.check_secrets(docs) == []


@pytest.mark.parametrize("overlay", ENVIRONMENTS)
def test_notifications_workers_check_webhook_owners_with_the_realms_service_account(
    rendered: dict[str, str], overlay: str
) -> None:
    """Workers: the realm of the tokens, the client vies-notifications and its secret from the Secret the
    realm import reads, the admin API in the cluster; the API pods never get the client secret."""
    docs = load_all(rendered[overlay])
    (realm_import,) = of_kind(docs, "KeycloakRealmImport")
    api_values, api_secrets = _env(docs, "vies-notifications-api")
    values, secrets = _env(docs, "vies-notifications-worker")
    assert values["VIES_OWNER_DIRECTORY_REALM_URL"] == api_values["VIES_OIDC_ISSUER"]
    assert values["VIES_OWNER_DIRECTORY_CLIENT_ID"] == "vies-notifications"
    assert values["VIES_OWNER_DIRECTORY_ADMIN_URL"] == "http://vies-keycloak-service:8080"
    assert secrets["VIES_OWNER_DIRECTORY_CLIENT_SECRET"] == ("vies-keycloak-notifications", "client-secret")
    assert "VIES_OWNER_DIRECTORY_CLIENT_SECRET" not in values
    placeholder = realm_import["spec"]["placeholders"]["VIES_NOTIFICATIONS_CLIENT_SECRET"]["secret"]
    assert (placeholder["name"], placeholder["key"]) == secrets["VIES_OWNER_DIRECTORY_CLIENT_SECRET"]
    assert "VIES_OWNER_DIRECTORY_CLIENT_SECRET" not in api_secrets | api_values
    assert not [n for n in set(values) | set(secrets) if n.startswith(("VIES_OIDC_", "VIES_JWT_"))]
    assert k8s_policy.check_owner_directory(docs) == []
    assert k8s_policy.check_keycloak_reachable(docs) == []


def test_a_literal_or_missing_notifications_secret_fails(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    deployments = by_name(docs, "Deployment")
    api_env = deployments["vies-notifications-api"]["spec"]["template"]["spec"]["containers"][0]["env"]
    api_env[:] = [v for v in api_env if v["name"] != "VIES_WEBHOOK_SECRET_KEY"]
    api_env.append({"name": "VIES_WEBHOOK_SECRET_KEY", "value": "0123456789abcdef0123456789abcdef"})
    worker_env = deployments["vies-notifications-worker"]["spec"]["template"]["spec"]["containers"][0]["env"]
    worker_env[:] = [v for v in worker_env if v["name"] != "VIES_OWNER_DIRECTORY_CLIENT_SECRET"]
    api_env.append(
        {
            "name": "VIES_OWNER_DIRECTORY_CLIENT_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "vies-keycloak-notifications", "key": "client-secret"}},
        }
    )
    docs.append(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"VIES_SMTP_PASSWORD": "pw"}}
    )
    errors = k8s_policy.check_secrets(docs) + k8s_policy.check_owner_directory(docs)
    api, worker = "Deployment/vies-notifications-api", "Deployment/vies-notifications-worker"
    assert f"{api} container app: VIES_WEBHOOK_SECRET_KEY is a literal (read it from a Secret)" in errors, errors
    assert f"{api}: VIES_WEBHOOK_SECRET_KEY does not come from a Secret (the service refuses to start)" in errors
    assert f"{api}: gets VIES_OWNER_DIRECTORY_CLIENT_SECRET, which only the pods that deliver need" in errors
    assert any(
        e.startswith(f"{worker}: VIES_OWNER_DIRECTORY_CLIENT_SECRET does not come from a Secret") for e in errors
    )
    assert "ConfigMap/x: VIES_SMTP_PASSWORD is a literal (read it from a Secret)" in errors


def test_a_worker_with_another_realm_or_client_secret_fails(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    (realm_import,) = of_kind(docs, "KeycloakRealmImport")
    realm_import["spec"]["realm"]["users"][0]["clientRoles"]["realm-management"] = ["query-users"]
    worker = by_name(docs, "Deployment")["vies-notifications-worker"]
    for var in worker["spec"]["template"]["spec"]["containers"][0]["env"]:
        if var["name"] == "VIES_OWNER_DIRECTORY_CLIENT_SECRET":
            var["valueFrom"]["secretKeyRef"]["name"] = "vies-keycloak-portal"
    (config,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("vies-notifications")]
    config["data"]["VIES_OWNER_DIRECTORY_REALM_URL"] = "https://auth.vies.example.org/realms/master"
    del config["data"]["VIES_OWNER_DIRECTORY_ADMIN_URL"]
    errors = k8s_policy.check_owner_directory(docs)
    where = "Deployment/vies-notifications-worker"
    assert any(e.startswith(f"{where}: VIES_OWNER_DIRECTORY_REALM_URL is 'https://") for e in errors), errors
    assert any(e.startswith(f"{where}: VIES_OWNER_DIRECTORY_ADMIN_URL is ''") for e in errors), errors
    assert any(e.startswith(f"{where}: reads the client secret from Secret vies-keycloak-portal") for e in errors)
    assert f"{where}: the service account of vies-notifications lacks realm-management ['view-users']" in errors


def test_keycloak_on_its_http_port_only_for_api_pods_and_the_notifications_worker(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    policies = by_name(docs, "NetworkPolicy")
    # Another worker reaching Keycloak is refused; the notifications worker without its rules cannot reach it.
    keycloak_rule = next(
        r for r in policies["vies-notifications-worker"]["spec"]["egress"] if 8080 in k8s_policy._ports(r)
    )
    policies["vies-missions-worker"]["spec"]["egress"].append(copy.deepcopy(keycloak_rule))
    policies["vies-notifications-worker"]["spec"]["egress"].remove(keycloak_rule)
    policies["vies-keycloak"]["spec"]["ingress"] = [
        r
        for r in policies["vies-keycloak"]["spec"]["ingress"]
        if (r["from"][0].get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/name")
        != "notifications"
    ]
    errors = k8s_policy.check_network_policies(docs) + k8s_policy.check_keycloak_reachable(docs)
    assert any(
        e.startswith("Deployment/vies-missions-worker: NetworkPolicy/vies-missions-worker allows egress to")
        for e in errors
    ), errors
    where = "Deployment/vies-notifications-worker: ['VIES_OWNER_DIRECTORY_ADMIN_URL'] call Keycloak in the cluster"
    assert f"{where}, but no egress rule reaches it" in errors
    assert f"{where}, but Keycloak's policy refuses it" in errors
    assert not [e for e in errors if "-api" in e]


# --------------------------------------------------------------------------- Ingress


def test_path_matching_follows_kubernetes_prefix_semantics() -> None:
    assert path_routes("/positions", "Prefix", "/positions")
    assert path_routes("/positions", "Prefix", "/positions/x/applications")
    assert path_routes("/positions/", "Prefix", "/positions")
    assert not path_routes("/positions", "Prefix", "/positionsx")
    assert path_routes("/", "Prefix", "/metrics")
    assert not path_routes("/docs", "Exact", "/docs/oauth2-redirect")


@pytest.mark.parametrize("service", contract.SERVICES)
def test_the_operational_paths_of_every_service_are_known(service: str) -> None:
    """A new operational endpoint (not in the OpenAPI document) must be added to OPERATIONAL_PATHS."""
    assert operational_paths(service) <= set(k8s_policy.OPERATIONAL_PATHS)
    assert {"/metrics", "/docs", "/redoc", "/openapi.json", "/asyncapi.json", "/healthz", "/readyz"} <= (
        operational_paths(service)
    )


@pytest.mark.parametrize("overlay", ENVIRONMENTS)
@pytest.mark.parametrize("service", contract.SERVICES)
def test_every_public_route_is_routed_and_no_operational_one(
    rendered: dict[str, str], overlay: str, service: str
) -> None:
    docs = load_all(rendered[overlay])
    backend = f"vies-{service}"
    unrouted = [p for p in public_paths(service) if not routed(docs, backend, p)]
    assert not unrouted, f"{service}: the Ingress does not route {unrouted} (add the resource root)"
    private = [*operational_paths(service), *in_cluster_paths(service)]
    leaked = [p for p in private if any(routed(docs, b, p) for b in _backends(docs))]
    assert not leaked, f"{service}: the Ingress routes {leaked}"


def _backends(docs: list[dict]) -> set[str]:
    return {backend for *_, backend in k8s_policy.ingress_paths(docs)}


@pytest.mark.parametrize("overlay", ENVIRONMENTS)
def test_each_service_host_routes_only_its_service(rendered: dict[str, str], overlay: str) -> None:
    hosts: dict[str, set[str]] = {}
    for _, host, _, _, backend in k8s_policy.ingress_paths(load_all(rendered[overlay])):
        hosts.setdefault(host, set()).add(backend)
    assert all(len(b) == 1 for b in hosts.values()), hosts
    assert {next(iter(b)) for b in hosts.values()} == {f"vies-{s}" for s in contract.SERVICES} | {
        "vies-keycloak-service",
        "vies-portal",
    }


@pytest.mark.parametrize(
    ("path", "path_type"),
    [("/", "Prefix"), ("/docs", "Prefix"), ("/metrics", "Exact"), ("/admin", "Prefix"), ("/realms", "Prefix")],
)
def test_a_root_or_operational_ingress_path_fails(production: list[dict], path: str, path_type: str) -> None:
    docs = copy.deepcopy(production)
    ingress = by_name(docs, "Ingress")["vies-api"]
    ingress["spec"]["rules"][2]["http"]["paths"].append(
        {
            "path": path,
            "pathType": path_type,
            "backend": {"service": {"name": "vies-missions", "port": {"name": "http"}}},
        }
    )
    errors = k8s_policy.check_ingress(docs)
    assert errors and all(e.startswith(f"Ingress/vies-api missions.vies.example.org{path}:") for e in errors), errors


def test_keycloak_is_public_for_the_vies_realm_only(production: list[dict]) -> None:
    (ingress,) = [i for i in of_kind(production, "Ingress") if i["metadata"]["name"] == "vies-auth"]
    paths = {p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert paths == {"/realms/vies", "/resources"}
    assert ingress["spec"]["rules"][0]["host"] == "auth.vies.example.org"


# --------------------------------------------------------------------------- Keycloak


def test_production_runs_keycloak_through_the_operator(production: list[dict]) -> None:
    (kc,) = of_kind(production, "Keycloak")
    spec = kc["spec"]
    assert kc["apiVersion"] == "k8s.keycloak.org/v2alpha1"
    assert spec["instances"] == 2
    assert spec["hostname"]["hostname"] == "https://auth.vies.example.org"
    assert spec["proxy"]["headers"] == "xforwarded"
    assert spec["http"]["tlsSecret"] and spec["ingress"] == {"enabled": False}
    assert spec["db"]["vendor"] == "postgres" and spec["db"]["passwordSecret"]["name"] == "vies-keycloak-db"
    assert "memory" in spec["resources"]["limits"]
    names = {p["metadata"]["name"] for p in of_kind(production, "NetworkPolicy")}
    assert {"vies-keycloak", "vies-keycloak-db", "vies-keycloak-realm-import", "keycloak-operator"} <= names


def test_the_realm_is_the_production_flavour(production: list[dict]) -> None:
    (realm_import,) = of_kind(production, "KeycloakRealmImport")
    realm = realm_import["spec"]["realm"]
    assert realm["realm"] == "vies"
    # No person: only the notifications service's account, which reads users and nothing else.
    (service_account,) = realm["users"]
    assert service_account == {
        "username": "service-account-vies-notifications",
        "enabled": True,
        "serviceAccountClientId": "vies-notifications",
        "realmRoles": ["default-roles-vies"],
        "clientRoles": {"realm-management": ["view-users", "query-users"]},
    }
    roles = {r["name"] for r in realm["roles"]["realm"]}
    assert {"staff", "centre", "branch", "authority", "volunteer", "candidate", "partner"} <= roles
    clients = {c["clientId"]: c for c in realm["clients"]}
    assert set(clients) == {"vies-api", "vies-portal", "vies-cli", "vies-notifications"}
    assert clients["vies-portal"]["publicClient"] is False
    assert clients["vies-portal"]["redirectUris"] == ["https://portal.vies.example.org/*"]
    notifications = clients["vies-notifications"]
    assert notifications["publicClient"] is False and notifications["serviceAccountsEnabled"] is True
    assert not notifications["standardFlowEnabled"] and not notifications["directAccessGrantsEnabled"]
    assert notifications["secret"] == "${VIES_NOTIFICATIONS_CLIENT_SECRET}"
    assert realm_import["spec"]["placeholders"]["VIES_NOTIFICATIONS_CLIENT_SECRET"] == {
        "secret": {"name": "vies-keycloak-notifications", "key": "client-secret"}
    }
    (proconnect,) = realm["identityProviders"]
    assert proconnect["config"]["defaultScope"] == "openid email given_name usual_name siret"
    assert proconnect["config"]["issuer"] == "https://auth.agentconnect.gouv.fr/api/v2"
    assert k8s_policy.check_realm_imports(production) == []


def test_an_unsafe_realm_fails(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    (realm_import,) = of_kind(docs, "KeycloakRealmImport")
    realm = realm_import["spec"]["realm"]
    realm["users"] += [
        {"username": "demo"},
        # A "service account" of a public client, with a password: a person in disguise.
        {"username": "service-account-vies-cli", "serviceAccountClientId": "vies-cli"},
        {
            "username": "service-account-vies-portal",
            "serviceAccountClientId": "vies-portal",
            "credentials": [{"type": "password", "value": "x"}],
        },
    ]
    realm["users"][0]["clientRoles"]["realm-management"].append("manage-users")
    realm["users"][0]["realmRoles"].append("staff")
    realm["clients"][1]["secret"] = "vies-portal-local-secret"
    realm["clients"][2]["directAccessGrantsEnabled"] = True
    realm["identityProviderMappers"] += [
        {
            "name": "authority from ProConnect",
            "identityProviderAlias": "proconnect",
            "identityProviderMapper": "hardcoded-role-idp-mapper",
            "config": {"role": "authority"},
        },
        {
            "name": "authority_id from a claim",
            "identityProviderAlias": "proconnect",
            "identityProviderMapper": "oidc-user-attribute-idp-mapper",
            "config": {"claim": "siret", "user.attribute": "authority_id"},
        },
    ]
    errors = k8s_policy.check_realm_imports(docs)
    where = "KeycloakRealmImport/vies-realm"
    assert f"{where}: imports users ['demo', 'service-account-vies-cli', 'service-account-vies-portal']" in errors
    sa = f"{where} service account of vies-notifications"
    assert f"{sa}: holds realm-management roles ['manage-users'] (reading users at most)" in errors
    assert f"{sa}: holds realm roles ['staff']" in errors
    assert f"{where}: client vies-portal secret is a literal, not a ${{PLACEHOLDER}} from a Secret" in errors
    assert f"{where}: placeholders ['VIES_PORTAL_CLIENT_SECRET'] are never used" in errors
    assert f"{where} client vies-cli: password or implicit grant enabled" in errors
    assert any("'authority from ProConnect' (hardcoded-role-idp-mapper) gives roles" in e for e in errors)
    assert f"{where}: identity-provider mapper 'authority_id from a claim' sets authority_id from a claim" in errors


# --------------------------------------------------------------------------- the web portal


@cache
def portal_app() -> FastAPI:
    """The portal's FastAPI app (nothing connects until started)."""
    from vies_portal.app import create
    from vies_portal.settings import PortalSettings

    app: FastAPI = create(PortalSettings(env="dev"))
    return app


def portal_public_paths() -> list[str]:
    """The portal's pages (its OpenAPI paths), its static files and favicon, parameters filled in."""
    pages = [re.sub(r"\{[^}]+\}", "x", p) for p in portal_app().openapi()["paths"]]
    return sorted({*pages, "/static/portal.css", "/static/htmx.min.js", "/favicon.ico"})


PORTAL_OPERATIONAL = ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")


def test_the_portals_operational_paths_are_known() -> None:
    app = portal_app()
    documented = set(app.openapi()["paths"])
    undocumented = {p for r in app.routes if isinstance(p := getattr(r, "path", None), str) and p not in documented} - {
        "/static",
        "/favicon.ico",
    }
    assert undocumented <= set(k8s_policy.OPERATIONAL_PATHS), undocumented


@pytest.mark.parametrize("overlay", ENVIRONMENTS)
def test_every_portal_page_is_routed_to_the_portal_host_and_no_operational_one(
    rendered: dict[str, str], overlay: str
) -> None:
    docs = load_all(rendered[overlay])
    unrouted = [p for p in portal_public_paths() if not routed(docs, "vies-portal", p)]
    assert not unrouted, f"portal: the Ingress does not route {unrouted} (add the page's root)"
    leaked = [p for p in PORTAL_OPERATIONAL if routed(docs, "vies-portal", p)]
    assert not leaked, f"portal: the Ingress routes {leaked}"
    (portal,) = [d for d in of_kind(docs, "Deployment") if k8s_policy.is_portal(k8s_policy._labels(d))]
    values, secrets = container_env(docs, k8s_policy.app_container(portal))
    hosts = {h for _, h, _, _, b in k8s_policy.ingress_paths(docs) if b == "vies-portal"}
    assert values["VIES_PUBLIC_URL"] in {f"https://{h}" for h in hosts}
    realm = of_kind(docs, "KeycloakRealmImport")[0]["spec"]
    client = next(c for c in realm["realm"]["clients"] if c["clientId"] == values["VIES_PORTAL_CLIENT_ID"])
    assert client["redirectUris"] == [values["VIES_PUBLIC_URL"] + "/*"]
    placeholder = k8s_policy.PLACEHOLDER.fullmatch(client["secret"])
    assert placeholder
    source = realm["placeholders"][placeholder.group(1)]["secret"]
    assert secrets["VIES_PORTAL_CLIENT_SECRET"] == (source["name"], source["key"])
    assert secrets["VIES_MONGODB_URI"][0] == "vies-portal-mongodb"
    assert values["VIES_ENV"] == "production"
    assert values["VIES_PORTAL_MONGODB_DB"] == "vies_portal"
    for service in contract.SERVICES:
        assert values[f"VIES_{service.upper()}_URL"] == f"http://vies-{service}"


def test_a_prefix_root_on_the_portal_host_or_an_unrouted_page_fails(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    paths = by_name(docs, "Ingress")["vies-portal"]["spec"]["rules"][0]["http"]["paths"]
    root = next(p for p in paths if p["path"] == "/")
    assert root["pathType"] == "Exact"
    assert k8s_policy.check_ingress(docs) == []
    root["pathType"] = "Prefix"
    errors = k8s_policy.check_ingress(docs)
    assert errors and all(e.startswith("Ingress/vies-portal portal.vies.example.org/:") for e in errors), errors
    root["pathType"] = "Exact"
    paths.remove(next(p for p in paths if p["path"] == "/positions"))
    assert not routed(docs, "vies-portal", "/positions/x")


def test_the_portal_reaches_the_apis_and_keycloak_and_nothing_else(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    assert k8s_policy.check_network_policies(docs) == []
    policies = by_name(docs, "NetworkPolicy")
    # Every API admits the portal's pods on its http port.
    for service in contract.SERVICES:
        assert any(
            k8s_policy.is_portal((peer.get("podSelector") or {}).get("matchLabels") or {})
            for rule in policies[f"vies-{service}-api"]["spec"]["ingress"]
            for peer in rule.get("from") or []
        ), service
    # The portal reaches Keycloak's public host through the ingress controller, which Keycloak admits.
    assert any(
        k8s_policy._is_namespace(peer, k8s_policy.INGRESS_CONTROLLER_NAMESPACE) and k8s_policy._ports(rule) == {443}
        for rule in policies["vies-portal"]["spec"]["egress"]
        for peer in rule["to"]
    )
    assert any(
        k8s_policy._is_namespace(peer, k8s_policy.INGRESS_CONTROLLER_NAMESPACE)
        for rule in policies["vies-keycloak"]["spec"]["ingress"]
        for peer in rule["from"]
    )
    # A worker admitting the portal, the portal reaching anywhere on 443 or Keycloak's HTTP port: refused.
    portal_rule = next(
        r for r in policies["vies-recruitment-api"]["spec"]["ingress"] if "namespaceSelector" not in r["from"][0]
    )
    policies["vies-missions-worker"]["spec"]["ingress"].append(copy.deepcopy(portal_rule))
    policies["vies-portal"]["spec"]["egress"].append(
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    )
    policies["vies-portal"]["spec"]["egress"].append(
        {"to": [{"podSelector": {"matchLabels": {"app": "keycloak"}}}], "ports": [{"protocol": "TCP", "port": 8080}]}
    )
    errors = k8s_policy.check_network_policies(docs)
    assert any(
        e.startswith("Deployment/vies-missions-worker: NetworkPolicy/vies-missions-worker admits") for e in errors
    )
    assert any(
        e.startswith("Deployment/vies-portal: NetworkPolicy/vies-portal allows egress to {'ipBlock'") for e in errors
    )
    assert any(
        e.startswith("Deployment/vies-portal: NetworkPolicy/vies-portal allows egress to {'podSelector'")
        for e in errors
    )


def test_a_portal_without_autoscaler_or_with_another_issuer_fails(production: list[dict]) -> None:
    docs = [
        d
        for d in copy.deepcopy(production)
        if not (d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == "vies-portal")
    ]
    portal = by_name(docs, "Deployment")["vies-portal"]
    env = k8s_policy.pod_template(portal)["spec"]["containers"][0]["env"]
    issuer = next(v for v in env if v["name"] == "VIES_OIDC_ISSUER")
    env.remove(issuer)
    env.append({"name": "VIES_OIDC_ISSUER", "value": "https://auth.example.org/realms/other"})
    errors = k8s_policy.check_autoscaling(docs) + k8s_policy.check_tokens(docs)
    assert "Deployment/vies-portal: API or portal without a HorizontalPodAutoscaler" in errors
    assert any(e.startswith("Deployment/vies-portal: VIES_OIDC_ISSUER is 'https://auth.example.org") for e in errors)


def test_recruitment_trusts_the_portals_forwarded_address(production: list[dict]) -> None:
    docs = copy.deepcopy(production)
    assert k8s_policy.check_portal_forwarding(docs) == []
    common = by_name(docs, "ConfigMap")
    (name,) = [n for n in common if n.startswith("vies-common")]
    del common[name]["data"]["VIES_TRUSTED_REQUEST_ID_FROM"]
    assert k8s_policy.check_portal_forwarding(docs) == [
        "Deployment/vies-recruitment-api: VIES_TRUSTED_REQUEST_ID_FROM does not include the pod network "
        "(the portal's X-Forwarded-For would be ignored: its visitors would share one rate-limit bucket)"
    ]
