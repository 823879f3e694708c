# Everything starts from nothing: a fresh clone with Python >= 3.10 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall only when the declared or the locked dependencies change.
STAMP := $(VENV)/.installed

.PHONY: install lint test fuzz soak demo bench image-test golden lock clean

$(STAMP): pyproject.toml constraints.txt
	@echo "Installing the connector and its dependencies (PyAirbyte, DuckDB, test tools) into $(VENV)"
	@echo "(first run, or after pyproject.toml/constraints.txt change: about 40 s)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $@
	@echo "Installed into $(VENV)."

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

# The property-based tests with many more, new examples each run (make test keeps them bounded).
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -m "not slow and not e2e"

# Tests that wait out real rate-limit windows (a minute each): not part of make test.
soak: install
	$(BIN)/python -m pytest -m soak

demo: install
	$(BIN)/python scripts/demo.py

bench: install
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

image-test: install
	bash scripts/image_test.sh

# Regenerate integration_tests/expected_records.jsonl after an intended change to the records.
golden: install
	$(BIN)/python scripts/golden.py

# Re-resolve the lock in a throwaway venv: `make lock`, then commit constraints.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lock-venv/bin/python -m pip install --quiet ".[dev]"
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^source-fastbill' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .demo .bench .pytest_cache .ruff_cache
