# caseloop: everything a newcomer or CI types. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false

# Installs use uv (from PyPI, bootstrapped into the venv with pip), only the extras a target
# needs, the sources pip is configured with on this machine, and CPU torch (constraints.txt).
# Installer output goes to $(LOG); each step prints one line. V=1 shows the installer output.
# Every configured index is considered for every package (unsafe-best-match): with uv's default,
# a package found on the first index is never looked up on the others, and some pins fail to resolve.
UV := $(BIN)/uv
LOG := .caseloop/install.log
UV_INSTALL = $(UV) pip install --python $(BIN)/python --compile-bytecode --index-strategy unsafe-best-match -c constraints.txt \
	$(shell $(PYTHON) scripts/pip_sources.py)

# $(call step,WHAT,COMMAND): one progress line for COMMAND, its output in $(LOG).
define step
	@mkdir -p $(dir $(LOG)); start=$$(date +%s); printf '%s … ' "$(1)"; \
	if [ -n "$(V)" ]; then $(2) 2>&1 | tee -a $(LOG); ok=$${PIPESTATUS[0]}; \
	else $(2) >>$(LOG) 2>&1; ok=$$?; fi; \
	if [ $$ok -eq 0 ]; then echo "done ($$(( $$(date +%s) - start )) s)"; \
	else echo "failed; the last lines of $(LOG):"; tail -n 25 $(LOG); exit $$ok; fi
endef

.PHONY: help setup lint test test-slow demo notebooks bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(BIN)/.installed-dev  ## create .venv and install caseloop with every extra and the dev tools

$(UV):
	$(call step,creating $(VENV) with uv in it,$(PYTHON) -m venv $(VENV) && $(BIN)/pip install uv)

$(BIN)/.installed-%: pyproject.toml constraints.txt | $(UV)
	$(call step,installing caseloop[$*] (log: $(LOG)),$(UV_INSTALL) -e '.[$*]')
	@touch $@

lint: setup  ## ruff, mypy (strict on all four packages), import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint  ## the whole test suite except slow runs (real components, ~13 min on 2 cores)
	$(BIN)/pytest -m "not slow" -n 2 --dist loadfile  # two workers, one test file each at a time

test-slow: setup  ## soak and fault runs, real Prefect server, fresh-clone check
	$(BIN)/pytest -m slow

demo: $(BIN)/.installed-demo  ## the main job on embedded defaults (installs only what it needs)
	@$(BIN)/caseloop demo

notebooks: $(BIN)/.installed-notebooks  ## JupyterLab on notebooks/ (the .py twins stay paired)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/

bench: setup  ## benchmarks (figures as ratios against a baseline measured in the same run)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:  ## remove the venv and local state
	rm -rf $(VENV) .caseloop .mypy_cache .ruff_cache
