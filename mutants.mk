# Mutation testing of the messaging kit: hand-written mutants of
# shared/src/vies_shared/messaging/ and storage.py, each applied to a copy of the package and run
# against the kit tests that must catch it. Not part of `make test`. Uses VIES_TEST_* when set,
# else the development stack if it runs (`make stack-up`), else a stack it starts itself.
# MUTANTS_ARGS: e.g. `--only ack_before_handling`, `--suite`, `--list`, `--json report.json`.
.PHONY: mutants

mutants: setup
	$(BIN)/python tools/mutants/run.py $(MUTANTS_ARGS)
