"""The commands of ``intake-persist``: one ``cmd_<name>(args) -> exit code`` each."""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Iterable
from operator import attrgetter

from ..errors import CLIError
from ..provenance import orphaned
from .format import (
    PROG,
    Progress,
    columns,
    emit_json,
    entry_row,
    expires_text,
    human_seconds,
    human_size,
    plural,
    table,
    utc_text,
)
from .pipelines import refresh_trains, run_schedule, show_graph


# -- store helpers -----------------------------------------------------------------
def _store():
    from ..persist_store import store

    return store


def resolve(ident: str) -> str:
    """A token from a token, an entry's name (with its parameters, as ``list``
    shows them), or a unique token prefix of at least 4 characters."""
    from ..errors import AmbiguousNameError, UnknownNameError
    from ..layout import is_token

    store = _store()
    if is_token(ident) and store.lookup(ident) is not None:
        return ident
    try:
        return store.token_of_name(ident)
    except AmbiguousNameError as e:
        raise CLIError(str(e)) from None
    except UnknownNameError:
        pass
    by_prefix = [t for t in store if t.startswith(ident)] if len(ident) >= 4 else []
    if len(by_prefix) == 1:
        return by_prefix[0]
    if len(by_prefix) > 1:
        raise CLIError(f"{ident!r} matches {len(by_prefix)} tokens ({', '.join(by_prefix)}); give more of it")
    raise CLIError(f"no persisted entry {ident!r} in {store.path} (see `{PROG} list`)")


# -- commands ----------------------------------------------------------------------
def cmd_list(args) -> int:
    collecting = gc.isenabled()
    try:
        return _list(args)
    finally:
        if collecting:
            gc.enable()


def _list(args) -> int:
    store = _store()
    now = time.time()
    if args.entries:  # only the heads of these: the store's size does not matter
        records = {}
        for name in args.entries:
            found = store.named(name) or store.named(resolve(name))  # a token prefix, or an error
            records.update((r.token, r) for r in found)
    else:
        gc.disable()  # 100,000 entries make a million objects, none cyclic; the process ends soon
        records = store.listing()  # kept beside cat.yaml: no entry decoded twice
    found = sorted(records.values(), key=attrgetter("timestamp"))
    found.sort(key=lambda rec: rec.original_name or "")  # by name, then time (the sort is stable)
    # what follows works column by column, at C speed where it can: 100,000 rows
    # orphaned or not: each (catalog file, entry) pair is looked up once
    seen: dict = {}
    pairs = list(zip(map(attrgetter("catalog"), found), map(attrgetter("entry"), found), strict=True))
    lost_pairs = {pair: orphaned(*pair, seen) for pair in set(pairs)}
    lost = (list(map(lost_pairs.__getitem__, pairs)) if any(v is not False for v in lost_pairs.values())
            else [False] * len(found))
    sizes = [rec.size if rec.size is not None else store.du(rec.token)["total"] for rec in found]
    size_text = {size: human_size(size) for size in set(sizes)}  # sizes repeat: each formatted once
    if args.json:
        emit_json([entry_row(rec, now, size) | {"orphaned": gone}
                   for rec, size, gone in zip(found, sizes, lost, strict=True)])
        return 0
    if not found:
        print(f"no persisted entries in {store.path}")
        return 0
    ttls = list(map(attrgetter("ttl"), found))
    # a copy is fresh from when it was written or last found unchanged, whichever is later
    since = [t if c is None or c < t else c for t, c in zip(map(attrgetter("timestamp"), found),
                                                            map(attrgetter("checked"), found), strict=True)]
    expires = [None if ttl is None else start + ttl - now for start, ttl in zip(since, ttls, strict=True)]
    columns(
        {
            "token": list(map(attrgetter("token"), found)),
            "name": list(map(attrgetter("label"), found)),
            "container": list(map(attrgetter("container"), found)),
            "size": list(map(size_text.__getitem__, sizes)),
            "age": [human_seconds(now - rec.timestamp) for rec in found],
            "checked": ["-" if rec.checked is None else human_seconds(now - rec.checked) for rec in found],
            "ttl": ["none" if ttl is None else human_seconds(ttl) for ttl in ttls],
            "expires in": list(map(expires_text, expires)),
            "state": [("on access" if rec.revalidate == "on-access"
                       else "fresh" if left is None or left > 0 else "expired")
                      + (", orphaned" if gone else "")
                      for rec, left, gone in zip(found, expires, lost, strict=True)],
        }
    )
    moved = sum(1 for rec in found if rec.rekeys)
    if moved:
        print(f"{plural(moved, 'entry has', 'entries have')} moved to a new token since written, after "
              "edits of their catalog entries that left the data alone (`--json`: rekeyed)", file=sys.stderr)
    return 0


