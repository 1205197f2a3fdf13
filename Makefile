# The two commands a user needs: `make run` and `make test`. Both set up .venv first.
# Override the interpreter with: make setup PYTHON=/path/to/python3.10
SHELL := /bin/bash
export PYTHON
VENV := .venv
ENV := TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=1
# Test processes (pytest-xdist, one test file per worker at a time). Much of a small test's
# time is single-threaded Python (tracing, TFX orchestration), so two workers on two cores
# finish the suite far sooner than one.
TEST_WORKERS ?= 2

.PHONY: setup run test test-fast lint-imports lock clean

setup:
	@./scripts/ensure-venv.sh

run: setup
	$(ENV) $(VENV)/bin/electra-tfx run --checkpoint auto $(ARGS)

test: setup lint-imports
	$(ENV) $(VENV)/bin/python -m pytest -v -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup
	$(ENV) $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

# The import rules of .importlinter: the layers pipeline -> components -> trainer, no cycles.
lint-imports: setup
	$(VENV)/bin/lint-imports

# Regenerates requirements.lock from pyproject.toml, and requirements-nodeps.lock (packages
# installed without their dependencies) from requirements-nodeps.in (see README, "Updating the lock").
LOCK_TARGET := --python-version 3.10 --python-platform x86_64-unknown-linux-gnu --generate-hashes
lock: setup
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev $(LOCK_TARGET) -o requirements.lock
	$(VENV)/bin/uv pip compile requirements-nodeps.in --no-deps $(LOCK_TARGET) \
	  -o requirements-nodeps.lock

clean:
	rm -rf $(VENV) runs
