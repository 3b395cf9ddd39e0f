"""Peak memory of persisting a large CSV.

``source.persist()`` of a catalog ``csv`` entry vs the hand-written
``dd.read_csv(path).to_parquet(dir, write_index=False)`` on the same file.
Every sample is a fresh process; its peak RSS is ``ru_maxrss`` of the whole
process at the end (imports included, as a user would see it). Runs of the two
alternate; the median peaks are compared. Unlike time, a peak is noisy both
ways (how many partitions happen to be in flight at once depends on thread
scheduling), so the median is the fairer statistic here, not the minimum.
"""

from __future__ import annotations

import shutil
import statistics

from _common import Context, Result, run_worker, write_catalog
from data import csv_by_size

#: issue 15: pyarrow parses CSV blocks into arrow directly, no pandas frame in between
TARGET = 0.85


# -- worker side ------------------------------------------------------------------------
def _maxrss_bytes() -> int:
    import resource
    import sys

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb if sys.platform == "darwin" else kb * 1024


def rss_ours(catalog: str, entry: str) -> dict:
    """Persist ``entry`` of ``catalog`` (to ``INTAKE_PERSIST_PATH``); report peak RSS."""
    import time

    t0 = time.perf_counter()  # imports included, as for the hand-written side
    import intake

    src = getattr(intake.open_catalog(catalog), entry)
    before = _maxrss_bytes()
    src.persist()
    seconds = time.perf_counter() - t0
    return {"peak_bytes": _maxrss_bytes(), "peak_before_bytes": before, "seconds": seconds}


def rss_hand(csv: str, out: str) -> dict:
    """``dd.read_csv(csv).to_parquet(out, write_index=False)``; report peak RSS."""
    import time

    t0 = time.perf_counter()
    import dask.dataframe as dd

    before = _maxrss_bytes()
    dd.read_csv(csv).to_parquet(out, write_index=False)
    seconds = time.perf_counter() - t0
    return {"peak_bytes": _maxrss_bytes(), "peak_before_bytes": before, "seconds": seconds}


# -- runner side ------------------------------------------------------------------------
def bench_peak_rss(ctx: Context) -> list[Result]:
    """Peak RSS of ``source.persist()`` vs ``dd.read_csv().to_parquet()`` on one big CSV."""
    csv = csv_by_size(ctx.data_dir, ctx.sizes.rss_csv_mb)
    size_mb = csv.stat().st_size / 10**6
    work = ctx.subdir("rss")
    catalog = str(write_catalog(work / "catalog.yaml", {"big": csv}))
    runs: dict[str, list[dict]] = {"ours": [], "hand": []}
    for i in range(ctx.sizes.rss_repeats):
        for side in ("ours", "hand") if i % 2 == 0 else ("hand", "ours"):
            target = work / f"{side}-{i}"
            try:
                if side == "ours":
                    env = ctx.env(INTAKE_PERSIST_PATH=str(target))
                    info = run_worker(
                        ctx, "bench_memory", "rss_ours", dict(catalog=catalog, entry="big"), env=env
                    )
                else:
                    info = run_worker(
                        ctx, "bench_memory", "rss_hand", dict(csv=str(csv), out=str(target))
                    )
            finally:
                shutil.rmtree(target, ignore_errors=True)
            runs[side].append(info)
    mib = 2**20
    ours = [r["peak_bytes"] / mib for r in runs["ours"]]
    hand = [r["peak_bytes"] / mib for r in runs["hand"]]
    details = {
        "csv_path": str(csv),
        "csv_mb": size_mb,
        "runs": runs,
        "ours_mib": ours,
        "hand_mib": hand,
        "ratio_of_minimums": min(ours) / min(hand),
        "ours_seconds": [r["seconds"] for r in runs["ours"]],
        "hand_seconds": [r["seconds"] for r in runs["hand"]],
    }
    return [
        Result(
            name=f"peak RSS, persist {size_mb:,.0f} MB CSV",
            ours=statistics.median(ours),
            hand=statistics.median(hand),
            unit="MiB",
            target=TARGET,
            statistic="median",
            details=details,
            notes=[
                "wall time of the same runs (imports included), best of: "
                f"{min(details['ours_seconds']):.2f} s vs {min(details['hand_seconds']):.2f} s "
                "(fresh processes; untargeted)"
            ],
        )
    ]
