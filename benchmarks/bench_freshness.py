"""What revalidation saves (see docs/freshness.rst).

* ``revalidate``: an expired copy of a ~1 GB CSV whose original is unchanged,
  made fresh again by comparing fingerprints (``store.refresh_expired``), vs
  re-persisting it (``store.refresh``, the 0.1.0 behaviour and the re-read
  that ``revalidate: false`` does). Target: under 1 % of the re-persist.
* ``revalidate_s3``: S3 requests (moto server on 127.0.0.1) of one
  revalidation of a CSV original on S3, a single file and a glob of 8 files:
  the fingerprint's requests (target: one per file, or one listing for a
  glob) and the whole revalidation's (the fingerprint plus the entry's commit
  of its new ``checked`` time), reported.
* ``dedupe_disk``: disk blocks used by a store after 10 refreshes of an
  unchanged ~100 MB CSV source, every version kept, against after its first
  persist (files counted once per inode, as the disk holds them). Target: at
  most 1.05.
* ``access_vs_before``: a catalog access to a fresh persisted entry with this
  code vs with the code before copies recorded their identity and fingerprint
  (``BEFORE``, checked out into the scratch folder with ``git worktree``), each
  in its own fresh processes, interleaved. Target: at most 1.05.
"""

from __future__ import annotations

import os
import subprocess

from _common import (
    HERE,
    Context,
    Result,
    interleave,
    run_worker,
    timed,
    timing_result,
    write_catalog,
)
from data import csv_by_size, small_csv

REVALIDATE_TARGET = 0.01
DEDUPE_TARGET = 1.05
ACCESS_TARGET = 1.05
#: the commit before data identity and fingerprints (the lookup as it was)
BEFORE = "3f7367a"


# -- worker side ------------------------------------------------------------------------
def revalidate(catalog: str, entry: str, repeats: int) -> dict:
    """Interleaved seconds of a revalidation (unchanged original) and a re-persist."""
    import intake

    from intake_persistplus.persist_store import store

    cat = intake.open_catalog(catalog)
    original = getattr(cat, entry)(persist_mode="never")
    original.persist(ttl=0, keep=1)
    token = store.get_tok(original)
    versions = []

    def ours() -> float:
        before = store.record(token).version
        seconds = timed(lambda: store.refresh_expired(token, original=original))
        if store.record(token).version != before:
            raise RuntimeError("the unchanged original was read again")
        return seconds

    def hand() -> float:
        seconds = timed(lambda: store.refresh(token, original=original))
        versions.append(store.record(token).version)
        return seconds

    out = interleave({"ours": ours, "hand": hand}, repeats, warmup=0)
    return out | {"versions_written_by_repersist": len(set(versions))}


def revalidate_s3(bucket: str, folder: str, files: int) -> dict:
    """S3 requests of the fingerprint and of the whole revalidation of an expired copy."""
    import collections

    import intake
    import s3fs

    from intake_persistplus.fingerprint import fingerprint
    from intake_persistplus.persist_store import store

    fs = s3fs.S3FileSystem()
    fs.makedirs(bucket, exist_ok=True)
    import pandas as pd

    for i in range(files):
        fs.pipe(f"{bucket}/{folder}/part-{i}.csv",
                pd.DataFrame({"a": range(100), "b": [i] * 100}).to_csv(index=False).encode())
    url = f"s3://{bucket}/{folder}/" + ("part-0.csv" if files == 1 else "*.csv")
    catalog = os.path.join(os.getcwd(), f"s3-{folder}.yaml")
    with open(catalog, "w") as f:
        f.write(f"sources:\n  t:\n    driver: csv\n    args:\n      urlpath: '{url}'\n")
    original = intake.open_catalog(catalog).t(persist_mode="never")
    original.persist(ttl=0)
    token = store.get_tok(original)
    counts: collections.Counter = collections.Counter()

    def count(request, **kwargs):
        counts[request.method] += 1

    clients = []
    for s3 in {id(c): c for c in (fs.s3, store._loc().fs.s3)}.values():
        s3.meta.events.register("before-send.s3", count)
        clients.append(s3)
    fs.invalidate_cache()
    fingerprint(original)
    fingerprint_requests = dict(counts)
    counts.clear()
    fs.invalidate_cache()
    version = store.record(token).version
    store.refresh_expired(token, original=original)
    if store.record(token).version != version:
        raise RuntimeError("the unchanged S3 original was read again")
    return {"files": files, "fingerprint": fingerprint_requests, "revalidation": dict(counts)}


def access(catalog: str, entry: str, loop: int) -> float:
    """Seconds per ``cat.<entry>`` access (a fresh persisted entry), after one warm-up."""
    import time

    import intake

    cat = intake.open_catalog(catalog)
    source = getattr(cat, entry)
    if not source.is_persisted:
        raise RuntimeError(f"cat.{entry} is not persisted")
    t0 = time.perf_counter()
    for _ in range(loop):
        getattr(cat, entry)
    return (time.perf_counter() - t0) / loop


