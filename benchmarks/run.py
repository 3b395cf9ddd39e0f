"""Run the intake-persistplus benchmarks: every figure is a ratio against the
hand-written equivalent (or the small-store baseline), measured in the same run.

Usage::

    python benchmarks/run.py                # full suite (~5-7 minutes on 2 cores)
    python benchmarks/run.py --quick        # small sizes, about a minute
    python benchmarks/run.py --only import --only read_speed

Prints ``name | ours | hand-written | ratio | target | ok`` and writes the full
results (all samples, medians, machine info) to ``benchmarks/results/``. A
missed target is printed as MISSED and does not change the exit status; a
benchmark that crashes is printed as ERROR and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HERE, Context, Result, WorkerError, run_worker, sizes  # noqa: E402
from bench_concurrency import bench_concurrency  # noqa: E402
from bench_corpus import bench_corpus  # noqa: E402
from bench_freshness import (  # noqa: E402
    bench_access_vs_before,
    bench_dedupe_disk,
    bench_revalidate,
    bench_revalidate_s3,
)
from bench_import import bench_import  # noqa: E402
from bench_index import bench_catalog_access, bench_persist_big_store  # noqa: E402
from bench_memory import bench_peak_rss  # noqa: E402
from bench_pipeline import bench_pipeline  # noqa: E402
from bench_remote import bench_remote  # noqa: E402
from bench_scale import bench_scale_local, bench_scale_s3  # noqa: E402
from bench_speed import bench_persist_speed, bench_persist_speed_fallback, bench_read_speed  # noqa: E402

BENCHMARKS: dict[str, Callable[[Context], list[Result]]] = {
    "import": bench_import,
    "catalog_access": bench_catalog_access,
    "persist_big_store": bench_persist_big_store,
    "peak_rss": bench_peak_rss,
    "persist_speed": bench_persist_speed,
    "persist_speed_fallback": bench_persist_speed_fallback,
    "read_speed": bench_read_speed,
    "corpus": bench_corpus,
    "concurrency": bench_concurrency,
    "remote": bench_remote,
    "scale_local": bench_scale_local,
    "scale_s3": bench_scale_s3,
    "revalidate": bench_revalidate,
    "revalidate_s3": bench_revalidate_s3,
    "dedupe_disk": bench_dedupe_disk,
    "pipeline": bench_pipeline,
    "access_vs_before": bench_access_vs_before,
}

RESULTS_DIR = HERE / "results"
DATA_DIR = HERE / ".data"


def _fmt(value: float, unit: str) -> str:
    if unit.endswith("/s"):  # a rate (higher is better)
        return f"{value:,.1f} {unit}"
    if unit != "s":
        return f"{value:,.0f} {unit}"
    if value >= 1:
        return f"{value:.3f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} us"


def format_table(results: list[Result]) -> str:
    """The results as an aligned text table."""
    header = ["name", "ours", "hand-written", "ratio", "target", "ok"]
    rows = [header]
    for r in results:
        target = "info" if r.info else f"<= {r.target:g}"
        if r.error:
            target = "-" if r.info else target
            rows.append([r.name, "-", "-", "-", target, "ERROR"])
            continue
        rows.append(
            [
                r.name,
                _fmt(r.ours, r.unit),
                _fmt(r.hand, r.unit),
                f"{r.ratio:.3f}",
                target,
                "-" if r.info else "ok" if r.ok else "MISSED",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        " | ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _machine() -> dict:
    info = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    code = (
        "import json, importlib.metadata as m\n"
        "names = ['intake', 'intake-persistplus', 'intake-parquet', 'dask', 'pandas', 'pyarrow']\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    info["versions"] = json.loads(proc.stdout) if proc.returncode == 0 else {}
    git = subprocess.run(
        ["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    )
    info["git"] = git.stdout.strip() or None
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--output", type=Path, help="JSON file to write (default: results/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    scratch = Path(tempfile.mkdtemp(prefix="persistplus-bench-"))
    ctx = Context(scratch=scratch, data_dir=DATA_DIR, sizes=sizes(args.quick), quick=args.quick)
    started = time.time()
    machine = _machine()
    results: list[Result] = []
    try:
        t0 = time.perf_counter()
        run_worker(ctx, "warmup", "warm_up")
        machine["warmup_s"] = time.perf_counter() - t0
        for name in names:
            t0 = time.perf_counter()
            try:
                found = BENCHMARKS[name](ctx)
            except Exception as e:  # one broken benchmark must not hide the others
                detail = str(e) if isinstance(e, WorkerError) else traceback.format_exc()
                found = [Result(name=name, ours=0.0, hand=0.0, unit="", target=None, error=detail)]
                print(f"ERROR in {name}:\n{detail}", file=sys.stderr)
            for r in found:
                r.details["benchmark"] = name
                r.details["wall_s"] = time.perf_counter() - t0
            results.extend(found)
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    machine["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(format_table(results))
    notes = [f"  {r.name}: {note}" for r in results for note in r.notes]
    if notes:
        print("\nnotes:\n" + "\n".join(notes))
    missed = [r.name for r in results if not r.ok and not r.error]
    if missed:
        print(f"\nMISSED {len(missed)} target(s): {'; '.join(missed)}")
    stamp = _dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    out = args.output or RESULTS_DIR / f"bench-{stamp}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "started": _dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "duration_s": time.time() - started,
        "quick": args.quick,
        "machine": machine,
        "sizes": vars(ctx.sizes),
        "results": [r.to_json() for r in results],
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nresults written to {out}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
