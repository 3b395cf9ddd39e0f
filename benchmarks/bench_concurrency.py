"""Throughput of one local store under concurrent writers.

``concurrency``: persists per second into ONE local store with 1, 2 and 4
writer processes at once. Every writer is a fresh worker process persisting its
own small CSV source (``cat.w<i>(persist_mode="never").persist()``) over and
over for a fixed wall time; the figure is the total number of persists that
*finished* inside that window, divided by its length. All writers start at the
same instant, behind a start barrier (each one has imported everything and
done a few untimed warm-up persists into a separate store first).

The same writer processes run every round: after a dropped warm-up round with
every writer, the writer counts alternate (1, 2, 4, then 4, 2, 1, ...) and
every round writes into a store of its own, so
that each round starts from the same (empty) store; writers not in a round
wait. The headline of a writer count is its best round (most persists/s); the
ratio is (persists/s with N writers) / (persists/s with 1 writer), so unlike
the other rows **higher is better**, and there is no target (``info``).

At the end a fresh process checks every round's store: exactly one index entry
per writer's source, that entry is the version its writer wrote last (no update
lost to a concurrent rewrite of the index), one complete version folder per
persist, no unfinished one, and every entry reads back equal to its CSV.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import WORKER, Context, Result, WorkerError, run_worker, write_catalog
from data import small_csv

#: seconds between two rounds, for persists still running at the end of a window
GAP = 0.75
WARMUP_PERSISTS = 3
#: seconds of the dropped first round, with every writer
WARMUP_ROUND_S = 1.5
#: seconds the writers may take to start (imports, warm-up) before the barrier opens
READY_TIMEOUT = 180.0


# -- worker side (runs in a fresh process; imports intake) -------------------------------
def writer(
    catalog: str,
    entry: str,
    me: int,
    rounds: list[dict],
    warm_store: str,
    ready_file: str,
    go_file: str,
) -> dict:
    """Persist ``entry`` over and over in each round of ``rounds`` this writer is in.

    Waits for ``go_file`` (written by the runner once every writer has written
    its ``ready_file``); round times are offsets from the start time it holds.
    """
    import contextlib

    import intake

    from intake_persistplus.index import Index
    from intake_persistplus.persist_store import store

    cat = intake.open_catalog(catalog)
    source = getattr(cat, entry)(persist_mode="never")
    intake.conf["persist_path"] = warm_store
    for _ in range(WARMUP_PERSISTS):  # imports, persister, page cache
        source.persist()
    token = store.get_tok(source)

    # time spent waiting for, and holding, the index lock (a few perf_counter calls)
    lock_stats = {"wait": 0.0, "hold": 0.0, "n": 0}
    plain_lock = Index.lock

    @contextlib.contextmanager
    def timed_lock(self):
        t0 = time.perf_counter()
        with plain_lock(self):
            t1 = time.perf_counter()
            try:
                yield
            finally:
                lock_stats["wait"] += t1 - t0
                lock_stats["hold"] += time.perf_counter() - t1
                lock_stats["n"] += 1

    Index.lock = timed_lock

    Path(ready_file).write_text(str(os.getpid()))
    deadline = time.time() + READY_TIMEOUT + 60
    while not os.path.exists(go_file):
        if time.time() > deadline:
            raise RuntimeError("the start signal never came")
        time.sleep(0.002)
    t0 = json.loads(Path(go_file).read_text())["t0"]

    out = []
    for rnd in rounds:
        if me >= rnd["writers"]:
            continue
        intake.conf["persist_path"] = rnd["store"]
        start = t0 + rnd["offset"]
        stop = start + rnd["seconds"]
        late = time.time() - start  # > 0: the previous round overran into this one
        if late < 0:
            time.sleep(-late)
        lock_stats.update(wait=0.0, hold=0.0, n=0)
        cpu0 = os.times()
        events = []
        version = None
        while time.time() < stop:
            a = time.time()
            persisted = source.persist()
            b = time.time()
            events.append((a - start, b - start))
            version = persisted.metadata["persist_version"]
        cpu1 = os.times()
        out.append(
            {
                "round": rnd["round"],
                "late_s": late,
                "events": events,
                "last_version": version,
                "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
                "lock_wait_s": lock_stats["wait"],
                "lock_hold_s": lock_stats["hold"],
                "locks": lock_stats["n"],
            }
        )
    return {"entry": entry, "token": token, "pid": os.getpid(), "rounds": out}


def verify(catalog: str, stores: list[dict]) -> dict:
    """Check every round's store (see the module docstring); raise on any problem."""
    import glob

    import intake
    import pandas as pd

    from intake_persistplus import PersistStore

    cat = intake.open_catalog(catalog)
    names = sorted({n for s in stores for n in s["entries"]})
    originals = {n: getattr(cat, n)(persist_mode="never") for n in names}
    frames = {n: src.read() for n, src in originals.items()}
    reads = 0
    for s in stores:
        root = s["store"]
        st = PersistStore(root)
        tokens = {st.get_tok(originals[n]): n for n in s["entries"]}
        found = list(st)
        if sorted(found) != sorted(tokens):
            raise AssertionError(
                f"{root}: index has {len(found)} entries {found}, expected one per writer "
                f"{sorted(tokens)}"
            )
        index_cat = intake.open_catalog(os.path.join(root, "cat.yaml"))
        if sorted(index_cat) != sorted(tokens):
            raise AssertionError(f"{root}: cat.yaml read by intake lists {sorted(index_cat)}")
        leftovers = glob.glob(os.path.join(root, "*", "*", ".incomplete"))
        if leftovers:
            raise AssertionError(f"{root}: unfinished versions left: {leftovers[:3]}")
        for token, name in tokens.items():
            record = st.record(token)
            if record.version != s["last_versions"][name]:
                raise AssertionError(
                    f"{root}: entry of {name} is version {record.version}, but its writer "
                    f"wrote {s['last_versions'][name]} last (an update was lost)"
                )
            versions = len(glob.glob(os.path.join(root, token, "*", "record.yaml")))
            if versions != s["persists"][name]:
                raise AssertionError(
                    f"{root}: {versions} complete versions of {name}, its writer persisted "
                    f"{s['persists'][name]} times"
                )
            pd.testing.assert_frame_equal(st[token].read(), frames[name])
            reads += 1
    return {"stores": len(stores), "entries_read_back": reads}


