"""A persist store that intake 0.7 itself wrote (tests/data/intake07_store, made by
its make_store.py with intake 0.7.0, pandas 2.0, dask 2023.5, pyarrow 12) is read,
and this package never deletes its data."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import intake
import numpy as np
import pandas as pd
import pytest

from intake_persistplus import PersistStore, store

DATA = Path(__file__).parent / "data" / "intake07_store"
PREFIX = "/tmp/intake07"  # where make_store.py wrote it; see its README
CSV_TOKEN = "4f40fa56e7df1f1132ce56c53d889968"
ARRAY_TOKEN = "65b74d6432b2056fda4a467114f4c241"


@pytest.fixture
def store07(tmp_path, monkeypatch) -> Path:
    """The 0.7 store and its catalog, moved to a temporary folder the way a user
    moves a store: copied, and the absolute paths 0.7 wrote rewritten."""
    shutil.copytree(DATA / "persisted", tmp_path / "persisted")
    shutil.copytree(DATA / "catalog", tmp_path / "catalog")
    index = tmp_path / "persisted" / "cat.yaml"
    index.write_text(index.read_text().replace(PREFIX, str(tmp_path)))
    monkeypatch.setitem(intake.conf, "persist_path", str(tmp_path / "persisted"))
    return tmp_path


def digests(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_its_entries_are_listed_and_read(store07):
    assert sorted(store) == sorted([CSV_TOKEN, ARRAY_TOKEN])
    frame = store[CSV_TOKEN].read()
    original = pd.read_csv(store07 / "catalog" / "table.csv")
    assert list(frame.columns) == ["id", "value", "label", "when"]
    # 0.7 wrote dask's placeholder index name into the files; intake-parquet 0.3's
    # read() (pandas) shows it (docs/migrating.rst, "Existing 0.7 stores")
    assert frame.index.names == ["__null_dask_index__"]
    pd.testing.assert_frame_equal(frame, original, check_dtype=False, check_names=False)
    assert frame.columns.tolist() == original.columns.tolist()
    array = store[ARRAY_TOKEN].read()
    # intake 0.7's numpy driver stacked the one file: it persisted shape (1, 60)
    assert array.shape == (1, 60)
    np.testing.assert_array_equal(array[0], np.load(store07 / "catalog" / "array.npy"))
    (version,) = store.versions(CSV_TOKEN)
    assert version.version.startswith("legacy-") and version.current


def test_its_originals_are_made_again(store07):
    csv = store.backtrack(CSV_TOKEN)
    assert type(csv).__name__ == "CSVSource" and csv.read().shape == (40, 4)
    array = store.backtrack(ARRAY_TOKEN)
    assert array.read().shape == (60,)


def test_new_persists_gc_and_prune_leave_its_data_alone(store07):
    before = digests(store07 / "persisted")
    before = {k: v for k, v in before.items() if k != "cat.yaml"}
    cat = intake.open_catalog(str(store07 / "catalog" / "catalog.yaml"))
    cat.csvsource.persist()
    cat.arraysource.persist()
    store.refresh(CSV_TOKEN)  # a refresh of a 0.7 entry writes a version of this package
    assert store.record(CSV_TOKEN).driver == "persisted_parquet"
    assert store.gc() == []
    store.prune(older_than=0)
    after = digests(store07 / "persisted")
    assert {k: after.get(k) for k in before} == before  # every 0.7 file, byte for byte
    assert len(store) == 4  # the two 0.7 entries and the two new ones
    assert cat.csvsource.read().shape == (40, 4) and cat.csvsource.is_persisted


def test_a_moved_store_that_was_not_rewritten_serves_nothing_outside_it(tmp_path, monkeypatch):
    """0.7 wrote absolute paths: copied elsewhere as is, they point outside the store."""
    shutil.copytree(DATA / "persisted", tmp_path / "persisted")
    moved = PersistStore(str(tmp_path / "persisted"))
    assert sorted(moved) == sorted([CSV_TOKEN, ARRAY_TOKEN])
    with pytest.raises(ValueError, match="points outside its folder"):
        moved[CSV_TOKEN]
