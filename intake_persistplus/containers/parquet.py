"""The intake driver that reads persisted dataframes back.

``PersistedParquetSource`` is ``intake_parquet.ParquetSource`` (a subclass: same
``read()``, ``to_dask()``, arguments and YAML form) with one repair:
intake-parquet 0.3's ``discover()`` fails with ``engine="pyarrow"`` (its
schema lacks ``extra_metadata``) and otherwise needs fastparquet. Here
``discover()`` reads the parquet footers with pyarrow only: column dtypes as
``read()`` gives them, the row count, one partition per file.
"""

from __future__ import annotations

import os

from intake.source import base
from intake_parquet.source import ParquetSource

from ..errors import PersistPathError
from ._common import OURS, guard_gone, is_local
from .restore import bools_of, decoded, gaps_of, restore_bools, restored, restored_dask


def _looks_boolean(s) -> bool:
    """Whether the first values of a text column present are all 'True' or 'False'."""
    head = s.iloc[:256].dropna()
    if not len(head):  # rarely: the column starts with 256 gaps
        present = s.notna().to_numpy()
        if not present.any():
            return False
        start = int(present.argmax())
        head = s.iloc[start:start + 256].dropna()
    return all(isinstance(v, str) and v in ("True", "False") for v in head.tolist())


#: a copy's file smaller than this (bytes) is read and converted on one thread
SMALL = 1 << 20
#: pandas' names (``numpy_type`` in the pandas metadata) of the numbers
#: :func:`plain_frame` converts itself
_NUMBERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                      "float32", "float64", "bool"})


#: the pandas metadata of column labels that are text (as pandas writes it)
_TEXT_LABELS = [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "str",
                 "metadata": {"encoding": "UTF-8"}}]


def _writable(values):
    """``values``, or a copy that can be written to (as pyarrow's conversion
    gives; pyarrow's zero-copy arrays cannot be)."""
    return values if values.flags.writeable else values.copy()


def plain_frame(table, pandas_md: bytes | None):
    """The frame pandas 3's ``pd.read_parquet`` makes of a small ``table``, made
    column by column: pyarrow's general conversion spends most of its time on
    metadata this simple frame does not need. None unless the pandas metadata
    (``pandas_md``) says the frame had a default index and plain columns:
    numbers, booleans, text that pandas 3 reads as ``str``, times without a
    time zone (anything else: pyarrow's conversion)."""
    import json

    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if pd.__version__.startswith(("1.", "2.")):  # text is object there, or a str with another name
        return None
    try:
        md = json.loads(pandas_md)
    except (TypeError, ValueError):
        return None
    names = table.column_names
    if not isinstance(md, dict) or md.get("column_indexes") not in ([], _TEXT_LABELS) or not names \
            or len(set(names)) != len(names):
        return None
    if md.get("index_columns") not in ([], [{"kind": "range", "name": None, "start": 0, "stop": table.num_rows,
                                             "step": 1}]):
        return None
    columns = md.get("columns")
    if not isinstance(columns, list) or len(columns) != len(names):
        return None
    text = pd.StringDtype(na_value=np.nan)
    arrays = {}
    for name, col, spec in zip(names, table.columns, columns, strict=True):
        if not isinstance(spec, dict) or spec.get("name") != name or spec.get("field_name", name) != name:
            return None
        kind, numpy_type, t = spec.get("pandas_type"), spec.get("numpy_type"), col.type
        if (pa.types.is_string(t) or pa.types.is_large_string(t)) and numpy_type in ("object", "str") \
                and kind in ("unicode", "empty", "object") and spec.get("metadata") is None:
            arrays[name] = text.__from_arrow__(col)
        elif numpy_type in _NUMBERS and kind == numpy_type and spec.get("metadata") is None \
                and t == pa.from_numpy_dtype(np.dtype(numpy_type)):
            # with gaps, integers as floats and booleans as objects, as pyarrow's
            arrays[name] = _writable(col.to_numpy())
        elif kind == "datetime" and pa.types.is_timestamp(t) and t.tz is None \
                and numpy_type == f"datetime64[{t.unit}]" and spec.get("metadata") is None:
            arrays[name] = _writable(col.to_numpy())
        else:
            return None
    return pd.DataFrame(arrays, copy=False)


