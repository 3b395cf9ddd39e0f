"""How the store scales with the number of persisted entries.

* ``catalog_access``: ``cat.entry`` on an already opened catalog whose entry is
  persisted, with a store of N entries vs a store of 1 entry.
* ``persist_big_store``: ``source.persist()`` of a small CSV source into a
  store of N entries vs an empty store.

The big store holds one real persisted entry plus N - 1 synthetic records added
through the package's own :class:`~intake_persistplus.index.Index` (a real
persist each would take far too long and measure nothing more). Stores are
built in one worker process and measured in another, so the measuring process
reads the index from disk as a user's process would. Both stores are measured
in the same process, alternating between them by switching
``intake.conf["persist_path"]``.
"""

from __future__ import annotations

import time

from _common import Context, Result, run_worker, timing_result, write_catalog
from data import small_csv

ACCESS_TARGET = 1.2
PERSIST_TARGET = 1.5


# -- worker side (runs in a fresh process; imports intake) -------------------------------
def _use_store(root: str) -> None:
    import intake

    intake.conf["persist_path"] = root


def build_store(catalog: str, entry: str, root: str, n_entries: int) -> dict:
    """Persist ``entry`` of ``catalog`` into ``root`` and pad the index with synthetic
    records up to ``n_entries``; returns timings of the build."""
    import dataclasses
    import secrets

    import intake

    from intake_persistplus.index import Index
    from intake_persistplus.layout import CATALOG_DIR, location, new_version_id
    from intake_persistplus.persist_store import store

    _use_store(root)
    cat = intake.open_catalog(catalog)
    t0 = time.perf_counter()
    getattr(cat, entry).persist()
    real = time.perf_counter() - t0
    record = store.record(getattr(cat, entry)(persist_mode="never"))
    index = Index(location(root))
    t0 = time.perf_counter()
    for i in range(n_entries - 1):
        token, version = secrets.token_hex(16), new_version_id()
        args = dict(record.args, urlpath=f"{CATALOG_DIR}/{token}/{version}/data")
        index.put(
            dataclasses.replace(
                record,
                token=token,
                version=version,
                args=args,
                original_name=f"synthetic_{i}",
                timestamp=time.time(),
                description=f"persisted copy of synthetic_{i}",
            )
        )
    padding = time.perf_counter() - t0
    if len(index) != n_entries:
        raise RuntimeError(f"index of {root} has {len(index)} entries, expected {n_entries}")
    return {"real_persist_s": real, "synthetic_puts_s": padding, "entries": len(index)}


def measure_access(catalog: str, entry: str, roots: dict, repeats: int, loop: int) -> dict:
    """Per-access seconds of ``cat.<entry>``, best of ``loop``-access batches,
    alternating between the stores in ``roots`` (label -> persist path)."""
    import intake

    from intake_persistplus.index import Index
    from intake_persistplus.layout import location

    cold = {}
    for label, root in roots.items():  # what the first access in a process pays for the index
        t0 = time.perf_counter()
        len(Index(location(root)))
        cold[label] = time.perf_counter() - t0
    cat = intake.open_catalog(catalog)
    first = {}
    for label, root in roots.items():
        _use_store(root)
        t0 = time.perf_counter()
        src = getattr(cat, entry)
        first[label] = time.perf_counter() - t0
        if not src.is_persisted:
            raise RuntimeError(f"cat.{entry} is not served from the {label} store {root}")
    samples: dict[str, list[float]] = {label: [] for label in roots}
    labels = list(roots)
    for i in range(repeats + 1):
        for label in labels if i % 2 == 0 else labels[::-1]:
            _use_store(roots[label])
            t0 = time.perf_counter()
            for _ in range(loop):
                getattr(cat, entry)
            dt = (time.perf_counter() - t0) / loop
            if i:
                samples[label].append(dt)
    return {"samples": samples, "first_access_s": first, "cold_index_read_s": cold}


