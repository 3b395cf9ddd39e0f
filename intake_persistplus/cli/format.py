"""How the command line shows things: sizes, durations, tables, JSON, progress."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

PROG = "intake-persist"


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


def expires_text(expires_in: float | None) -> str:
    """``never``, ``2.0h``, or ``expired 23s ago``."""
    if expires_in is None:
        return "never"
    if expires_in <= 0:
        return f"expired {human_seconds(-expires_in)} ago"
    return human_seconds(expires_in)


def utc_text(timestamp: float) -> str:
    """A time as the command line shows it everywhere: UTC, ISO-like."""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


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


def columns(cols: dict[str, list[str]], out=None) -> None:
    """A table given column by column (header -> cells), each column as wide as
    its widest cell; a million cells take a fraction of a second."""
    out = out or sys.stdout
    names = list(cols)
    widths = [max(len(name), max(map(len, cols[name]), default=0)) for name in names]
    # "%" formatting: the fastest way to pad a million cells; the last column unpadded
    line = "  ".join([*(f"%-{w}s" for w in widths[:-1]), "%s"])
    rows = map(line.__mod__, zip(*cols.values(), strict=True))
    if "" in cols[names[-1]]:  # an empty last cell leaves padding at the end of its line
        rows = map(str.rstrip, rows)
    out.write("\n".join([(line % tuple(n.upper() for n in names)).rstrip(), *rows]) + "\n")


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


def entry_row(rec, now: float, size: int | None = None) -> dict:
    """What ``list`` and ``info`` show of one entry."""
    expires_in = None if rec.ttl is None else max(rec.timestamp, rec.checked or 0.0) + rec.ttl - now
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
        "rekeyed": rec.rekeys,  # times moved to a new token after a catalog edit
        "checked": rec.checked,  # when the original was last found unchanged
        "revalidate": rec.revalidate,
    }


