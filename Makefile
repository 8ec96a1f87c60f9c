# Two commands set everything up on a fresh machine (Python 3.11 + pip, PyPI only):
#   make run    venv + install + the default pipeline end to end, offline
#   make test   venv + install + the test suite
#   make test-fast   the suite without the tests marked slow (Kedro runs, processes)
# Both are idempotent: the venv is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Test processes, each with one torch thread (tests/conftest.py): one per core of CI's two.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=15

export KEDRO_DISABLE_TELEMETRY := true
export MLFLOW_DISABLE_TELEMETRY := true
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test test-fast

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test,onnx,dask]"
	mkdir -p conf/local
	touch $(STAMP)

run: setup
	$(BIN)/kedro run

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(PYTEST)

test-fast: setup
	$(PYTEST) -m "not slow"
