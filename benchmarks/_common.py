"""Shared pieces of the benchmark suite: results, timing, fresh worker processes.

Nothing here imports intake, pandas or dask: the runner process stays light and
every measurement that touches them runs in a fresh worker process whose
environment points intake at a scratch directory (never ``~/.intake``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_worker.py"


class WorkerError(RuntimeError):
    """A worker process failed; the message carries the tail of its stderr."""


@dataclass
class Result:
    """One row of the results table.

    ``ours`` and ``hand`` are in ``unit``; ``ratio`` is ``ours / hand`` and
    passes when it is at most ``target``. ``target=None`` makes an
    informational row (printed as ``info``): its ratio is reported, never missed.
    """

    name: str
    ours: float
    hand: float
    unit: str
    target: float | None
    ours_label: str = "intake-persistplus"
    hand_label: str = "hand-written"
    statistic: str = "min"
    details: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # untargeted figures worth a line
    error: str | None = None

    @property
    def ratio(self) -> float:
        return self.ours / self.hand if self.hand else float("inf")

    @property
    def info(self) -> bool:
        """An informational row: no target to meet."""
        return self.target is None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.info or self.ratio <= self.target)

    def to_json(self) -> dict:
        out = asdict(self)
        out["ratio"] = None if self.error else self.ratio
        out["ok"] = None if self.info and not self.error else self.ok
        return out


@dataclass
class Sizes:
    """Problem sizes and repeat counts; :func:`sizes` gives the full or quick set."""

    import_repeats: int
    index_entries: int
    access_repeats: int
    access_loop: int
    small_rows: int
    persist_small_repeats: int
    rss_csv_mb: int
    rss_repeats: int
    speed_rows: int
    speed_repeats: int
    read_repeats: int
    concurrency_writers: tuple[int, ...]
    concurrency_seconds: float
    concurrency_rounds: int
    remote_rows: int
    remote_repeats: int
    remote_read_repeats: int
    corpus_repeats: int
    corpus_medium_rows: int


def sizes(quick: bool) -> Sizes:
    if quick:
        return Sizes(
            import_repeats=6,
            index_entries=1_000,
            access_repeats=8,
            access_loop=100,
            small_rows=1_000,
            persist_small_repeats=4,
            rss_csv_mb=60,
            rss_repeats=1,
            speed_rows=200_000,
            speed_repeats=3,
            read_repeats=5,
            concurrency_writers=(1, 2, 4),
            concurrency_seconds=2.0,
            concurrency_rounds=1,
            remote_rows=50_000,
            remote_repeats=3,
            remote_read_repeats=5,
            corpus_repeats=7,
            corpus_medium_rows=20_000,
        )
    return Sizes(
        import_repeats=30,
        index_entries=10_000,
        access_repeats=30,
        access_loop=200,
        small_rows=1_000,
        persist_small_repeats=15,
        rss_csv_mb=1_000,
        rss_repeats=5,
        speed_rows=2_000_000,
        speed_repeats=7,
        read_repeats=11,
        concurrency_writers=(1, 2, 4),
        concurrency_seconds=6.0,
        concurrency_rounds=3,
        remote_rows=200_000,
        remote_repeats=7,
        remote_read_repeats=11,
        corpus_repeats=31,
        corpus_medium_rows=20_000,
    )


@dataclass
class Context:
    """Where a benchmark may write, and how big it should be."""

    scratch: Path  # temporary; removed after the run
    data_dir: Path  # benchmarks/.data, kept between runs
    sizes: Sizes
    quick: bool

    @property
    def pycache(self) -> Path:
        """Bytecode cache of the worker processes (kept between runs)."""
        return self.data_dir / "pycache"

    def subdir(self, name: str) -> Path:
        path = self.scratch / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a worker: the user's, minus any ``INTAKE_*`` setting,
        with intake's config dir and persist path inside the scratch dir."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        env["INTAKE_CONF_DIR"] = str(self.subdir("intake-conf"))
        env["INTAKE_PERSIST_PATH"] = str(self.subdir("default-store"))
        # Bytecode is cached as after a normal install, but outside the source tree:
        # with PYTHONDONTWRITEBYTECODE an editable install recompiles the plugin at
        # every import while intake's own modules come precompiled from site-packages.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        env.update(extra)
        return env


# -- statistics -----------------------------------------------------------------------
def summary(samples: list[float]) -> dict[str, float]:
    return {
        "min": min(samples),
        "median": statistics.median(samples),
        "max": max(samples),
        "n": len(samples),
    }


def timing_result(
    name: str,
    ours: list[float],
    hand: list[float],
    target: float | None,
    *,
    unit: str = "s",
    ours_label: str = "intake-persistplus",
    hand_label: str = "hand-written",
    details: dict | None = None,
    notes: list[str] | None = None,
) -> Result:
    """A :class:`Result` from interleaved timing samples: best-of as the headline,
    medians (and the median of paired ratios) in the details."""
    pairs = [o / h for o, h in zip(ours, hand, strict=True) if h]
    info = {
        "ours": summary(ours),
        "hand": summary(hand),
        "ratio_of_medians": statistics.median(ours) / statistics.median(hand),
        "median_paired_ratio": statistics.median(pairs) if pairs else None,
        "ours_samples": ours,
        "hand_samples": hand,
    }
    info.update(details or {})
    return Result(
        name=name,
        ours=min(ours),
        hand=min(hand),
        unit=unit,
        target=target,
        ours_label=ours_label,
        hand_label=hand_label,
        statistic="min",
        details=info,
        notes=list(notes or []),
    )


def interleave(
    cases: dict[str, Callable[[], float]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run each case ``repeats`` times, alternating the order every round (ABBA).

    Each case returns the seconds it measured itself, so that set-up and
    clean-up stay out of the figure. ``warmup`` rounds are run and dropped.
    """
    names = list(cases)
    out: dict[str, list[float]] = {n: [] for n in names}
    for i in range(warmup + repeats):
        order = names if i % 2 == 0 else names[::-1]
        for n in order:
            seconds = cases[n]()
            if i >= warmup:
                out[n].append(seconds)
    return out


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- worker processes -----------------------------------------------------------------
def run_worker(
    ctx: Context,
    module: str,
    func: str,
    kwargs: dict | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> Any:
    """Call ``benchmarks/<module>.py:<func>(**kwargs)`` in a fresh Python process
    and return what it returned (JSON round-tripped)."""
    out = ctx.scratch / f"worker-{os.getpid()}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, str(WORKER), module, func, json.dumps(kwargs or {}), str(out)]
    proc = subprocess.run(
        cmd,
        env=env if env is not None else ctx.env(),
        cwd=str(ctx.scratch),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        raise WorkerError(f"{module}.{func} exited with {proc.returncode}:\n{tail}")
    try:
        return json.loads(out.read_text())
    finally:
        out.unlink()


def write_catalog(path: Path, entries: dict[str, str], args: dict | None = None) -> Path:
    """A classic intake YAML catalog with one ``csv`` entry per ``name: csv path``
    (each given the reader arguments ``args``, if any)."""
    lines = ["sources:"]
    for name, csv in entries.items():
        lines += [
            f"  {name}:",
            "    driver: csv",
            f"    description: benchmark data {name}",
            "    args:",
            f"      urlpath: {json.dumps(str(csv))}",
        ]
        lines += [f"      {key}: {json.dumps(value)}" for key, value in (args or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path
