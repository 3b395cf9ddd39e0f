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

from ._common import guard_gone


class PersistedParquetSource(ParquetSource):
    """A dataframe persisted by intake-persistplus: a folder of parquet files.

    ``calculate_divisions=True`` (recorded when the original's ``to_dask()`` had
    known divisions) makes ``to_dask()`` compute them again from the files'
    statistics; ``read()`` is unaffected.
    """

    name = "persisted_parquet"

    def __init__(self, urlpath, metadata=None, storage_options=None, calculate_divisions=False, **kwargs):
        super().__init__(urlpath, metadata=metadata, storage_options=storage_options, **kwargs)
        self._calculate_divisions = bool(calculate_divisions)

    @guard_gone
    def read(self):
        return super().read()

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
        return self._df

    @guard_gone
    def _get_schema(self):
        import fsspec
        import pyarrow.parquet as pq

        fs, _, paths = fsspec.core.get_fs_token_paths(self._urlpath, **self._storage_options)
        dataset = pq.ParquetDataset(paths[0], filesystem=fs)  # the path without its protocol
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
