"""The ``intake-persist`` command line (also ``python -m intake_persistplus``).

Every listing prints an aligned table in a terminal and one JSON document with
``--json``. Errors are one line on stderr and a non-zero exit code; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from ..config import parse_duration, positive_int
from ..errors import CLIError, PersistSettingError
from . import commands as c
from .format import PROG

__all__ = ["PROG", "build_parser", "main"]


def _argument(validator):
    """An argparse type from a :mod:`config` validator."""

    def convert(text: str):
        try:
            return validator(text)
        except PersistSettingError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = validator.__name__
    return convert


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

    p = add("list", c.cmd_list, "list persisted entries: token, name, container, size, age, checked, ttl, expiry, state", [js])
    p.add_argument("entries", nargs="*", metavar="TOKEN|NAME",
                   help="only these (a name lists each of its parameter sets)")
    p = add("info", c.cmd_info, "everything about one entry", [js])
    p.add_argument("entry", metavar="TOKEN|NAME")
    p = add("versions", c.cmd_versions, "the stored versions of one entry, newest last", [js])
    p.add_argument("entry", metavar="TOKEN|NAME")
    p = add("refresh", c.cmd_refresh, "re-persist entries now from their originals", [js])
    p.add_argument("entries", nargs="*", metavar="TOKEN|NAME")
    p.add_argument("--expired", action="store_true", help="every expired entry")
    p.add_argument("--all", action="store_true", help="every entry")
    p.add_argument("--train", action="store_true",
                   help="first the steps it is made from (a pipeline), each at most once, in order")
    p.add_argument("--downstream", action="store_true", help="then every step made from it")
    p = add("remove", c.cmd_remove, "remove entries and their data")
    p.add_argument("entries", nargs="+", metavar="TOKEN|NAME")
    p.add_argument("--keep-files", action="store_true", help="forget the entries but keep their data")
    p = add("clear", c.cmd_clear, "remove every entry and its data")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = add("prune", c.cmd_prune, "remove old versions (the newest always stays), or with --orphans whole orphaned entries", [js])
    p.add_argument("entry", nargs="?", metavar="TOKEN|NAME", help="one entry (default: all)")
    p.add_argument("--keep", type=_argument(positive_int), metavar="N", help="keep the N newest versions")
    p.add_argument("--older-than", type=_argument(parse_duration), metavar="AGE", help="remove versions older than AGE (90, 15m, 2h, 7d)")
    p.add_argument("--orphans", action="store_true",
                   help="remove the entries whose catalog file or entry is gone (see `list`)")
    p.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    add("du", c.cmd_du, "disk usage per entry and in total", [js])
    p = add("export", c.cmd_export, "copy an entry's data to PATH and print a catalog entry for it")
    p.add_argument("entry", metavar="TOKEN|NAME")
    p.add_argument("path", metavar="PATH", help="folder or fsspec URL")
    p.add_argument("--overwrite", action="store_true", help="replace what is at PATH")
    p = add("persist", c.cmd_persist, "persist an entry of a catalog", [js])
    p.add_argument("catalog", metavar="CATALOG", help="catalog file or URL")
    p.add_argument("entry", metavar="ENTRY")
    p.add_argument("--ttl", metavar="TTL",
                   help="how long the copy stays fresh: seconds or 90s, 15m, 2h, 7d (default: "
                   "the entry's declared persist: ttl, else never expires)")
    p.add_argument("--keep", type=_argument(positive_int), metavar="N",
                   help="versions to keep (default: the entry's declared persist: keep)")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="user parameter of the entry")
    p = add("graph", c.cmd_graph, "the pipeline an entry is made from: each step's version, age and state", [js])
    p.add_argument("entry", metavar="TOKEN|NAME")
    p.add_argument("--downstream", action="store_true", help="what is made from it instead")
    p.add_argument("--dot", action="store_true", help="print Graphviz dot")
    p = add("schedule", c.cmd_schedule, "refresh the trains of entries with a persist: schedule when due")
    p.add_argument("catalogs", nargs="+", metavar="CATALOG", help="catalog files or URLs")
    p.add_argument("--once", action="store_true", help="refresh what is due now, then exit (for cron, timers, jobs)")
    add("gc", c.cmd_gc, "remove what interrupted persists left behind")
    add("compact", c.cmd_compact, "bring cat.yaml up to date with every commit (before editing it by hand)")
    p = add("demo", c.cmd_demo, "persist a bundled example and show the effect")
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
    else:  # intake's note on every parameterised access, which says nothing to a CLI user
        warnings.filterwarnings("ignore", message="Shell command not executed due to getshell")
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
