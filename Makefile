# Aquastand: `make demo` starts the system with demo data, `make test` runs every check.
# Both set up what is missing first (Debian packages, the virtual environment in .venv).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOST ?= 127.0.0.1
PORT ?= 8000
EDGE_PORT ?= 8080
NFC_PORT ?= 19999
PYTEST_ARGS ?=
TRANSLATIONS := cloud/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

.PHONY: help venv test lint format demo translations-extract translations-compile clean distclean

help:
	@echo "make demo     set up, create demo data, serve on http://$(DEMO_HOST):$(PORT)/ and run two simulated stands"
	@echo "              on http://127.0.0.1:$(EDGE_PORT)/ and EDGE_PORT+1 (PORT=, EDGE_PORT=, NFC_PORT=, DEMO_DATA_DIR=, DEMO_DATABASE_URL=)"
	@echo "make test     set up and run every check: ruff, import contracts, mypy, pytest"
	@echo "make lint     the static checks alone;  make format  fix what ruff can"
	@echo "make translations-extract   refresh cloud/translations from the sources"
	@echo "make clean    remove caches and demo data;  make distclean  also the virtual environment"

venv: $(STAMP) $(MO_FILES)

# Rebuilt when pyproject.toml changes: system packages, the environment, the project itself.
$(STAMP): pyproject.toml scripts/system-deps.sh
	scripts/system-deps.sh libzbar0 $$($(PYTHON) -c 'import ensurepip' 2>/dev/null || echo python3-venv)
	$(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV) (a minute or two on a fresh machine)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

%.mo: %.po $(STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

translations-compile: $(MO_FILES)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	scripts/system-deps.sh chromium postgresql-client curl systemd gcc cage xwayland shellcheck nginx
	$(BIN)/pytest $(PYTEST_ARGS)

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The demo never uses the caller's AQUASTAND_* settings, which may name a real installation:
# its data directory is DEMO_DATA_DIR, its database DEMO_DATABASE_URL (empty: SQLite in there).
# scripts/demo.sh runs the central service and two enrolled simulated stands (DEMO_DATA_DIR/stand-1, -2).
# It needs only what `venv` sets up (libzbar0): no browser, the README has the pages opened in any.
DEMO_DATA_DIR ?= $(CURDIR)/.demo-data
DEMO_DATABASE_URL ?=

demo: venv
	exec env BIN='$(BIN)' DEMO_DATA_DIR='$(DEMO_DATA_DIR)' DEMO_DATABASE_URL='$(DEMO_DATABASE_URL)' \
		DEMO_HOST='$(DEMO_HOST)' PORT='$(PORT)' EDGE_PORT='$(EDGE_PORT)' NFC_PORT='$(NFC_PORT)' \
		scripts/demo.sh

translations-extract: venv
	mkdir -p $(TRANSLATIONS)
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext --sort-by-file \
		--project=Aquastand -o $(TRANSLATIONS)/messages.pot .
	if [ -f $(TRANSLATIONS)/en/LC_MESSAGES/messages.po ]; then \
		$(BIN)/pybabel -q update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l en; \
	else \
		$(BIN)/pybabel -q init -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l en; \
	fi

clean:
	rm -rf .demo-data .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build dist \
		test-artifacts *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
