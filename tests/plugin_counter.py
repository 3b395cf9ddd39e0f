"""A tiny third-party container, "counter", used to test persister registration.

A CounterSource yields a list of ints; its persister writes them one per line;
CounterFileSource reads them back.
"""

from __future__ import annotations

import fsspec
from intake.source.base import DataSource, Schema


class CounterSource(DataSource):
    container = "counter"
    name = "counter"
    version = "0.1"

    def __init__(self, n=5, metadata=None):
        super().__init__(metadata=metadata)
        self.n = n

    def read(self):
        return list(range(self.n))

    def _get_schema(self):
        return Schema(dtype=None, shape=(self.n,), npartitions=1, extra_metadata={})

    def _close(self):
        pass


class CounterFileSource(DataSource):
    container = "counter"
    name = "counter_file"
    version = "0.1"

    def __init__(self, urlpath, metadata=None):
        super().__init__(metadata=metadata)
        self.urlpath = urlpath

    def read(self):
        with fsspec.open(f"{self.urlpath}/numbers.txt", "r") as f:
            return [int(line) for line in f.read().split()]

    def _get_schema(self):
        return Schema(dtype=None, shape=None, npartitions=1, extra_metadata={})

    def _close(self):
        pass


class CounterPersister:
    container = "counter"
    drivers = ("counter_file",)
    calls = 0

    def write(self, source, path, storage_options=None, **kwargs):
        type(self).calls += 1
        fs, root = fsspec.core.url_to_fs(path)
        fs.makedirs(root, exist_ok=True)
        with fs.open(f"{root}/numbers.txt", "w") as f:
            f.write("\n".join(str(i) for i in source.read()))
        return "counter_file", {"urlpath": path}
