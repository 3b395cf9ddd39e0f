"""Shared fixtures: a persist store in a temporary folder, real CSV files and
YAML catalogs, and a helper to run code in a fresh Python process.

The tests talk to intake the way a user does (``import intake``,
``intake.open_catalog``); the package activates itself through its entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import intake
import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _clean_conf(monkeypatch):
    """No test sees the user's persist settings; conf changes are undone."""
    for key in ("persist_mode", "persist_path"):
        monkeypatch.delitem(intake.conf, key, raising=False)
    yield


@pytest.fixture
def persist_dir(tmp_path, monkeypatch) -> Path:
    """A fresh persist store for this test (``intake.conf['persist_path']``)."""
    path = tmp_path / "persisted"
    monkeypatch.setitem(intake.conf, "persist_path", str(path))
    return path


def make_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "value": rng.random(n).round(6),
            "label": rng.choice(["alpha", "beta", None], n),
            "when": pd.date_range("2026-01-01", periods=n, freq="h").astype(str),
        }
    )


def write_catalog(folder: Path, sources: dict, metadata: dict | None = None) -> Path:
    """Write ``catalog.yaml`` with the given ``sources:`` mapping (YAML text built by hand)."""
    import yaml

    doc = {"metadata": {"version": 1, **(metadata or {})}, "sources": sources}
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def csv_catalog(tmp_path) -> Path:
    """A catalog with a CSV entry ``csvsource`` (200 rows, strings with missing values)."""
    data = tmp_path / "data"
    data.mkdir()
    make_frame().to_csv(data / "table.csv", index=False)
    return write_catalog(
        data,
        {
            "csvsource": {
                "description": "a CSV table",
                "driver": "csv",
                "args": {"urlpath": "{{ CATALOG_DIR }}/table.csv"},
                "metadata": {"origin": "tests"},
            }
        },
    )


def run_python(code: str, env: dict | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; raise with its output if it fails."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
