"""Many writers, one store: no entry lost, the index always readable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import intake
import pytest
import yaml

from intake_persistplus import PersistStore

from .conftest import make_frame, write_catalog

WRITER = textwrap.dedent(
    """
    import sys, time, intake
    catalog, name, start, repeats = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    cat = intake.open_catalog(catalog)
    source = cat[name](persist_mode="never")
    while time.time() < start:
        time.sleep(0.005)
    for _ in range(repeats):
        source.persist()
    """
)


def many_sources(tmp_path, n):
    sources = {}
    for i in range(n):
        make_frame(30 + i, seed=i).to_csv(tmp_path / f"s{i}.csv", index=False)
        sources[f"s{i}"] = {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}" + f"s{i}.csv"}}
    return write_catalog(tmp_path, sources)


def run_writers(catalog, names, env, repeats=1):
    start = time.time() + 3.0  # every process has imported intake by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(catalog), name, str(start), str(repeats)],
            env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in names
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err


def check_store(url, catalog, names):
    st = PersistStore(url)
    cat = intake.open_catalog(str(catalog))
    expected = {st.get_tok(cat[n](persist_mode="never")) for n in names}
    assert set(st) == expected
    for token in expected:
        assert st[token].read().shape[0] >= 30
    return st


@pytest.mark.slow
def test_eight_local_writers(tmp_path):
    catalog = many_sources(tmp_path, 8)
    url = str(tmp_path / "store")
    names = [f"s{i}" for i in range(8)]
    run_writers(catalog, names, {"INTAKE_PERSIST_PATH": url}, repeats=2)
    check_store(url, catalog, names)
    doc = yaml.safe_load(open(os.path.join(url, "cat.yaml")))
    assert len(doc["sources"]) == 8
    assert intake.open_catalog(os.path.join(url, "cat.yaml"))  # valid for intake too


@pytest.mark.slow
def test_four_s3_writers(tmp_path, s3_bucket, s3_env):
    catalog = many_sources(tmp_path, 4)
    url = f"s3://{s3_bucket}/store"
    names = [f"s{i}" for i in range(4)]
    run_writers(catalog, names, {"INTAKE_PERSIST_PATH": url, **s3_env})
    check_store(url, catalog, names)


@pytest.mark.slow
def test_same_source_persisted_concurrently_ends_as_one_entry(tmp_path, s3_bucket, s3_env):
    catalog = many_sources(tmp_path, 1)
    for url in (str(tmp_path / "local-store"), f"s3://{s3_bucket}/same"):
        run_writers(catalog, ["s0"] * 4, {"INTAKE_PERSIST_PATH": url, **s3_env})
        st = check_store(url, catalog, ["s0"])
        assert len(st) == 1
        assert len(st.versions(next(iter(st)))) == 4  # every writer's version is complete
