"""A small one-file copy is converted to pandas column by column
(``containers.parquet.plain_frame``) when its pandas metadata says the frame
was plain; the result must be exactly what ``pd.read_parquet`` gives, and
anything else must be left to pyarrow's conversion.

Each case writes a real frame with pandas to a parquet file, reads the file
with pyarrow and compares both conversions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from intake_persistplus.containers.parquet import plain_frame

pytestmark = pytest.mark.skipif(pd.__version__.startswith("2."), reason="pandas 3's text dtype")

N = 6
TIMES = pd.date_range("2024-01-01", periods=N, freq="h")

PLAIN = {
    "ints of every width": pd.DataFrame({f"i{w}": np.arange(N, dtype=f"int{w}") for w in (8, 16, 32, 64)}),
    "unsigned and floats": pd.DataFrame({"u8": np.arange(N, dtype="uint8"), "u64": np.arange(N, dtype="uint64"),
                                         "f32": np.linspace(0, 1, N, dtype="float32"),
                                         "f64": [1.5, np.nan, -0.0, np.inf, 1e300, 5e-324]}),
    "booleans": pd.DataFrame({"b": [True, False] * 3}),
    "text with gaps, accents, empty strings": pd.DataFrame({"s": ["a", None, "déjà", "", "日本", "x,y"]}),
    "times in us and ns": pd.DataFrame({"us": TIMES.as_unit("us"), "ns": TIMES.as_unit("ns"),
                                        "gap": pd.Series(TIMES.as_unit("us")).where(lambda s: s.index != 2)}),
    "no rows": pd.DataFrame({"i": np.array([], dtype="int64"), "s": pd.Series([], dtype="str")}),
}

OTHER = {
    "a categorical": pd.DataFrame({"c": pd.Categorical(["a", "b"] * 3)}),
    "pandas' string with <NA>": pd.DataFrame({"s": pd.array(["a", None] * 3, dtype="string")}),
    "nullable integers": pd.DataFrame({"i": pd.array([1, None] * 3, dtype="Int64")}),
    "times with a zone": pd.DataFrame({"t": TIMES.tz_localize("UTC")}),
    "a named index": pd.DataFrame({"v": range(N)}, index=pd.Index(range(N), name="id")),
    "an index of text": pd.DataFrame({"v": range(N)}, index=list("abcdef")),
    "a range index not from 0": pd.DataFrame({"v": range(N)}, index=pd.RangeIndex(5, 5 + N)),
    "column labels that are numbers": pd.DataFrame({0: range(N), 1: range(N)}),
    "no columns": pd.DataFrame(index=range(N)),
    "durations": pd.DataFrame({"d": pd.to_timedelta(range(N), "s")}),
    # (the copies' own booleans with gaps are noted as bool, and are taken: see test_corpus)
    "booleans with gaps as pandas notes them": pd.DataFrame({"g": pd.Series([True, None, False] * 2, dtype=object)}),
}


def table_of(df, tmp_path):
    path = tmp_path / "part.00000.parquet"
    df.to_parquet(path, engine="pyarrow")
    return pq.ParquetFile(path).read()


def as_read_parquet(table):
    from pandas.io._util import arrow_table_to_pandas

    return arrow_table_to_pandas(table)


@pytest.mark.parametrize("case", sorted(PLAIN))
def test_a_plain_frame_is_made_exactly_as_pandas_reads_it(case, tmp_path):
    table = table_of(PLAIN[case], tmp_path)
    got = plain_frame(table, table.schema.metadata[b"pandas"])
    assert got is not None, "taken by pyarrow's conversion"
    want = as_read_parquet(table)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_column_type=True, check_index_type=True)
    assert list(got.dtypes) == list(want.dtypes)
    for c in got.columns:  # gaps as pandas gives them: None in objects, NaN in floats and text, NaT in times
        assert [type(v) for v in got[c].tolist()] == [type(v) for v in want[c].tolist()], c
    for c in got.columns:  # values set in place, as in pyarrow's conversion (a read-only array raises)
        if len(got):
            got.loc[0, c] = got.loc[len(got) - 1, c]
            assert got[c].iloc[0] is got[c].iloc[-1] or got[c].iloc[0] == got[c].iloc[-1] or pd.isna(got[c].iloc[0])


@pytest.mark.parametrize("case", sorted(OTHER))
def test_other_frames_are_left_to_pyarrow(case, tmp_path):
    table = table_of(OTHER[case], tmp_path)
    assert plain_frame(table, table.schema.metadata[b"pandas"]) is None


@pytest.mark.parametrize("md", [None, b"not json", b"[]", b'{"column_indexes": [], "index_columns": []}'])
def test_metadata_that_is_not_pandas_own_is_left_to_pyarrow(md, tmp_path):
    table = table_of(PLAIN["ints of every width"], tmp_path)
    assert plain_frame(table, md) is None
