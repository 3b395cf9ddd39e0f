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


def intake_textfiles_works() -> bool:
    """Whether intake's own ``textfiles`` driver can be imported: intake 2.1.0a1 and
    2.1.0a2 ship one that cannot (it imports a name ``intake.readers`` lacks)."""
    try:
        import intake.source.textfiles  # noqa: F401
    except ImportError:
        return False
    return True


#: for tests that read through intake's ``textfiles`` driver (intake's bug, not ours)
needs_textfiles = pytest.mark.skipif(
    not intake_textfiles_works(),
    reason=f"intake {intake.__version__}'s own textfiles driver cannot be imported",
)


@pytest.fixture(autouse=True)
def _clean_conf(monkeypatch, tmp_path_factory):
    """No test sees the user's persist settings; conf changes are undone; and a
    test that forgets ``persist_dir`` writes into a temporary config folder,
    never into ``~/.intake``."""
    for key in ("persist_mode", "persist_path"):
        monkeypatch.delitem(intake.conf, key, raising=False)
    monkeypatch.setattr(intake.config, "confdir", str(tmp_path_factory.mktemp("intake-conf")))
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


def fixed_width_text() -> bool:
    """Whether this xarray and zarr store text as fixed-width strings in zarr v2
    (newer ones; older zarr 3 releases use a variable-length filter, and the
    direct reader of small copies leaves those to zarr)."""
    import xarray as xr
    import zarr

    store = zarr.storage.MemoryStore()
    xr.Dataset({"s": ("x", ["ab"])}).to_zarr(store, zarr_format=2, consolidated=False)
    return zarr.open_array(store, path="s", mode="r").metadata.filters is None


def errors_without_blocking(call, timeout: float = 20) -> list[BaseException]:
    """The exceptions ``call()`` raises (none or one), run on a thread that must
    end within ``timeout`` seconds: a read blocked on a named pipe fails the test."""
    import threading

    outcome: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except Exception as e:  # noqa: BLE001 - what the user sees
            outcome.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "read() blocked on the edited copy"
    return outcome


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


# -- one suite, every store location ----------------------------------------------------------
#: The kinds of store root that store-level tests run on (``-k local``, ``-k memory``, ``-k s3``).
STORE_KINDS = ("local", "memory", "s3")


class StoreLocation:
    """A persist store root of one kind, and file access to it through fsspec.

    ``url`` is what ``intake.conf["persist_path"]`` is set to (a plain folder for
    ``local``, a ``memory://`` or ``s3://`` URL otherwise). Paths are given as parts
    relative to the root: ``loc.read_text("cat.yaml")``, ``loc.rm(token, version)``.
    The helpers use a file system instance of their own (not the package's
    cached one, whose listings they could otherwise refresh or stale), so an
    edit made here reaches the store the way another process's edit would.
    """

    def __init__(self, kind: str, url: str, base: str, env: dict | None = None):
        import fsspec

        self.kind = kind
        self.url = url.rstrip("/")
        self.base = base.rstrip("/")  # a fresh folder only this test uses; url is below it
        #: environment for a subprocess that should use this store
        self.env = {"INTAKE_PERSIST_PATH": self.url, **(env or {})}
        protocol = fsspec.core.split_protocol(self.url)[0] or "file"
        options = {}
        if protocol == "s3":  # explicit, whatever a test does to fsspec.config.conf
            options["endpoint_url"] = self.env["FSSPEC_S3_ENDPOINT_URL"]
        self.fs = _helper_fs(protocol, **options)
        self.root = self.fs._strip_protocol(self.url).rstrip("/")

    @property
    def local(self) -> bool:
        return self.kind == "local"

    def view(self) -> str:
        """The text of ``cat.yaml`` once brought up to date, as a user who runs
        ``intake-persist list`` before editing it reads it (an object store's
        view is not rewritten at every commit)."""
        from intake_persistplus import PersistStore

        PersistStore(self.url).compact()
        return self.read_text("cat.yaml")

    def __repr__(self) -> str:
        return f"StoreLocation({self.kind!r}, {self.url!r})"

    def __str__(self) -> str:
        return self.url

    def url_of(self, *parts: str) -> str:
        """The URL (a plain path when local) of ``parts`` inside the store."""
        return "/".join([self.url, *parts])

    def path_of(self, *parts: str) -> str:
        """The file-system path (no protocol) of ``parts`` inside the store."""
        return "/".join([self.root, *parts])

    def sibling(self, name: str) -> StoreLocation:
        """Another fresh root of the same kind next to this one (not configured)."""
        return StoreLocation(self.kind, f"{self.base}/{name}", self.base,
                             {k: v for k, v in self.env.items() if k != "INTAKE_PERSIST_PATH"})

    def _fresh(self):
        self.fs.invalidate_cache()
        return self.fs

    # -- reading ---------------------------------------------------------------------
    def read_bytes(self, *parts: str) -> bytes:
        return self._fresh().cat_file(self.path_of(*parts))

    def read_text(self, *parts: str) -> str:
        return self.read_bytes(*parts).decode("utf-8")

    def exists(self, *parts: str) -> bool:
        return self._fresh().exists(self.path_of(*parts))

    def isdir(self, *parts: str) -> bool:
        return self._fresh().isdir(self.path_of(*parts))

    def listdir(self, *parts: str) -> list[str]:
        """Sorted names of the files and folders in ``parts`` ([] when it is missing)."""
        try:
            entries = self._fresh().ls(self.path_of(*parts), detail=False)
        except FileNotFoundError:
            return []
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def find(self, *parts: str) -> list[str]:
        """Every file below ``parts``, as a path relative to the root (like ``rglob``)."""
        prefix = self.root + "/"
        try:
            found = self._fresh().find(self.path_of(*parts))
        except FileNotFoundError:
            return []
        return sorted(p[len(prefix):] if p.startswith(prefix) else p for p in found)

    # -- writing ---------------------------------------------------------------------
    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write a whole file, making its folders as needed."""
        path = self.path_of(*parts)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(path, data)
        self.fs.invalidate_cache()

    def write_text(self, text: str, *parts: str) -> None:
        self.write_bytes(text.encode("utf-8"), *parts)

    def rm(self, *parts: str) -> None:
        self.fs.rm(self.path_of(*parts), recursive=True)
        self.fs.invalidate_cache()


_HELPER_FS: dict = {}


def _helper_fs(protocol: str, **options):
    """The test helpers' own file system instance (one per session and set of
    options: making an S3 client costs about half a second)."""
    import fsspec

    key = (protocol, tuple(sorted(options.items())))
    if key not in _HELPER_FS:
        _HELPER_FS[key] = fsspec.filesystem(protocol, skip_instance_cache=True, **options)
    return _HELPER_FS[key]


def _forget_memory_folder(base: str) -> None:
    """Remove everything under ``base`` from fsspec's process-global memory file system."""
    from fsspec.implementations.memory import MemoryFileSystem

    path = MemoryFileSystem._strip_protocol(base).rstrip("/")
    for key in [k for k in MemoryFileSystem.store if k == path or k.startswith(path + "/")]:
        MemoryFileSystem.store.pop(key, None)
    MemoryFileSystem.pseudo_dirs[:] = [
        d for d in MemoryFileSystem.pseudo_dirs if not (d == path or d.startswith(path + "/"))
    ]


