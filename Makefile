# Manabi: `make run` serves a ready demo on http://127.0.0.1:5000; `make test` runs the suite.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export FLASK_APP := wsgi
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run lint test test-sqlite test-postgres translations extract-messages check-migrations serve-prod clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt $(VENV)/.runtime-installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

translations: $(VENV)/.runtime-installed
	$(BIN)/pybabel compile -d app/translations

extract-messages: $(VENV)/.runtime-installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

run: translations
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load
	@echo ""
	@echo "Manabi is starting on http://127.0.0.1:5000 (Ctrl+C to stop)"
	$(BIN)/flask serve --host 127.0.0.1 --port 5000

# ruff (rules in pyproject.toml, import order included) and mypy (app/, no untyped defs).
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/mypy

# Both backends side by side (tests/run_backends.py): about the PostgreSQL run's time instead of both in turn.
test: lint translations
	$(BIN)/python tests/run_backends.py $(ARGS)

test-sqlite: $(VENV)/.dev-installed translations
	$(BIN)/python -m pytest -q -p no:cacheprovider $(ARGS)

test-postgres: $(VENV)/.dev-installed translations
	MANABI_TEST_BACKEND=postgresql $(BIN)/python -m pytest -q -p no:cacheprovider -m "not browser" $(ARGS)

check-migrations: $(VENV)/.runtime-installed
	$(BIN)/flask db check

clean:
	rm -rf $(VENV) instance/manabi.sqlite3* test-artifacts
