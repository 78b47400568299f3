# make run   – the whole application on this machine (see README)
# make test  – the whole test suite (browser tests too when /usr/bin/chromium exists)
# make lint  – ruff (check, format) and mypy ([tool.mypy] in pyproject.toml)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format translations bench

run: $(STAMP)
	$(BIN)/python -m webapp.devrun

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Extract UI texts, update the English catalog, compile it (German is the source language).
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d webapp/translations

bench: $(STAMP)
	@for b in bench/[!_]*.py; do $(BIN)/python "$$b" || exit 1; done

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[run,dev]'
	touch $(STAMP)
