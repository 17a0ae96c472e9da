# Two commands do everything from a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

export UV_PROJECT_ENVIRONMENT := $(VENV)
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_UI_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180

.PHONY: env demo test lint typecheck pytest clean browser bench

# The environment is built from the committed lock file only (--frozen: never re-resolved).
# Libraries are compiled to bytecode as they are installed: where PYTHONDONTWRITEBYTECODE is
# set (as on this project's machines) nothing else ever writes it, and every process would
# compile what it imports from source again (great_expectations, prefect, sklearn, polars and
# skops took 10.7-12.4 s to import so, 4.7-5.1 s from bytecode). The Makefile is a
# prerequisite: a changed recipe rebuilds the environment.
$(VENV)/.synced: uv.lock pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv sync --frozen --inexact --compile-bytecode
	touch $@

# The project's own modules too; compileall rewrites only what changed since.
env: $(VENV)/.synced
	$(BIN)/python -m compileall -q servicelens flows transforms models benchmarks

demo: env
	$(BIN)/servicelens demo

lint: env
	$(BIN)/ruff check servicelens flows transforms models tests
	$(BIN)/ruff format --check servicelens flows transforms models tests

typecheck: env
	$(BIN)/mypy

# The report test opens the HTML report in headless Chromium, Debian's package. Installed once
# (skipped when present); needs root, as on the project's machines and CI.
browser:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "chromium is missing and this is not root: run 'sudo apt-get install chromium'"; \
	  exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get -o DPkg::Lock::Timeout=300 update -qq && \
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium

# Three workers on two cores: with two, the cores stood ~20% idle while workers waited on the
# servers and commands they start (fresh clones on a quiet machine, one run each: -n 2 1,028 s
# at 160% of a CPU, -n 3 948 s at 178%; the suite is ~1,650 s of CPU either way).
# --durations=25: every run prints its slowest setups and calls, so a test or fixture that
# grows is seen in the CI log the day it does.
PYTEST := $(BIN)/pytest -n 3 --dist loadfile --no-loadscope-reorder --durations=25

pytest: env browser
	$(PYTEST)

# The type check runs beside the tests, not before them: from a clean checkout (as CI) mypy
# takes about 30 s of one core, which the tests leave idle while they wait on the servers and
# commands they start. Its report follows the tests'; either failing fails `make test`.
test: lint browser
	@log=$$(mktemp); $(BIN)/mypy > $$log 2>&1 & types=$$!; \
	echo "$(PYTEST)"; $(PYTEST); tests=$$?; \
	wait $$types; typed=$$?; echo "$(BIN)/mypy"; cat $$log; rm -f $$log; \
	test $$tests = 0 && test $$typed = 0

# Not a test: generates 10k..5M surveys (kept in benchmarks/data/) and times the pipeline, a
# pandas and a DuckDB reference doing the same work, and a polars floor, three alternating
# runs each; writes benchmarks/results/bench.{json,md}. Tens of minutes (README, "Scale").
bench: env
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .prefect .mypy_cache .ruff_cache .pytest_cache
