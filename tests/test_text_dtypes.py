"""Text columns come back in the dtype each path of the original gives (issue
13, item 3): intake-parquet's ``read()`` is ``pd.read_parquet`` (``str`` on
pandas 3, ``object`` before; ``string`` where the file says so) while its
``to_dask()`` gives dask's ``string[pyarrow]``; intake-excel builds its dask
frame from pandas' own partitions, so both its paths give pandas' ``str``.
Real files through the real drivers, compared dtype by dtype."""

from __future__ import annotations

import json

import intake
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from intake_persistplus.containers import restore

from .conftest import write_catalog


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "name": ["x", "y", None, "z", "x", "w"],
        "n": np.arange(6),
        "tagged": pd.array(["p", None, "q", "p", "r", None], dtype="string"),
        "kind": pd.Categorical(["u", "v", "u", "u", "v", "u"]),
        "f": [1.5, np.nan, 2.0, 3.25, 0.0, -1.0],
    })


def persisted_paths(cat, name: str) -> tuple:
    """(original, copy) of entry ``name``: the copy served by a fresh catalog."""
    original = intake.open_catalog(str(cat))[name](persist_mode="never")
    original.persist()
    served = intake.open_catalog(str(cat))[name]
    assert served.is_persisted
    return original, served


def assert_same_on_both_paths(original, served) -> None:
    want, got = original.read(), served.read()
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    want_dask, got_dask = original.to_dask(), served.to_dask()
    assert got_dask.dtypes.to_dict() == want_dask.dtypes.to_dict()  # lazily, before computing
    pd.testing.assert_frame_equal(got_dask.compute(), want_dask.compute(), check_exact=True)


@pytest.mark.parametrize("args", [{}, {"engine": "pyarrow"}, {"columns": ["name", "tagged", "n"]}],
                         ids=["default", "pyarrow", "columns"])
def test_a_parquet_original_keeps_read_and_dask_text_dtypes(tmp_path, persist_dir, args):
    frame().to_parquet(tmp_path / "d.parquet")
    cat = write_catalog(tmp_path, {"p": {"driver": "parquet", "args": {
        "urlpath": "{{ CATALOG_DIR }}d.parquet", **args}}})
    original, served = persisted_paths(cat, "p")
    # the two paths of the original differ: the copy must keep both
    assert original.read()["name"].dtype != original.to_dask()["name"].dtype
    assert_same_on_both_paths(original, served)


def test_a_hive_partitioned_parquet_original_keeps_its_text_dtypes(tmp_path, persist_dir):
    frame().assign(year=[2024, 2025] * 3).to_parquet(tmp_path / "hive", partition_cols=["year"])
    cat = write_catalog(tmp_path, {"h": {"driver": "parquet", "args": {
        "urlpath": "{{ CATALOG_DIR }}hive", "engine": "pyarrow"}}})
    assert_same_on_both_paths(*persisted_paths(cat, "h"))


def test_an_excel_original_keeps_pandas_text_dtype_on_both_paths(tmp_path, persist_dir):
    pytest.importorskip("intake_excel")
    pytest.importorskip("openpyxl")
    frame().drop(columns=["kind", "tagged"]).to_excel(tmp_path / "d.xlsx", index=False)
    cat = write_catalog(tmp_path, {"x": {"driver": "excel", "args": {
        "urlpath": "{{ CATALOG_DIR }}d.xlsx"}}})
    original, served = persisted_paths(cat, "x")
    if int(pd.__version__.split(".")[0]) >= 3:  # pandas' str, not dask's (dask converts before)
        assert original.to_dask()["name"].dtype == pd.Series(["a"]).dtype
    assert_same_on_both_paths(original, served)


@pytest.mark.parametrize("dtype", ["python", "pyarrow", "str-python", "str-pyarrow"])
def test_every_text_dtype_is_noted_and_read_back(dtype):
    want = restore.text_dtype(dtype)
    if want is None:  # pandas 2.2 has no str with python storage
        assert dtype == "str-python" and pd.__version__.startswith("2.2.")
        return
    assert restore.text_spec(want) == dtype
    assert restore.text_spec(pd.Series(["a"], dtype=want).dtype) == dtype


def test_hostile_text_notes_change_nothing(tmp_path, persist_dir):
    """Notes that name no text dtype, or name a column that is not text or not
    there, are ignored: the copy reads as if nothing were noted."""
    pytest.importorskip("intake_excel")
    pytest.importorskip("openpyxl")
    frame().drop(columns=["kind", "tagged"]).to_excel(tmp_path / "d.xlsx", index=False)
    cat = write_catalog(tmp_path, {"x": {"driver": "excel", "args": {
        "urlpath": "{{ CATALOG_DIR }}d.xlsx"}}})
    persisted_paths(cat, "x")
    path = next(persist_dir.rglob("*.parquet"))
    table = pq.read_table(path)

    def served_with(notes: object) -> tuple:
        md = dict(table.schema.metadata)
        md[b"intake_persistplus"] = json.dumps(notes).encode()
        pq.write_table(table.replace_schema_metadata(md), path)
        fresh = intake.open_catalog(str(cat)).x
        assert fresh.is_persisted
        return fresh.read(), fresh.to_dask().compute()

    plain_read, plain_dask = served_with({})
    for bad in [{"dask_strings": {"name": "object"}}, {"dask_strings": {"name": 5}},
                {"dask_strings": "name"}, {"strings": {"name": "str-str-python"}},
                {"dask_strings": {"n": "python", "f": "str-pyarrow", "nowhere": "pyarrow"}},
                {"strings": ["name"]}, {"dask_strings": {"name": "__import__('os')"}}]:
        got_read, got_dask = served_with(bad)
        pd.testing.assert_frame_equal(got_read, plain_read, check_exact=True, obj=str(bad))
        pd.testing.assert_frame_equal(got_dask, plain_dask, check_exact=True, obj=str(bad))
