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

.PHONY: setup run test test-fast lock clean

setup:
	@./scripts/ensure-venv.sh

run: setup
	$(ENV) $(VENV)/bin/electra-tfx run --checkpoint auto $(ARGS)

test: setup
	$(ENV) $(VENV)/bin/python -m pytest -v -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup
	$(ENV) $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

# Regenerates requirements.lock from pyproject.toml (see README, "Updating the lock").
lock: setup
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.10 \
	  --python-platform x86_64-unknown-linux-gnu --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) runs
