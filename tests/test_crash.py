"""A writer killed with SIGKILL mid-persist: the previous version stays served, the
index stays valid, leftovers are never served and are cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import intake
import pytest
import yaml

from intake_persistplus import PersistStore, store

from .conftest import write_catalog


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_persist(tmp_path, persist_dir):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    catalog = write_catalog(
        tmp_path,
        {"slow": {"driver": "tests.sources.SlowFrameSource", "args": {"npartitions": 12, "delay": 0.4}}},
    )
    cat = intake.open_catalog(str(catalog))
    fast = cat.slow(persist_mode="never")
    fast.persist()  # the previous, complete version (slowly too: 12 x 0.4 s over 2 threads)
    token = store.get_tok(fast)
    before = store.record(token)

    code = textwrap.dedent(
        f"""
        import intake
        intake.open_catalog({str(catalog)!r}).slow(persist_mode="never").persist()
        """
    )
    env = dict(os.environ, INTAKE_PERSIST_PATH=str(persist_dir), PYTHONPATH=root)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    tokdir = persist_dir / token
    while not any((tokdir / v / ".incomplete").exists() for v in os.listdir(tokdir)):
        assert time.monotonic() < deadline and proc.poll() is None, "the writer never started"
        time.sleep(0.02)
    time.sleep(0.8)  # some partitions written, not all
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    leftovers = [v for v in os.listdir(tokdir) if (tokdir / v / ".incomplete").exists()]
    assert len(leftovers) == 1
    # the index is valid and still serves the previous version
    doc = yaml.safe_load((persist_dir / "cat.yaml").read_text())
    assert list(doc["sources"]) == [token]
    fresh = PersistStore(str(persist_dir))
    assert fresh.record(token).version == before.version
    served = intake.open_catalog(str(catalog)).slow
    assert served.metadata["persist_version"] == before.version
    assert len(served.read()) == 120
    assert leftovers[0] not in [v.version for v in fresh.versions(token)]

    # the next persist succeeds and cleans up after the dead writer
    cat.slow(persist_mode="never").persist()
    assert store.record(token).version not in (before.version, leftovers[0])
    assert not (tokdir / leftovers[0]).exists()
    assert store.gc() == []
