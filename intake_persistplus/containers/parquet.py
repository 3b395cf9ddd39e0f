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
        conversion ``pd.read_parquet`` uses (``pandas.io._util.arrow_table_to_pandas``)."""
        import fsspec
        import pyarrow.parquet as pq

        try:
            from pandas.io._util import arrow_table_to_pandas
        except ImportError:  # pandas < 3
            return None
        if set(self._kwargs) - {"engine"}:
            return None
        local = isinstance(self._urlpath, str) and "://" not in self._urlpath and "::" not in self._urlpath
        if local:  # a folder on this disk: listed without an fsspec file system
            files = [(e.path, e.stat().st_size) for e in os.scandir(self._urlpath) if e.name.endswith(".parquet")]
        else:
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
