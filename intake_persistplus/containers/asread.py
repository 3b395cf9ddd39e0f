"""What an original dataframe source's ``read()`` gives for its text columns,
where that differs from its ``to_dask()``.

Readers convert text differently on their two paths: dask turns text into
``string[pyarrow]`` (with ``<NA>``), while ``pd.read_csv`` and
``pd.read_parquet`` give pandas' default (``str`` with NaN on pandas 3,
``object`` before), or whatever the parquet file's pandas metadata says. The
copy is written once, from ``to_dask()``; the pandas metadata in its files
names what ``read()`` gives, so the copy's ``read()`` follows it and its
``to_dask()`` follows dask, as the original's did.

Where ``read()``'s types come from:

* an intake-parquet original: its files' schema, converted the way
  ``pd.read_parquet`` converts it (exact, reads only the footers);
* any other source: its ``discover()``, best effort (a CSV's head of missing
  values reads as floats: the full ``read()`` gives pandas' default text).
"""

from __future__ import annotations

import logging
from typing import Any

from ._common import label

logger = logging.getLogger(__name__)

#: reader arguments of intake-parquet whose effect on column types is reproduced here
_PARQUET_ARGS = {"engine", "columns"}


def is_text(dtype: Any) -> bool:
    import pandas as pd

    return isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype)


def default_text():
    import pandas as pd

    return pd.Series(["a"]).dtype  # "str" in pandas 3, object before


def discovered(source: Any) -> Any:
    """``source.discover()``, or None where it fails (it is best effort)."""
    try:
        return source.discover()
    except Exception as e:
        logger.debug("discover() failed on %s: %s", label(source), type(e).__name__)
        return None


def parquet_read_meta(source: Any) -> Any:
    """An empty frame with the dtypes intake-parquet's ``read()`` gives
    (``pd.read_parquet`` of its files), from their schema only; None for any
    other source, reader arguments that change types, or a schema that
    cannot be read."""
    cls = type(source)
    kwargs = getattr(source, "_kwargs", None) or {}
    if not cls.__module__.startswith("intake_parquet") or set(kwargs) - _PARQUET_ARGS or \
            kwargs.get("engine", "pyarrow") not in ("pyarrow", "auto"):
        return None  # (fastparquet converts its own way)
    try:
        import fsspec
        import pyarrow.dataset as ds

        fs, path = fsspec.core.url_to_fs(source._urlpath, **(source._storage_options or {}))
        table = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive").schema.empty_table()
        columns = source._kwargs.get("columns")
        if columns:
            table = table.select(list(columns))
        return _to_pandas(table)
    except Exception as e:  # a path list, a schema pyarrow refuses...: discover() instead
        logger.debug("the parquet schema of %s was not read: %s", label(source), e)
        return None


def _to_pandas(table: Any) -> Any:
    """``table`` converted as ``pd.read_parquet`` converts it, by default."""
    try:
        from pandas.io._util import arrow_table_to_pandas
    except ImportError:  # pandas < 3: pd.read_parquet's defaults
        import pandas as pd

        if pd.get_option("future.infer_string"):
            from pandas.io._util import arrow_string_types_mapper

            return table.to_pandas(types_mapper=arrow_string_types_mapper())
        return table.to_pandas()
    return arrow_table_to_pandas(table)


def read_dtypes(source: Any, meta: Any) -> dict:
    """Dtypes that ``source.read()`` gives for the text columns of ``meta``
    (its ``to_dask()``'s), where they differ from ``meta``'s."""
    import pandas as pd

    cols = [c for c, dt in meta.dtypes.items() if isinstance(dt, pd.StringDtype)]
    if not cols:
        return {}
    exact = parquet_read_meta(source)
    found = exact if exact is not None else discovered(source)
    if isinstance(found, pd.DataFrame):
        dtypes = found.dtypes
    elif isinstance(found, dict) and hasattr(found.get("dtype"), "get"):
        dtypes = found["dtype"]
    else:
        return {}
    out = {}
    for c in cols:
        dt = dtypes.get(c)
        if dt is None:
            continue
        try:
            dt = pd.api.types.pandas_dtype(dt)
        except TypeError:
            continue
        if exact is not None:
            if is_text(dt) and dt != meta.dtypes[c]:
                out[c] = dt
            continue
        if not is_text(dt):
            # a head of all-missing values reads as float; the full read() gives strings
            dt = default_text()
        if dt != meta.dtypes[c] and str(dt) != str(meta.dtypes[c]):  # "string" names no storage
            out[c] = dt
    return out
