# The README's two commands: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make demo` installs only the package and what it needs; `make test` (and docs,
# bench, lint) add the test and documentation requirements of ci/requirements.txt.
DEMO_STAMP := $(VENV)/.demo-stamp
STAMP := $(VENV)/.test-stamp
PYTEST_ARGS ?=
# extra arguments of every install into $(VENV), and the files they read (see test-oldest)
UV_ARGS ?=
UV_FILES ?=

.PHONY: install demo test test-fast test-oldest test-pre docs bench lint clean

# uv (from PyPI, into the venv) installs the rest: several times faster than pip
UV := VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/uv pip install --quiet $(UV_ARGS)

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(DEMO_STAMP): pyproject.toml $(UV_FILES) | $(BIN)/uv
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

# The whole suite on the oldest versions pyproject.toml allows: every direct dependency
# at its floor (ci/oldest.txt, as constraints; the rest at their newest), in .venv-oldest.
test-oldest:
	PERSISTPLUS_EXPECT_OLDEST=1 $(MAKE) test VENV=.venv-oldest \
		UV_ARGS="--constraint ci/oldest.txt" UV_FILES=ci/oldest.txt

# The suite less its slow tests (`-m "not slow"`: 40 of 886, the concurrency, scale and
# S3-variant ones, which exercise the store, not intake's API; so that .ci/run keeps
# within its 90 minutes) on intake's newest pre-release (ci/pre.txt overrides
# pyproject.toml's upper bound; only intake may be a pre-release), everything else at
# its newest, in .venv-pre.
test-pre:
	$(MAKE) test-fast VENV=.venv-pre \
		UV_ARGS="--prerelease explicit --override ci/pre.txt" UV_FILES=ci/pre.txt

docs: install
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check intake_persistplus tests benchmarks

clean:
	rm -rf $(VENV) .venv-oldest .venv-pre docs/_build demo-output .pytest_cache