def measure_persist(catalog: str, entry: str, roots: dict, repeats: int) -> dict:
    """Seconds of ``cat.<entry>.persist()`` into each store of ``roots``, alternating;
    the new entry is removed again (untimed) so every store keeps its size."""
    import intake

    from intake_persistplus.persist_store import store

    cat = intake.open_catalog(catalog)
    samples: dict[str, list[float]] = {label: [] for label in roots}
    warmup: dict[str, float] = {}
    remove_s: dict[str, list[float]] = {label: [] for label in roots}
    sizes: dict[str, int] = {}
    labels = list(roots)
    for i in range(repeats + 1):
        for label in labels if i % 2 == 0 else labels[::-1]:
            _use_store(roots[label])
            src = getattr(cat, entry)  # the original: nothing is persisted for it
            if src.is_persisted:
                raise RuntimeError(f"{entry} is already persisted in {roots[label]}")
            t0 = time.perf_counter()
            src.persist()
            dt = time.perf_counter() - t0
            sizes[label] = len(store)
            t0 = time.perf_counter()
            store.remove(src)
            remove_s[label].append(time.perf_counter() - t0)
            if i:
                samples[label].append(dt)
            else:
                warmup[label] = dt
    replace_s: dict[str, list[float]] = {label: [] for label in roots}
    for i in range(3):  # re-persist of a persisted source: its index entry is replaced
        for label in labels if i % 2 == 0 else labels[::-1]:
            _use_store(roots[label])
            getattr(cat, entry).persist()
            original = getattr(cat, entry)(persist_mode="never")
            t0 = time.perf_counter()
            original.persist()
            replace_s[label].append(time.perf_counter() - t0)
            store.remove(original)
    return {
        "samples": samples,
        "replace_s": replace_s,
        "warmup_s": warmup,
        "remove_s": remove_s,
        "entries_while_persisting": sizes,
    }


# -- runner side ------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _catalog(ctx: Context, sub: str) -> str:
    d = ctx.subdir(sub)
    persisted = small_csv(d, "persisted", ctx.sizes.small_rows)
    fresh = small_csv(d, "fresh", ctx.sizes.small_rows)
    return str(write_catalog(d / "catalog.yaml", {"persisted": persisted, "fresh": fresh}))


def bench_catalog_access(ctx: Context) -> list[Result]:
    """``cat.entry`` with an N-entry index vs a 1-entry index."""
    n = ctx.sizes.index_entries
    catalog = _catalog(ctx, "access")
    # the small store first: the first access (imports included) lands on it
    roots = {"one": str(ctx.subdir("access/store-one")), "big": str(ctx.subdir("access/store-big"))}
    build = {
        "big": run_worker(
            ctx,
            "bench_index",
            "build_store",
            dict(catalog=catalog, entry="persisted", root=roots["big"], n_entries=n),
        ),
        "one": run_worker(
            ctx,
            "bench_index",
            "build_store",
            dict(catalog=catalog, entry="persisted", root=roots["one"], n_entries=1),
        ),
    }
    out = run_worker(
        ctx,
        "bench_index",
        "measure_access",
        dict(
            catalog=catalog,
            entry="persisted",
            roots=roots,
            repeats=ctx.sizes.access_repeats,
            loop=ctx.sizes.access_loop,
        ),
    )
    return [
        timing_result(
            f"catalog access, {n:,}-entry vs 1-entry index",
            out["samples"]["big"],
            out["samples"]["one"],
            ACCESS_TARGET,
            ours_label=f"{n}-entry index",
            hand_label="1-entry index",
            details={
                "first_access_s": out["first_access_s"],
                "cold_index_read_s": out["cold_index_read_s"],
                "build": build,
            },
            notes=[
                "first access in a fresh process reads the index: "
                f"{_ms(out['cold_index_read_s']['big'])} with {n:,} entries, "
                f"{_ms(out['cold_index_read_s']['one'])} with 1 (untargeted)"
            ],
        )
    ]


def bench_persist_big_store(ctx: Context) -> list[Result]:
    """``source.persist()`` of a small CSV into an N-entry store vs an empty store."""
    n = ctx.sizes.index_entries
    catalog = _catalog(ctx, "persist")
    # the empty store first: the warm-up round's imports land on it
    roots = {
        "empty": str(ctx.subdir("persist/store-empty")),
        "big": str(ctx.subdir("persist/store-big")),
    }
    build = run_worker(
        ctx,
        "bench_index",
        "build_store",
        dict(catalog=catalog, entry="persisted", root=roots["big"], n_entries=n),
    )
    out = run_worker(
        ctx,
        "bench_index",
        "measure_persist",
        dict(catalog=catalog, entry="fresh", roots=roots, repeats=ctx.sizes.persist_small_repeats),
    )
    return [
        timing_result(
            f"persist {ctx.sizes.small_rows:,}-row CSV, {n:,}-entry vs empty store",
            out["samples"]["big"],
            out["samples"]["empty"],
            PERSIST_TARGET,
            ours_label=f"{n}-entry store",
            hand_label="empty store",
            details={k: v for k, v in out.items() if k != "samples"} | {"build": build},
            notes=[
                "re-persist (entry replaced) and remove, best of: "
                f"{_ms(min(out['replace_s']['big']))} / {_ms(min(out['remove_s']['big']))} "
                f"with {n:,} entries, {_ms(min(out['replace_s']['empty']))} / "
                f"{_ms(min(out['remove_s']['empty']))} with 1 (untargeted)"
            ],
        )
    ]
