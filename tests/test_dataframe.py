"""Dataframes round-trip exactly through parquet, path by path."""

from __future__ import annotations

import intake
import numpy as np
import pandas as pd
import pytest

from intake_persistplus import store

from .conftest import errors_without_blocking, make_frame, write_catalog


def assert_paths_equal(original, persisted, read=True):
    """read() against read(), to_dask() against to_dask(): values, dtypes, index, partitions."""
    if read:
        pd.testing.assert_frame_equal(persisted.read(), original.read())
    a, b = original.to_dask(), persisted.to_dask()
    assert b.npartitions == a.npartitions
    pd.testing.assert_frame_equal(b.compute(), a.compute())
    assert list(b.columns) == list(a.columns)


def test_csv_round_trip_both_paths(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    # the two paths of the original disagree on string dtypes; each is kept
    assert original.read().dtypes["label"] != original.to_dask().dtypes["label"]
    persisted = original.persist()
    assert_paths_equal(original, persisted)
    assert persisted.read().index.equals(pd.RangeIndex(200))


def test_default_index_is_not_materialised(csv_catalog, persist_dir):
    import pyarrow.parquet as pq

    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    files = list(persist_dir.rglob("*.parquet"))
    names = pq.read_schema(files[0]).names
    assert names == ["id", "value", "label", "when"]


def test_several_files_keep_their_partitions(tmp_path, persist_dir):
    for i in range(3):
        make_frame(15, seed=i).to_csv(tmp_path / f"part{i}.csv", index=False)
    path = write_catalog(
        tmp_path, {"many": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}part*.csv"}}}
    )
    original = intake.open_catalog(str(path)).many(persist_mode="never")
    persisted = original.persist()
    assert persisted.to_dask().npartitions == 3
    # read() of a glob fails on the original (pandas), so only to_dask() is compared
    assert_paths_equal(original, persisted, read=False)
    assert len(persisted.read()) == 45


def test_blocksize_partitions(tmp_path, persist_dir):
    make_frame(3000).to_csv(tmp_path / "big.csv", index=False)
    path = write_catalog(
        tmp_path,
        {"big": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}/big.csv", "blocksize": 20000}}},
    )
    original = intake.open_catalog(str(path)).big(persist_mode="never")
    assert original.to_dask().npartitions > 3
    persisted = original.persist()
    assert_paths_equal(original, persisted, read=False)


def test_named_index_categoricals_timezones_and_nullable_types(tmp_path, persist_dir):
    path = write_catalog(
        tmp_path,
        {"rich": {"driver": "tests.sources.DaskFrameSource", "args": {"n": 60, "npartitions": 3}}},
    )
    original = intake.open_catalog(str(path)).rich(persist_mode="never")
    persisted = original.persist()
    assert_paths_equal(original, persisted)
    df = persisted.read()
    assert df.index.name == "row" and list(df.columns)[:2] == ["zeta", "alpha"]
    assert isinstance(df["cat"].dtype, pd.CategoricalDtype) and str(df["when"].dt.tz) == "UTC"
    assert store.backtrack(persisted).to_dask().npartitions == 3


def test_source_without_to_dask_is_persisted_from_read(tmp_path, persist_dir):
    path = write_catalog(
        tmp_path, {"ro": {"driver": "tests.sources.ReadOnlyFrameSource", "args": {"n": 25}}}
    )
    original = intake.open_catalog(str(path)).ro(persist_mode="never")
    with pytest.raises(NotImplementedError):
        original.to_dask()
    persisted = original.persist()
    df = persisted.read()
    pd.testing.assert_frame_equal(df, original.read())
    assert list(df.index[:3]) == [0, 10, 20]
    assert persisted.to_dask().npartitions == 1


def test_discover_and_partitions_of_the_persisted_copy(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    persisted = cat.csvsource.persist()
    info = persisted.discover()
    assert info["shape"] == (200, 4) and info["npartitions"] == 1
    pd.testing.assert_frame_equal(
        persisted.read_partition(0), cat.csvsource(persist_mode="never").to_dask().compute()
    )


def test_empty_strings_and_missing_values(tmp_path, persist_dir):
    n = 100
    late = ["v"] * n
    late[3:6] = [None] * 3
    df = pd.DataFrame({"x": np.arange(n), "late": late, "e": [""] * n, "q": ['a "quoted", text'] * n})
    df.to_csv(tmp_path / "odd.csv", index=False)
    path = write_catalog(tmp_path, {"odd": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}/odd.csv"}}})
    original = intake.open_catalog(str(path)).odd(persist_mode="never")
    persisted = original.persist()
    assert_paths_equal(original, persisted)


def test_a_broken_to_dask_falls_back_to_read(tmp_path, persist_dir):
    make_frame(30).to_csv(tmp_path / "indexed.csv", index=False)
    path = write_catalog(
        tmp_path,
        {"ix": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}indexed.csv", "index_col": "id"}}},
    )
    original = intake.open_catalog(str(path)).ix(persist_mode="never")
    with pytest.raises(ValueError):
        original.to_dask()  # dask's read_csv refuses index_col
    persisted = original.persist()
    pd.testing.assert_frame_equal(persisted.read(), original.read())
    assert persisted.read().index.name == "id"


def test_discover_after_reading_the_copy(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    persisted = cat.csvsource.persist()
    persisted.read()
    persisted.to_dask()
    assert persisted.discover()["shape"] == (200, 4)


@pytest.mark.parametrize("blocksize", [None, 2000])
def test_a_filtered_range_index_is_kept(tmp_path, persist_dir, blocksize):
    make_frame(300).to_csv(tmp_path / "t.csv", index=False)
    path = write_catalog(
        tmp_path,
        {"f": {"driver": "tests.sources.FilteredCSVSource",
               "args": {"urlpath": str(tmp_path / "t.csv"), "expr": "id > 6", "blocksize": blocksize}}},
    )
    original = intake.open_catalog(str(path)).f(persist_mode="never")
    assert original.to_dask().compute().index[0] == 7
    persisted = original.persist()
    assert_paths_equal(original, persisted)
    assert persisted.read().index[0] == 7


def test_a_column_parquet_cannot_hold_is_named(tmp_path, persist_dir):
    from intake_persistplus import store

    path = write_catalog(tmp_path, {"c": {"driver": "tests.sources.ComplexFrameSource"}})
    original = intake.open_catalog(str(path)).c(persist_mode="never")
    with pytest.raises(TypeError, match=r"'z' \(complex128\).*astype\(str\)"):
        original.persist()
    assert len(store) == 0
    assert not [p for p in persist_dir.rglob("*.parquet")]


def test_known_divisions_are_known_again(tmp_path, persist_dir):
    path = write_catalog(
        tmp_path,
        {"rich": {"driver": "tests.sources.DaskFrameSource", "args": {"n": 60, "npartitions": 3}}},
    )
    original = intake.open_catalog(str(path)).rich(persist_mode="never")
    persisted = original.persist()
    assert original.to_dask().known_divisions
    assert persisted.to_dask().divisions == original.to_dask().divisions
    pd.testing.assert_frame_equal(persisted.read(), original.read())


def test_booleans_with_gaps_come_back_as_booleans(tmp_path, persist_dir):
    """pandas reads True/False with missing values as objects (True, False,
    NaN); dask turns them into the strings 'True'/'False'. The copy gives each
    path what the original gives, in every partition; text that only looks
    like it stays text, and so does a column the reader is told is text."""
    (tmp_path / "b.csv").write_text(
        "id,flag,word,told\n1,True,True,True\n2,,maybe,\n3,False,False,False\n4,true,True,True\n"
        "5,False,,False\n6,,yes,\n")
    args = {"urlpath": "{{ CATALOG_DIR }}b.csv", "dtype": {"told": "str"}}
    path = write_catalog(tmp_path, {"b": {"driver": "csv", "args": args}})
    original = intake.open_catalog(str(path)).b(persist_mode="never")
    assert original.read()["flag"].tolist()[:3] == [True, pytest.approx(np.nan, nan_ok=True), False]
    persisted = original.persist()
    got = intake.open_catalog(str(path)).b.read()
    pd.testing.assert_frame_equal(got, original.read(), check_exact=True)
    assert got["flag"].map(type).tolist()[:3] == [bool, float, bool]  # not 'True' strings
    assert got["word"].tolist()[0] == "True"  # text beside "maybe" stays text
    assert got["told"].tolist()[0] == "True"  # the reader was told it is text
    assert_paths_equal(original, persisted)


@pytest.mark.parametrize("what", ["a named pipe", "a link to a file outside", "a folder"])
def test_a_parquet_file_that_is_not_a_file_is_refused_without_blocking(csv_catalog, persist_dir, tmp_path, what):
    """A copy's data file replaced by someone else: reading it says so at once
    (a named pipe would block pyarrow's open until someone writes to it; a link
    may lead anywhere), and the original still reads."""
    import os
    from pathlib import Path

    from intake_persistplus import PersistPathError

    cat = intake.open_catalog(str(csv_catalog))
    want = cat.csvsource(persist_mode="never").read()
    cat.csvsource(persist_mode="never").persist()
    (part,) = Path(cat.csvsource._urlpath).glob("*.parquet")
    outside = tmp_path / "outside.parquet"
    part.rename(outside)
    if what == "a named pipe":
        os.mkfifo(part)
    elif what == "a folder":
        part.mkdir()
    else:
        part.symlink_to(outside)
    outcome = errors_without_blocking(lambda: intake.open_catalog(str(csv_catalog)).csvsource.read())
    assert len(outcome) == 1 and isinstance(outcome[0], PersistPathError), outcome
    assert str(part) in str(outcome[0])
    pd.testing.assert_frame_equal(intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never").read(), want)
