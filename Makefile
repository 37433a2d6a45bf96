# Shequ: `make demo` serves the demo community, `make test` runs the whole suite.
# Python >= 3.12 is found by itself (python3.13, python3.12, pyenv builds); or say PYTHON=/path/to/python.

PORT ?= 8000
SCALE ?= 1
VENV := .venv
BIN := $(VENV)/bin
SHEQU := $(BIN)/shequ
PYTHON ?= $(shell ./scripts/find-python)
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
ASSETS := src/shequ/web/static/build/.built

.PHONY: demo test lint typecheck install assets migrate clean bench help

help:
	@echo "make demo   install, build, migrate, generate the demo community and serve it on :$(PORT)"
	@echo "make test   run the whole suite with lint (SQLite, or SHEQU_DATABASE_URL=postgres://...)"
	@echo "make bench  run the benchmarks in bench/"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Shequ needs Python >= 3.12: install python3.12 or python3.13 (or pyenv install 3.12), or run make PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error

$(ASSETS): frontend/node_modules/.package-lock.json $(shell find frontend/src -type f 2>/dev/null)
	cd frontend && npm run --silent build
	@touch $@

assets: $(ASSETS)

migrate: $(STAMP)
	$(SHEQU) migrate --no-input -v0

demo: $(STAMP) $(ASSETS) migrate
	$(SHEQU) demo-community --scale $(SCALE) --if-absent
	$(SHEQU) basemap
	$(SHEQU) serve --port $(PORT)

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/shequ makemigrations --check --dry-run -v0

typecheck: $(TEST_STAMP)
	$(BIN)/mypy src/shequ

test: $(TEST_STAMP) $(ASSETS) lint typecheck
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/grid_index.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/vision.py
	$(BIN)/python bench/drone.py

clean:
	rm -rf $(VENV) frontend/node_modules src/shequ/web/static/build
