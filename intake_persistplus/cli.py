"""The ``intake-persist`` command line (also ``python -m intake_persistplus``)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intake-persist",
        description="Inspect and manage the intake persist store.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="persist a bundled example and show the effect")
    demo.add_argument("--folder", default="demo-output", help="scratch folder (emptied first)")
    demo.add_argument("--rows", type=int, default=600_000, help="rows of the example CSV")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        run(args.folder, args.rows)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
