"""The intake driver that reads persisted dataframes back.

``PersistedParquetSource`` is ``intake_parquet.ParquetSource`` (a subclass: same
``read()``, ``to_dask()``, arguments and YAML form) with one repair:
intake-parquet 0.3's ``discover()`` fails with ``engine="pyarrow"`` (its
schema lacks ``extra_metadata``) and otherwise needs fastparquet. Here
``discover()`` reads the parquet footers with pyarrow only: column dtypes as
``read()`` gives them, the row count, one partition per file.
"""

from __future__ import annotations

from intake.source import base
from intake_parquet.source import ParquetSource

from ._common import OURS, guard_gone
from .restore import decoded, restored, restored_dask


def _looks_boolean(s) -> bool:
    """Whether the first values of a text column present are all 'True' or 'False'."""
    present = s.notna().to_numpy()
    if not present.any():
        return False
    start = int(present.argmax())
    head = s.iloc[start:start + 256].dropna()
    return set(head.unique()) <= {"True", "False"}


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

        df = super().read()
        if self._restore:
            return restored(df, self._noted())
        # copies written before `restore` was recorded: only a text column that
        # starts with 'True'/'False' makes the footer worth reading
        if any(isinstance(dt, pd.StringDtype) and _looks_boolean(df[c]) for c, dt in df.dtypes.items()):
            df = restored(df, {"bool_text": self._noted().get("bool_text")})
        return df

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
