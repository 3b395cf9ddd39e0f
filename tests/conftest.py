"""Shared fixtures: a persist store in a temporary folder, real CSV files and
YAML catalogs, and a helper to run code in a fresh Python process.

The tests talk to intake the way a user does (``import intake``,
``intake.open_catalog``); the package activates itself through its entry point.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
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


# -- a real S3 endpoint: moto's server process on 127.0.0.1 -----------------------------------
S3_PORT = 5555  # the endpoint s3fs's own test suite uses


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="session")
def s3_endpoint():
    """Start ``moto.server`` on 127.0.0.1 for the session; stop it afterwards."""
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    port = S3_PORT
    if not _free(port):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not start on {endpoint}")
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """fsspec and botocore pointed at the moto endpoint, here and in subprocesses."""
    import fsspec.config

    env = {
        "AWS_ACCESS_KEY_ID": "testing-key-id",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": s3_endpoint,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    return env


@pytest.fixture
def s3_bucket(s3_env):
    """A fresh bucket; yields its name."""
    import s3fs

    name = f"test-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(endpoint_url=s3_env["FSSPEC_S3_ENDPOINT_URL"])
    fs.mkdir(name)
    yield name


@pytest.fixture
def s3_store(s3_bucket, monkeypatch):
    """``intake.conf['persist_path']`` on S3; yields the URL."""
    url = f"s3://{s3_bucket}/persisted"
    monkeypatch.setitem(intake.conf, "persist_path", url)
    return url
