# The README's two commands: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make demo` installs only the package and what it needs; `make test` (and docs,
# bench, lint) add the test and documentation requirements of ci/requirements.txt.
DEMO_STAMP := $(VENV)/.demo-stamp
STAMP := $(VENV)/.test-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-fast docs bench lint clean

# uv (from PyPI, into the venv) installs the rest: several times faster than pip
UV := VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/uv pip install --quiet

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(DEMO_STAMP): pyproject.toml | $(BIN)/uv
	$(UV) -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml ci/requirements.txt $(DEMO_STAMP)
	$(UV) -r ci/requirements.txt -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m intake_persistplus demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

docs: install
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check intake_persistplus tests benchmarks

clean:
	rm -rf $(VENV) docs/_build demo-output .pytest_cache
