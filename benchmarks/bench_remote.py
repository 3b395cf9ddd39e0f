"""A persist store on S3 against the same store on the local disk.

The S3 endpoint is a moto server (``python -m moto.server``) that the benchmark
starts on 127.0.0.1 on a free port and stops at the end; fsspec finds it
through ``FSSPEC_S3_ENDPOINT_URL`` (as in the test suite), with dummy keys and
no AWS configuration file, so no real AWS account is ever contacted.

* ``source.persist()`` of the same CSV into ``s3://<bucket>/store`` and into a
  local folder, interleaved in one worker process; the copy is removed again
  after every sample (untimed), so every sample writes a new token.
* ``cat.entry.read()`` (catalog access, redirect to the persisted copy, read
  of its parquet files) from the S3 store vs the local one.

Both are informational (``info``): the ratio says what the object store costs
on this machine, not a target. moto answers on the loopback interface, so a
request costs about a millisecond instead of the tens of milliseconds of a real
S3 region; the number of requests per operation, in the notes and the JSON,
carries over to real S3, the milliseconds do not.

After the timed samples, a few more persists, reads and catalog accesses run
with every store phase and S3 request counted (``details["breakdown"]``).
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request

from _common import Context, Result, run_worker, timed, timing_result, write_catalog
from data import csv_by_rows

BUCKET = "persistplus-bench"
BREAKDOWN_REPEATS = 3
ACCESS_LOOP = 20
#: seconds moto may take to answer after start
MOTO_START_TIMEOUT = 30.0


# -- worker side (runs in a fresh process; imports intake) -------------------------------
class _Probe:
    """Counts S3 requests (by operation) and the time spent in store phases."""

    def __init__(self) -> None:
        import collections

        self.requests = collections.Counter()
        self.request_s = collections.Counter()
        self.phases = collections.Counter()

    def reset(self) -> None:
        self.requests.clear()
        self.request_s.clear()
        self.phases.clear()

    def snapshot(self) -> dict:
        return {
            "requests": dict(self.requests),
            "request_s": dict(self.request_s),
            "phases_s": dict(self.phases),
        }

    def install(self) -> None:
        import contextlib
        import functools

        import s3fs
        from fsspec.asyn import sync_wrapper

        from intake_persistplus import persist_store as ps
        from intake_persistplus.containers import dataframe
        from intake_persistplus.index import Index
        from intake_persistplus.layout import Location

        probe = self
        plain_call = s3fs.S3FileSystem._call_s3

        async def _call_s3(fs, method, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return await plain_call(fs, method, *args, **kwargs)
            finally:
                name = method if isinstance(method, str) else getattr(method, "__name__", "?")
                probe.requests[name] += 1
                probe.request_s[name] += time.perf_counter() - t0

        s3fs.S3FileSystem._call_s3 = _call_s3
        # ``call_s3`` (used by S3File uploads) wraps the original coroutine function
        s3fs.S3FileSystem.call_s3 = sync_wrapper(_call_s3)

        def phase(owner, attr: str, label: str) -> None:
            plain = getattr(owner, attr)

            @functools.wraps(plain)
            def wrapped(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return plain(*args, **kwargs)
                finally:
                    probe.phases[label] += time.perf_counter() - t0

            setattr(owner, attr, wrapped)

        phase(ps.PersistStore, "_writable", "prepare store (makedirs, index exists)")
        phase(Location, "write_text", "marker + record.yaml")
        phase(dataframe.DataFramePersister, "write", "data (parquet files)")
        phase(Index, "put", "index update (lock, read, rewrite)")
        phase(ps.PersistStore, "_collect", "gc of the token folder")
        phase(ps.PersistStore, "open", "open the persisted source")

        for backend in (Index,):

            @contextlib.contextmanager
            def timed_lock(self, *args, _plain=backend.lock, **kwargs):
                t0 = time.perf_counter()
                with _plain(self, *args, **kwargs):
                    probe.phases["  index lock: acquire"] += time.perf_counter() - t0
                    try:
                        yield
                    finally:
                        t1 = time.perf_counter()
                probe.phases["  index lock: release"] += time.perf_counter() - t1

            backend.lock = timed_lock


def remote(
    catalog: str,
    entry: str,
    bucket: str,
    roots: dict,
    repeats: int,
    read_repeats: int,
) -> dict:
    """Interleaved persist and read timings for the stores in ``roots`` (label -> URL),
    then a counted breakdown of each (see the module docstring)."""
    import intake
    import pandas as pd
    import s3fs
    from _common import interleave

    from intake_persistplus.persist_store import store

    s3fs.S3FileSystem().mkdir(bucket)  # endpoint and keys from the environment
    cat = intake.open_catalog(catalog)

    def use(label: str) -> None:
        intake.conf["persist_path"] = roots[label]

    def persist_once(label: str) -> float:
        use(label)
        src = getattr(cat, entry)  # the original: nothing is persisted for it
        if src.is_persisted:
            raise RuntimeError(f"{entry} is already persisted in {roots[label]}")
        seconds = timed(src.persist)
        store.remove(src)
        return seconds

    persist = interleave(
        {label: (lambda label=label: persist_once(label)) for label in roots}, repeats, warmup=1
    )

    # the read side: one persisted copy in each store
    frames = {}
    for label in roots:
        use(label)
        getattr(cat, entry).persist()
        src = getattr(cat, entry)
        if not src.is_persisted or not src._urlpath.startswith(roots[label]):
            raise RuntimeError(f"cat.{entry} is not served from the {label} store")
        frames[label] = src.read()
    labels = list(roots)
    for label in labels[1:]:
        pd.testing.assert_frame_equal(frames[label], frames[labels[0]])

    def read_once(label: str) -> float:
        use(label)
        return timed(lambda: getattr(cat, entry).read())

    read = interleave(
        {label: (lambda label=label: read_once(label)) for label in roots}, read_repeats, warmup=1
    )

    # counted runs: phases and S3 requests, outside the timed samples above
    probe = _Probe()
    probe.install()
    breakdown: dict = {}
    for label in roots:
        use(label)
        original = getattr(cat, entry)(persist_mode="never")
        store.remove(original)  # the copy made for the reads: counted persists add a new token
        runs = []
        for _ in range(BREAKDOWN_REPEATS):
            probe.reset()
            seconds = timed(original.persist)
            runs.append(probe.snapshot() | {"seconds": seconds})
            store.remove(original)
        original.persist()
        getattr(cat, entry).read()  # nothing cached by a first read stays in the counts
        probe.reset()
        read_s = timed(lambda: getattr(cat, entry).read())
        read_counts = probe.snapshot() | {"seconds": read_s}
        batches = []
        probe.reset()
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(ACCESS_LOOP):
                if not getattr(cat, entry).is_persisted:
                    raise RuntimeError(f"cat.{entry} is not persisted in {label}")
            batches.append((time.perf_counter() - t0) / ACCESS_LOOP)
        access = {
            "seconds": min(batches),
            "requests": {k: v / (5 * ACCESS_LOOP) for k, v in probe.requests.items()},
        }
        breakdown[label] = {
            "persist": _median_run(runs),
            "persist_runs": runs,
            "read": read_counts,
            "access": access,
        }
    return {"persist": persist, "read": read, "breakdown": breakdown}


def _median_run(runs: list[dict]) -> dict:
    """Per-key medians over the counted persist runs."""
    import statistics

    out: dict = {"seconds": statistics.median(r["seconds"] for r in runs)}
    for key in ("requests", "request_s", "phases_s"):
        names = sorted({k for r in runs for k in r[key]})
        out[key] = {k: statistics.median(r[key].get(k, 0) for r in runs) for k in names}
    return out


# -- runner side ------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_moto(ctx: Context) -> tuple[subprocess.Popen, str, float]:
    """``python -m moto.server`` on 127.0.0.1; returns it, its URL and its start-up time."""
    missing = [m for m in ("moto", "flask", "s3fs") if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeError(
            f"the remote benchmark needs moto[server] and s3fs (missing: {', '.join(missing)}); "
            "pip install -r ci/requirements.txt"
        )
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(ctx.subdir("remote") / "moto.log", "w")  # noqa: SIM115 - closed with the process
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=_aws_env(ctx, endpoint),
        cwd=str(ctx.scratch),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + MOTO_START_TIMEOUT
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
            return proc, endpoint, time.perf_counter() - t0
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc)
                raise RuntimeError(
                    f"moto server did not answer on {endpoint} within {MOTO_START_TIMEOUT:.0f} s"
                ) from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _aws_env(ctx: Context, endpoint: str) -> dict[str, str]:
    """The worker environment, with S3 pointed at moto and every AWS setting of the
    user's shell (profiles, tokens, config files) left out."""
    env = {k: v for k, v in ctx.env().items() if not k.startswith("AWS_")}
    none = str(ctx.scratch / "no-aws-config")
    env.update(
        AWS_ACCESS_KEY_ID="bench-key-id",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=none,
        AWS_SHARED_CREDENTIALS_FILE=none,
        AWS_EC2_METADATA_DISABLED="true",
        FSSPEC_S3_ENDPOINT_URL=endpoint,
    )
    return env


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.1f} ms"


