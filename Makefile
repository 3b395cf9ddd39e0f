# The README's two commands: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-fast docs bench lint clean

$(STAMP): pyproject.toml ci/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r ci/requirements.txt -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
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
