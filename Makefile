# Rapport: `make run` serves the app with demo data; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_WORKERS ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint openapi test-sqlite test-postgres test-browser bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/rapport migrate --noinput
	$(BIN)/rapport collectstatic --noinput --verbosity 0
	$(BIN)/rapport demo --if-empty
	$(BIN)/rapport serve --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	RAPPORT_VAR_DIR=$(CURDIR)/var/lint DJANGO_SETTINGS_MODULE=rapport.test_settings $(BIN)/rapport makemigrations --check --dry-run
	RAPPORT_VAR_DIR=$(CURDIR)/var/lint DJANGO_SETTINGS_MODULE=rapport.test_settings $(BIN)/rapport openapi --check openapi.json

openapi: $(VENV)/.installed-dev
	DJANGO_SETTINGS_MODULE=rapport.test_settings $(BIN)/rapport openapi --write openapi.json

test-sqlite: $(VENV)/.installed-dev
	env -u DATABASE_URL $(BIN)/pytest -m "not browser" -n $(PYTEST_WORKERS) -q

test-postgres: $(VENV)/.installed-dev
	@if [ -n "$$RAPPORT_TEST_DATABASE_URL" ]; then \
		echo "== test suite on PostgreSQL ($$RAPPORT_TEST_DATABASE_URL)"; \
		DATABASE_URL="$$RAPPORT_TEST_DATABASE_URL" $(BIN)/pytest -m "not browser" -n $(PYTEST_WORKERS) -q; \
	else echo "== RAPPORT_TEST_DATABASE_URL is not set: PostgreSQL suite skipped"; fi

test-browser: $(VENV)/.installed-dev
	@if [ -x /usr/bin/chromium ]; then \
		echo "== browser tests in Chromium"; \
		env -u DATABASE_URL $(BIN)/pytest -m browser -q -p no:xdist; \
	else echo "== /usr/bin/chromium not found: browser tests skipped"; fi

test: lint test-sqlite test-postgres test-browser

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var build *.egg-info
