"""A CSV column of booleans whose gaps come after the rows dask guesses types
from: pandas' ``read()`` gives objects (True, False, NaN); dask's
``to_dask()`` casts them to booleans, a gap becoming True. The copy keeps the
gaps and gives each path its own values, on the fast path (pyarrow) and the
usual one (``parse_dates``), in one partition or several. Real files through
intake's ``csv`` driver."""

from __future__ import annotations

import intake
import numpy as np
import pandas as pd
import pytest

from .conftest import write_catalog

ROWS = 40_000  # past dask's 256 KB sample: its guess sees no gap


def write_bools(path, late: list[str]) -> None:
    words = ["True", "False", "true", "FALSE"] * (ROWS // 4)
    rows = [f"{i},{w},{i % 7}\n" for i, w in enumerate(words + late)]
    path.write_text("n,ok,k\n" + "".join(rows))


def by_pandas(path, **kw) -> pd.DataFrame:
    return pd.read_csv(path, **kw)


def served(cat, name: str):
    original = intake.open_catalog(str(cat))[name](persist_mode="never")
    want_dask = original.to_dask()
    assert want_dask._meta.dtypes["ok"] == "bool"  # dask's guess: booleans
    original.persist()
    copy = intake.open_catalog(str(cat))[name]
    assert copy.is_persisted
    return original, copy


@pytest.mark.parametrize("args", [{}, {"parse_dates": ["k"]}, {"blocksize": 120_000}],
                         ids=["one-partition", "parse_dates", "blocks"])
def test_gaps_past_dasks_guess_come_back_on_each_path(tmp_path, persist_dir, args):
    write_bools(tmp_path / "b.csv", ["", "True", "NA", "false", ""])
    cat = write_catalog(tmp_path, {"b": {"driver": "csv", "args": {
        "urlpath": "{{ CATALOG_DIR }}b.csv", **args}}})
    original, copy = served(cat, "b")
    want_dask = original.to_dask()
    got_dask = copy.to_dask()
    assert got_dask.npartitions == want_dask.npartitions
    assert got_dask._meta.dtypes.to_dict() == want_dask._meta.dtypes.to_dict()
    pd.testing.assert_frame_equal(got_dask.compute(), want_dask.compute(), check_exact=True)
    assert got_dask.compute()["ok"].tail(5).tolist() == [True, True, True, False, True]  # dask's cast
    # the original's read() (pandas; intake's read() refuses blocksize, so pandas itself there)
    want = by_pandas(tmp_path / "b.csv", parse_dates=args.get("parse_dates", False)) if \
        "blocksize" in args else original.read()
    got = copy.read()
    assert got["ok"].dtype == object
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    tail = got["ok"].tail(5).tolist()
    assert tail[1:4] == [True, tail[2], False] and all(isinstance(v, float) and np.isnan(v)
                                                       for v in (tail[0], tail[2], tail[4]))


def test_no_gap_stays_a_boolean_column(tmp_path, persist_dir):
    write_bools(tmp_path / "b.csv", ["True"])
    cat = write_catalog(tmp_path, {"b": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}b.csv"}}})
    original, copy = served(cat, "b")
    assert copy.read()["ok"].dtype == bool
    pd.testing.assert_frame_equal(copy.read(), original.read(), check_exact=True)
    pd.testing.assert_frame_equal(copy.to_dask().compute(), original.to_dask().compute(), check_exact=True)


def test_other_words_past_the_guess_are_written_as_dask_casts_them(tmp_path, persist_dir):
    """'maybe' is text to pandas and True to dask's cast: the copy cannot hold
    both, and keeps the original's ``to_dask()`` (as before)."""
    write_bools(tmp_path / "b.csv", ["", "maybe"])
    cat = write_catalog(tmp_path, {"b": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}b.csv"}}})
    original, copy = served(cat, "b")
    pd.testing.assert_frame_equal(copy.to_dask().compute(), original.to_dask().compute(), check_exact=True)
    assert copy.read()["ok"].dtype == bool


def test_a_column_told_to_be_boolean_is_left_to_the_reader(tmp_path, persist_dir):
    write_bools(tmp_path / "b.csv", ["True"])
    cat = write_catalog(tmp_path, {"b": {"driver": "csv", "args": {
        "urlpath": "{{ CATALOG_DIR }}b.csv", "dtype": {"ok": "bool"}}}})
    original, copy = served(cat, "b")
    pd.testing.assert_frame_equal(copy.read(), original.read(), check_exact=True)
    assert copy.metadata.get("persist_version")


def test_a_hostile_footer_cannot_make_reads_slow_or_fail(tmp_path, persist_dir):
    """A footer listing a column 20,000 times, or naming columns that are not
    there or not booleans: each listed column is restored once, the rest ignored."""
    import json

    import pyarrow.parquet as pq

    write_bools(tmp_path / "b.csv", ["", "True"])
    cat = write_catalog(tmp_path, {"b": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}b.csv"}}})
    original, copy = served(cat, "b")
    want_read, want_dask = original.read(), original.to_dask().compute()
    path = next(persist_dir.rglob("*.parquet"))
    table = pq.read_table(path)
    for notes in [{"bool_gaps": ["ok"] * 20_000}, {"bool_gaps": ["ok", "n", "k", "nowhere", 7, None]}]:
        md = dict(table.schema.metadata)
        md[b"intake_persistplus"] = json.dumps(notes).encode()
        pq.write_table(table.replace_schema_metadata(md), path)
        fresh = intake.open_catalog(str(cat)).b
        pd.testing.assert_frame_equal(fresh.read(), want_read, check_exact=True)
        pd.testing.assert_frame_equal(fresh.to_dask().compute(), want_dask, check_exact=True)
