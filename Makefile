# caseloop: everything a newcomer or CI types. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: help setup lint test test-slow demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(BIN)/.installed  ## create .venv and install caseloop with its dev tools (CPU torch)

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -c constraints.txt -e '.[dev]'
	touch $@

lint: setup  ## ruff, mypy (strict on ingestion and retrieval), import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint  ## the whole test suite except slow runs (real components, ~15 min on 2 cores)
	$(BIN)/pytest -m "not slow"

test-slow: setup  ## soak and fault runs, real Prefect server, fresh-clone check
	$(BIN)/pytest -m slow

demo: setup  ## the main job on embedded defaults
	$(BIN)/caseloop demo

bench: setup  ## benchmarks (figures as ratios against a baseline measured in the same run)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:  ## remove the venv and local state
	rm -rf $(VENV) .caseloop .mypy_cache .ruff_cache
