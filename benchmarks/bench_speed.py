"""Speed of persisting and of reading back a persisted source.

* ``persist_speed``: ``source.persist()`` of a catalog ``csv`` entry vs the
  hand-written ``dd.read_csv(path).to_parquet(dir, write_index=False)``
  (target 0.80: the CSV fast path, pyarrow on dask's blocks); the copy is
  then checked to be exact (``pd.read_parquet`` of it equals the original's
  ``read()``).
* ``persist_speed_fallback``: the same with a reader argument the fast path
  does not reproduce (``na_values``), so the source takes the usual path
  (dask partitions through pandas), vs the hand-written pipeline given the
  same argument (target 1.02: no slower than before the fast path).
* ``read_speed``: ``cat.entry().read()`` on an already opened catalog whose
  entry is persisted vs ``pd.read_parquet`` of the same files.

Each runs in one fresh worker process: one warm-up round (imports, page cache),
then interleaved repeats whose set-up and clean-up (fetching the source from
the catalog, removing the previous output) stay out of the timed part.
"""

from __future__ import annotations

from _common import Context, Result, interleave, run_worker, timed, timing_result, write_catalog
from data import csv_by_rows

TARGET = 1.05
FAST_TARGET = 0.80
FALLBACK_TARGET = 1.02
#: a reader argument that changes nothing in this data but keeps the source off the fast path
FALLBACK_ARGS = {"na_values": ["n/a-here"]}


# -- worker side ------------------------------------------------------------------------
def persist_speed(catalog: str, entry: str, csv: str, hand_out: str, repeats: int,
                  reader_args: dict | None = None) -> dict:
    """Interleaved seconds of ``source.persist()`` and ``dd.read_csv().to_parquet()``;
    then whether ``pd.read_parquet`` of the copy equals the original's ``read()``."""
    import shutil

    import dask.dataframe as dd
    import intake
    import pandas as pd

    from intake_persistplus.persist_store import store

    cat = intake.open_catalog(catalog)

    def ours() -> float:
        src = getattr(cat, entry)
        if src.is_persisted:
            raise RuntimeError(f"{entry} is already persisted")
        seconds = timed(src.persist)
        store.remove(src)
        return seconds

    def hand() -> float:
        shutil.rmtree(hand_out, ignore_errors=True)
        seconds = timed(lambda: dd.read_csv(csv, **(reader_args or {})).to_parquet(
            hand_out, write_index=False))
        shutil.rmtree(hand_out, ignore_errors=True)
        return seconds

    out = interleave({"ours": ours, "hand": hand}, repeats, warmup=1)
    copy = getattr(cat, entry)(persist_mode="never").persist()
    want = getattr(cat, entry)(persist_mode="never").read()
    pd.testing.assert_frame_equal(pd.read_parquet(copy._urlpath), want, check_exact=True)
    pd.testing.assert_frame_equal(copy.read(), want, check_exact=True)
    return out | {"exact": True}


def read_speed(catalog: str, entry: str, repeats: int) -> dict:
    """Interleaved seconds of ``cat.<entry>().read()`` and ``pd.read_parquet`` of its files."""
    import intake
    import pandas as pd

    cat = intake.open_catalog(catalog)
    getattr(cat, entry).persist()
    persisted = getattr(cat, entry)
    if not persisted.is_persisted:
        raise RuntimeError(f"cat.{entry} is not served from the store after persist()")
    path = persisted._urlpath
    pd.testing.assert_frame_equal(getattr(cat, entry)().read(), pd.read_parquet(path))

    def ours() -> float:
        return timed(lambda: getattr(cat, entry)().read())

    def hand() -> float:
        return timed(lambda: pd.read_parquet(path))

    out = interleave({"ours": ours, "hand": hand}, repeats, warmup=1)
    return out | {"files": path}


# -- runner side ------------------------------------------------------------------------
def _setup(ctx: Context, folder: str = "speed", args: dict | None = None) -> tuple[str, str]:
    csv = csv_by_rows(ctx.data_dir, ctx.sizes.speed_rows)
    catalog = write_catalog(ctx.subdir(folder) / "catalog.yaml", {"table": csv}, args=args)
    return str(catalog), str(csv)


def _persist_speed(ctx: Context, folder: str, args: dict | None, target: float, name: str) -> Result:
    catalog, csv = _setup(ctx, folder, args)
    out = run_worker(
        ctx,
        "bench_speed",
        "persist_speed",
        dict(
            catalog=catalog,
            entry="table",
            csv=csv,
            hand_out=str(ctx.scratch / folder / "hand.parquet"),
            repeats=ctx.sizes.speed_repeats,
            reader_args=args,
        ),
        env=ctx.env(INTAKE_PERSIST_PATH=str(ctx.subdir(f"{folder}/store-persist"))),
    )
    return timing_result(
        name, out["ours"], out["hand"], target,
        hand_label="dd.read_csv().to_parquet()", details={"exact": out["exact"]},
    )


def bench_persist_speed(ctx: Context) -> list[Result]:
    """``source.persist()`` vs ``dd.read_csv(path).to_parquet(dir, write_index=False)``."""
    return [_persist_speed(ctx, "speed", None, FAST_TARGET,
                           f"persist {ctx.sizes.speed_rows:,}-row CSV (exact)")]


def bench_persist_speed_fallback(ctx: Context) -> list[Result]:
    """The same, with a reader argument that keeps the source off the fast path."""
    return [_persist_speed(ctx, "speed-fallback", FALLBACK_ARGS, FALLBACK_TARGET,
                           f"persist {ctx.sizes.speed_rows:,}-row CSV, usual path (exact)")]


def bench_read_speed(ctx: Context) -> list[Result]:
    """``cat.entry().read()`` of the persisted copy vs ``pd.read_parquet`` of its files."""
    catalog, _ = _setup(ctx)
    out = run_worker(
        ctx,
        "bench_speed",
        "read_speed",
        dict(catalog=catalog, entry="table", repeats=ctx.sizes.read_repeats),
        env=ctx.env(INTAKE_PERSIST_PATH=str(ctx.subdir("speed/store-read"))),
    )
    return [
        timing_result(
            f"read persisted {ctx.sizes.speed_rows:,}-row table",
            out["ours"],
            out["hand"],
            TARGET,
            hand_label="pd.read_parquet()",
            details={"files": out["files"]},
        )
    ]