def _disk_blocks(root: str) -> int:
    """Bytes of disk blocks below ``root``, each file once however many links it has."""
    seen, total = set(), 0
    for folder, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def dedupe_disk(catalog: str, entry: str, refreshes: int) -> dict:
    """Disk used after one persist, and after ``refreshes`` refreshes of unchanged data."""
    import intake

    from intake_persistplus.persist_store import store

    original = getattr(intake.open_catalog(catalog), entry)(persist_mode="never")
    original.persist()
    token = store.get_tok(original)
    once = _disk_blocks(store.path)
    seconds = [timed(lambda: store.refresh(token, original=original)) for _ in range(refreshes)]
    return {"once": once, "after": _disk_blocks(store.path), "versions": len(store.versions(token)),
            "du": store.du(token)["total"], "refresh_seconds": seconds}


def persist_once(catalog: str, entry: str) -> None:
    import intake

    getattr(intake.open_catalog(catalog), entry).persist()


# -- runner side ------------------------------------------------------------------------
def bench_revalidate(ctx: Context) -> list[Result]:
    csv = csv_by_size(ctx.data_dir, 100 if ctx.quick else 1000)
    catalog = write_catalog(ctx.subdir("fresh") / "catalog.yaml", {"table": csv})
    out = run_worker(ctx, "bench_freshness", "revalidate",
                     dict(catalog=str(catalog), entry="table", repeats=1 if ctx.quick else 3),
                     env=ctx.env(INTAKE_PERSIST_PATH=str(ctx.subdir("fresh/store"))))
    size = os.path.getsize(csv) / 1e6
    return [timing_result(
        f"revalidate an unchanged {size:,.0f} MB CSV vs re-persist it",
        out["ours"], out["hand"], REVALIDATE_TARGET,
        ours_label="refresh_expired (fingerprint)", hand_label="refresh (re-read)",
        details={"versions_written_by_repersist": out["versions_written_by_repersist"]},
    )]


def bench_dedupe_disk(ctx: Context) -> list[Result]:
    csv = csv_by_size(ctx.data_dir, 20 if ctx.quick else 100)
    catalog = write_catalog(ctx.subdir("dedupe") / "catalog.yaml", {"table": csv})
    refreshes = 10
    out = run_worker(ctx, "bench_freshness", "dedupe_disk",
                     dict(catalog=str(catalog), entry="table", refreshes=refreshes),
                     env=ctx.env(INTAKE_PERSIST_PATH=str(ctx.subdir("dedupe/store"))))
    if out["versions"] != refreshes + 1:
        raise RuntimeError(f"expected {refreshes + 1} versions kept, found {out['versions']}")
    return [Result(
        name=f"disk used after {refreshes} refreshes of unchanged data ({out['versions']} versions "
             "kept) vs one persist",
        ours=out["after"] / 2**20, hand=out["once"] / 2**20, unit="MiB", target=DEDUPE_TARGET,
        ours_label=f"after {refreshes} refreshes", hand_label="after one persist", statistic="size",
        details=out,
    )]


def bench_revalidate_s3(ctx: Context) -> list[Result]:
    from bench_remote import _aws_env, _start_moto, _stop

    rows = []
    proc, endpoint, _ = _start_moto(ctx)
    try:
        for files in (1, 8):
            env = _aws_env(ctx, endpoint)
            env["INTAKE_PERSIST_PATH"] = f"s3://bench-fresh/store{files}"
            out = run_worker(ctx, "bench_freshness", "revalidate_s3",
                             dict(bucket="bench-fresh", folder=f"f{files}", files=files), env=env)
            fp = sum(out["fingerprint"].values())
            limit = 1  # one listing for a glob, one request for a file
            what = f"a glob of {files} files" if files > 1 else "1 file"
            rows.append(Result(
                name=f"S3 requests to fingerprint {what} "
                     f"(whole revalidation: {sum(out['revalidation'].values())})",
                ours=fp, hand=limit, unit="requests", target=1.0,
                ours_label="requests", hand_label="limit", statistic="count",
                details=out,
            ))
    finally:
        _stop(proc)
    return rows


def bench_access_vs_before(ctx: Context) -> list[Result]:
    old = ctx.scratch / "before"
    subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach", "-f", str(old), BEFORE],
                   check=True, capture_output=True)
    try:
        folder = ctx.subdir("access-before")
        catalog = write_catalog(folder / "catalog.yaml", {"t": small_csv(folder, "t", 1000)})
        stores = {"ours": ctx.subdir("access-before/store-ours"),
                  "before": ctx.subdir("access-before/store-before")}
        envs = {"ours": ctx.env(INTAKE_PERSIST_PATH=str(stores["ours"])),
                "before": ctx.env(INTAKE_PERSIST_PATH=str(stores["before"]),
                                  PYTHONPATH=str(old) + os.pathsep + os.environ.get("PYTHONPATH", ""))}
        for side in envs:
            run_worker(ctx, "bench_freshness", "persist_once", dict(catalog=str(catalog), entry="t"),
                       env=envs[side])
        loop = 50 if ctx.quick else 200

        def case(side):
            return lambda: run_worker(ctx, "bench_freshness", "access",
                                      dict(catalog=str(catalog), entry="t", loop=loop), env=envs[side])

        out = interleave({"ours": case("ours"), "before": case("before")},
                         3 if ctx.quick else 9, warmup=1)
        return [timing_result(
            "catalog access to a fresh copy vs the code before identities and fingerprints",
            out["ours"], out["before"], ACCESS_TARGET,
            ours_label="this code", hand_label=f"code at {BEFORE}",
        )]
    finally:
        subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force", str(old)],
                       capture_output=True)


