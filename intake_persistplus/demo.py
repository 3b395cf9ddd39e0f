"""The README's main job: persist a slow CSV source of a stock catalog and show the effect.

The original is slow for a reason users meet every day: a gzip-compressed CSV
whose timestamps must be parsed on every read. The copy is parquet, with the
types already decoded.

Run with ``make demo``, ``intake-persist demo`` or ``python -m intake_persistplus demo``.
Everything is written below one scratch folder; the user's own store is not touched.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Callable
from importlib import resources
from typing import TextIO

MARKER = ".intake-persist-demo"


def _make_csv(path: str, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    df = pd.DataFrame(
        {
            "trip_id": np.arange(rows),
            "pickup": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, rows), unit="s"),
            "distance_km": rng.gamma(2.0, 2.5, rows).round(2),
            "fare": rng.gamma(3.0, 5.0, rows).round(2),
            "zone": rng.choice(["north", "south", "east", "west", "centre"], rows),
            "payment": rng.choice(["card", "cash", None], rows, p=[0.7, 0.25, 0.05]),
        }
    )
    df.to_csv(path, index=False, compression="gzip")


def _wait_for_expiry(rec) -> None:
    fresh_since = max(rec.timestamp, rec.checked or 0.0)
    time.sleep(max(0.0, fresh_since + rec.ttl - time.time()) + 0.1)


def speedup_text(slow: float, fast: float) -> str:
    """Honest words for a ratio of two timings: a speed-up only when there is one."""
    ratio = slow / fast if fast > 0 else float("inf")
    if ratio >= 1.2:
        return f"the copy reads {ratio:.1f}x as fast"
    if ratio > 1 / 1.2:
        return "about as fast as the original here: persisting pays when reading the original is slow"
    return f"the copy reads slower here ({1 / ratio:.1f}x the original's time)"


def _best_of(fn: Callable[[], object], n: int = 3) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(folder: str = "demo-output", rows: int = 600_000, out: TextIO | None = None) -> dict:
    """Run the demo in ``folder`` (emptied first); return the figures it printed."""
    import intake

    def say(msg: str = "") -> None:
        print(msg, file=out, flush=True)

    folder = os.path.abspath(folder)
    marker = os.path.join(folder, MARKER)
    if os.path.isdir(folder) and os.listdir(folder) and not os.path.exists(marker):
        raise FileExistsError(
            f"demo folder {folder!r} is not empty and was not made by the demo; "
            "choose another one with --folder"
        )
    shutil.rmtree(folder, ignore_errors=True)  # only ever a folder the demo made
    os.makedirs(folder)
    with open(marker, "w") as f:
        f.write("made by `intake-persist demo`; the demo empties this folder when run again\n")
    store_dir = os.path.join(folder, "persisted")
    old_path = intake.conf.get("persist_path")
    intake.conf["persist_path"] = store_dir
    with warnings.catch_warnings():
        # dask's notice that a gzip file is one partition: expected, and noise here
        warnings.filterwarnings("ignore", message="Warning gzip compression does not support")
        return _steps(folder, store_dir, catalog_rows=rows, say=say, old_path=old_path)


def _steps(folder: str, store_dir: str, catalog_rows: int, say, old_path) -> dict:
    import intake
    import pandas as pd

    rows = catalog_rows
    try:
        catalog = os.path.join(folder, "catalog.yaml")
        text = resources.files("intake_persistplus").joinpath("examples/demo.yaml").read_text()
        with open(catalog, "w") as f:
            f.write(text)
        say(f"1. Writing {rows:,} rows of gzip-compressed CSV and a catalog into {folder}")
        _make_csv(os.path.join(folder, "trips.csv.gz"), rows)
        say(f"   persist store: {store_dir}")

        cat = intake.open_catalog(catalog)
        original = cat.trips(persist_mode="never")
        say("\n2. The catalog entry declares `persist: {ttl: 2}`; the first read persists it")
        t0 = time.perf_counter()
        source = cat.trips
        df = source.read()
        first = time.perf_counter() - t0
        say(f"   first read: {len(df):,} rows in {first:.2f} s (read the CSV and wrote parquet)")
        from intake_parquet.source import ParquetSource

        say(f"   the source is now a {type(source).__name__} (an intake_parquet ParquetSource: "
            f"{isinstance(source, ParquetSource)}), is_persisted={source.is_persisted}")
        say(f"   original.has_been_persisted={original.has_been_persisted}")

        say("\n3. The next access is redirected to the persisted copy")
        again = cat.trips
        say(f"   cat.trips -> {type(again).__name__} at {again._urlpath}")
        pd.testing.assert_frame_equal(again.read(), original.read())
        say("   its data equals the original's (pandas.testing.assert_frame_equal)")
        t_csv = _best_of(original.read, 5)
        t_parquet = _best_of(again.read, 5)
        say(f"   read(), best of 5: the original (decompress, parse, parse dates) {t_csv:.3f} s, "
            f"the persisted copy {t_parquet:.3f} s")
        say(f"   -> {speedup_text(t_csv, t_parquet)}")

        say("\n4. After the TTL (2 s) the copy expires; the CSV has not changed, so the next "
            "data access only checks it")
        from .persist_store import store

        before = store.record(original)
        _wait_for_expiry(before)
        expired = cat.trips
        say(f"   expired: {store.needs_refresh(original)}; getting the source did no work "
            f"(still version {before.version})")
        t0 = time.perf_counter()
        expired.read()
        checked = store.record(original)
        say(f"   read() compared the CSV's size and times with the copy's record "
            f"(read() took {(time.perf_counter() - t0):.2f} s, reading the copy included): unchanged, "
            "so the copy is fresh "
            f"again, still version {checked.version}")

        say("\n5. The CSV changes; once the TTL has run out again, the next data access re-reads it")
        _make_csv(os.path.join(folder, "trips.csv.gz"), rows + 1000)
        _wait_for_expiry(checked)
        df = cat.trips.read()
        after = store.record(original)
        say(f"   read(): {len(df):,} rows, new version {after.version}")
        say("\nDone. Open the store as a catalog: "
            f"intake.open_catalog({os.path.join(store_dir, 'cat.yaml')!r})")
        return {"first_read": first, "csv_read": t_csv, "parquet_read": t_parquet,
                "revalidated": checked.version == before.version and checked.checked is not None,
                "refreshed": after.version != before.version and len(df) == rows + 1000}
    finally:
        if old_path is None:
            intake.conf.pop("persist_path", None)
        else:
            intake.conf["persist_path"] = old_path
