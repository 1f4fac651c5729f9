"""Policy checks over rendered Kubernetes manifests (lists of dicts).

Each ``check_*`` function returns a list of human-readable violations; an empty
list means the manifests follow the policy. ``check_all`` runs them all.

What is checked, and why:
- every workload container runs with the restricted Pod Security Standard
  settings, a writable /tmp on a read-only root filesystem, probes,
  requests and a memory limit, and a grace period above the 30 s drain;
- every Deployment has a PodDisruptionBudget and exactly one autoscaler (an
  HPA on CPU for an API, a KEDA ScaledObject on consumer lag for a worker);
- network policies: a namespace-wide default deny, API pods reachable only
  from the ingress controller and the web portal's pods (plus Prometheus on
  the metrics port), the portal from the ingress controller; egress
  only to Kafka, MongoDB, DNS, Keycloak's HTTP port for API pods (JWKS) and
  the notifications worker (admin REST API), for the portal the APIs' pods
  and the ingress controller's HTTPS port (Keycloak's public host, the
  issuer) and, for the notifications worker
  and regional consumers, SMTP/HTTPS outside the cluster; a pod told to call
  Keycloak in the cluster has the egress rule and is admitted by Keycloak's
  policy;
- tokens: no pod sets a JWT secret (Keycloak signs the tokens), worker pods
  carry no token setting at all, every API pod has the OIDC issuer and
  audience (consistent with the Keycloak and realm of the overlay), and no
  manifest sets VIES_ENV=dev;
- secrets: no VIES_*SECRET*, *PASSWORD or *TOKEN variable is a literal (env
  value or ConfigMap); every notifications pod reads VIES_WEBHOOK_SECRET_KEY
  from the same Secret key; the notifications workers (which deliver webhooks)
  read VIES_OWNER_DIRECTORY_CLIENT_SECRET from the Secret the realm import
  takes the client's secret from, with the overlay's realm URL and a client
  whose service account may read users; API pods do not get that secret;
- the portal: recruitment's API pods trust the pod network (the portal's
  X-Forwarded-For carries the visitor's address for the anonymous rate limit);
- safety answer links: VIES_SAFETY_LINK_KEYS from one Secret, read by missions'
  API pods and notifications' delivering pods only; their VIES_SAFETY_CHECK_URL
  is the portal's /s/{token} page;
- Ingress: no path is a Prefix "/" (an Exact "/" is the portal's home page) or covers an operational endpoint (/metrics,
  /healthz, /readyz, /docs, /redoc, /openapi.json, /asyncapi.json) or
  Keycloak's admin console and master realm; every path is Prefix or Exact;
- the Keycloak realm import: no user but service accounts of its confidential
  clients (read-only user access at most), no literal secret (placeholders backed
  by Secrets), no password or implicit grant, PKCE on confidential clients,
  registration with e-mail verification, no identity-provider mapper that
  gives a role, a group or a VIES scope attribute, scope attributes editable
  by administrators only;
- Kafka: a KafkaTopic for every contract topic and a KafkaUser per service
  whose ACLs are exactly what ``vies_shared.events.topics`` says it publishes
  and consumes; regional users read the events topics only;
- MongoDB: a replica set of three members, and a user per workload whose
  connection-string Secret the workload reads and whose only role is
  readWrite on the database the workload uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from vies_shared.events import topics as contract

Doc = dict[str, Any]

SERVICES = contract.SERVICES
DRAIN_SECONDS = 30  # VIES drain_seconds: consumers drain up to 30 s on SIGTERM
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"
MONITORING_NAMESPACE = "monitoring"
KAFKA_PORT = 9093
MONGODB_PORT = 27017
EXTERNAL_PORTS = {443, 465, 587}  # HTTPS (SMS gateway, webhooks), SMTP submission
# What an egress to "the internet" must leave out: private, link-local (cloud metadata) and shared
# (carrier-grade NAT, some clouds' metadata) IPv4 ranges. The webhook guard refuses them too.
NON_GLOBAL_IPV4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")
KEYCLOAK_HTTP_PORT = 8080  # in the cluster: the realm's JWKS (API pods), the admin REST API (notifications worker)


# --------------------------------------------------------------------------- helpers


def name_of(doc: Doc) -> str:
    return str(doc.get("metadata", {}).get("name", "?"))


def kind_name(doc: Doc) -> str:
    return f"{doc.get('kind')}/{name_of(doc)}"


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def by_name(docs: Iterable[Doc], kind: str) -> dict[str, Doc]:
    return {name_of(d): d for d in of_kind(docs, kind)}


def pod_template(doc: Doc) -> Doc:
    """The pod template of a workload (CronJob nests it one level deeper)."""
    spec = doc.get("spec", {})
    if doc.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {})


def containers(pod_spec: Doc) -> Iterator[tuple[str, Doc]]:
    for field in ("initContainers", "containers"):
        for c in pod_spec.get(field) or []:
            yield field, c


def selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) matches labels; {} matches all."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def container_env(docs: list[Doc], container: Doc) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """(plain values, secret references name -> (secret, key)) a container sees."""
    configmaps = by_name(docs, "ConfigMap")
    values: dict[str, str] = {}
    secrets: dict[str, tuple[str, str]] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref and ref.get("name") in configmaps:
            values.update({k: str(v) for k, v in (configmaps[ref["name"]].get("data") or {}).items()})
    for var in container.get("env") or []:
        if "value" in var:
            values[var["name"]] = str(var["value"])
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            secrets[var["name"]] = (ref["name"], ref["key"])
        cm_ref = (var.get("valueFrom") or {}).get("configMapKeyRef")
        if cm_ref and cm_ref.get("name") in configmaps:
            data = configmaps[cm_ref["name"]].get("data") or {}
            if cm_ref.get("key") in data:
                values[var["name"]] = str(data[cm_ref["key"]])
    return values, secrets


def app_container(doc: Doc) -> Doc:
    spec = pod_template(doc).get("spec", {})
    for c in spec.get("containers") or []:
        if c.get("name") == "app":
            return dict(c)
    return dict((spec.get("containers") or [{}])[0])


def is_api(doc: Doc) -> bool:
    return doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component") == "api"


def is_portal(labels: dict[str, str]) -> bool:
    """The web portal's pods: public pages behind the Ingress, a client of the four APIs and of Keycloak."""
    return labels.get("app.kubernetes.io/name") == "portal" and labels.get("app.kubernetes.io/component") == "web"


def is_notifications_worker(labels: dict[str, str]) -> bool:
    """The pods that deliver notifications (SMTP, SMS, webhooks) and check webhook owners with Keycloak."""
    return labels.get("app.kubernetes.io/name") == "notifications" and labels.get("app.kubernetes.io/component") == (
        "worker"
    )


# --------------------------------------------------------------------------- workloads