def cmd_info(args) -> int:
    store = _store()
    token = resolve(args.entry)
    rec = store.record(token)
    versions = store.versions(token)
    info = entry_row(rec, time.time(), store.du(token)["total"])
    info.update(
        driver=rec.driver,
        args=rec.args,
        description=rec.description,
        persist_kwargs=rec.persist_kwargs,
        keep=rec.keep,
        original_source=rec.original_source,
        original_metadata=rec.original_metadata,
        versions=len(versions),
        dependencies=rec.dependencies,
        catalog=rec.catalog,
        entry=rec.entry,
        identity=rec.identity,
        fingerprint=rec.fingerprint,
    )
    if args.json:
        emit_json(info)
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if key == "expires_in":
            value = expires_text(value)
        elif key in ("age", "ttl") and isinstance(value, (int, float)):
            value = human_seconds(value)
        elif key == "checked" and isinstance(value, (int, float)):
            value = utc_text(value)
        elif key == "size":
            value = human_size(value)
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        print(f"{key.ljust(width)}  {value}")
    return 0


def cmd_versions(args) -> int:
    token = resolve(args.entry)
    versions = _store().versions(token)
    if args.json:
        emit_json([v.to_dict() for v in versions])
        return 0
    now = time.time()
    first_with: dict[str, str] = {}  # content hash -> the oldest version holding it
    for v in versions:
        if v.record.content is not None:
            first_with.setdefault(v.record.content, v.version)
    table(
        [
            {
                "version": v.version,
                "time (utc)": utc_text(v.timestamp),
                "age": human_seconds(now - v.timestamp),
                "size": human_size(v.size),
                "same data as": "" if (same := first_with.get(v.record.content or "")) in (None, v.version)
                else same,
                "current": "*" if v.current else "",
            }
            for v in versions
        ],
        ["version", "time (utc)", "age", "size", "same data as", "current"],
    )
    return 0


def _selected(args) -> list[str]:
    store = _store()
    if args.all:
        return list(store)
    if args.expired:
        now = time.time()
        return [t for t in store if (r := store.lookup(t)) is not None and r.expired(now)]
    if not args.entries:
        raise CLIError("say what to refresh: TOKEN or NAME..., --expired or --all")
    return list(dict.fromkeys(resolve(e) for e in args.entries))


def cmd_refresh(args) -> int:
    store = _store()
    tokens = _selected(args)
    if args.train or args.downstream:
        return refresh_trains(store, tokens, args.train, args.downstream, args.json)
    done, failed = [], []
    progress = Progress("refreshing", len(tokens))
    for token in tokens:
        rec = store.lookup(token)
        progress.step(rec.original_name if rec else token)
        try:
            # --expired: an original found unchanged makes its copy fresh again, unread
            new = store.refresh_expired(token) if args.expired else store.refresh(token)
            version = new.metadata["persist_version"]
            done.append({"token": token, "name": rec.original_name, "version": version,
                         "revalidated": rec is not None and version == rec.version})
        except Exception as e:  # keep going: report each failure
            failed.append({"token": token, "name": rec.original_name if rec else None, "error": f"{type(e).__name__}: {e}"})
    progress.close()
    if args.json:
        emit_json({"refreshed": done, "failed": failed})
    else:
        for d in done:
            if d["revalidated"]:
                print(f"revalidated {d['token']} ({d['name']}): its original is unchanged, the copy is fresh")
            else:
                print(f"refreshed {d['token']} ({d['name']}) -> {d['version']}")
        for f in failed:
            print(f"{PROG}: refresh of {f['token']} ({f['name']}) failed: {' '.join(f['error'].split())}", file=sys.stderr)
        if not tokens:
            print("nothing to refresh")
    return 1 if failed else 0


def cmd_graph(args) -> int:
    return show_graph(_store(), resolve(args.entry), args.downstream, args.json, args.dot)


def cmd_schedule(args) -> int:
    return run_schedule(_store(), args.catalogs, args.once)


def cmd_remove(args) -> int:
    tokens = list(dict.fromkeys(resolve(e) for e in args.entries))
    for token in tokens:
        _store().remove(token, delfiles=not args.keep_files)
        print(f"removed {token}")
    return 0


