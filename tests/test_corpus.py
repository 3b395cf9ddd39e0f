"""Every source of the corpus (``tests/corpus.py``: small CSVs with the quirks
package data has, a parquet file, netCDF files alone and combined, a zarr
store) persists, and a freshly opened catalog hands out its copy, which reads
back exactly what the original reads: ``read()`` and ``to_dask().compute()``,
values, labels and dtypes. (How fast is ``benchmarks/bench_corpus.py``'s.)
"""

from __future__ import annotations

import intake
import pandas as pd
import pytest

from . import corpus
from .conftest import fixed_width_text

xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")
pytest.importorskip("intake_xarray")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return str(corpus.build(tmp_path_factory.mktemp("corpus"), medium_rows=3_000))


def assert_same_frame(got, want):
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    assert list(got.columns) == list(want.columns)  # labels of their own type (0, 1, ... without a header)


def assert_same_dataset(got, want):
    xr.testing.assert_identical(got, want)
    for name, var in want.variables.items():
        assert got[name].dtype == var.dtype, f"{name}: {var.dtype} came back as {got[name].dtype}"


def persisted(catalog: str, name: str):
    """(the original, the source a freshly opened catalog hands out once it is persisted)."""
    original = intake.open_catalog(catalog)[name](persist_mode="never")
    original.persist()
    served = intake.open_catalog(catalog)[name]
    assert served.is_persisted, f"{name}: a fresh catalog does not serve the copy"
    return original, served


#: known differences, each a bug of the writer (not of reading the copy) to fix
KNOWN: dict[str, str] = {}


def sources():
    return [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN[n], strict=True)) if n in KNOWN else n
            for n in corpus.NAMES]


@pytest.mark.parametrize("name", sources())
def test_round_trip(persist_dir, catalog, name):
    """read() and to_dask().compute() of the copy a fresh catalog serves, each
    against the same path of the original."""
    frame = name in corpus.FRAMES
    same = assert_same_frame if frame else assert_same_dataset
    original, served = persisted(catalog, name)
    # small datasets stored as one chunk a variable are read directly, the others by zarr
    direct = not frame and name != "netcdf_multi" and (name != "netcdf4_file" or fixed_width_text())
    assert type(served).__name__ == ("PersistedParquetSource" if frame else
                                     "PersistedZarrSource" if direct else "ZarrSource")
    same(served.read(), original.read())
    same(intake.open_catalog(catalog)[name].to_dask().compute(), original.to_dask().compute())


def test_booleans_with_gaps_come_back_as_pandas_reads_them(persist_dir, catalog):
    """A CSV column of True/False with gaps is objects (True, False, NaN) in the
    original's read(), and so in the copy's, however its values are compared."""
    original, served = persisted(catalog, "csv_tiny")
    got, want = served.read(), original.read()
    assert want["checked"].dtype == object and got["checked"].dtype == object
    assert got["checked"].map(type).tolist() == want["checked"].map(type).tolist()
    assert got["valid"].dtype == bool  # no gaps: booleans
    assert got["station"].dtype == want["station"].dtype  # text that merely starts like it stays text
