"""How the store behaves with 1,000, 10,000 and 100,000 entries, each measured
against the same operation on a 1-entry store (``--quick``: 1,000 and 10,000).

``scale_local`` (stores on the local disk):

1. **cold first access**: a fresh process imports intake, opens a catalog and
   does ``cat.<entry>`` once, the entry being persisted in the store; the time
   of that access (imports, ``open_catalog`` excluded) and the growth of the
   process's peak RSS it causes. Target: at most 10 ms and 20 MiB more than
   with the 1-entry store.
2. **never mode**: ``cat.<entry>(persist_mode="never")`` and an access on a
   catalog opened with ``persist_mode="never"``, with the largest store, vs the
   same calls in a process where intake runs with the plugin blocked
   (``INTAKE_IMPORT_BLOCK_LIST``). Target: at most 2 ms more.
3. **persist and remove**: the first persist of a new 1,000-row CSV source,
   its ``store.remove``, and a re-persist of a persisted one (a new version, its
   entry replaced), one worker process alternating between the stores. Target:
   at most 1.2 x the 1-entry store.
4. **``intake-persist list``** of the largest store in a fresh process (wall
   time, interpreter start-up included), with the view up to date and after
   100 more commits (view stale, journal markers pending). Target: under 3 s.

``scale_s3`` (stores on a moto S3 server, 1,000 and 10,000 entries):

3. the persist and remove timings of ``scale_local``;
4. S3 requests per first persist, re-persist, remove (and catalog access),
   counted by the ``_Probe`` of :mod:`bench_remote` (and, as a cross-check, in
   moto's request log). Target: at most 10 per persist, and no more than with
   the 1-entry store.

Stores: one real persisted entry, then N - 1 synthetic records committed with
the package's ``Index.put`` (with ``index.core.SMALL_VIEW = 0``, ``os.fsync``
a no-op and the puts spread over a few processes, so that the builder does not
compact after every put; one ``Index.compact()`` writes the view at the end).
They are cached in ``benchmarks/.data/scale/`` keyed by size, index format and
:data:`BUILD`, and checked (and tidied after an interrupted run) before every
use. S3 stores are copies of the cached local ones, uploaded to moto at every
run (moto keeps nothing between runs); see :func:`upload_store`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from _common import Context, Result, interleave, run_worker, timing_result, write_catalog
from data import write_csv

#: bump when the builder changes, so that stale cached stores are rebuilt
BUILD = 1
ROWS = 1_000  # rows of each CSV source
S3_BUCKET = "persistplus-scale"
MARK = "_mark"  # keys (below the bucket) that delimit counted operations
CONTROL = "1-control"  # label of the A/A control store on S3

COLD_EXTRA_S = 0.010  # cold first access: at most this much slower than 1 entry
COLD_EXTRA_KIB = 20 * 1024  # ... and at most this much more peak RSS
NEVER_EXTRA_S = 0.002  # never mode: at most this much slower than intake without the plugin
PERSIST_TARGET = 1.2  # persist / re-persist / remove: N entries vs 1 entry
S3_MAX_REQUESTS = 10  # S3 requests per persist
LIST_LIMIT_S = 3.0  # ``intake-persist list`` of the largest store
STALE_COMMITS = 100  # commits before the "view stale" list


@dataclass
class Plan:
    """Sizes and repeats of the scale benchmarks (full or ``--quick``)."""

    sizes: tuple[int, ...]
    s3_sizes: tuple[int, ...]
    cold_repeats: int  # fresh processes per store
    never_processes: int  # per side
    never_batches: int  # per process
    never_loop: int  # accesses per batch
    persist_repeats: int
    s3_persist_repeats: int
    count_repeats: int  # counted S3 operations (median)
    list_repeats: int


def plan(ctx: Context) -> Plan:
    if ctx.quick:
        return Plan((1_000, 10_000), (1_000, 10_000), 3, 2, 5, 100, 3, 3, 2, 2)
    return Plan((1_000, 10_000, 100_000), (1_000, 10_000), 12, 4, 7, 200, 9, 15, 3, 3)


# -- worker side (runs in a fresh process; imports intake) -------------------------------
def _use(root: str) -> None:
    import intake

    intake.conf["persist_path"] = root


def _shape(value):
    """``value`` with every scalar replaced by its type's name (keys kept)."""
    if isinstance(value, dict):
        return {str(k): _shape(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def store_format() -> dict:
    """What a cached store's name depends on: the package's index format, the
    fields of its records, and the shape of a head and of a view line as the
    package writes them now (a store built before any of these changed is
    rebuilt; a change of wording or code alone is not)."""
    import dataclasses
    import hashlib
    import tempfile

    from intake_persistplus.index import FORMAT, Index, text
    from intake_persistplus.layout import HEADS, location
    from intake_persistplus.record import Record

    shape: list = [FORMAT, [f.name for f in dataclasses.fields(Record)]]
    try:
        with tempfile.TemporaryDirectory(prefix="persistplus-shape-") as tmp:
            index = Index(location(tmp))
            token = "ab" * 16
            index._write_head(token, {"driver": "d", "args": {}, "metadata": {}}, 0)
            data = index.loc.read_bytes(HEADS, token)
            _, line = text.read_head(data, "a probe head")
            shape += [
                b" ".join(data.split(b" ")[:2]).decode(),  # "#persistplus-head 2"
                _shape(text.decode_entry(line)),
                text.view_text({token: "{}"}),
            ]
    except Exception as e:  # the private API moved: its absence is part of the shape
        shape.append(f"{type(e).__name__}")
    digest = hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:8]
    return {"format": f"{FORMAT}-{digest}", "shape": shape}


def _put_chunk(root: str, template, start: int, count: int) -> int:
    """Commit ``count`` synthetic copies of ``template`` with ``Index.put``."""
    import dataclasses
    import secrets

    import intake_persistplus.index.core as core
    from intake_persistplus.index import Index
    from intake_persistplus.layout import CATALOG_DIR, location, new_version_id

    core.SMALL_VIEW = 0  # no compaction after each put: one at the end
    os.fsync = lambda fd: None  # durability is not what the builder is for
    index = Index(location(root))
    for i in range(start, start + count):
        token, version = secrets.token_hex(16), new_version_id()
        index.put(
            dataclasses.replace(
                template,
                token=token,
                version=version,
                args=dict(template.args, urlpath=f"{CATALOG_DIR}/{token}/{version}/data"),
                original_name=f"synthetic_{i}",
                timestamp=time.time(),
                description=f"persisted copy of synthetic_{i}",
            )
        )
    return count


def build_store(catalog: str, entry: str, root: str, n_entries: int, processes: int) -> dict:
    """Persist ``entry`` into ``root``, then commit ``n_entries - 1`` synthetic records
    (over ``processes`` processes) and compact the view once."""
    import concurrent.futures
    import multiprocessing

    import intake

    from intake_persistplus.index import Index
    from intake_persistplus.layout import location
    from intake_persistplus.persist_store import store

    _use(root)
    cat = intake.open_catalog(catalog)
    t0 = time.perf_counter()
    getattr(cat, entry).persist()
    real_s = time.perf_counter() - t0
    template = store.record(getattr(cat, entry)(persist_mode="never"))
    todo = n_entries - 1
    t0 = time.perf_counter()
    if todo:
        processes = max(1, min(processes, todo // 500 or 1))
        step = -(-todo // processes)
        chunks = [(s, min(step, todo - s)) for s in range(0, todo, step)]
        with concurrent.futures.ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = [pool.submit(_put_chunk, root, template, s, c) for s, c in chunks]
            done = sum(f.result() for f in futures)
        if done != todo:
            raise RuntimeError(f"committed {done} synthetic records, expected {todo}")
    puts_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    entries = len(Index(location(root)).compact())
    compact_s = time.perf_counter() - t0
    if entries != n_entries:
        raise RuntimeError(f"{root} has {entries} entries, expected {n_entries}")
    return {
        "real_persist_s": real_s,
        "synthetic_puts_s": puts_s,
        "compact_s": compact_s,
        "processes": processes,
        "entries": entries,
    }


def prepare_store(catalog: str, root: str, entries: int) -> dict:
    """Tidy a cached store after an interrupted run (the benchmark's own sources
    removed, the view compacted) and say whether it is as built."""
    import intake

    from intake_persistplus.index import Index
    from intake_persistplus.layout import JOURNAL, location
    from intake_persistplus.persist_store import store

    _use(root)
    cat = intake.open_catalog(catalog)
    removed = [
        name
        for name in ("fresh", "again")
        if store.remove(getattr(cat, name)(persist_mode="never"))
    ]
    t0 = time.perf_counter()
    index = Index(location(root))
    found = len(index.compact())
    compact_s = time.perf_counter() - t0
    served = cat.persisted.is_persisted
    pending = len(index.loc.listfiles(JOURNAL))
    return {
        "ok": found == entries and served and not pending,
        "entries": found,
        "persisted_served": served,
        "pending_markers": pending,
        "removed": removed,
        "compact_s": compact_s,
    }


def _status_kib(field: str) -> float:
    """A ``Vm...`` line of /proc/self/status, in KiB (NaN where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _rss_kib() -> float:
    """Resident set size now (psutil if installed, else /proc/self/status)."""
    try:
        import psutil
    except ImportError:
        return _status_kib("VmRSS")
    return psutil.Process().memory_info().rss / 1024


def _peak_kib(reset: bool) -> float:
    """The peak RSS: after :func:`_reset_peak`, the address space's high-water mark
    (``VmHWM``, which the reset lowers; ``ru_maxrss`` also keeps the peak of any
    thread that has ended, which the reset leaves as it was), else ``ru_maxrss``."""
    if reset:
        return _status_kib("VmHWM")
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)


def _reset_peak() -> bool:
    """Lower this process's peak RSS to its current RSS (Linux ``clear_refs``);
    False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") == _status_kib("VmHWM")  # not NaN: readable


def cold_access(catalog: str, entry: str) -> dict:
    """The first ``cat.<entry>`` of a fresh process (store from INTAKE_PERSIST_PATH):
    its seconds and the RSS growth (peak and current) it causes.

    The peak is reset right before the access, so its growth is the most the
    access added at any moment; without a reset (not Linux) it is the growth of
    ``ru_maxrss``, which misses whatever stays below the peak of the imports
    (``peak_reset`` says which)."""
    _rss_kib()  # psutil imported before the baseline
    t0 = time.perf_counter()
    import intake

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cat = intake.open_catalog(catalog)
    open_s = time.perf_counter() - t0
    rss0 = _rss_kib()
    reset = _reset_peak()
    peak0 = _peak_kib(reset)
    t0 = time.perf_counter()
    src = getattr(cat, entry)
    seconds = time.perf_counter() - t0
    peak1, rss1 = _peak_kib(reset), _rss_kib()
    if not src.is_persisted:
        raise RuntimeError(f"cat.{entry} is not served from {intake.conf.get('persist_path')}")
    return {
        "seconds": seconds,
        "peak_growth_kib": peak1 - peak0,
        "rss_growth_kib": rss1 - rss0,
        "peak_reset": reset,
        "import_s": import_s,
        "open_s": open_s,
    }


def never_access(catalog: str, entry: str, batches: int, loop: int) -> dict:
    """Per-access seconds (batch means) of ``cat.<entry>(persist_mode="never")`` and of
    ``cat_never.<entry>`` on a catalog opened with ``persist_mode="never"``; runs with
    the plugin active or blocked, as the environment says."""
    import intake

    active = "intake_persistplus.activate" in sys.modules
    t0 = time.perf_counter()
    cat_never = intake.open_catalog(catalog, persist_mode="never")
    getattr(cat_never, entry)
    open_s = time.perf_counter() - t0
    cat = intake.open_catalog(catalog)
    if active and not getattr(cat, entry).is_persisted:
        raise RuntimeError(f"cat.{entry} is not persisted in {intake.conf.get('persist_path')}")
    served = {
        "call": type(getattr(cat, entry)(persist_mode="never")).__name__,
        "catalog": type(getattr(cat_never, entry)).__name__,
    }
    cases = {
        "call": lambda: getattr(cat, entry)(persist_mode="never"),
        "catalog": lambda: getattr(cat_never, entry),
    }
    out: dict[str, list[float]] = {k: [] for k in cases}
    for i in range(batches + 1):
        for name in cases if i % 2 == 0 else list(cases)[::-1]:
            fn = cases[name]
            t0 = time.perf_counter()
            for _ in range(loop):
                fn()
            if i:
                out[name].append((time.perf_counter() - t0) / loop)
    return out | {"plugin_active": active, "served": served, "open_and_access_s": open_s}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def persist_cycle(catalog: str, roots: dict, repeats: int, count_repeats: int = 0) -> dict:
    """Alternating between the stores of ``roots`` (label -> path or URL): the first
    persist of ``fresh``, its removal, and a re-persist of ``again`` (persisted
    first, untimed). Afterwards ``again`` is removed and every view compacted, so
    the stores are left as they were. ``count_repeats`` more rounds count S3
    requests (the probe of bench_remote; not in the timings)."""
    import intake

    from intake_persistplus.persist_store import store

    s3 = any(str(r).startswith("s3://") for r in roots.values())
    if s3:
        import s3fs

        s3fs.S3FileSystem().makedirs(S3_BUCKET, exist_ok=True)
    cat = intake.open_catalog(catalog)
    fresh = cat.fresh(persist_mode="never")
    again = cat.again(persist_mode="never")
    labels = list(roots)
    for label in labels:
        _use(roots[label])
        store.remove(fresh)
        if store.lookup(again) is None:
            again.persist()
        if not cat.persisted.is_persisted:
            raise RuntimeError(f"cat.persisted is not served from {roots[label]}")

    def cycle(label: str) -> dict[str, float]:
        _use(roots[label])
        if store.lookup(fresh) is not None:
            raise RuntimeError(f"fresh is already persisted in {roots[label]}")
        out = {"first": _timed(fresh.persist)}
        out["remove"] = _timed(lambda: store.remove(fresh))
        out["again"] = _timed(again.persist)
        return out

    samples: dict[str, dict[str, list[float]]] = {
        label: {"first": [], "remove": [], "again": []} for label in labels
    }
    for i in range(repeats + 1):
        for label in labels if i % 2 == 0 else labels[::-1]:
            got = cycle(label)
            if i:
                for k, v in got.items():
                    samples[label][k].append(v)

    counts: dict = {}
    if count_repeats:
        import s3fs
        from bench_remote import _Probe

        fs = s3fs.S3FileSystem()
        probe = _Probe()
        probe.install()
        for label in labels:
            _use(roots[label])
            runs: dict[str, list[dict]] = {"first": [], "remove": [], "again": [], "access": []}
            for i in range(count_repeats):
                for op, fn in (
                    ("first", fresh.persist),
                    ("remove", lambda: store.remove(fresh)),
                    ("again", again.persist),
                    ("access", lambda: cat.persisted),
                ):
                    # one PUT the runner finds in moto's request log: what follows it,
                    # up to the next mark, is this operation's requests
                    fs.pipe_file(f"{S3_BUCKET}/{MARK}/{label}.{op}.{i}", b"")
                    probe.reset()
                    seconds = _timed(fn)
                    runs[op].append(
                        {
                            "requests": dict(probe.requests),
                            "request_s": dict(probe.request_s),
                            "seconds": seconds,
                        }
                    )
            fs.pipe_file(f"{S3_BUCKET}/{MARK}/{label}.end.0", b"")
            counts[label] = {}
            for op, rs in runs.items():
                names = sorted({k for r in rs for k in r["requests"]})
                counts[label][op] = {
                    "total": statistics.median(sum(r["requests"].values()) for r in rs),
                    "requests": {
                        k: statistics.median(r["requests"].get(k, 0) for r in rs) for k in names
                    },
                    "request_s": {
                        k: statistics.median(r["request_s"].get(k, 0.0) for r in rs) for k in names
                    },
                    "runs": [r["requests"] for r in rs],
                    "seconds": statistics.median(r["seconds"] for r in rs),
                }

    cleanup = {}
    for label in labels:
        _use(roots[label])
        t0 = time.perf_counter()
        store.remove(again)
        store.compact()
        cleanup[label] = time.perf_counter() - t0
    return {"samples": samples, "counts": counts, "cleanup_s": cleanup}


def stale_commits(root: str, commits: int) -> dict:
    """Re-commit ``commits`` existing synthetic entries (same record, new timestamp),
    leaving their journal markers for the next compaction."""
    import dataclasses

    from intake_persistplus.index import Index
    from intake_persistplus.layout import HEADS, JOURNAL, location

    index = Index(location(root))
    tokens = sorted(index.loc.listfiles(HEADS))[: commits + 1]
    done = 0
    t0 = time.perf_counter()
    for token in tokens:
        rec = index.get(token, refresh=False)
        if rec is None or not (rec.original_name or "").startswith("synthetic_"):
            continue
        index.put(dataclasses.replace(rec, timestamp=time.time()))
        done += 1
        if done == commits:
            break
    return {
        "commits": done,
        "seconds": time.perf_counter() - t0,
        "pending_markers": len(index.loc.listfiles(JOURNAL)),
    }


def upload_store(local_root: str, url: str, entries: int) -> dict:
    """Copy a cached local store to ``url`` on S3 and write the stamp that makes its
    view count as written by the store.

    Uploaded: the heads, the real entry's folder and ``cat.yaml``. Left out: local
    lock files, the (empty) journal and the ``.names`` files of the synthetic
    records (nothing measured looks a synthetic record up by name; the real
    entry's is uploaded). The stamp of a local store holds the view's inode and
    mtime, so the local stamp (as the package wrote it) is uploaded with its
    ``sig`` replaced by what S3 says of the uploaded view (its ETag and size);
    the package's own ``_view_current`` must then accept it, else the view is
    rebuilt from every head by ``Index.compact(full=True)`` (minutes on moto).
    """
    import hashlib

    import s3fs

    from intake_persistplus.index import Index
    from intake_persistplus.layout import HEADS, INDEX, NAMES, STAMP, is_token, location

    fs = s3fs.S3FileSystem()
    fs.makedirs(S3_BUCKET, exist_ok=True)
    loc = location(url)
    fs.rm(loc.root, recursive=True) if fs.exists(loc.root) else None
    base = Path(local_root)
    files: dict[str, bytes] = {}
    real = [p.name for p in base.iterdir() if p.is_dir() and is_token(p.name)]
    for p in (base / HEADS).iterdir():
        files[f"{HEADS}/{p.name}"] = p.read_bytes()
    for token in real:
        for p in (base / token).rglob("*"):
            if p.is_file():
                files[p.relative_to(base).as_posix()] = p.read_bytes()
        for p in (base / NAMES).glob(f"*/{token}"):
            files[p.relative_to(base).as_posix()] = b""
    t0 = time.perf_counter()
    fs.pipe({loc.path_of(*k.split("/")): v for k, v in files.items()}, batch_size=32)
    upload_s = time.perf_counter() - t0
    view = (base / INDEX).read_bytes()
    loc.replace(view, INDEX)
    sig = loc.signature(INDEX)
    # the package's own stamp of the local view, with the signature S3 gives the copy
    stamp = json.loads((base / STAMP).read_bytes())
    stamp.update(sig=list(sig), sha256=hashlib.sha256(view).hexdigest(), entries=entries)
    loc.replace(json.dumps(stamp).encode(), STAMP)
    index = Index(loc)
    accepted = bool(index._view_current())
    t0 = time.perf_counter()
    if not accepted:  # the stamp's shape changed in the package: let it rebuild the view
        index.compact(full=True)
    rebuild_s = time.perf_counter() - t0
    return {
        "objects": len(files) + 2,
        "upload_s": upload_s,
        "stamp_accepted": accepted,
        "rebuild_s": rebuild_s,
        "real_entries": real,
    }


# -- runner side ------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    """Seconds as text, in the unit that suits them (negative differences too)."""
    size = abs(seconds)
    if size >= 1:
        return f"{seconds:.2f} s"
    if size >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} us"


def _diff(seconds: float) -> str:
    return ("+" if seconds >= 0 else "-") + _ms(abs(seconds))


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def _n(n: int) -> str:
    return f"{n:,}"


def _budget(result: Result, allowance: float, label: str) -> Result:
    """Give a row an absolute allowance (ours <= baseline + allowance): its
    ``hand`` becomes that budget and its target 1.0; the measured baseline and
    the allowance stay in the details."""
    result.details["baseline"] = result.hand
    result.details["allowance"] = allowance
    result.details["difference"] = result.ours - result.hand
    result.hand = result.hand + allowance
    result.hand_label = label
    result.target = 1.0
    return result


def _scale_dir(ctx: Context) -> Path:
    d = ctx.data_dir / "scale"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _catalog(ctx: Context) -> str:
    """``.data/scale/catalog.yaml`` with the entries ``persisted`` (in every store),
    ``fresh`` and ``again`` (persisted and removed by the benchmark). Kept in place:
    a source's token depends on the catalog's folder."""
    d = _scale_dir(ctx)
    csvs = {}
    for name in ("persisted", "fresh", "again"):
        path = d / f"{name}.csv"
        if not path.exists():
            write_csv(path, rows=ROWS, seed=zlib.crc32(name.encode()))
        csvs[name] = path
    path = d / "catalog.yaml"
    tmp = d / f".catalog.{os.getpid()}.yaml"
    write_catalog(tmp, csvs)
    if path.exists() and path.read_text() == tmp.read_text():
        tmp.unlink()
    else:
        os.replace(tmp, path)
    return str(path)


def _stores(ctx: Context, catalog: str, sizes: tuple[int, ...]) -> tuple[dict, dict]:
    """Cached stores of 1 entry and of each size: label -> path, and their build info."""
    fmt = run_worker(ctx, "bench_scale", "store_format")["format"]
    d = _scale_dir(ctx)
    suffix = f"-i{fmt}-b{BUILD}"
    for old in d.glob("store-*"):  # stores of another format or builder: never used again
        if not old.name.removesuffix(".json").endswith(suffix):
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    roots, builds = {}, {}
    for n in (1, *sizes):
        root = d / f"store-{n}{suffix}"
        info_file = root.with_name(root.name + ".json")
        info = None
        if root.is_dir() and info_file.exists():
            check = run_worker(
                ctx,
                "bench_scale",
                "prepare_store",
                dict(catalog=catalog, root=str(root), entries=n),
            )
            if check["ok"]:
                info = json.loads(info_file.read_text()) | {"cached": True, "check": check}
        if info is None:
            info_file.unlink(missing_ok=True)
            shutil.rmtree(root, ignore_errors=True)
            partial = root.with_name(root.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            t0 = time.perf_counter()
            info = run_worker(
                ctx,
                "bench_scale",
                "build_store",
                dict(
                    catalog=catalog,
                    entry="persisted",
                    root=str(partial),
                    n_entries=n,
                    processes=min(4, os.cpu_count() or 1),
                ),
                timeout=3600,
            )
            info["build_s"] = time.perf_counter() - t0
            os.replace(partial, root)  # the view's stamp holds inodes: a rename keeps them
            info_file.write_text(json.dumps(info))
            info["cached"] = False
        roots[n] = str(root)
        builds[n] = info
    return roots, builds


def _build_note(builds: dict) -> str:
    parts = []
    for n, info in builds.items():
        if n == 1:
            continue
        state = "cached" if info.get("cached") else "built now"
        parts.append(f"{_n(n)}: {state}, built in {info.get('build_s', float('nan')):.0f} s")
    return "stores " + "; ".join(parts)


def _cold(ctx: Context, catalog: str, roots: dict, repeats: int) -> list[Result]:
    seen: dict[int, list[dict]] = {n: [] for n in roots}

    def case(n: int):
        def run() -> float:
            out = run_worker(
                ctx,
                "bench_scale",
                "cold_access",
                dict(catalog=catalog, entry="persisted"),
                env=ctx.env(INTAKE_PERSIST_PATH=roots[n]),
            )
            seen[n].append(out)
            return out["seconds"]

        return run

    samples = interleave({n: case(n) for n in roots}, repeats, warmup=1)
    for n in seen:
        seen[n] = seen[n][-repeats:]  # the warm-up round's process is dropped
    mem = {n: statistics.median(s["peak_growth_kib"] for s in seen[n]) for n in seen}
    rss = {n: statistics.median(s["rss_growth_kib"] for s in seen[n]) for n in seen}
    results = []
    for n in roots:
        if n == 1:
            continue
        r = timing_result(
            f"cold first cat.entry, {_n(n)} entries vs 1 + 10 ms",
            samples[n],
            samples[1],
            None,
            ours_label=f"{n}-entry store",
            hand_label="1-entry store",
            details={"processes": {str(k): v for k, v in seen.items() if k in (1, n)}},
            notes=[
                f"{_n(n)} entries: first access {_ms(min(samples[n]))} vs "
                f"{_ms(min(samples[1]))} with 1 ({_diff(min(samples[n]) - min(samples[1]))}, "
                f"allowed {_diff(COLD_EXTRA_S)}); medians {_ms(statistics.median(samples[n]))} vs "
                f"{_ms(statistics.median(samples[1]))}"
            ],
        )
        results.append(_budget(r, COLD_EXTRA_S, "1-entry store + 10 ms"))
        m = Result(
            name=f"cold first cat.entry, peak RSS growth, {_n(n)} entries vs 1 + 20 MiB",
            ours=mem[n],
            hand=mem[1],
            unit="KiB",
            target=None,
            ours_label=f"{n}-entry store",
            hand_label="1-entry store",
            statistic="median",
            details={
                "peak_growth_kib": {
                    str(k): [s["peak_growth_kib"] for s in seen[k]] for k in (1, n)
                },
                "rss_growth_kib": {str(k): [s["rss_growth_kib"] for s in seen[k]] for k in (1, n)},
            },
            notes=[
                f"{_n(n)} entries: the first access grows the peak RSS by {_mib(mem[n])} vs "
                f"{_mib(mem[1])} with 1 (current RSS: {_mib(rss[n])} vs {_mib(rss[1])})"
            ],
        )
        results.append(_budget(m, COLD_EXTRA_KIB, "1-entry store + 20 MiB"))
    return results


def _never(ctx: Context, catalog: str, root: str, n: int, p: Plan) -> list[Result]:
    from bench_import import BLOCK

    envs = {
        "plugin": ctx.env(INTAKE_PERSIST_PATH=root),
        "blocked": ctx.env(INTAKE_IMPORT_BLOCK_LIST=BLOCK),
    }
    runs: dict[str, list[dict]] = {k: [] for k in envs}

    def case(side: str):
        def run() -> float:
            out = run_worker(
                ctx,
                "bench_scale",
                "never_access",
                dict(
                    catalog=catalog, entry="persisted", batches=p.never_batches, loop=p.never_loop
                ),
                env=envs[side],
            )
            runs[side].append(out)
            return 0.0

        return run

    interleave({k: case(k) for k in envs}, p.never_processes, warmup=0)
    if not all(r["plugin_active"] for r in runs["plugin"]) or any(
        r["plugin_active"] for r in runs["blocked"]
    ):
        raise RuntimeError("the block list did not switch the plugin off (or on)")
    results = []
    labels = {
        "call": 'cat.entry(persist_mode="never")',
        "catalog": 'open_catalog(..., persist_mode="never").entry',
    }
    for kind, label in labels.items():
        ours = [s for r in runs["plugin"] for s in r[kind]]
        hand = [s for r in runs["blocked"] for s in r[kind]]
        r = timing_result(
            f"{label}, {_n(n)} entries vs plugin blocked + 2 ms",
            ours,
            hand,
            None,
            ours_label=f"plugin, {n}-entry store",
            hand_label="plugin blocked",
            details={
                "served": {k: v[0]["served"] for k, v in runs.items()},
                "open_and_access_s": {
                    k: [x["open_and_access_s"] for x in v] for k, v in runs.items()
                },
            },
            notes=[
                f"{label}: {_ms(min(ours))} with the plugin ({_n(n)} entries), {_ms(min(hand))} "
                f"blocked ({_diff(min(ours) - min(hand))}, allowed {_diff(NEVER_EXTRA_S)})"
            ],
        )
        results.append(_budget(r, NEVER_EXTRA_S, "plugin blocked + 2 ms"))
    return results


_OPS = {"first": "first persist", "again": "re-persist", "remove": "remove"}


def _persist_rows(out: dict, labels: dict, where: str) -> list[Result]:
    """Rows of :func:`persist_cycle`: each size against the 1-entry store."""
    s = out["samples"]
    results = []
    for n, label in labels.items():
        if n == 1:
            continue
        for op, name in _OPS.items():
            ours, hand = s[label][op], s[labels[1]][op]
            mo, mh = statistics.median(ours), statistics.median(hand)
            results.append(
                timing_result(
                    f"{where} {name}, {_n(n)} vs 1 entry",
                    ours,
                    hand,
                    PERSIST_TARGET,
                    ours_label=f"{n}-entry store",
                    hand_label="1-entry store",
                    details={"cleanup_s": out["cleanup_s"]},
                    notes=[
                        f"{name}, {_n(n)} entries: medians {_ms(mo)} vs {_ms(mh)} with 1 "
                        f"(ratio {mo / mh:.3f})"
                    ],
                )
            )
    return results


def _list_once(ctx: Context, root: str) -> float:
    exe = Path(sys.executable).with_name("intake-persist")
    cmd = (
        [str(exe), "list"] if exe.exists() else [sys.executable, "-m", "intake_persistplus", "list"]
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=ctx.env(INTAKE_PERSIST_PATH=root),
        cwd=str(ctx.scratch),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"intake-persist list of {root} failed:\n{proc.stderr[-2000:]}")
    return seconds


def _list(ctx: Context, roots: dict, n: int, repeats: int) -> list[Result]:
    fresh = interleave(
        {"big": lambda: _list_once(ctx, roots[n]), "one": lambda: _list_once(ctx, roots[1])},
        repeats,
        warmup=0,
    )
    commits = []

    def stale() -> float:
        commits.append(
            run_worker(
                ctx, "bench_scale", "stale_commits", dict(root=roots[n], commits=STALE_COMMITS)
            )
        )
        return _list_once(ctx, roots[n])

    stale_s = [stale() for _ in range(repeats)]
    rows = []
    for label, samples, extra in (
        ("view up to date", fresh["big"], {}),
        (f"after {STALE_COMMITS} commits, view stale", stale_s, {"commits": commits}),
    ):
        r = timing_result(
            f"intake-persist list, {_n(n)} entries, {label}, vs 3 s",
            samples,
            fresh["one"],
            None,
            ours_label=f"{n}-entry store",
            hand_label=f"limit {LIST_LIMIT_S:g} s",
            details=extra,
            notes=[
                f"list of {_n(n)} entries ({label}): {_ms(min(samples))} "
                f"(1 entry: {_ms(min(fresh['one']))}); limit {LIST_LIMIT_S:g} s"
            ],
        )
        r.details["baseline"] = r.hand  # the 1-entry store's list
        r.hand, r.target = LIST_LIMIT_S, 1.0
        rows.append(r)
    return rows


def bench_scale_local(ctx: Context) -> list[Result]:
    """Cold access, never mode, persist/remove and ``list`` at 1k-100k entries, local disk."""
    p = plan(ctx)
    catalog = _catalog(ctx)
    roots, builds = _stores(ctx, catalog, p.sizes)
    big = max(p.sizes)
    results = _cold(ctx, catalog, roots, p.cold_repeats)
    results += _never(ctx, catalog, roots[big], big, p)
    labels = {n: str(n) for n in roots}
    out = run_worker(
        ctx,
        "bench_scale",
        "persist_cycle",
        dict(
            catalog=catalog,
            roots={labels[n]: roots[n] for n in roots},
            repeats=p.persist_repeats,
        ),
        timeout=3600,
    )
    results += _persist_rows(out, labels, "local")
    results += _list(ctx, roots, big, p.list_repeats)
    if results:
        results[0].notes.append(_build_note(builds))
        results[0].details["stores"] = {str(n): builds[n] for n in builds}
    return results


def _count_rows(counts: dict, labels: dict) -> list[Result]:
    """S3 requests per operation, each size against the 1-entry store."""
    results = []
    one = counts[labels[1]]
    for n, label in labels.items():
        if n == 1:
            continue
        for op, name in _OPS.items():
            ours, baseline = counts[label][op]["total"], one[op]["total"]
            persist = op != "remove"
            budget = min(baseline, S3_MAX_REQUESTS) if persist else baseline
            results.append(
                Result(
                    name=f"S3 requests per {name}, {_n(n)} entries vs 1"
                    + (f", at most {S3_MAX_REQUESTS}" if persist else ""),
                    ours=ours,
                    hand=budget,
                    unit="requests",
                    target=1.0,
                    ours_label=f"{n}-entry store",
                    hand_label=f"1-entry store, at most {S3_MAX_REQUESTS}"
                    if persist
                    else "1-entry store",
                    statistic="median",
                    details={
                        "baseline": baseline,
                        "counted": {k: v[op] for k, v in counts.items()},
                    },
                    notes=[
                        f"{name}, {_n(n)} entries: {_counted(counts[label][op])}; "
                        f"1 entry: {_counted(one[op])}"
                    ],
                )
            )
    for n, label in labels.items():
        results[-1].notes.append(
            f"catalog access (cat.entry), {_n(n)} entr{'y' if n == 1 else 'ies'}: "
            f"{_counted(counts[label]['access'])}"
        )
    return results


def _requests(counts: dict) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{v:g} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"{total:g} ({parts})" if total else "none"


def _counted(info: dict) -> str:
    """The probe's count of one operation, and moto's when it differs."""
    text = _requests(info["requests"])
    logged = info.get("moto_log_total")
    if logged is None:
        return text + " [not found in moto's log]"
    return text if logged == info["total"] else f"{text} [moto's log: {logged:g}]"


_LOG_RE = re.compile(r'"(?:\x1b\[[0-9;]*m)*([A-Z]+) (\S+) HTTP/')


def _log_counts(log: Path) -> dict:
    """Requests per counted operation from moto's request log: label -> op -> [count
    per repeat], counted between the mark PUTs of :func:`persist_cycle`."""
    mark = f"/{S3_BUCKET}/{MARK}/"
    out: dict = {}
    current: list | None = None
    for line in log.read_text(errors="replace").splitlines():
        m = _LOG_RE.search(line)
        if m is None:
            continue
        path = m.group(2)
        if m.group(1) == "PUT" and path.startswith(mark):
            label, op, _ = path[len(mark) :].split(".")
            current = None if op == "end" else out.setdefault(label, {}).setdefault(op, [])
            if current is not None:
                current.append(0)
        elif current is not None:
            current[-1] += 1
    return out


def _control_note(samples: dict, one: str) -> str:
    """The A/A control: the second 1-entry store against the first."""
    parts = []
    for op, name in _OPS.items():
        a, b = samples[CONTROL][op], samples[one][op]
        parts.append(
            f"{name} {min(a) / min(b):.3f} (medians {statistics.median(a) / statistics.median(b):.3f})"
        )
    return "A/A control, a second 1-entry S3 store vs the first (noise alone): " + "; ".join(parts)


def bench_scale_s3(ctx: Context) -> list[Result]:
    """Persist/remove timings and S3 requests at 1k and 10k entries, moto S3 server."""
    from bench_remote import _aws_env, _start_moto, _stop

    p = plan(ctx)
    catalog = _catalog(ctx)
    local, builds = _stores(ctx, catalog, p.s3_sizes)
    proc, endpoint, moto_start = _start_moto(ctx)
    try:
        env = _aws_env(ctx, endpoint)
        urls = {n: f"s3://{S3_BUCKET}/store-{n}" for n in local}
        uploads = {}
        for n in local:  # all in one bucket: moto lists a prefix by scanning the bucket
            uploads[n] = run_worker(
                ctx,
                "bench_scale",
                "upload_store",
                dict(local_root=local[n], url=urls[n], entries=n),
                env=env,
                timeout=3600,
            )
        # an A/A control: a second 1-entry store, to show what moto's noise alone does
        control = f"s3://{S3_BUCKET}/store-1-control"
        run_worker(
            ctx,
            "bench_scale",
            "upload_store",
            dict(local_root=local[1], url=control, entries=1),
            env=env,
        )
        labels = {n: str(n) for n in urls}
        out = run_worker(
            ctx,
            "bench_scale",
            "persist_cycle",
            dict(
                catalog=catalog,
                roots={labels[n]: urls[n] for n in urls} | {CONTROL: control},
                repeats=p.s3_persist_repeats,
                count_repeats=p.count_repeats,
            ),
            env=env,
            timeout=3600,
        )
    finally:
        _stop(proc)
    logged = _log_counts(ctx.subdir("remote") / "moto.log")
    for label, ops in out["counts"].items():
        for op, info in ops.items():
            seen = logged.get(label, {}).get(op)
            info["moto_log"] = seen
            info["moto_log_total"] = statistics.median(seen) if seen else None
    results = _persist_rows(out, labels, "S3")
    results += _count_rows(out["counts"], labels)
    upload_note = "; ".join(
        f"{_n(n)}: {u['objects']:,} objects in {u['upload_s']:.0f} s"
        + (
            ""
            if u["stamp_accepted"]
            else f" (stamp refused: view rebuilt in {u['rebuild_s']:.0f} s)"
        )
        for n, u in uploads.items()
    )
    results[0].notes.append(f"S3 stores uploaded to moto: {upload_note}")
    results[0].notes.append(_control_note(out["samples"], labels[1]))
    results[0].notes.append(_build_note(builds))
    results[0].details |= {
        "uploads": {str(k): v for k, v in uploads.items()},
        "moto_start_s": moto_start,
        "endpoint": endpoint,
        "stores": {str(n): builds[n] for n in builds},
    }
    return results
