# The two set-up commands of the README: `make demo` and `make test`.
# Both create what they need (.venv), are idempotent and say what they do.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# One pytest worker per core: every test has its own database, dap-sim and Meltano dirs.
# The slowest tests are listed at the end, to watch CI's time budget.
PYTEST_ARGS ?= -n auto --durations=25
PACKAGE_FILES := pyproject.toml tap-dap/pyproject.toml target-dap-sql/pyproject.toml dap-sim/pyproject.toml

.PHONY: help venv lint typecheck pytest test demo bench clean

help:
	@echo "make demo   run the main job offline: dap-sim -> tap-dap -> target-dap-sql (DuckDB)"
	@echo "make test   ruff (lint + format check), mypy on the three packages, the whole pytest suite"
	@echo "make bench  the benchmark (bench/README.md); options: make bench BENCH_ARGS='--quick'"

$(STAMP): $(PACKAGE_FILES)
	@echo "==> creating $(VENV) and installing tap-dap, target-dap-sql, dap-sim and the dev tools"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e ./tap-dap -e ./target-dap-sql -e ./dap-sim --group dev
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	@echo "==> ruff check"
	@$(VENV)/bin/ruff check .
	@echo "==> ruff format --check"
	@$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	@echo "==> mypy tap-dap target-dap-sql dap-sim scripts"
	@$(VENV)/bin/mypy tap-dap/tap_dap target-dap-sql/target_dap_sql dap-sim/dap_sim scripts

pytest: $(STAMP)
	@echo "==> pytest"
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

demo: $(STAMP)
	@$(PY) scripts/demo.py

# Not part of `make test`: minutes of measurements. matplotlib (the chart) is a
# bench-only dependency; the official DAP client gets a venv of its own (.venv-dap-official).
bench: $(STAMP)
	@$(PY) -c "import matplotlib" 2>/dev/null || { echo "==> installing matplotlib into $(VENV) (bench only)"; $(PY) -m pip install --quiet matplotlib; }
	@$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .meltano data .pytest_cache .mypy_cache .ruff_cache
