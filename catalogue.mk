# Event catalogue and schema compatibility gate. Included by the main
# Makefile (`-include catalogue.mk`), which defines BIN (the virtualenv's bin
# directory) and STAMP (the target that installs the virtualenv with
# vies-shared, vies-dev (whose `vies catalogue` this runs), the services, jsonschema
# and check-jsonschema).
#
#   make catalogue        write docs/events/ from the contract's pydantic models
#   make catalogue-check  fail if docs/events/ is stale; validate asyncapi.json
#                         with the official AsyncAPI parser (@asyncapi/parser),
#                         every example against its JSON Schema (the jsonschema
#                         package, independent of pydantic), and that docs/SUBSCRIBERS.md quotes
#                         docs/examples/subscriber.py verbatim
#   make compat           fail on a breaking change to a published event
#                         (docs/events/baseline/ holds the released schemas;
#                         COMPAT_REF=<git tag> compares with the schemas
#                         checked in at that tag instead)
#   make compat-baseline  record the current schemas as released (after a release)

BIN ?= .venv/bin
CATALOGUE_DIR := docs/events
CATALOGUE_BASELINE := $(CATALOGUE_DIR)/baseline
ASYNCAPI_TOOL := tools/asyncapi-validate
# npm ci writes this file last: it stands for an installed, locked node_modules.
ASYNCAPI_STAMP := $(ASYNCAPI_TOOL)/node_modules/.package-lock.json
CATALOGUE := $(BIN)/vies catalogue

.PHONY: catalogue catalogue-check compat compat-baseline

$(ASYNCAPI_STAMP): $(ASYNCAPI_TOOL)/package.json $(ASYNCAPI_TOOL)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ and npm are required to validate the AsyncAPI document"; exit 1; }
	cd $(ASYNCAPI_TOOL) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

catalogue: $(STAMP)
	$(CATALOGUE) generate --out $(CATALOGUE_DIR)

catalogue-check: $(STAMP) $(ASYNCAPI_STAMP)
	$(CATALOGUE) check --out $(CATALOGUE_DIR)
	cd $(ASYNCAPI_TOOL) && node validate.mjs ../../$(CATALOGUE_DIR)/asyncapi.json
	$(CATALOGUE) validate --out $(CATALOGUE_DIR)
	$(CATALOGUE) guide --guide docs/SUBSCRIBERS.md --example docs/examples/subscriber.py

compat: $(STAMP)
ifdef COMPAT_REF
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  git archive $(COMPAT_REF) $(CATALOGUE_DIR)/schemas | tar -x -C "$$tmp"; \
	  echo "$(CATALOGUE) compat --baseline <$(COMPAT_REF)>:$(CATALOGUE_DIR)/schemas"; \
	  $(CATALOGUE) compat --baseline "$$tmp/$(CATALOGUE_DIR)/schemas"
else
	$(CATALOGUE) compat --baseline $(CATALOGUE_BASELINE)
endif

compat-baseline: $(STAMP)
	$(CATALOGUE) baseline --baseline $(CATALOGUE_BASELINE)
