# The two commands a user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

## make run: install, migrate, seed the default jobs, create the first admin, serve on http://127.0.0.1:5000
run: $(STAMP)
	$(BIN)/whalefall serve

## make test: install the development extras and run the whole suite
test: $(DEV_STAMP)
	$(BIN)/ruff check whalefall tests $(wildcard bench)
	$(BIN)/ruff format --check --quiet whalefall tests $(wildcard bench)
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 3 --dist loadgroup

lint: $(DEV_STAMP)
	$(BIN)/ruff check whalefall tests $(wildcard bench)
	$(BIN)/ruff format --check whalefall tests $(wildcard bench)
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/scale.py --load 500
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/burst.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
