# make run   – the whole application on this machine (see README)
# make test  – the whole test suite (browser tests too when /usr/bin/chromium exists)
# make lint  – ruff (check, format) and mypy ([tool.mypy] in pyproject.toml)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What running needs (the `run` extra) and, on top, the test and lint tools (the `dev` extra):
# `make run` installs only the first.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint format translations bench

run: $(RUN_STAMP)
	@$(BIN)/python -m webapp.devrun

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Extract UI texts, update the English catalog, compile it (German is the source language).
translations: $(DEV_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d webapp/translations

bench: $(DEV_STAMP)
	@for b in bench/[!_]*.py; do $(BIN)/python "$$b" || exit 1; done

# pip compiles every installed module one by one; compileall does it on all cores and skips
# phonenumbers' geocoder, carrier and time-zone data (22 MB of modules the app never imports).
# Compiled here, not on first import, so the processes of `make run` start fast even where
# PYTHONDONTWRITEBYTECODE keeps Python from writing what it compiles.
$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	@echo "Virtuelle Umgebung wird angelegt ($(VENV)) …"
	@$(PYTHON) -m venv $(VENV)
	@echo "Abhängigkeiten werden installiert (1–2 Minuten) …"
	@$(BIN)/python -m pip install --quiet --no-compile -e '.[run]'
	@echo "Python-Module werden übersetzt …"
	@$(BIN)/python -m compileall -q -j 0 -x 'phonenumbers/(geodata|carrierdata|tzdata)' $(VENV)/lib webapp > /dev/null
	@touch $@

$(DEV_STAMP): $(RUN_STAMP)
	@echo "Test- und Prüfwerkzeuge werden installiert (1–2 Minuten) …"
	@$(BIN)/python -m pip install --quiet -e '.[run,dev]'
	@touch $@