class PersistedParquetSource(ParquetSource):
    """A dataframe persisted by intake-persistplus: a folder of parquet files.

    ``calculate_divisions=True`` (recorded when the original's ``to_dask()`` had
    known divisions) makes ``to_dask()`` compute them again from the files'
    statistics; ``read()`` is unaffected. ``restore=True`` (recorded when the
    writer noted what parquet does not hold: column labels that are not text,
    numeric categories, a ``DatetimeIndex``'s ``freq``, booleans written as
    text) puts that back (:mod:`.restore`), from the first file's footer.
    """

    name = "persisted_parquet"

    def __init__(self, urlpath, metadata=None, storage_options=None, calculate_divisions=False,
                 restore=False, **kwargs):
        super().__init__(urlpath, metadata=metadata, storage_options=storage_options, **kwargs)
        self._calculate_divisions = bool(calculate_divisions)
        self._restore = restore is True

    @guard_gone
    def read(self):
        import pandas as pd

        found = self._read_one_file()
        if found is not None:  # what the writer noted came with the data: no second look
            df, info = found  # booleans put back already
            rest = {k: v for k, v in info.items() if k not in ("bool_text", "bool_gaps")}
            return restored(df, rest) if self._restore and rest else df
        df, info = super().read(), None
        if any((isinstance(dt, pd.StringDtype) or dt == "object") and _looks_boolean(df[c])
               for c, dt in df.dtypes.items()):  # (text is object before pandas 3)
            # only a text column that starts with 'True'/'False' makes booleans worth looking for
            info = self._noted()
            df = restore_bools(df, info.get("bool_text"))
        if self._restore:
            info = self._noted() if info is None else info
            df = restored(df, {k: v for k, v in info.items() if k != "bool_text"})
        return df

    def _read_one_file(self):
        """(the frame ``pd.read_parquet`` gives, what the writer noted) for a copy
        of one file, read with one open and one footer parse: no dataset
        discovery (most of the fixed cost of reading a small copy), and on
        small data no thread pool (starting its work costs more than it saves).
        None for several files, reader arguments, or a pandas without the
        conversion ``pd.read_parquet`` uses (``pandas.io._util.arrow_table_to_pandas``).

        Raises
        ------
        PersistPathError
            for a local copy with a link, folder, named pipe or device where a
            parquet file should be (whatever reads it then)."""
        import fsspec
        import pyarrow.parquet as pq

        local = isinstance(self._urlpath, str) and "://" not in self._urlpath and "::" not in self._urlpath
        if local:  # a folder on this disk: listed without an fsspec file system, and checked first
            found = [e for e in os.scandir(self._urlpath) if e.name.endswith(".parquet")]
            for e in found:
                if not e.is_file(follow_symlinks=False):  # a named pipe would block any reader
                    raise PersistPathError(
                        f"{e.path} in a persisted copy is a link, a folder, a named pipe or a device "
                        "where a parquet file should be: the copy was edited; remove it, or persist "
                        "the source again"
                    )
            files = [(e.path, e.stat(follow_symlinks=False).st_size) for e in found]
        try:
            from pandas.io._util import arrow_table_to_pandas
        except ImportError:  # pandas < 3
            return None
        if set(self._kwargs) - {"engine"}:
            return None
        if not local:
            fs, root = fsspec.core.url_to_fs(self._urlpath, **self._storage_options)
            files = [(i["name"], i.get("size") or 0) for i in fs.ls(root, detail=True)
                     if i["name"].endswith(".parquet")]
            local = is_local(fs)
        if len(files) != 1:
            return None
        (path, size), = files
        small = size < SMALL  # read in one go on this thread: no I/O pool, no decoding pool
        if local:  # pyarrow's own reads (no Python in between)
            file = pq.ParquetFile(path, pre_buffer=not small)
            # several row groups of some size: the dataset reader decodes them in parallel
            table = file.read(use_threads=not small) if small or file.num_row_groups < 2 \
                else pq.read_table(path)
        else:
            with fs.open(path, "rb") as f:
                table = pq.ParquetFile(f).read(use_threads=not small)
        md = table.schema.metadata or {}
        info = decoded(md.get(OURS))
        texts = info.get("bool_text")
        bools = {c: out for c in (texts if isinstance(texts, list) else ())
                 if isinstance(c, str) and c in table.column_names
                 and (out := bools_of(table.column(c))) is not None}
        gaps = info.get("bool_gaps") if self._restore else None  # (noted, the copy is read with restore=True)
        bools.update({c: out for c in (gaps if isinstance(gaps, list) else ())
                      if isinstance(c, str) and c not in bools and c in table.column_names
                      and (out := gaps_of(table.column(c))) is not None})
        df = plain_frame(table, md.get(b"pandas")) if small else None
        if df is None:
            df = arrow_table_to_pandas(table, to_pandas_kwargs={"use_threads": not small})
        names = list(df.columns) if bools else []  # (a list: hashing pandas' labels costs more)
        if len(set(names)) == len(names):
            for c, out in bools.items():
                df.isetitem(names.index(c), out)  # in place: no copy of the frame's other columns
        if b"PANDAS_ATTRS" in md:  # as pd.read_parquet does
            import json

            df.attrs = json.loads(md[b"PANDAS_ATTRS"])
        return df, info

    def _noted(self) -> dict:
        """What the writer noted in the first file's footer (:mod:`.restore`)."""
        import fsspec
        import pyarrow.parquet as pq

        fs, root = fsspec.core.url_to_fs(self._urlpath, **self._storage_options)
        files = sorted(p for p in fs.find(root) if p.endswith(".parquet"))
        if not files:
            return {}
        with fs.open(files[0], "rb") as f:
            md = pq.read_schema(f).metadata or {}
        return decoded(md.get(OURS))

    @guard_gone
    def read_partition(self, i):
        return super().read_partition(i)

    @guard_gone
    def to_dask(self):
        import dask.dataframe as dd

        self._df = dd.read_parquet(
            self._urlpath,
            storage_options=self._storage_options,
            calculate_divisions=self._calculate_divisions,
            **self._kwargs,
        )
        if self._restore:
            self._df = restored_dask(self._df, self._noted())
        return self._df

    @guard_gone
    def _get_schema(self):
        import fsspec
        import pyarrow.parquet as pq

        fs, root = fsspec.core.url_to_fs(self._urlpath, **self._storage_options)
        dataset = pq.ParquetDataset(root, filesystem=fs)  # the path without its protocol
        schema = dataset.schema
        meta = schema.empty_table().to_pandas()
        columns = self._kwargs.get("columns")
        if columns:
            meta = meta[list(columns)]
        rows = sum(f.metadata.num_rows for f in dataset.fragments)
        return base.Schema(
            dtype={k: str(v) for k, v in meta.dtypes.items()},
            shape=(rows, len(meta.columns)),
            npartitions=len(dataset.fragments),
            extra_metadata={},
        )