@pytest.fixture(params=STORE_KINDS)
def store_location(request, tmp_path, monkeypatch) -> StoreLocation:
    """A fresh persist store of each kind, set as ``intake.conf['persist_path']``.

    ``local``: ``persist_dir`` (a folder under ``tmp_path``); ``memory``: a root of
    its own on fsspec's ``memory://`` file system, removed afterwards; ``s3``: a
    fresh bucket on the moto server (``s3_store``). Restrict a test to some kinds
    with :func:`on_stores`.
    """
    kind = request.param
    if kind == "local":
        url = str(request.getfixturevalue("persist_dir"))
        loc = StoreLocation(kind, url, str(tmp_path))
    elif kind == "memory":
        base = f"memory://persist-tests-{uuid.uuid4().hex}"
        monkeypatch.setitem(intake.conf, "persist_path", base + "/persisted")
        loc = StoreLocation(kind, base + "/persisted", base)
    elif kind == "s3":
        url = request.getfixturevalue("s3_store")
        env = dict(request.getfixturevalue("s3_env"))
        loc = StoreLocation(kind, url, url.rsplit("/", 1)[0], env)
    else:  # pragma: no cover - a typo in on_stores(...)
        raise ValueError(f"unknown store kind {kind!r}; known: {STORE_KINDS}")
    try:
        yield loc
    finally:
        if kind == "memory":
            _forget_memory_folder(loc.base)


def on_stores(*kinds: str, slow: tuple = ()):
    """Run a test on some store kinds, or mark some of its kinds.

    ``@on_stores("local", "s3")`` runs it on those kinds only (no kinds: all of
    them); ``slow=("s3",)`` marks those kinds ``slow`` (``make test-fast`` leaves
    them out).
    """
    kinds = kinds or STORE_KINDS
    unknown = (set(kinds) | set(slow)) - set(STORE_KINDS)
    assert not unknown, f"unknown store kinds {unknown}"
    params = []
    for k in kinds:
        marks = [pytest.mark.slow] if k in slow else []
        params.append(pytest.param(k, marks=marks) if marks else k)
    return pytest.mark.parametrize("store_location", params, indirect=True)


# CI runs the property and fuzz tests on fixed examples (HYPOTHESIS_PROFILE=ci, set
# by .ci/run), so that a landing never depends on luck; a developer's runs explore.
try:
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("HYPOTHESIS_PROFILE"):
        _hypothesis_settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
except ImportError:  # pragma: no cover - hypothesis is a test requirement
    pass
