"""Small real DataSource classes for tests (in a module, so catalogs can name them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from intake.source.base import DataSource, Schema


def rich_frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "zeta": rng.integers(0, 100, n).astype("int32"),
            "alpha": rng.random(n),
            "cat": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"]),
            "when": pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC"),
            "flag": rng.random(n) > 0.5,
            "maybe": pd.array(rng.choice([1, 2, None], n), dtype="Int64"),
            "text": pd.array(rng.choice(["a", "b", None], n), dtype="string"),
        }
    )
    df.index = pd.Index(np.arange(1000, 1000 + n), name="row")
    return df


class DaskFrameSource(DataSource):
    """A dataframe with a named index in ``npartitions`` dask partitions (known divisions)."""

    container = "dataframe"
    name = "dask_frame"
    version = "0.1"
    partition_access = True

    def __init__(self, n=60, npartitions=3, metadata=None):
        super().__init__(metadata=metadata)
        self.n, self.nparts = n, npartitions

    def _get_schema(self):
        df = rich_frame(self.n)
        return Schema(dtype=dict(df.dtypes), shape=df.shape, npartitions=self.nparts, extra_metadata={})

    def to_dask(self):
        import dask.dataframe as dd

        return dd.from_pandas(rich_frame(self.n), npartitions=self.nparts)

    def read(self):
        return self.to_dask().compute()

    def _close(self):
        pass


class ReadOnlyFrameSource(DataSource):
    """A dataframe source without ``to_dask()``; its index is unnamed but not a range."""

    container = "dataframe"
    name = "read_only_frame"
    version = "0.1"

    def __init__(self, n=25, metadata=None):
        super().__init__(metadata=metadata)
        self.n = n

    def read(self):
        df = rich_frame(self.n)
        df.index = pd.Index(np.arange(self.n) * 10)
        return df

    def _get_schema(self):
        return Schema(dtype=None, shape=(self.n, 7), npartitions=1, extra_metadata={})

    def _close(self):
        pass


def _slow_partition(df, delay):
    import time

    time.sleep(delay)
    return df


class SlowFrameSource(DataSource):
    """A dataframe whose partitions each take ``delay`` seconds to compute."""

    container = "dataframe"
    name = "slow_frame"
    version = "0.1"

    def __init__(self, npartitions=10, delay=0.3, label="v1", metadata=None):
        super().__init__(metadata=metadata)
        self.nparts, self.delay, self.label = npartitions, delay, label

    def to_dask(self):
        import dask.dataframe as dd

        df = pd.DataFrame({"i": np.arange(self.nparts * 10), "label": self.label})
        ddf = dd.from_pandas(df, npartitions=self.nparts, sort=False)
        return ddf.map_partitions(_slow_partition, self.delay, meta=ddf._meta)

    def read(self):
        return self.to_dask().compute()

    def _get_schema(self):
        return Schema(dtype=None, shape=(self.nparts * 10, 2), npartitions=self.nparts, extra_metadata={})

    def _close(self):
        pass


class FilteredCSVSource(DataSource):
    """``dd.read_csv(path).query(expr)``: a range index that does not restart at 0."""

    container = "dataframe"
    name = "filtered_csv"
    version = "0.1"

    def __init__(self, urlpath, expr, blocksize=None, metadata=None):
        super().__init__(metadata=metadata)
        self.urlpath, self.expr, self.blocksize = urlpath, expr, blocksize

    def to_dask(self):
        import dask.dataframe as dd

        return dd.read_csv(self.urlpath, blocksize=self.blocksize).query(self.expr)

    def read(self):
        return self.to_dask().compute()

    def _get_schema(self):
        return Schema(dtype=None, shape=None, npartitions=1, extra_metadata={})

    def _close(self):
        pass


class ComplexFrameSource(DataSource):
    """A column parquet cannot hold (complex numbers)."""

    container = "dataframe"
    name = "complex_frame"
    version = "0.1"

    def read(self):
        return pd.DataFrame({"ok": [1, 2], "z": np.array([1 + 2j, 3 - 1j])})

    def _get_schema(self):
        return Schema(dtype=None, shape=(2, 2), npartitions=1, extra_metadata={})

    def _close(self):
        pass


class HourlySource(DataSource):
    """A read-only dataframe whose index is a ``DatetimeIndex`` with a ``freq``."""

    container = "dataframe"
    name = "hourly"
    version = "0.1"

    def __init__(self, n=48, metadata=None):
        super().__init__(metadata=metadata)
        self.n = n

    def read(self):
        index = pd.date_range("2026-01-01", periods=self.n, freq="h", name="when")
        return pd.DataFrame({"load": np.arange(self.n) * 1.5}, index=index)

    def _get_schema(self):
        return Schema(dtype=None, shape=(self.n, 1), npartitions=1, extra_metadata={})

    def _close(self):
        pass
