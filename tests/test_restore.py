"""What parquet cannot hold comes back (issue 13, item 5): column labels that
are not text, numeric categories, a ``DatetimeIndex``'s ``freq``; noted by the
writer in the files' footer, put back by the copy's ``read()`` and
``to_dask()``. A footer written by someone else cannot turn that against the
reader: anything malformed is ignored."""

from __future__ import annotations

import json

import intake
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .conftest import write_catalog


def assert_paths_equal(original, persisted):
    pd.testing.assert_frame_equal(persisted.read(), original.read(), check_exact=True)
    a, b = original.to_dask(), persisted.to_dask()
    assert b.npartitions == a.npartitions
    assert list(b.columns) == list(a.columns)
    pd.testing.assert_frame_equal(b.compute(), a.compute(), check_exact=True)


def test_a_header_less_csv_keeps_integer_labels(tmp_path, persist_dir):
    (tmp_path / "n.csv").write_text("".join(f"{i},{i / 4},w{i}\n" for i in range(40)))
    cat = write_catalog(tmp_path, {"n": {"driver": "csv", "args": {
        "urlpath": "{{ CATALOG_DIR }}n.csv", "header": None}}})
    original = intake.open_catalog(str(cat)).n(persist_mode="never")
    assert list(original.read().columns) == [0, 1, 2]
    original.persist()
    served = intake.open_catalog(str(cat)).n
    assert served.is_persisted
    assert list(served.read().columns) == [0, 1, 2]
    assert list(served.to_dask().columns) == [0, 1, 2]
    assert_paths_equal(original, served)


def test_hive_partitions_keep_their_numeric_categories(tmp_path, persist_dir):
    frame = pd.DataFrame({"year": np.repeat([2023, 2024, 2025], 4), "v": np.arange(12.0)})
    frame.to_parquet(tmp_path / "hive", partition_cols=["year"])
    cat = write_catalog(tmp_path, {"h": {"driver": "parquet", "args": {
        "urlpath": "{{ CATALOG_DIR }}hive", "engine": "pyarrow"}}})
    original = intake.open_catalog(str(cat)).h(persist_mode="never")
    assert original.read()["year"].cat.categories.tolist() == [2023, 2024, 2025]
    original.persist()
    served = intake.open_catalog(str(cat)).h
    assert served.is_persisted
    got = served.read()["year"]
    assert got.dtype == original.read()["year"].dtype  # categories, their int32, unordered
    assert_paths_equal(original, served)


def test_a_datetime_index_keeps_its_freq(tmp_path, persist_dir):
    cat = write_catalog(tmp_path, {"t": {"driver": "tests.sources.HourlySource", "args": {}}})
    original = intake.open_catalog(str(cat)).t(persist_mode="never")
    assert original.read().index.freqstr == "h"
    original.persist()
    served = intake.open_catalog(str(cat)).t
    assert served.is_persisted
    assert served.read().index.freqstr == "h"
    pd.testing.assert_frame_equal(served.read(), original.read(), check_exact=True)  # freq checked


def test_a_hostile_footer_changes_nothing(tmp_path, persist_dir):
    """Labels of the wrong length, categories that are not a list or of a
    non-numeric dtype, a nonsense freq, non-JSON: the data comes back as read."""
    (tmp_path / "n.csv").write_text("".join(f"{i},{i % 3}\n" for i in range(30)))
    cat = write_catalog(tmp_path, {"n": {"driver": "csv", "args": {
        "urlpath": "{{ CATALOG_DIR }}n.csv", "header": None}}})
    intake.open_catalog(str(cat)).n(persist_mode="never").persist()
    path = next(persist_dir.rglob("*.parquet"))
    table = pq.read_table(path)
    want = pd.read_parquet(path)
    for bad in [
        json.dumps({"labels": [0, 1, 2, 3]}),
        json.dumps({"labels": ["__import__('os')", 1]}),
        json.dumps({"categories": {"0": {"categories": "abc"}}, "freq": 5}),
        json.dumps({"categories": {"1": {"categories": [1, 2], "dtype": "object"}}}),
        json.dumps({"freq": "not a frequency", "bool_text": "0"}),
        json.dumps(["a list"]),
        "{not json",
    ]:
        md = dict(table.schema.metadata)
        md[b"intake_persistplus"] = bad.encode()
        pq.write_table(table.replace_schema_metadata(md), path)
        got = intake.open_catalog(str(cat)).n.read()
        assert [str(c) for c in got.columns] == ["0", "1"], bad
        pd.testing.assert_frame_equal(got.set_axis(["0", "1"], axis=1), want, check_exact=True)


def test_a_copy_with_list_columns_reads_back(tmp_path, persist_dir):
    """Object columns that hold lists are not text: looking for booleans written
    as text must pass them by (several files, as pandas 2.2 reads any copy)."""
    folder = tmp_path / "lists"
    folder.mkdir()
    for i in range(2):
        pd.DataFrame({"x": [[1, 2], [3]], "s": ["True", "False"]}).to_parquet(folder / f"part.{i}.parquet")
    cat = write_catalog(tmp_path, {"l": {"driver": "parquet", "args": {
        "urlpath": "{{ CATALOG_DIR }}lists", "engine": "pyarrow"}}})
    original = intake.open_catalog(str(cat)).l(persist_mode="never")
    original.persist()
    served = intake.open_catalog(str(cat)).l
    assert served.is_persisted
    got = served.read()
    assert [list(v) for v in got["x"]] == [[1, 2], [3], [1, 2], [3]]
    assert got["s"].tolist() == ["True", "False", "True", "False"]  # text in a parquet original stays text