def check_security(docs: list[Doc]) -> list[str]:
    """Restricted Pod Security Standard, read-only root with /tmp, no host access, no token."""
    errors: list[str] = []
    service_accounts = by_name(docs, "ServiceAccount")
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        where = kind_name(doc)
        spec = pod_template(doc).get("spec", {})
        pod_sc = spec.get("securityContext") or {}
        if pod_sc.get("runAsNonRoot") is not True:
            errors.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            errors.append(f"{where}: pod securityContext.seccompProfile.type is not RuntimeDefault")
        if pod_sc.get("runAsUser") == 0:
            errors.append(f"{where}: pod runs as uid 0")
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(field):
                errors.append(f"{where}: {field} is set")
        for volume in spec.get("volumes") or []:
            if "hostPath" in volume:
                errors.append(f"{where}: hostPath volume {volume.get('name')}")
        sa = service_accounts.get(spec.get("serviceAccountName", ""), {})
        if (
            spec.get("automountServiceAccountToken") is not False
            and sa.get("automountServiceAccountToken") is not False
        ):
            errors.append(f"{where}: the service account token is mounted")
        tmp_volumes = {v["name"] for v in spec.get("volumes") or [] if "emptyDir" in v}
        for field, c in containers(spec):
            cw = f"{where} {field[:-1]} {c.get('name')}"
            sc = c.get("securityContext") or {}
            if sc.get("runAsNonRoot") is not True:
                errors.append(f"{cw}: securityContext.runAsNonRoot is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{cw}: securityContext.allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                errors.append(f"{cw}: privileged")
            if sc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{cw}: securityContext.readOnlyRootFilesystem is not true")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                errors.append(f"{cw}: securityContext.capabilities.drop does not contain ALL")
            if caps.get("add"):
                errors.append(f"{cw}: adds capabilities {caps['add']}")
            seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                errors.append(f"{cw}: seccompProfile is not RuntimeDefault")
            if sc.get("runAsUser") == 0:
                errors.append(f"{cw}: runs as uid 0")
            tmp = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
            if not tmp or tmp[0].get("name") not in tmp_volumes:
                errors.append(f"{cw}: no emptyDir mounted at /tmp")
    return errors


def check_probes_and_resources(docs: list[Doc]) -> list[str]:
    """Startup, readiness (/readyz) and liveness (/healthz) probes; requests; memory limit; grace period."""
    errors: list[str] = []
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        where = kind_name(doc)
        spec = pod_template(doc).get("spec", {})
        long_running = doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if long_running and grace <= DRAIN_SECONDS:
            errors.append(f"{where}: terminationGracePeriodSeconds {grace} is not above the {DRAIN_SECONDS} s drain")
        for field, c in containers(spec):
            cw = f"{where} {field[:-1]} {c.get('name')}"
            resources = c.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            for res in ("cpu", "memory"):
                if res not in requests:
                    errors.append(f"{cw}: no {res} request")
            if "memory" not in limits:
                errors.append(f"{cw}: no memory limit")
            image = str(c.get("image", ""))
            if image.endswith(":latest"):
                errors.append(f"{cw}: image tag latest")
            if not long_running or field == "initContainers":
                continue
            expected = {"startupProbe": None, "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
            for probe, path in expected.items():
                p = c.get(probe)
                if not p:
                    errors.append(f"{cw}: no {probe}")
                elif path is not None and (p.get("httpGet") or {}).get("path") != path:
                    errors.append(f"{cw}: {probe} is not GET {path}")
    return errors


def check_disruption_budgets(docs: list[Doc]) -> list[str]:
    errors: list[str] = []
    pdbs = of_kind(docs, "PodDisruptionBudget")
    for doc in of_kind(docs, "Deployment"):
        labels = pod_template(doc).get("metadata", {}).get("labels", {})
        matching = [name_of(p) for p in pdbs if selects(p["spec"].get("selector"), labels)]
        if len(matching) != 1:
            errors.append(f"{kind_name(doc)}: {len(matching)} PodDisruptionBudgets select its pods (want 1)")
    return errors


def check_autoscaling(docs: list[Doc]) -> list[str]:
    """An HPA on CPU for an API, a KEDA ScaledObject on Kafka lag for a worker, never both."""
    errors: list[str] = []
    deployments = by_name(docs, "Deployment")
    hpa_targets: dict[str, Doc] = {}
    keda_targets: dict[str, Doc] = {}
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        if ref.get("kind") != "Deployment" or ref.get("name") not in deployments:
            errors.append(f"{kind_name(hpa)}: scales a missing workload {ref}")
        hpa_targets[ref.get("name")] = hpa
    triggers = by_name(docs, "TriggerAuthentication")
    for so in of_kind(docs, "ScaledObject"):
        ref = so["spec"]["scaleTargetRef"]
        if ref.get("kind", "Deployment") != "Deployment" or ref.get("name") not in deployments:
            errors.append(f"{kind_name(so)}: scales a missing workload {ref}")
        keda_targets[ref.get("name")] = so
        for trigger in so["spec"].get("triggers") or []:
            auth = (trigger.get("authenticationRef") or {}).get("name")
            if auth and auth not in triggers:
                errors.append(f"{kind_name(so)}: TriggerAuthentication {auth} is missing")
    for name, doc in deployments.items():
        where = kind_name(doc)
        if name in hpa_targets and name in keda_targets:
            errors.append(f"{where}: scaled by both an HPA and a ScaledObject")
        elif is_api(doc) or is_portal(_labels(doc)):
            hpa = hpa_targets.get(name)
            if hpa is None:
                errors.append(f"{where}: API or portal without a HorizontalPodAutoscaler")
            elif not any(
                m.get("type") == "Resource" and m.get("resource", {}).get("name") == "cpu"
                for m in hpa["spec"].get("metrics") or []
            ):
                errors.append(f"{kind_name(hpa)}: does not scale on CPU")
        else:
            so = keda_targets.get(name)
            if so is None:
                errors.append(f"{where}: consumer without a KEDA ScaledObject")
                continue
            kafka = [t for t in so["spec"].get("triggers") or [] if t.get("type") == "kafka"]
            if not kafka:
                errors.append(f"{kind_name(so)}: no kafka (consumer lag) trigger")
            if so["spec"].get("minReplicaCount", 0) < 1:
                errors.append(f"{kind_name(so)}: may scale to zero (the worker carries the relay and schedulers)")
            values, _ = container_env(docs, app_container(doc))
            group = _consumer_group(doc, values)
            for t in kafka:
                if t["metadata"].get("consumerGroup") != group:
                    errors.append(
                        f"{kind_name(so)}: trigger watches group {t['metadata'].get('consumerGroup')}, "
                        f"the workload consumes as {group}"
                    )
    return errors


def _consumer_group(doc: Doc, values: dict[str, str]) -> str:
    prefix = values.get("VIES_TOPIC_PREFIX", "")
    app = doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/name", "")
    if app == "regional":
        return f"{prefix}vies.regional.{values.get('VIES_REGION', '?')}"
    return f"{prefix}vies.{app}"


# --------------------------------------------------------------------------- network


def _policies_for(policies: list[Doc], labels: dict[str, str], policy_type: str) -> list[Doc]:
    return [
        p
        for p in policies
        if selects(p["spec"].get("podSelector"), labels) and policy_type in (p["spec"].get("policyTypes") or [])
    ]


def _is_namespace(peer: Doc, namespace: str) -> bool:
    return (peer.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == namespace


def _ports(rule: Doc) -> set[Any]:
    return {p.get("port") for p in rule.get("ports") or []}


def check_network_policies(docs: list[Doc], *, whole_namespace: bool = True) -> list[str]:
    errors: list[str] = []
    policies = of_kind(docs, "NetworkPolicy")
    default_deny = [
        p
        for p in policies
        if p["spec"].get("podSelector") == {}
        and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if whole_namespace and not default_deny:
        errors.append("NetworkPolicy: no default deny (podSelector {}, Ingress and Egress, no rules)")
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        where = kind_name(doc)
        labels = pod_template(doc).get("metadata", {}).get("labels", {})
        own = [
            p
            for p in _policies_for(policies, labels, "Egress")
            if p["spec"].get("podSelector") and p not in default_deny
        ]
        if not own:
            errors.append(f"{where}: no NetworkPolicy of its own (egress rules naming its pods)")
        api = is_api(doc)
        portal = is_portal(labels)
        for policy in _policies_for(policies, labels, "Ingress"):
            for rule in policy["spec"].get("ingress") or []:
                peers = rule.get("from") or []
                if not peers:
                    errors.append(f"{where}: {kind_name(policy)} admits ingress from anywhere")
                for peer in peers:
                    from_ingress = (api or portal) and _is_namespace(peer, INGRESS_CONTROLLER_NAMESPACE)
                    from_monitoring = _is_namespace(peer, MONITORING_NAMESPACE) and _ports(rule) == {"http"}
                    # The web portal calls the APIs (same namespace, the API's http port only).
                    from_portal = (
                        api
                        and "namespaceSelector" not in peer
                        and is_portal((peer.get("podSelector") or {}).get("matchLabels") or {})
                        and _ports(rule) == {"http"}
                    )
                    if not (from_ingress or from_monitoring or from_portal):
                        errors.append(f"{where}: {kind_name(policy)} admits ingress from {peer}")
        external_allowed = labels.get("app.kubernetes.io/name") == "regional" or is_notifications_worker(labels)
        # The JWKS (API pods) and the admin REST API (the notifications worker's owner directory).
        keycloak_allowed = api or is_notifications_worker(labels)
        for policy in _policies_for(policies, labels, "Egress"):
            for rule in policy["spec"].get("egress") or []:
                ports = _ports(rule)
                peers = rule.get("to") or []
                if not peers:
                    errors.append(f"{where}: {kind_name(policy)} allows egress to anywhere on {ports or 'any port'}")
                for peer in peers:
                    pod_sel = (peer.get("podSelector") or {}).get("matchLabels", {})
                    if pod_sel.get("strimzi.io/cluster") and ports == {KAFKA_PORT}:
                        continue
                    if pod_sel.get("app", "").endswith("-mongodb-svc") and ports == {MONGODB_PORT}:
                        continue
                    if pod_sel.get("k8s-app") == "kube-dns" and ports == {53}:
                        continue
                    if keycloak_allowed and pod_sel.get("app") == "keycloak" and ports == {KEYCLOAK_HTTP_PORT}:
                        continue
                    # The portal: the APIs' pods on their http port, and Keycloak's public
                    # host (VIES_OIDC_ISSUER) through the ingress controller (HTTPS).
                    if (
                        portal
                        and "namespaceSelector" not in peer
                        and pod_sel.get("app.kubernetes.io/component") == "api"
                        and ports == {"http"}
                    ):
                        continue
                    if portal and _is_namespace(peer, INGRESS_CONTROLLER_NAMESPACE) and ports == {443}:
                        continue
                    block = peer.get("ipBlock")
                    if block and external_allowed and ports <= EXTERNAL_PORTS and block.get("except"):
                        left_open = sorted(set(NON_GLOBAL_IPV4) - set(block["except"]))
                        if left_open:
                            cidr = block["cidr"]
                            errors.append(f"{where}: {kind_name(policy)} egress to {cidr} keeps {left_open} open")
                        continue
                    errors.append(f"{where}: {kind_name(policy)} allows egress to {peer} on {ports}")
    return errors


# --------------------------------------------------------------------------- Kafka


def _acl_sets(user: Doc) -> tuple[set[str], set[str], set[tuple[str, str]], list[str]]:
    """(readable topics, writable topics, groups (name, pattern), other grants) of a KafkaUser."""
    read: set[str] = set()
    write: set[str] = set()
    groups: set[tuple[str, str]] = set()
    other: list[str] = []
    for acl in user["spec"].get("authorization", {}).get("acls") or []:
        res = acl["resource"]
        ops = set(acl.get("operations") or [])
        pattern = res.get("patternType", "literal")
        if acl.get("type", "allow") != "allow":
            continue
        if res["type"] == "topic" and pattern == "literal":
            if "Read" in ops:
                read.add(res["name"])
            if "Write" in ops:
                write.add(res["name"])
            extra = ops - {"Read", "Write", "Describe"}
            if extra:
                other.append(f"{sorted(extra)} on topic {res['name']}")
        elif res["type"] == "group":
            groups.add((res.get("name", ""), pattern))
            extra = ops - {"Read", "Describe"}
            if extra:
                other.append(f"{sorted(extra)} on group {res.get('name')}")
        else:
            other.append(f"{sorted(ops)} on {res['type']} {res.get('name', '')} ({pattern})")
    return read, write, groups, other


def check_kafka(docs: list[Doc], prefix: str = "") -> list[str]:
    """Cluster settings, a KafkaTopic per contract topic, ACLs derived from the contract."""
    errors: list[str] = []
    clusters = of_kind(docs, "Kafka")
    if not clusters:
        return ["Kafka: no Kafka cluster"]
    for kafka in clusters:
        cname = name_of(kafka)
        config = kafka["spec"]["kafka"].get("config") or {}
        if int(config.get("min.insync.replicas", 1)) != 2:
            errors.append(f"{kind_name(kafka)}: min.insync.replicas is not 2")
        if int(config.get("default.replication.factor", 1)) != 3:
            errors.append(f"{kind_name(kafka)}: default.replication.factor is not 3")
        listeners = kafka["spec"]["kafka"].get("listeners") or []
        if not listeners or any(
            not lst.get("tls") or (lst.get("authentication") or {}).get("type") != "scram-sha-512" for lst in listeners
        ):
            errors.append(f"{kind_name(kafka)}: every listener must be TLS with SCRAM-SHA-512")
        if (kafka["spec"]["kafka"].get("authorization") or {}).get("type") != "simple":
            errors.append(f"{kind_name(kafka)}: ACL authorization (simple) is off")
        pools = [
            p
            for p in of_kind(docs, "KafkaNodePool")
            if p["metadata"].get("labels", {}).get("strimzi.io/cluster") == cname
        ]
        roles = [tuple(sorted(p["spec"].get("roles") or [])) for p in pools]
        if sorted(roles) != [("broker",), ("controller",)]:
            errors.append(f"{kind_name(kafka)}: want two KafkaNodePools, controllers and brokers, got {roles}")
        brokers = sum(p["spec"].get("replicas", 0) for p in pools if "broker" in (p["spec"].get("roles") or []))
        controllers = sum(p["spec"].get("replicas", 0) for p in pools if "controller" in (p["spec"].get("roles") or []))
        if brokers < 3 or controllers < 3:
            errors.append(f"{kind_name(kafka)}: {brokers} brokers and {controllers} controllers (want 3 each at least)")

    kafka_topics = {t["spec"].get("topicName", name_of(t)): t for t in of_kind(docs, "KafkaTopic")}
    for spec in contract.all_topics(prefix):
        topic = kafka_topics.get(spec.name)
        if topic is None:
            errors.append(f"KafkaTopic: none for contract topic {spec.name}")
            continue
        config = topic["spec"].get("config") or {}
        compacted = config.get("cleanup.policy") == "compact"
        if compacted != spec.compacted:
            errors.append(
                f"{kind_name(topic)}: cleanup.policy {config.get('cleanup.policy')} (compacted: {spec.compacted})"
            )
        if topic["spec"].get("replicas") != 3:
            errors.append(f"{kind_name(topic)}: replicas is not 3")
        if not spec.compacted and "retention.ms" not in config:
            errors.append(f"{kind_name(topic)}: no explicit retention.ms")

    users = by_name(docs, "KafkaUser")
    for service in SERVICES:
        name = f"vies-{service}"
        user = users.get(name)
        if user is None:
            errors.append(f"KafkaUser: none for service {service}")
            continue
        want = contract.service_topics(service, prefix)
        read, write, groups, other = _acl_sets(user)
        if read != set(want.consumes):
            errors.append(
                f"{kind_name(user)}: reads {sorted(read)}, the contract says it consumes {sorted(want.consumes)}"
            )
        if write != set(want.publishes):
            errors.append(
                f"{kind_name(user)}: writes {sorted(write)}, the contract says it publishes {sorted(want.publishes)}"
            )
        if groups != {(f"{prefix}vies.{service}", "prefix")}:
            errors.append(f"{kind_name(user)}: consumer groups {sorted(groups)} (want prefix {prefix}vies.{service})")
        errors.extend(f"{kind_name(user)}: grants {o}" for o in other)

    regional_topics = set(contract.regional_topics(prefix))
    for name, user in users.items():
        read, write, groups, other = _acl_sets(user)
        if name.startswith("vies-regional-"):
            if read != regional_topics:
                errors.append(f"KafkaUser/{name}: reads {sorted(read)}, a region reads {sorted(regional_topics)}")
            if write:
                errors.append(f"KafkaUser/{name}: a regional consumer writes {sorted(write)}")
            if len(groups) != 1 or not next(iter(groups))[0].startswith(f"{prefix}vies.regional."):
                errors.append(f"KafkaUser/{name}: consumer groups {sorted(groups)} (want vies.regional.<REGION>)")
            errors.extend(f"KafkaUser/{name}: grants {o}" for o in other)
        elif name == "vies-ops":
            dlqs = {contract.dlq_topic(s, prefix) for s in SERVICES}
            events = {contract.events_topic(s, prefix) for s in SERVICES}
            if not read <= dlqs or not write <= events:
                errors.append(f"KafkaUser/{name}: reads {sorted(read)} and writes {sorted(write)} (dead letters only)")
            errors.extend(f"KafkaUser/{name}: grants {o}" for o in other)
        elif name not in {f"vies-{s}" for s in SERVICES}:
            errors.append(f"KafkaUser/{name}: not a service, region or the operators' tool")
        for topic in read | write:
            if topic not in kafka_topics:
                errors.append(f"KafkaUser/{name}: ACL on {topic}, which has no KafkaTopic")
    errors.extend(_check_kafka_clients(docs, users))
    return errors


def _check_kafka_clients(docs: list[Doc], users: dict[str, Doc]) -> list[str]:
    """Each workload logs in as a KafkaUser that exists, with the password Secret of that user."""
    errors: list[str] = []
    for doc in of_kind(docs, "Deployment"):
        if is_portal(_labels(doc)):
            continue  # no Kafka client: it calls the APIs
        values, secrets = container_env(docs, app_container(doc))
        username = values.get("VIES_KAFKA_SASL_USERNAME")
        where = kind_name(doc)
        if username is None:
            errors.append(f"{where}: no VIES_KAFKA_SASL_USERNAME")
            continue
        if username not in users:
            errors.append(f"{where}: logs in as {username}, which is no KafkaUser")
        if secrets.get("VIES_KAFKA_SASL_PASSWORD", ("", ""))[0] != username:
            errors.append(f"{where}: the Kafka password does not come from the Secret {username}")
        app = doc["metadata"].get("labels", {}).get("app.kubernetes.io/name")
        if app in SERVICES and username != f"vies-{app}":
            errors.append(f"{where}: the {app} service logs in as {username}")
        if app == "regional":
            _, _, groups, _ = _acl_sets(users.get(username, {"spec": {}}))
            group = _consumer_group(doc, values)
            if groups and {g for g, _ in groups} != {group}:
                errors.append(f"{where}: consumes as {group}, its KafkaUser grants {sorted(groups)}")
    return errors


# --------------------------------------------------------------------------- MongoDB


def check_mongodb(docs: list[Doc]) -> list[str]:
    errors: list[str] = []
    clusters = of_kind(docs, "MongoDBCommunity")
    if not clusters:
        return ["MongoDBCommunity: none"]
    users_by_secret: dict[str, Doc] = {}
    for mdb in clusters:
        spec = mdb["spec"]
        if spec.get("type") != "ReplicaSet" or spec.get("members") != 3:
            errors.append(f"{kind_name(mdb)}: want a replica set of 3 members")
        if "SCRAM" not in (spec.get("security", {}).get("authentication", {}).get("modes") or []):
            errors.append(f"{kind_name(mdb)}: SCRAM authentication is off")
        for user in spec.get("users") or []:
            secret = user.get("connectionStringSecretName")
            if secret:
                users_by_secret[secret] = user
    databases: dict[str, str] = {}
    for doc in of_kind(docs, "Deployment"):
        where = kind_name(doc)
        values, secrets = container_env(docs, app_container(doc))
        ref = secrets.get("VIES_MONGODB_URI")
        if ref is None:
            errors.append(f"{where}: VIES_MONGODB_URI does not come from a Secret")
            continue
        user = users_by_secret.get(ref[0])
        if user is None:
            errors.append(f"{where}: reads the connection string {ref[0]}, which no MongoDB user writes")
            continue
        app = doc["metadata"].get("labels", {}).get("app.kubernetes.io/name", "")
        db = values.get("VIES_MONGODB_DB") or f"vies_{app}"
        roles = {(r["name"], r["db"]) for r in user.get("roles") or []}
        if roles != {("readWrite", db)}:
            errors.append(
                f"{where}: its MongoDB user {user['name']} has roles {sorted(roles)} (want readWrite on {db})"
            )
        owner = databases.setdefault(db, user["name"])
        if owner != user["name"]:
            errors.append(f"{where}: database {db} is shared by {owner} and {user['name']}")
    return errors


# --------------------------------------------------------------------------- tokens

TOKEN_VARIABLES = ("VIES_JWT_", "VIES_OIDC_")


def _jwt_secret_refs(doc: Doc, container: Doc) -> list[str]:
    """Secrets a pod could read a JWT key from: by variable name or by Secret name."""
    found: list[str] = []
    for var in container.get("env") or []:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if var["name"].startswith("VIES_JWT_") or (ref and "jwt" in ref.get("name", "").lower()):
            found.append(var["name"])
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            found.append(f"envFrom secret {source['secretRef'].get('name')}")
    for volume in pod_template(doc).get("spec", {}).get("volumes") or []:
        secret = (volume.get("secret") or {}).get("secretName", "")
        if "jwt" in secret.lower():
            found.append(f"volume of secret {secret}")
    return found


def oidc_expectations(docs: list[Doc]) -> dict[str, str]:
    """What the API pods must be told when the overlay runs Keycloak: issuer, audience, JWKS URL."""
    keycloaks = of_kind(docs, "Keycloak")
    imports = of_kind(docs, "KeycloakRealmImport")
    if len(keycloaks) != 1 or len(imports) != 1:
        return {}
    kc, realm = keycloaks[0], imports[0]["spec"]["realm"]
    hostname = str(kc["spec"].get("hostname", {}).get("hostname", "")).rstrip("/")
    audiences = {
        m["config"].get("included.client.audience") or m["config"].get("included.custom.audience")
        for c in realm.get("clients") or []
        for m in c.get("protocolMappers") or []
        if m.get("protocolMapper") == "oidc-audience-mapper"
    }
    service = f"{name_of(kc)}-service"
    return {
        "VIES_OIDC_ISSUER": f"{hostname}/realms/{realm['realm']}",
        "VIES_OIDC_AUDIENCE": next(iter(audiences)) if len(audiences) == 1 else "<one audience mapper>",
        "VIES_OIDC_JWKS_URL": (
            f"http://{service}:{KEYCLOAK_HTTP_PORT}/realms/{realm['realm']}/protocol/openid-connect/certs"
        ),
    }


def check_tokens(docs: list[Doc]) -> list[str]:
    """Keycloak signs the tokens: no JWT secret anywhere, OIDC settings on API pods only, never VIES_ENV=dev."""
    errors: list[str] = []
    for cm in of_kind(docs, "ConfigMap"):
        if str((cm.get("data") or {}).get("VIES_ENV", "")).strip().lower() == "dev":
            errors.append(f"{kind_name(cm)}: sets VIES_ENV=dev")
    expected = oidc_expectations(docs)
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        where = kind_name(doc)
        container = app_container(doc)
        values, secrets = container_env(docs, container)
        env = values.get("VIES_ENV")
        if env is not None and env != "production":
            errors.append(f"{where}: VIES_ENV={env} (absent or production in a cluster)")
        errors.extend(
            f"{where}: JWT secret {ref} (tokens are checked against Keycloak's keys)"
            for ref in _jwt_secret_refs(doc, container)
        )
        set_vars = set(values) | set(secrets)
        portal = is_portal(_labels(doc))
        if not (is_api(doc) or portal):
            extra = sorted(v for v in set_vars if v.startswith(TOKEN_VARIABLES))
            if extra:
                errors.append(f"{where}: a worker pod gets token settings {extra}")
            continue
        issuer = values.get("VIES_OIDC_ISSUER", "")
        if not issuer.startswith("https://") or "/realms/" not in issuer:
            errors.append(f"{where}: VIES_OIDC_ISSUER {issuer!r} is not an https Keycloak realm URL")
        if portal:
            # The portal signs people in at the API pods' realm (the issuer only: it checks no token).
            want = expected.get("VIES_OIDC_ISSUER")
            if want is not None and issuer != want:
                errors.append(f"{where}: VIES_OIDC_ISSUER is {issuer!r}, the overlay's Keycloak says {want!r}")
            continue
        if not values.get("VIES_OIDC_AUDIENCE"):
            errors.append(f"{where}: no VIES_OIDC_AUDIENCE")
        for name, want in expected.items():
            if values.get(name) != want:
                errors.append(f"{where}: {name} is {values.get(name)!r}, the overlay's Keycloak says {want!r}")
    return errors


# --------------------------------------------------------------------------- secrets

# Settings holding a secret: read from a Secret (secretKeyRef), never a literal in a manifest.
SECRET_VARIABLE = re.compile(r"^VIES_[A-Z0-9_]*(SECRET|SECRET_KEY|PASSWORD|TOKEN)$")
WEBHOOK_KEY = "VIES_WEBHOOK_SECRET_KEY"  # seals the webhook subscriptions' signing secrets (every notifications pod)
OWNER_CLIENT_SECRET = "VIES_OWNER_DIRECTORY_CLIENT_SECRET"  # the notifications workers' Keycloak client
OWNER_DIRECTORY_DEFAULT_CLIENT = "vies-notifications"  # default of VIES_OWNER_DIRECTORY_CLIENT_ID
OWNER_DIRECTORY_ROLES = {"view-users", "query-users"}  # realm-management roles of its service account
DELIVERING_ROLES = ("all", "worker")  # VIES_ROLE of the processes that deliver (default "all")


def _labels(doc: Doc) -> dict[str, str]:
    return dict(pod_template(doc).get("metadata", {}).get("labels", {}))


def _notifications(docs: list[Doc]) -> Iterator[tuple[Doc, dict[str, str], dict[str, tuple[str, str]], bool]]:
    """(Deployment, plain values, secret references, delivers) of every notifications Deployment."""
    for doc in of_kind(docs, "Deployment"):
        if _labels(doc).get("app.kubernetes.io/name") != "notifications":
            continue
        values, secrets = container_env(docs, app_container(doc))
        yield doc, values, secrets, values.get("VIES_ROLE", "all") in DELIVERING_ROLES


def check_secrets(docs: list[Doc]) -> list[str]:
    """No secret setting as a literal; the notifications pods share the webhook key from one Secret."""
    errors: list[str] = []
    for cm in of_kind(docs, "ConfigMap"):
        errors.extend(
            f"{kind_name(cm)}: {key} is a literal (read it from a Secret)"
            for key in sorted(cm.get("data") or {})
            if SECRET_VARIABLE.match(key)
        )
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        for field, c in containers(pod_template(doc).get("spec", {})):
            errors.extend(
                f"{kind_name(doc)} {field[:-1]} {c.get('name')}: {var['name']} is a literal (read it from a Secret)"
                for var in c.get("env") or []
                if "value" in var and SECRET_VARIABLE.match(var["name"])
            )
    webhook_keys: dict[str, tuple[str, str]] = {}
    for doc, _, secrets, delivers in _notifications(docs):
        where = kind_name(doc)
        if WEBHOOK_KEY in secrets:
            webhook_keys[name_of(doc)] = secrets[WEBHOOK_KEY]
        else:
            errors.append(f"{where}: {WEBHOOK_KEY} does not come from a Secret (the service refuses to start)")
        if not delivers and OWNER_CLIENT_SECRET in secrets:
            errors.append(f"{where}: gets {OWNER_CLIENT_SECRET}, which only the pods that deliver need")
    if len(set(webhook_keys.values())) > 1:
        errors.append(
            f"notifications: the pods read {WEBHOOK_KEY} from different Secrets {sorted(webhook_keys.items())}; "
            "a secret sealed by one would be unreadable by another"
        )
    return errors


def _overlay_keycloak(docs: list[Doc]) -> tuple[Doc, Doc] | None:
    """(Keycloak, KeycloakRealmImport) when the overlay runs exactly one of each."""
    keycloaks = of_kind(docs, "Keycloak")
    imports = of_kind(docs, "KeycloakRealmImport")
    if len(keycloaks) != 1 or len(imports) != 1:
        return None
    return keycloaks[0], imports[0]


def keycloak_in_cluster_url(kc: Doc) -> str:
    """Keycloak's plain-HTTP base URL in the cluster (the operator's Service)."""
    return f"http://{name_of(kc)}-service:{KEYCLOAK_HTTP_PORT}"


def check_owner_directory(docs: list[Doc]) -> list[str]:
    """The notifications workers check webhook owners with the overlay's Keycloak, through a read-only client."""
    errors: list[str] = []
    found = _overlay_keycloak(docs)
    for doc, values, secrets, delivers in _notifications(docs):
        if not delivers:
            continue
        where = kind_name(doc)
        ref = secrets.get(OWNER_CLIENT_SECRET)
        if ref is None:
            errors.append(
                f"{where}: {OWNER_CLIENT_SECRET} does not come from a Secret "
                "(webhook owners cannot be checked: the worker refuses to start)"
            )
        realm_url = values.get("VIES_OWNER_DIRECTORY_REALM_URL", "")
        if not realm_url.startswith("https://") or "/realms/" not in realm_url:
            errors.append(f"{where}: VIES_OWNER_DIRECTORY_REALM_URL {realm_url!r} is not an https Keycloak realm URL")
        if found is None:
            continue
        kc, realm_import = found
        issuer = oidc_expectations(docs)["VIES_OIDC_ISSUER"]
        if realm_url != issuer:
            errors.append(
                f"{where}: VIES_OWNER_DIRECTORY_REALM_URL is {realm_url!r}, the overlay's realm is {issuer!r}"
            )
        admin = values.get("VIES_OWNER_DIRECTORY_ADMIN_URL", "").rstrip("/")
        if admin != keycloak_in_cluster_url(kc):
            errors.append(
                f"{where}: VIES_OWNER_DIRECTORY_ADMIN_URL is {admin!r}; the admin REST API is not on the public "
                f"Ingress, want {keycloak_in_cluster_url(kc)!r}"
            )
        realm = realm_import["spec"]["realm"]
        client_id = values.get("VIES_OWNER_DIRECTORY_CLIENT_ID", OWNER_DIRECTORY_DEFAULT_CLIENT)
        client = service_account_clients(realm).get(client_id)
        if client is None:
            errors.append(f"{where}: the realm has no confidential client {client_id} with a service account")
            continue
        placeholder = PLACEHOLDER.fullmatch(str(client.get("secret", "")))
        source = (realm_import["spec"].get("placeholders") or {}).get(placeholder.group(1)) if placeholder else None
        secret = (source or {}).get("secret") or {}
        if ref is not None and (secret.get("name"), secret.get("key")) != ref:
            errors.append(
                f"{where}: reads the client secret from Secret {ref[0]} key {ref[1]}, the realm import gives "
                f"{client_id} the secret of {secret or 'no Secret'}"
            )
        roles = set(((service_account(realm, client_id) or {}).get("clientRoles") or {}).get("realm-management") or [])
        if not roles >= OWNER_DIRECTORY_ROLES:
            errors.append(
                f"{where}: the service account of {client_id} lacks realm-management "
                f"{sorted(OWNER_DIRECTORY_ROLES - roles)}"
            )
    return errors


def check_keycloak_reachable(docs: list[Doc]) -> list[str]:
    """A pod told to call Keycloak in the cluster (JWKS, admin API) has the egress rule and is admitted."""
    errors: list[str] = []
    found = _overlay_keycloak(docs)
    if found is None:
        return errors
    kc, _ = found
    base = keycloak_in_cluster_url(kc)
    keycloak_labels = {"app": "keycloak", "app.kubernetes.io/instance": name_of(kc)}
    policies = of_kind(docs, "NetworkPolicy")
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        values, _ = container_env(docs, app_container(doc))
        uses = sorted(
            k
            for k in ("VIES_OIDC_JWKS_URL", "VIES_OWNER_DIRECTORY_ADMIN_URL")
            if values.get(k, "") == base or values.get(k, "").startswith(base + "/")
        )
        if not uses:
            continue
        labels = _labels(doc)
        egress = any(
            "namespaceSelector" not in peer
            and selects(peer.get("podSelector"), keycloak_labels)
            and KEYCLOAK_HTTP_PORT in _ports(rule)
            for policy in _policies_for(policies, labels, "Egress")
            for rule in policy["spec"].get("egress") or []
            for peer in rule.get("to") or []
        )
        admitted = any(
            "namespaceSelector" not in peer
            and selects(peer.get("podSelector"), labels)
            and KEYCLOAK_HTTP_PORT in _ports(rule)
            for policy in _policies_for(policies, keycloak_labels, "Ingress")
            for rule in policy["spec"].get("ingress") or []
            for peer in rule.get("from") or []
        )
        if not egress:
            errors.append(f"{kind_name(doc)}: {uses} call Keycloak in the cluster, but no egress rule reaches it")
        if not admitted:
            errors.append(f"{kind_name(doc)}: {uses} call Keycloak in the cluster, but Keycloak's policy refuses it")
    return errors


def check_portal_forwarding(docs: list[Doc]) -> list[str]:
    """With a portal, recruitment's API pods trust a network beyond loopback (the pods', the portal's among them).

    Recruitment limits anonymous pre-checks per address and takes the visitor's address from the
    X-Forwarded-For that the portal sends only when the peer is in VIES_TRUSTED_REQUEST_ID_FROM;
    left at its loopback default, every visitor of the portal would share one bucket.
    """
    if not any(is_portal(_labels(d)) for d in of_kind(docs, "Deployment")):
        return []
    errors: list[str] = []
    for doc in of_kind(docs, "Deployment"):
        if not (is_api(doc) and _labels(doc).get("app.kubernetes.io/name") == "recruitment"):
            continue
        values, _ = container_env(docs, app_container(doc))
        networks = [n.strip() for n in values.get("VIES_TRUSTED_REQUEST_ID_FROM", "").split(",") if n.strip()]
        if not [n for n in networks if not n.startswith(("127.", "::1"))]:
            errors.append(
                f"{kind_name(doc)}: VIES_TRUSTED_REQUEST_ID_FROM does not include the pod network "
                "(the portal's X-Forwarded-For would be ignored: its visitors would share one rate-limit bucket)"
            )
    return errors


SAFETY_LINK_KEYS = (
    "VIES_SAFETY_LINK_KEYS"  # notifications' delivering pods mint the answer links, missions' API checks them
)


def check_safety_links(docs: list[Doc]) -> list[str]:
    """The one-tap safety answer links: their keys come from one Secret that missions' API pods (which check
    the links) and notifications' delivering pods (which mint them) read, and no other workload; the messages
    link the portal's ``/s/{token}`` page.

    A link is worth an answer for a volunteer: a workload holding the keys could answer for anyone.
    """
    errors: list[str] = []
    sources: set[tuple[str, str]] = set()
    portal_urls = {
        container_env(docs, app_container(d))[0].get("VIES_PUBLIC_URL", "").rstrip("/")
        for d in of_kind(docs, "Deployment")
        if is_portal(_labels(d))
    }
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        name = _labels(doc).get("app.kubernetes.io/name")
        for field, c in containers(pod_template(doc).get("spec", {})):
            values, secrets = container_env(docs, c)
            where = f"{kind_name(doc)} {field[:-1]} {c.get('name')}"
            is_app = field == "containers" and c.get("name") == "app"
            delivers = name == "notifications" and values.get("VIES_ROLE", "all") in DELIVERING_ROLES
            needs = is_app and ((name == "missions" and is_api(doc)) or delivers)
            if SAFETY_LINK_KEYS in values:
                errors.append(f"{where}: {SAFETY_LINK_KEYS} is a literal (read it from a Secret)")
            if needs and SAFETY_LINK_KEYS not in secrets:
                errors.append(f"{where}: {SAFETY_LINK_KEYS} does not come from a Secret (no safety answer links)")
            elif not needs and SAFETY_LINK_KEYS in secrets:
                errors.append(
                    f"{where}: gets {SAFETY_LINK_KEYS}, which only missions' API and notifications' workers need"
                )
            if needs and SAFETY_LINK_KEYS in secrets:
                sources.add(secrets[SAFETY_LINK_KEYS])
            url = values.get("VIES_SAFETY_CHECK_URL")
            if delivers and is_app and portal_urls:
                if not url or "{token}" not in url:
                    errors.append(f"{where}: VIES_SAFETY_CHECK_URL does not hold {{token}} (messages without the link)")
                elif not any(url.startswith(f"{portal}/s/") for portal in portal_urls):
                    errors.append(f"{where}: VIES_SAFETY_CHECK_URL {url!r} is not the portal's /s/ page")
    if len(sources) > 1:
        errors.append(f"{SAFETY_LINK_KEYS} comes from different Secrets {sorted(sources)}: links would not verify")
    return errors


# --------------------------------------------------------------------------- Ingress

# Served by every service (vies_shared.service.create_app and FastAPI) and never
# public. tests/deploy checks this list against the apps' own non-schema routes.
OPERATIONAL_PATHS = (
    "/metrics",
    "/healthz",
    "/readyz",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/asyncapi.json",
)
# Documented endpoints reached only inside the cluster (the portal's duty officer pages call each
# service's own staff-only dead-letter API); every service has them at the same path, so the public
# Ingress could not route them to one backend anyway, and must not route them at all.
IN_CLUSTER_PATHS = ("/dead-letters",)
# Keycloak's admin console and the master realm (administrators' logins).
KEYCLOAK_PRIVATE_PATHS = ("/admin", "/admin/master/console/", "/realms/master", "/realms/master/account")


def path_routes(path: str, path_type: str, request: str) -> bool:
    """Whether an Ingress path routes a request path (Kubernetes Ingress semantics).

    Prefix matches element-wise on "/"-separated segments (/foo matches /foo and
    /foo/bar, not /foobar; a trailing slash is ignored); Exact matches the path only.
    """
    if path_type == "Exact":
        return request == path
    prefix = path.rstrip("/")
    return prefix == "" or request.rstrip("/") == prefix or request.startswith(prefix + "/")


def ingress_paths(docs: list[Doc]) -> Iterator[tuple[Doc, str, str, str, str]]:
    """(ingress, host, path, pathType, backend service) of every Ingress path."""
    for ing in of_kind(docs, "Ingress"):
        for rule in ing["spec"].get("rules") or []:
            for p in (rule.get("http") or {}).get("paths") or []:
                backend = (p.get("backend") or {}).get("service") or {}
                yield ing, rule.get("host", "*"), p.get("path", "/"), p.get("pathType", ""), backend.get("name", "")


def routed(docs: list[Doc], service: str, request: str) -> bool:
    """Whether some Ingress path sends ``request`` to the Service ``service``."""
    return any(
        backend == service and path_routes(path, path_type, request)
        for _, _, path, path_type, backend in ingress_paths(docs)
    )


def check_ingress(docs: list[Doc]) -> list[str]:
    """Public paths only: never "/", never a prefix of an operational endpoint or of Keycloak's admin."""
    errors: list[str] = []
    for ing, host, path, path_type, _ in ingress_paths(docs):
        where = f"{kind_name(ing)} {host}{path}"
        if path_type not in ("Prefix", "Exact"):
            errors.append(
                f"{where}: pathType {path_type or 'missing'} (Prefix or Exact, no controller-specific matching)"
            )
            continue
        if path.rstrip("/") == "" and path_type == "Prefix":
            errors.append(f"{where}: routes every path of the host, operational endpoints included")
            continue
        for private in (*OPERATIONAL_PATHS, *IN_CLUSTER_PATHS, *KEYCLOAK_PRIVATE_PATHS):
            if path_routes(path, path_type, private):
                errors.append(f"{where}: routes {private}, which must stay off the public Ingress")
    return errors


# --------------------------------------------------------------------------- Keycloak

SCOPE_ATTRIBUTES = ("authority_id", "region", "country", "partner_id")
# What an imported service account may hold: reading users (the notifications service's owner directory).
SERVICE_ACCOUNT_CLIENT_ROLES = {"realm-management": {"view-users", "query-users"}}
# ${NAME} in a realm import: an environment variable of the import Job (upper case);
# Keycloak's own ${message_key} texts are lower case.
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def _user_profile(realm: Doc) -> Doc:
    providers = (realm.get("components") or {}).get("org.keycloak.userprofile.UserProfileProvider") or []
    for provider in providers:
        for text in (provider.get("config") or {}).get("kc.user.profile.config") or []:
            return dict(json.loads(text))
    return {}


def service_account_clients(realm: Doc) -> dict[str, Doc]:
    """The realm's confidential clients with a service account, by client id."""
    return {
        str(c.get("clientId")): c
        for c in realm.get("clients") or []
        if c.get("serviceAccountsEnabled") and not c.get("publicClient")
    }


def service_account(realm: Doc, client_id: str) -> Doc | None:
    """The imported service-account user of a client, if any."""
    for user in realm.get("users") or []:
        if user.get("serviceAccountClientId") == client_id:
            return dict(user)
    return None


def _check_realm_users(where: str, realm: Doc) -> list[str]:
    """Only service accounts of the realm's confidential clients, without credentials, reading users at most."""
    errors: list[str] = []
    clients = service_account_clients(realm)
    people = [
        u.get("username")
        for u in realm.get("users") or []
        if u.get("serviceAccountClientId") not in clients
        or u.get("username") != f"service-account-{u.get('serviceAccountClientId')}"
        or u.get("credentials")
    ]
    if people:
        errors.append(f"{where}: imports users {people}")
    default_role = f"default-roles-{realm.get('realm')}"
    for user in realm.get("users") or []:
        if user.get("username") in people:
            continue
        uw = f"{where} service account of {user.get('serviceAccountClientId')}"
        extra_realm = sorted(set(user.get("realmRoles") or []) - {default_role})
        if extra_realm:
            errors.append(f"{uw}: holds realm roles {extra_realm}")
        for client, roles in (user.get("clientRoles") or {}).items():
            extra = sorted(set(roles) - SERVICE_ACCOUNT_CLIENT_ROLES.get(client, set()))
            if extra:
                errors.append(f"{uw}: holds {client} roles {extra} (reading users at most)")
        if user.get("groups"):
            errors.append(f"{uw}: is in groups {user['groups']}")
    return errors


def check_realm_imports(docs: list[Doc]) -> list[str]:
    """Production realms: no demo user, secrets from Secrets, safe grants, staff-only VIES scope."""
    errors: list[str] = []
    for ri in of_kind(docs, "KeycloakRealmImport"):
        where = kind_name(ri)
        spec = ri["spec"]
        realm = spec["realm"]
        if spec.get("keycloakCRName") not in {name_of(k) for k in of_kind(docs, "Keycloak")}:
            errors.append(f"{where}: Keycloak {spec.get('keycloakCRName')} is not in the overlay")
        errors.extend(_check_realm_users(where, realm))
        # Every secret-bearing field is a ${PLACEHOLDER} that a Secret provides, and vice versa.
        declared = set(spec.get("placeholders") or {})
        used = set(PLACEHOLDER.findall(json.dumps(realm)))
        secret_fields = [("smtpServer.password", (realm.get("smtpServer") or {}).get("password"))]
        secret_fields += [(f"client {c.get('clientId')} secret", c.get("secret")) for c in realm.get("clients") or []]
        secret_fields += [
            (f"identity provider {i.get('alias')} clientSecret", (i.get("config") or {}).get("clientSecret"))
            for i in realm.get("identityProviders") or []
        ]
        for field, value in secret_fields:
            if value is not None and not PLACEHOLDER.fullmatch(str(value)):
                errors.append(f"{where}: {field} is a literal, not a ${{PLACEHOLDER}} from a Secret")
        if used - declared:
            errors.append(f"{where}: placeholders {sorted(used - declared)} come from no Secret")
        if declared - used:
            errors.append(f"{where}: placeholders {sorted(declared - used)} are never used")
        if not (realm.get("registrationAllowed") and realm.get("verifyEmail")):
            errors.append(f"{where}: candidates must register themselves with a verified e-mail address")
        for client in realm.get("clients") or []:
            cw = f"{where} client {client.get('clientId')}"
            if client.get("directAccessGrantsEnabled") or client.get("implicitFlowEnabled"):
                errors.append(f"{cw}: password or implicit grant enabled")
            if (
                client.get("standardFlowEnabled")
                and (client.get("attributes") or {}).get("pkce.code.challenge.method") != "S256"
            ):
                errors.append(f"{cw}: authorization code without PKCE S256")
        for mapper in realm.get("identityProviderMappers") or []:
            kind = str(mapper.get("identityProviderMapper", ""))
            config = mapper.get("config") or {}
            target = config.get("user.attribute") or config.get("attribute") or ""
            if "role" in kind or "group" in kind:
                errors.append(
                    f"{where}: identity-provider mapper {mapper.get('name')!r} ({kind}) gives roles or groups"
                )
            if target in SCOPE_ATTRIBUTES:
                errors.append(f"{where}: identity-provider mapper {mapper.get('name')!r} sets {target} from a claim")
        profile = _user_profile(realm)
        attributes = {a["name"]: a for a in profile.get("attributes") or []}
        if profile.get("unmanagedAttributePolicy") not in (None, "DISABLED"):
            errors.append(f"{where}: unmanaged user attributes are {profile['unmanagedAttributePolicy']}")
        for name in SCOPE_ATTRIBUTES:
            permissions = (attributes.get(name) or {}).get("permissions") or {}
            if name not in attributes or permissions.get("edit") != ["admin"] or "user" in permissions.get("view", []):
                errors.append(f"{where}: user attribute {name} must be declared, viewed and edited by admins only")
    return errors


# --------------------------------------------------------------------------- all


def check_all(docs: list[Doc], *, whole_namespace: bool = True) -> list[str]:
    """Every check. ``whole_namespace=False`` (a region rendered on its own) skips what
    the namespace provides: the default deny, Kafka and MongoDB."""
    errors = (
        check_security(docs)
        + check_probes_and_resources(docs)
        + check_disruption_budgets(docs)
        + check_autoscaling(docs)
        + check_network_policies(docs, whole_namespace=whole_namespace)
        + check_tokens(docs)
        + check_secrets(docs)
        + check_owner_directory(docs)
        + check_keycloak_reachable(docs)
        + check_portal_forwarding(docs)
        + check_safety_links(docs)
        + check_ingress(docs)
        + check_realm_imports(docs)
    )
    if whole_namespace:
        errors += check_kafka(docs) + check_mongodb(docs)
    return errors