# -- runner side ------------------------------------------------------------------------
def _schedule(ctx: Context, work: Path) -> list[dict]:
    counts = tuple(ctx.sizes.concurrency_writers)
    seconds = ctx.sizes.concurrency_seconds
    # a dropped warm-up round with every writer first, then the measured rounds
    plan = [(max(counts), WARMUP_ROUND_S, True)]
    for r in range(ctx.sizes.concurrency_rounds):
        plan += [(n, seconds, False) for n in (counts if r % 2 == 0 else counts[::-1])]
    rounds: list[dict] = []
    offset = 0.0
    for n, window, warmup in plan:
        i = len(rounds)
        rounds.append(
            {
                "round": i,
                "writers": n,
                "store": str(work / f"store-r{i:02d}-{n}w"),
                "offset": offset,
                "seconds": window,
                "warmup": warmup,
            }
        )
        offset += window + GAP
    return rounds


def _tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text().strip().splitlines()[-15:])
    except OSError:
        return ""


def _run_writers(ctx: Context, work: Path, catalog: str, rounds: list[dict], n: int) -> list[dict]:
    """Start ``n`` writer workers, open the barrier once all are ready, collect them."""
    sync = ctx.subdir("concurrency/sync")
    go = sync / "go.json"
    procs = []
    try:
        for i in range(n):
            out = sync / f"writer-{i}.json"
            kwargs = dict(
                catalog=catalog,
                entry=f"w{i}",
                me=i,
                rounds=rounds,
                warm_store=str(work / f"warm-{i}"),
                ready_file=str(sync / f"ready-{i}"),
                go_file=str(go),
            )
            log = sync / f"writer-{i}.log"
            with open(log, "w") as f:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        str(WORKER),
                        "bench_concurrency",
                        "writer",
                        json.dumps(kwargs),
                        str(out),
                    ],
                    env=ctx.env(),
                    cwd=str(ctx.scratch),
                    stdout=f,
                    stderr=subprocess.STDOUT,
                )
            procs.append((proc, out, log))
        deadline = time.monotonic() + READY_TIMEOUT
        while not all((sync / f"ready-{i}").exists() for i in range(n)):
            for i, (proc, _, log) in enumerate(procs):
                if proc.poll() is not None:
                    raise WorkerError(f"writer {i} exited with {proc.returncode}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise WorkerError(f"writers not ready within {READY_TIMEOUT:.0f} s")
            time.sleep(0.05)
        tmp = sync / "go.json.tmp"
        tmp.write_text(json.dumps({"t0": time.time() + 0.25}))
        os.replace(tmp, go)  # the barrier opens for everyone at once
        end = time.monotonic() + rounds[-1]["offset"] + rounds[-1]["seconds"] + 120
        results = []
        for i, (proc, out, log) in enumerate(procs):
            try:
                proc.wait(timeout=max(1.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise WorkerError(f"writer {i} did not finish in time:\n{_tail(log)}") from None
            if proc.returncode != 0 or not out.exists():
                raise WorkerError(f"writer {i} exited with {proc.returncode}:\n{_tail(log)}")
            results.append(json.loads(out.read_text()))
        return results
    finally:
        for proc, _, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def bench_concurrency(ctx: Context) -> list[Result]:
    """Total persists/s into one local store with N concurrent writers vs 1 writer."""
    counts = tuple(ctx.sizes.concurrency_writers)
    if counts[0] != 1:
        raise ValueError("the first writer count must be 1 (the baseline)")
    seconds = ctx.sizes.concurrency_seconds
    rows = ctx.sizes.small_rows
    work = ctx.subdir("concurrency")
    csvs = {f"w{i}": small_csv(work, f"w{i}", rows) for i in range(max(counts))}
    catalog = str(write_catalog(work / "catalog.yaml", csvs))
    rounds = _schedule(ctx, work)
    writers = _run_writers(ctx, work, catalog, rounds, max(counts))

    per_round = []
    for rnd in rounds:
        mine = [(w, r) for w in writers for r in w["rounds"] if r["round"] == rnd["round"]]
        if len(mine) != rnd["writers"]:
            raise WorkerError(f"round {rnd['round']}: {len(mine)} writers reported")
        window = rnd["seconds"]
        done = sum(1 for _, r in mine for _, b in r["events"] if b <= window)
        latencies = [b - a for _, r in mine for a, b in r["events"]]
        busy = sum(b - a for _, r in mine for a, b in r["events"])
        per_round.append(
            {
                "round": rnd["round"],
                "writers": rnd["writers"],
                "warmup": rnd["warmup"],
                "persists_per_s": done / window,
                "finished_in_window": done,
                "persists": {w["entry"]: len(r["events"]) for w, r in mine},
                "last_versions": {w["entry"]: r["last_version"] for w, r in mine},
                "latency_median_s": statistics.median(latencies),
                "latency_max_s": max(latencies),
                "lock_wait_share": sum(r["lock_wait_s"] for _, r in mine) / busy,
                "lock_hold_share": sum(r["lock_hold_s"] for _, r in mine) / busy,
                "cores_busy": sum(r["cpu_s"] for _, r in mine) / window,
                "cpu_per_persist_s": sum(r["cpu_s"] for _, r in mine)
                / max(1, sum(len(r["events"]) for _, r in mine)),
                "max_late_s": max(r["late_s"] for _, r in mine),
                "store": rnd["store"],
                "entries": [w["entry"] for w, _ in mine],
            }
        )
    checked = run_worker(
        ctx,
        "bench_concurrency",
        "verify",
        dict(
            catalog=catalog,
            stores=[
                {k: r[k] for k in ("store", "entries", "last_versions", "persists")}
                for r in per_round
            ],
        ),
    )

    measured = [r for r in per_round if not r["warmup"]]
    rates = {n: [r["persists_per_s"] for r in measured if r["writers"] == n] for n in counts}
    by_n = {
        n: {
            "persists_per_s": rates[n],
            "best": max(rates[n]),
            "median": statistics.median(rates[n]),
            "latency_median_ms": 1e3
            * statistics.median([r["latency_median_s"] for r in measured if r["writers"] == n]),
            "lock_wait_share": statistics.median(
                [r["lock_wait_share"] for r in measured if r["writers"] == n]
            ),
            "lock_hold_share": statistics.median(
                [r["lock_hold_share"] for r in measured if r["writers"] == n]
            ),
            "cores_busy": statistics.median(
                [r["cores_busy"] for r in measured if r["writers"] == n]
            ),
            "cpu_per_persist_ms": 1e3
            * statistics.median([r["cpu_per_persist_s"] for r in measured if r["writers"] == n]),
        }
        for n in counts
    }
    late = max(r["max_late_s"] for r in per_round)
    notes = [
        "median latency of one persist with "
        + ", ".join(
            f"{n} writer{'s' if n > 1 else ''}: {by_n[n]['latency_median_ms']:.0f} ms"
            for n in counts
        )
        + "; waiting for the index lock: "
        + ", ".join(f"{100 * by_n[n]['lock_wait_share']:.1f} %" for n in counts)
        + " of persist time; CPU per persist: "
        + ", ".join(f"{by_n[n]['cpu_per_persist_ms']:.0f} ms" for n in counts)
        + "; cores kept busy by the writers: "
        + ", ".join(f"{by_n[n]['cores_busy']:.2f}" for n in counts)
        + f" of {os.cpu_count()}",
        f"verified {checked['stores']} stores: one index entry per writer, each its writer's "
        f"last version, one version folder per persist, {checked['entries_read_back']} "
        "entries read back equal",
    ]
    if late > GAP / 2:
        notes.append(f"a round started {late:.2f} s late (persists overran the {GAP} s gap)")
    details = {
        "by_writers": {str(n): v for n, v in by_n.items()},
        "rounds": [{k: v for k, v in r.items() if k not in ("last_versions",)} for r in per_round],
        "window_s": seconds,
        "gap_s": GAP,
        "csv_rows": rows,
        "cpus": os.cpu_count(),
        "verified": checked,
    }
    out = []
    for n in counts[1:]:
        out.append(
            Result(
                name=f"persists/s into one local store, {n} vs 1 writer",
                ours=by_n[n]["best"],
                hand=by_n[1]["best"],
                unit="persists/s",
                target=None,
                ours_label=f"{n} writers",
                hand_label="1 writer",
                statistic="max",
                details=dict(details),
                notes=notes if n == counts[1] else [],
            )
        )
    return out
