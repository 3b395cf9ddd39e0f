"""Sphinx configuration for intake-persistplus.

Built with ``make docs`` (``sphinx-build -W --keep-going -b html docs docs/_build/html``).
Only extensions that ship with Sphinx are used, and nothing is fetched from the
network: there is no intersphinx.
"""

from __future__ import annotations

import os
import sys
import tempfile

# Importing the package for autodoc must not touch the user's persist store.
os.environ.setdefault("INTAKE_PERSIST_PATH", os.path.join(tempfile.gettempdir(), "intake-persistplus-docs"))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import intake_persistplus  # noqa: E402

project = "intake-persistplus"
author = "intake-persistplus developers"
copyright = "intake-persistplus developers"
release = intake_persistplus.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []
pygments_style = "sphinx"

# -- autodoc / napoleon ------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": False}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True

# -- HTML -----------------------------------------------------------------------------
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"intake-persistplus {release}"