def _requests(counts: dict) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{v:g} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"{total:g} S3 requests ({parts})" if total else "no S3 requests"


def bench_remote(ctx: Context) -> list[Result]:
    """``source.persist()`` and ``cat.entry.read()``: S3 store (moto) vs local store."""
    rows = ctx.sizes.remote_rows
    csv = csv_by_rows(ctx.data_dir, rows)
    work = ctx.subdir("remote")
    catalog = str(write_catalog(work / "catalog.yaml", {"table": csv}))
    roots = {"local": str(ctx.subdir("remote/store-local")), "s3": f"s3://{BUCKET}/store"}
    proc, endpoint, moto_start = _start_moto(ctx)
    try:
        out = run_worker(
            ctx,
            "bench_remote",
            "remote",
            dict(
                catalog=catalog,
                entry="table",
                bucket=BUCKET,
                roots=roots,
                repeats=ctx.sizes.remote_repeats,
                read_repeats=ctx.sizes.remote_read_repeats,
            ),
            env=_aws_env(ctx, endpoint),
            timeout=600,
        )
    finally:
        _stop(proc)

    bd = out["breakdown"]
    s3p, lop = bd["s3"]["persist"], bd["local"]["persist"]
    data_label = "data (parquet files)"
    top = [k for k in s3p["phases_s"] if not k.startswith(" ") and k != data_label]
    top.sort(key=lambda k: -s3p["phases_s"][k])
    rest_s3 = s3p["seconds"] - s3p["phases_s"].get(data_label, 0)
    rest_local = lop["seconds"] - lop["phases_s"].get(data_label, 0)
    other = rest_s3 - sum(s3p["phases_s"][k] for k in top)
    phases = "; ".join(
        [f"{k} {_ms(s3p['phases_s'][k])}" for k in top if s3p["phases_s"][k] >= 0.0005]
        + [f"other (index check, version folder, .incomplete removal, tokenize) {_ms(other)}"]
    )
    lock = (
        f"acquire {_ms(s3p['phases_s'].get('  index lock: acquire', 0))}, "
        f"release {_ms(s3p['phases_s'].get('  index lock: release', 0))}"
    )
    persist_notes = [
        f"counted persists (median of {BREAKDOWN_REPEATS}): S3 {_ms(s3p['seconds'])} = data "
        f"{_ms(s3p['phases_s'].get(data_label, 0))} + store {_ms(rest_s3)}; local "
        f"{_ms(lop['seconds'])} = data {_ms(lop['phases_s'].get(data_label, 0))} + store "
        f"{_ms(rest_local)}",
        f"S3 store part: {phases} (index lock {lock})",
        f"S3 persist: {_requests(s3p['requests'])}",
    ]
    s3r, s3a, loa = bd["s3"]["read"], bd["s3"]["access"], bd["local"]["access"]
    read_notes = [
        f"S3 cat.entry.read(): {_requests(s3r['requests'])}",
        f"cat.entry alone (no read), best of 5x{ACCESS_LOOP}: S3 {_ms(s3a['seconds'])} with "
        f"{_requests(s3a['requests'])} per access, local {_ms(loa['seconds'])}",
    ]
    common = {"endpoint": endpoint, "moto_start_s": moto_start, "csv_rows": rows, "roots": roots}
    return [
        timing_result(
            f"persist {rows:,}-row CSV, S3 (moto) vs local store",
            out["persist"]["s3"],
            out["persist"]["local"],
            None,
            ours_label="S3 store (moto server)",
            hand_label="local store",
            details=common | {"breakdown": {k: v["persist"] for k, v in bd.items()}},
            notes=persist_notes,
        ),
        timing_result(
            f"cat.entry.read() of {rows:,} rows, S3 (moto) vs local store",
            out["read"]["s3"],
            out["read"]["local"],
            None,
            ours_label="S3 store (moto server)",
            hand_label="local store",
            details=common
            | {"breakdown": {k: {"read": v["read"], "access": v["access"]} for k, v in bd.items()}},
            notes=read_notes,
        ),
    ]