def cmd_clear(args) -> int:
    store = _store()
    n = len(store)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CLIError(f"clear would remove {plural(n, 'entry', 'entries')} from {store.path}; add --yes to confirm")
        what = "the 1 persisted entry and its" if n == 1 else f"all {n} persisted entries and their"
        answer = input(f"Remove {what} data from {store.path}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    store.clear()
    print(f"removed {plural(n, 'entry', 'entries')} from {store.path}")
    return 0


def cmd_prune(args) -> int:
    store = _store()
    if args.orphans:
        return _prune_orphans(store, args)
    target = resolve(args.entry) if args.entry else None
    options = {"keep": args.keep, "older_than": args.older_than}
    # files a kept version shares (identical data) stay: what is freed is measured
    tokens = {v.token for v in store.prune(target, dry_run=True, **options)}
    before = sum(store.du(t)["total"] for t in tokens) if not args.dry_run else 0
    removed = store.prune(target, dry_run=args.dry_run, **options)
    freed = None if args.dry_run else before - sum(store.du(t)["total"] for t in tokens)
    if args.json:
        emit_json({"dry_run": args.dry_run, "removed": [v.to_dict() for v in removed], "freed": freed})
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for v in removed:
        print(f"{verb} {v.token}/{v.version} ({human_size(v.size)})")
    print(f"{verb} {plural(len(removed), 'version', 'versions')}, " + (
        f"up to {human_size(sum(v.size for v in removed))} (files they share with kept versions stay)"
        if freed is None else f"{human_size(freed)} freed"))
    return 0


def _prune_orphans(store, args) -> int:
    """``prune --orphans``: remove the entries whose catalog file or entry is gone."""
    if args.entry or args.keep or args.older_than:
        raise CLIError("--orphans removes whole entries: give it alone (with --dry-run to look first)")
    gone = store.orphans()
    verb = "would remove" if args.dry_run else "removed"
    done = []
    for rec in gone:
        if args.dry_run or store.remove(rec.token):
            done.append({"token": rec.token, "name": rec.label, "catalog": rec.catalog})
    if args.json:
        emit_json({"dry_run": args.dry_run, "removed": done})
        return 0
    for d in done:
        print(f"{verb} {d['token']} ({d['name']}, from {d['catalog']})")
    print(f"{verb} {plural(len(done), 'orphaned entry', 'orphaned entries')}")
    return 0


def cmd_du(args) -> int:
    store = _store()
    usage = store.du()
    records = {t: store.lookup(t) for t in usage["entries"]}
    if args.json:
        usage["names"] = {
            t: {"name": r.original_name, "parameters": r.parameters} if r else None
            for t, r in records.items()
        }
        emit_json(usage)
        return 0
    rows = [
        {"token": t, "name": records[t].label if records[t] else "-", "size": human_size(b)}
        for t, b in sorted(usage["entries"].items(), key=lambda kv: -kv[1])
    ]
    table(rows, ["token", "name", "size"])
    print(f"total {human_size(usage['total'])} in {store.path}")
    return 0


def cmd_export(args) -> int:
    from ..errors import ExportLocationError

    source = _store()[resolve(args.entry)]
    try:
        text = source.export(args.path, overwrite=args.overwrite)
    except ExportLocationError:
        raise CLIError(f"{args.path!r} is not empty; choose another path or add --overwrite") from None
    sys.stdout.write(text)
    return 0


def _parse_params(items: Iterable[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"parameter {item!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def cmd_persist(args) -> int:
    import intake

    cat = intake.open_catalog(args.catalog)
    if args.entry not in cat:
        raise CLIError(f"catalog {args.catalog!r} has no entry {args.entry!r} (it has: {', '.join(cat)})")
    params = _parse_params(args.param or [])
    known = [p["name"] for p in cat[args.entry].describe().get("user_parameters", [])] if params else []
    unknown = sorted(set(params) - set(known))
    if unknown:
        has = ", ".join(known) if known else "none"
        raise CLIError(f"entry {args.entry!r} has no parameter {', '.join(map(repr, unknown))} (it has: {has})")
    source = cat[args.entry](persist_mode="never", **params)
    # as a first catalog access would: the entry's declared persist: settings,
    # with --ttl and --keep overriding them only when given
    from ..config import declared_persist, validate_ttl

    spec = declared_persist(source.__dict__.get("_entry")) or {}
    ttl, keep = spec.pop("ttl", None), spec.pop("keep", None)
    ttl = ttl if args.ttl is None else validate_ttl(args.ttl)
    keep = keep if args.keep is None else args.keep
    persisted = source.persist(ttl=ttl, keep=keep, **spec)
    md = persisted.metadata
    if args.json:
        emit_json({"token": md["original_tok"], "version": md["persist_version"], "name": args.entry})
    else:
        print(f"persisted {args.entry} as {md['original_tok']} (version {md['persist_version']})")
    return 0


def cmd_demo(args) -> int:
    from ..demo import run

    run(args.folder, args.rows)
    return 0


def cmd_compact(args) -> int:
    store = _store()
    store.compact()
    print(f"cat.yaml in {store.path} holds every entry ({plural(len(store), 'entry', 'entries')})")
    return 0


def cmd_gc(args) -> int:
    gone = _store().gc()
    for g in gone:
        print(f"removed unfinished {g}")
    print(f"removed {plural(len(gone), 'unfinished version', 'unfinished versions')}")
    return 0


