"""Compile and cache the bytecode of everything the benchmarks import.

Run once in a worker before the suite, so that no measured process pays for
compiling pandas, dask or the plugin (see ``Context.env``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import write_catalog
from data import small_csv


def warm_up() -> dict:
    """Import the libraries and do one tiny persist and one tiny ``to_parquet``."""
    import dask.dataframe as dd
    import intake
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="persistplus-warmup-") as tmp:
        root = Path(tmp)
        csv = small_csv(root, "warm", 100)
        intake.conf["persist_path"] = str(root / "store")
        cat = intake.open_catalog(str(write_catalog(root / "catalog.yaml", {"warm": csv})))
        cat.warm.persist()
        cat.warm().read()
        dd.read_csv(str(csv)).to_parquet(str(root / "hand"), write_index=False)
        pd.read_parquet(str(root / "hand"))
    return {"ok": True}
