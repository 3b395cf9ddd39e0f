"""A store written by intake-persistplus 0.1.0 (tests/data/store010, see its README)
loads, is upgraded in place on first use, and loses nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import intake
import pandas as pd
import pytest
import yaml

from intake_persistplus import PersistStore

DATA = Path(__file__).parent / "data" / "store010"
PREFIX = "/tmp/persistplus010"


@pytest.fixture
def old_store(monkeypatch) -> Path:
    """The store where 0.1.0 wrote it (tokens hash the catalog's folder, so an
    upgrade in place keeps them; a moved catalog is another matter)."""
    root = Path(PREFIX)
    if root.exists():
        if not (root / "README.md").exists():
            pytest.skip(f"{PREFIX} exists and is not ours")
        shutil.rmtree(root)
    shutil.copytree(DATA, root)
    monkeypatch.setitem(intake.conf, "persist_path", str(root / "store"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_a_0_1_0_store_is_served_and_upgraded_in_place(old_store):
    cat = intake.open_catalog(str(old_store / "data" / "catalog.yaml"))
    copy = cat.table(persist_mode="always")  # its ttl=3600 ran out long ago: no refresh here
    assert copy.is_persisted  # found at the first catalog access
    pd.testing.assert_frame_equal(copy.read(), cat.table(persist_mode="never").read())
    part_b = cat.bypart(part="b")
    assert part_b.is_persisted and part_b.read()["name"].iloc[0] == "b0"

    store = old_store / "store"
    view = yaml.safe_load((store / "cat.yaml").read_text())
    assert view["metadata"]["persistplus_index"] == 2  # rewritten in the new format
    assert sorted(p.name for p in (store / ".heads").iterdir()) == sorted(view["sources"])
    st = PersistStore(str(store))
    records = st.records()
    assert sorted(r.label for r in records.values()) == ["bypart(part='b')", "table"]
    by_name = {r.original_name: r for r in records.values()}
    assert by_name["table"].ttl == 3600 and by_name["bypart"].keep == 2  # settings kept
    assert len(st.versions(by_name["table"].token)) == 2  # both versions still there
    assert st.named("table")[0].token == by_name["table"].token  # names are filed


def test_an_upgraded_store_takes_new_versions_and_old_retention(old_store):
    cat = intake.open_catalog(str(old_store / "data" / "catalog.yaml"))
    for _ in range(2):
        cat.bypart(part="b", persist_mode="never").persist()
    st = PersistStore(str(old_store / "store"))
    token = st.get_tok(cat.bypart(part="b", persist_mode="never"))
    assert len(st.versions(token)) == 2  # keep=2 from the old entry stays in force
    assert len(intake.open_catalog(str(old_store / "store" / "cat.yaml"))) == 2
