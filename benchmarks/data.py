"""Deterministic CSV test data with numeric and string columns.

Large files are generated once into ``benchmarks/.data/`` (gitignored) and
reused: a file is written under a temporary name and renamed when complete, so
an interrupted run never leaves a truncated file that looks reusable.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

#: bump when the generator changes, so that stale files are not reused
VERSION = 1

COLUMNS = ("id", "x", "y", "count", "category", "label")
_CATEGORIES = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
]  # fmt: skip


def _chunk(start: int, rows: int, seed: int):
    """Rows ``start .. start + rows`` as a pyarrow table (same rows for the same seed)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng([seed, start])
    cats = np.array(_CATEGORIES, dtype=object)
    labels = np.char.add("item-", rng.integers(0, 10**7, rows).astype("U7"))
    return pa.table(
        {
            "id": np.arange(start, start + rows, dtype="int64"),
            "x": np.round(rng.normal(0.0, 100.0, rows), 3),
            "y": np.round(rng.random(rows), 6),
            "count": rng.integers(0, 100_000, rows, dtype="int32"),
            "category": pa.array(cats[rng.integers(0, len(cats), rows)], type=pa.string()),
            "label": pa.array(labels.astype(object), type=pa.string()),
        }
    )


def write_csv(
    path: Path,
    *,
    rows: int | None = None,
    target_bytes: int | None = None,
    seed: int = 0,
    chunk_rows: int = 500_000,
) -> Path:
    """Write a CSV of ``rows`` rows, or of at least ``target_bytes`` bytes."""
    import pyarrow.csv as pacsv

    if (rows is None) == (target_bytes is None):
        raise ValueError("give exactly one of rows= and target_bytes=")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    written = 0
    try:
        with pacsv.CSVWriter(str(tmp), _chunk(0, 1, seed).schema) as writer:
            while True:
                n = chunk_rows if rows is None else min(chunk_rows, rows - written)
                if n <= 0:
                    break
                writer.write_table(_chunk(written, n, seed))
                written += n
                if target_bytes is not None and tmp.stat().st_size >= target_bytes:
                    break
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def csv_by_rows(data_dir: Path, rows: int) -> Path:
    """A cached CSV with exactly ``rows`` rows."""
    path = data_dir / f"rows-{rows}-v{VERSION}.csv"
    if not path.exists():
        write_csv(path, rows=rows, seed=rows)
    return path


def csv_by_size(data_dir: Path, megabytes: int) -> Path:
    """A cached CSV of about ``megabytes`` MB (10**6 bytes)."""
    path = data_dir / f"size-{megabytes}MB-v{VERSION}.csv"
    if not path.exists():
        write_csv(path, target_bytes=megabytes * 10**6, seed=megabytes)
    return path


def small_csv(directory: Path, name: str, rows: int) -> Path:
    """A small CSV in ``directory`` (not cached: cheap to make)."""
    return write_csv(directory / f"{name}.csv", rows=rows, seed=zlib.crc32(name.encode()))
