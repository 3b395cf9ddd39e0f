"""The ``intake-persist`` command line (also ``python -m intake_persistplus``).

Every listing prints an aligned table in a terminal and one JSON document with
``--json``. Errors are one line on stderr and a non-zero exit code; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .config import parse_duration, positive_int

PROG = "intake-persist"


class CLIError(Exception):
    """A usage problem to report in one line."""


# -- formatting ------------------------------------------------------------------
def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def human_seconds(s: float | None) -> str:
    if s is None:
        return "never"
    sign = "-" if s < 0 else ""
    s = abs(s)
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= span:
            return f"{sign}{s / span:.1f}{unit}"
    return f"{sign}{s:.0f}s"


def _argument(validator):
    """An argparse type from a :mod:`config` validator."""
    from .errors import PersistSettingError

    def convert(text: str):
        try:
            return validator(text)
        except PersistSettingError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = validator.__name__
    return convert


def table(rows: Sequence[dict], columns: Sequence[str], out=None) -> None:
    out = out or sys.stdout
    if not rows:
        print("(nothing)", file=out)
        return
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


class Progress:
    """``label i/n`` on one terminal line; silent when stderr is not a terminal."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, total, 0
        self.enabled = sys.stderr.isatty() and total > 1

    def step(self, what: str) -> None:
        self.done += 1
        if self.enabled:
            sys.stderr.write(f"\r{self.label} {self.done}/{self.total}: {what[:60]:<60}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


# -- store helpers -----------------------------------------------------------------
def _store():
    from .persist_store import store

    return store


def resolve(ident: str) -> str:
    """A token from a token, a unique token prefix, or an original source name."""
    from .layout import is_token

    store = _store()
    tokens = list(store)
    if is_token(ident) and ident in tokens:
        return ident
    by_prefix = [t for t in tokens if t.startswith(ident)] if len(ident) >= 4 else []
    if len(by_prefix) == 1:
        return by_prefix[0]
    by_name = [t for t in tokens if (store.lookup(t) or _Missing).original_name == ident]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1 or len(by_prefix) > 1:
        found = by_name or by_prefix
        raise CLIError(f"{ident!r} matches {len(found)} entries ({', '.join(found)}); give a token")
    raise CLIError(f"no persisted entry {ident!r} in {store.path} (see `{PROG} list`)")


class _Missing:
    original_name = None


def label(rec) -> str:
    """An entry's name, with the user parameters it was made with."""
    name = rec.original_name or "-"
    if rec.parameters:
        name += "(" + ", ".join(f"{k}={v!r}" for k, v in rec.parameters.items()) + ")"
    return name


def entry_row(rec, now: float, size: int | None = None) -> dict:
    """What ``list`` and ``info`` show of one entry."""
    expires_in = None if rec.ttl is None else rec.timestamp + rec.ttl - now
    return {
        "token": rec.token,
        "name": rec.original_name,
        "parameters": rec.parameters,
        "container": rec.container,
        "timestamp": rec.timestamp,
        "time": dt.datetime.fromtimestamp(rec.timestamp, dt.timezone.utc).isoformat(),
        "age": now - rec.timestamp,
        "ttl": rec.ttl,
        "expires_in": expires_in,
        "expired": rec.expired(now),
        "size": size,
        "version": rec.version,
    }


# -- commands ----------------------------------------------------------------------
def cmd_list(args) -> int:
    store = _store()
    now = time.time()
    sizes = store.du()["entries"]  # one pass over the store's folders
    found = [(rec, entry_row(rec, now, sizes.get(t, 0)))
             for t in store if (rec := store.lookup(t)) is not None]
    found.sort(key=lambda pair: (pair[1]["name"] or "", pair[1]["timestamp"]))
    rows = [row for _, row in found]
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print(f"no persisted entries in {store.path}")
        return 0
    table(
        [
            {
                "token": r["token"],
                "name": label(rec),
                "container": r["container"],
                "size": human_size(r["size"]),
                "age": human_seconds(r["age"]),
                "ttl": "none" if r["ttl"] is None else human_seconds(r["ttl"]),
                "expires in": "never" if r["expires_in"] is None else human_seconds(r["expires_in"]),
                "state": "expired" if r["expired"] else "fresh",
            }
            for rec, r in found
        ],
        ["token", "name", "container", "size", "age", "ttl", "expires in", "state"],
    )
    return 0


def cmd_info(args) -> int:
    store = _store()
    token = resolve(args.entry)
    rec = store.record(token)
    versions = store.versions(token)
    info = entry_row(rec, time.time(), sum(v.size for v in versions))
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
    )
    if args.json:
        emit_json(info)
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if key in ("age", "expires_in", "ttl") and isinstance(value, (int, float)):
            value = human_seconds(value)
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
    table(
        [
            {
                "version": v.version,
                "time": dt.datetime.fromtimestamp(v.timestamp).strftime("%Y-%m-%d %H:%M:%S"),
                "age": human_seconds(now - v.timestamp),
                "size": human_size(v.size),
                "current": "*" if v.current else "",
            }
            for v in versions
        ],
        ["version", "time", "age", "size", "current"],
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
    done, failed = [], []
    progress = Progress("refreshing", len(tokens))
    for token in tokens:
        rec = store.lookup(token)
        progress.step(rec.original_name if rec else token)
        try:
            new = store.refresh(token)
            done.append({"token": token, "name": rec.original_name, "version": new.metadata["persist_version"]})
        except Exception as e:  # keep going: report each failure
            failed.append({"token": token, "name": rec.original_name if rec else None, "error": f"{type(e).__name__}: {e}"})
    progress.close()
    if args.json:
        emit_json({"refreshed": done, "failed": failed})
    else:
        for d in done:
            print(f"refreshed {d['token']} ({d['name']}) -> {d['version']}")
        for f in failed:
            print(f"{PROG}: refresh of {f['token']} ({f['name']}) failed: {' '.join(f['error'].split())}", file=sys.stderr)
        if not tokens:
            print("nothing to refresh")
    return 1 if failed else 0


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
            raise CLIError(f"clear would remove {n} entries from {store.path}; add --yes to confirm")
        what = "the 1 persisted entry and its" if n == 1 else f"all {n} persisted entries and their"
        answer = input(f"Remove {what} data from {store.path}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    store.clear()
    print(f"removed {n} entries from {store.path}")
    return 0


def cmd_prune(args) -> int:
    store = _store()
    target = resolve(args.entry) if args.entry else None
    removed = store.prune(target, keep=args.keep, older_than=args.older_than, dry_run=args.dry_run)
    if args.json:
        emit_json({"dry_run": args.dry_run, "removed": [v.to_dict() for v in removed]})
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for v in removed:
        print(f"{verb} {v.token}/{v.version} ({human_size(v.size)})")
    print(f"{verb} {len(removed)} version(s), {human_size(sum(v.size for v in removed))}")
    return 0


def cmd_du(args) -> int:
    store = _store()
    usage = store.du()
    if args.json:
        emit_json(usage)
        return 0
    names = {t: (store.lookup(t) or _Missing).original_name for t in usage["entries"]}
    rows = [
        {"token": t, "name": names[t] or "-", "size": human_size(b)}
        for t, b in sorted(usage["entries"].items(), key=lambda kv: -kv[1])
    ]
    table(rows, ["token", "name", "size"])
    print(f"total {human_size(usage['total'])} in {store.path}")
    return 0


def cmd_export(args) -> int:
    from .errors import ExportLocationError

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
    persisted = source.persist(ttl=args.ttl, keep=args.keep)
    md = persisted.metadata
    if args.json:
        emit_json({"token": md["original_tok"], "version": md["persist_version"], "name": args.entry})
    else:
        print(f"persisted {args.entry} as {md['original_tok']} (version {md['persist_version']})")
    return 0


def cmd_demo(args) -> int:
    from .demo import run

    run(args.folder, args.rows)
    return 0


def cmd_gc(args) -> int:
    gone = _store().gc()
    for g in gone:
        print(f"removed unfinished {g}")
    print(f"removed {len(gone)} unfinished version(s)")
    return 0


# -- parser --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    def common_options(suppress: bool) -> argparse.ArgumentParser:
        # accepted before and after the command; a subcommand must not reset them
        p = argparse.ArgumentParser(add_help=False)
        default = {"default": argparse.SUPPRESS} if suppress else {}
        p.add_argument("--persist-path", metavar="PATH", help="use this store instead of the configured one", **default)
        p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging", **default)
        return p

    common = common_options(suppress=True)
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", help="print JSON for scripts")

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect and manage the intake persist store "
        "(INTAKE_PERSIST_PATH, or intake.conf['persist_path']).",
        parents=[common_options(suppress=False)],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help, parents=()):
        p = sub.add_parser(name, help=help, description=help, parents=[common, *parents])
        p.set_defaults(func=func)
        return p

    add("list", cmd_list, "list persisted entries: token, name, container, size, age, ttl, expiry", [js])
    p = add("info", cmd_info, "everything about one entry", [js])
    p.add_argument("entry", metavar="TOKEN|NAME")
    p = add("versions", cmd_versions, "the stored versions of one entry, newest last", [js])
    p.add_argument("entry", metavar="TOKEN|NAME")
    p = add("refresh", cmd_refresh, "re-persist entries now from their originals", [js])
    p.add_argument("entries", nargs="*", metavar="TOKEN|NAME")
    p.add_argument("--expired", action="store_true", help="every expired entry")
    p.add_argument("--all", action="store_true", help="every entry")
    p = add("remove", cmd_remove, "remove entries and their data")
    p.add_argument("entries", nargs="+", metavar="TOKEN|NAME")
    p.add_argument("--keep-files", action="store_true", help="forget the entries but keep their data")
    p = add("clear", cmd_clear, "remove every entry and its data")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = add("prune", cmd_prune, "remove old versions (the newest always stays)", [js])
    p.add_argument("entry", nargs="?", metavar="TOKEN|NAME", help="one entry (default: all)")
    p.add_argument("--keep", type=_argument(positive_int), metavar="N", help="keep the N newest versions")
    p.add_argument("--older-than", type=_argument(parse_duration), metavar="AGE", help="remove versions older than AGE (90, 15m, 2h, 7d)")
    p.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    add("du", cmd_du, "disk usage per entry and in total", [js])
    p = add("export", cmd_export, "copy an entry's data to PATH and print a catalog entry for it")
    p.add_argument("entry", metavar="TOKEN|NAME")
    p.add_argument("path", metavar="PATH", help="folder or fsspec URL")
    p.add_argument("--overwrite", action="store_true", help="replace what is at PATH")
    p = add("persist", cmd_persist, "persist an entry of a catalog", [js])
    p.add_argument("catalog", metavar="CATALOG", help="catalog file or URL")
    p.add_argument("entry", metavar="ENTRY")
    p.add_argument("--ttl", type=float, metavar="SECONDS", help="seconds the copy stays fresh")
    p.add_argument("--keep", type=_argument(positive_int), metavar="N", help="versions to keep")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="user parameter of the entry")
    add("gc", cmd_gc, "remove what interrupted persists left behind")
    p = add("demo", cmd_demo, "persist a bundled example and show the effect (the README's main job)")
    p.add_argument("--folder", default="demo-output", help="scratch folder: new, empty, or made by an earlier demo (then emptied)")
    p.add_argument("--rows", type=int, default=600_000, help="rows of the example CSV")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.debug:
        logging.basicConfig(level=logging.DEBUG)
    try:
        if args.persist_path:
            import intake

            intake.conf["persist_path"] = args.persist_path
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `intake-persist list | head`: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if args.debug:
            raise
        message = " ".join(str(e).split()) or type(e).__name__
        if not isinstance(e, CLIError):
            message = f"{message} ({type(e).__name__})"
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
