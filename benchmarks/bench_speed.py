"""Speed of persisting and of reading back a persisted source.

* ``persist_speed``: ``source.persist()`` of a catalog ``csv`` entry vs the
  hand-written ``dd.read_csv(path).to_parquet(dir, write_index=False)``.
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


# -- worker side ------------------------------------------------------------------------
def persist_speed(catalog: str, entry: str, csv: str, hand_out: str, repeats: int) -> dict:
    """Interleaved seconds of ``source.persist()`` and ``dd.read_csv().to_parquet()``."""
    import shutil

    import dask.dataframe as dd
    import intake

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
        seconds = timed(lambda: dd.read_csv(csv).to_parquet(hand_out, write_index=False))
        shutil.rmtree(hand_out, ignore_errors=True)
        return seconds

    return interleave({"ours": ours, "hand": hand}, repeats, warmup=1)


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
def _setup(ctx: Context) -> tuple[str, str]:
    csv = csv_by_rows(ctx.data_dir, ctx.sizes.speed_rows)
    catalog = write_catalog(ctx.subdir("speed") / "catalog.yaml", {"table": csv})
    return str(catalog), str(csv)


def bench_persist_speed(ctx: Context) -> list[Result]:
    """``source.persist()`` vs ``dd.read_csv(path).to_parquet(dir, write_index=False)``."""
    catalog, csv = _setup(ctx)
    out = run_worker(
        ctx,
        "bench_speed",
        "persist_speed",
        dict(
            catalog=catalog,
            entry="table",
            csv=csv,
            hand_out=str(ctx.scratch / "speed" / "hand.parquet"),
            repeats=ctx.sizes.speed_repeats,
        ),
        env=ctx.env(INTAKE_PERSIST_PATH=str(ctx.subdir("speed/store-persist"))),
    )
    return [
        timing_result(
            f"persist {ctx.sizes.speed_rows:,}-row CSV",
            out["ours"],
            out["hand"],
            TARGET,
            hand_label="dd.read_csv().to_parquet()",
        )
    ]


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
