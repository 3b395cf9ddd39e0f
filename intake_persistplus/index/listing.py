"""What ``intake-persist list`` shows of every entry, kept beside the view.

Decoding 100,000 view lines of a kilobyte each into records takes seconds; a
listing needs a few fields of each. ``.cat.yaml.list`` holds those fields,
one row per view line, each row keyed by a checksum of its line::

    {"format": 2, "shape": "columns",
     "view": "<sha256 of the view it was made from>",
     "tokens": ["<token>", ...],
     "columns": [[crc32, ...], [length, ...], [name, ...], [parameters, ...],
                 [container, ...], [timestamp, ...], [ttl, ...], [size, ...],
                 [version, ...], [rekeys, ...], [checked, ...],
                 [revalidate, ...], [catalog, ...], [entry, ...]],
     "refused": {"<token>": [crc32, length, "<why>"], ...}}

``refused`` holds the lines that are not entries the store can read. Kept by
column, the file decodes about three times faster than one list per row. The file is a cache: when its ``view`` is the view's stamp, it is
used as it is (the view is not even read); otherwise its rows are reused for
the lines whose checksum matches, and the others are decoded. A file that is
missing, damaged or of another shape is simply rebuilt, and one that cannot be
written (a read-only store) costs only the decoding. Rows are checked field by
field when read: the file is treated as written by anyone.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import zlib
from collections.abc import Mapping
from itertools import repeat
from typing import NamedTuple

from ..layout import JOURNAL, LISTING, is_token
from ..record import TIMES, Record
from .edits import READ_ONLY
from .text import FORMAT, decode_entry

logger = logging.getLogger(__name__)

#: commits since the last compaction that a listing merges in from their heads;
#: beyond them it compacts the view first
LIST_MERGES = 2000


class Listed(NamedTuple):
    """One entry as listed: the fields of its :class:`~..record.Record` that
    ``intake-persist list`` shows (a tuple: 100,000 of them are made at once)."""

    token: str
    original_name: str | None
    parameters: dict
    container: str
    timestamp: float
    ttl: float | None
    size: int | None
    version: str
    rekeys: int = 0
    checked: float | None = None
    revalidate: bool | str = True
    catalog: str | None = None
    entry: str | None = None

    label = Record.label
    expired = Record.expired

    @classmethod
    def of(cls, rec: Record) -> Listed:
        return cls(rec.token, rec.original_name, rec.parameters, rec.container, rec.timestamp,
                   rec.ttl, rec.size, rec.version, rec.rekeys, rec.checked, rec.revalidate,
                   rec.catalog, rec.entry)


_NUMBERS = (int, float)
_ROW = 14  # CRC-32, length, then the fields of Listed after its token
_NUMBER_OR_NONE = (int, float, type(None))
_INT_OR_NONE = (int, type(None))
_STR_OR_NONE = (str, type(None))
_SHAPE = "columns"  # the layout of the listing file; a file of another is rebuilt
_TOKENS = re.compile(r"(?:[0-9a-f]{16,64}\n)*")  # what is_token allows, one per line


class Table(NamedTuple):
    """Rows of a listing, by column: ``columns[i][k]`` is field ``i`` of the
    row of ``tokens[k]``. ``refused`` holds the ``[crc32, length, why]`` of the
    lines that are not entries the store can read."""

    tokens: list
    columns: list
    refused: dict

    @classmethod
    def of(cls, rows: Mapping[str, list]) -> Table:
        good = {t: r for t, r in rows.items() if len(r) == _ROW}
        refused = {t: r for t, r in rows.items() if len(r) != _ROW}
        return cls(list(good), [list(c) for c in zip(*good.values(), strict=True)] or [[]] * _ROW,
                   refused)

    def rows(self) -> dict[str, list]:
        """Token -> row (the shape :func:`listing` takes and makes)."""
        return {**dict(zip(self.tokens, map(list, zip(*self.columns, strict=True)), strict=True)),
                **self.refused}


def _all(kinds: tuple, values) -> bool:
    return set(map(type, values)) <= set(kinds)  # type(), at C speed: a bool is not a size


def _within(values, low: float, high: float) -> bool:
    """Every value that is not None is in [low, high)."""
    present = [v for v in values if v is not None]
    return not present or (min(present) >= low and max(present) < high)


def _tokens(tokens: list) -> bool:
    """Every one a store key, none twice (one regular expression for them all)."""
    if not _all((str,), tokens) or len(set(tokens)) != len(tokens):
        return False
    text = "\n".join(tokens) + "\n" if tokens else ""
    return text.count("\n") == len(tokens) and _TOKENS.fullmatch(text) is not None


def valid(table: Table) -> Table | None:
    """``table`` when every row has the shape this package writes, else None.
    Checked column by column: this is what makes listing 100,000 entries quick."""
    tokens, columns, refused = table
    if not (_tokens(tokens) and _tokens(list(refused)) and not set(refused) & set(tokens)):
        return None
    if not all(type(r) is list and len(r) == 3 and type(r[0]) is int and type(r[1]) is int
               and type(r[2]) is str for r in refused.values()):
        return None
    if len(columns) != _ROW or not _all((list,), columns) or {len(c) for c in columns} - {len(tokens)}:
        return None
    (crcs, lengths, names, params, containers, times, ttls, sizes, versions, rekeys, checked, how,
     catalogs, entries) = columns
    if not (
        _all((int,), crcs) and _all((int,), lengths) and _all(_STR_OR_NONE, names)
        and _all((dict,), params) and _all((str,), containers)
        and _all(_NUMBERS, times) and _all(_NUMBER_OR_NONE, ttls) and _all(_INT_OR_NONE, sizes)
        and _all((str,), versions) and _all((int,), rekeys) and _all(_NUMBER_OR_NONE, checked)
        and _all((bool, str), how) and set(how) - {True, False} <= {"on-access"}
        and _all(_STR_OR_NONE, catalogs) and _all(_STR_OR_NONE, entries)
        # the limits a Record puts on them: times a datetime holds, no negative sizes
        and _within(times, *TIMES) and _within(checked, *TIMES)
        and _within(ttls, 0, 1e15) and _within(sizes, 0, float("inf"))
    ):
        return None
    return table


def _check(line: str) -> list:
    """What a row holds of its line: [CRC-32, length]."""
    return [zlib.crc32(line.encode("utf-8", "surrogatepass")), len(line)]


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a listing holds")


def load_table(data: bytes | None) -> tuple[str | None, Table | None]:
    """(the SHA-256 of the view it was made from, its table, unchecked) of a
    listing file; (None, None) for one that is missing or not of this layout."""
    if not data:
        return None, None
    try:
        doc = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None, None
    if not (isinstance(doc, dict) and doc.get("format") == FORMAT and doc.get("shape") == _SHAPE
            and isinstance(doc.get("tokens"), list) and isinstance(doc.get("columns"), list)
            and isinstance(doc.get("refused"), dict)):
        return None, None
    view = doc.get("view")
    return view if isinstance(view, str) else None, Table(doc["tokens"], doc["columns"], doc["refused"])


def reusable(table: Table | None, lines: Mapping[str, str]) -> dict[str, list]:
    """The rows of ``table`` whose line in ``lines`` is the one they were made
    from (each checked on its own: the table as a whole may be damaged)."""
    if table is None:
        return {}
    try:
        rows = table.rows()
    except (TypeError, ValueError):  # columns of different lengths, or not lists
        return {}
    out = {}
    for token, row in rows.items():
        line = lines.get(token) if isinstance(token, str) else None
        if line is not None and type(row) is list and len(row) in (3, _ROW) and row[:2] == _check(line):
            if valid(Table.of({token: row})) is not None:
                out[token] = row
    return out


def listing(lines: Mapping[str, str], known: dict[str, list]) -> dict[str, list]:
    """The rows of the view ``lines``, in its order: those in ``known`` as they
    are, the others decoded from their lines."""
    rows: dict[str, list] = {}
    collecting = gc.isenabled()
    gc.disable()  # 100,000 entries make a million objects, none of them cyclic
    try:
        for token, line in lines.items():
            row = known.get(token)
            if row is None:
                try:
                    rec = Record.from_entry(token, decode_entry(line))
                    row = [*_check(line), rec.original_name, rec.parameters, rec.container,
                           rec.timestamp, rec.ttl, rec.size, rec.version, rec.rekeys, rec.checked,
                           rec.revalidate, rec.catalog, rec.entry]
                except Exception as e:
                    row = [*_check(line), f"{type(e).__name__}: {e}"]
            rows[token] = row
    finally:
        if collecting:
            gc.enable()
    return rows


def shown(table: Table, where: str) -> dict[str, Listed]:
    """The entries of ``table`` (checked by :func:`valid`); the lines refused
    are logged as warnings."""
    for token, row in table.refused.items():
        logger.warning("ignoring index entry %s in %s: %s", token, where, row[2])
    tokens = table.tokens
    # tuples made in C, not by Listed's own __new__: 100,000 of them at once
    made = map(tuple.__new__, repeat(Listed), zip(tokens, *table.columns[2:], strict=True))
    return dict(zip(tokens, made, strict=True))


def table_text(table: Table, view_sha: str) -> bytes:
    """The listing file for ``table`` of the view whose SHA-256 is ``view_sha``.

    Raises
    ------
    ValueError
        for a row JSON cannot hold (a ttl of infinity, say): then none is stored.
    """
    return json.dumps({"format": FORMAT, "shape": _SHAPE, "view": view_sha, "tokens": table.tokens,
                       "columns": table.columns, "refused": table.refused},
                      separators=(",", ":"), allow_nan=False).encode()


class Listings:
    """The listing of an :class:`~.core.Index` (a mixin: it uses the index's
    lock, stamp, journal, heads and compaction)."""

    def listing(self) -> dict[str, Listed]:
        """What ``intake-persist list`` shows of every entry, by token: kept in
        ``.cat.yaml.list`` (see :mod:`.listing`), so only entries changed since
        the last listing are decoded. Up to :data:`LIST_MERGES` pending commits
        are read from their heads, leaving the view as it is; beyond them the
        view is compacted first."""
        with self._lock:
            self.sync()
            try:
                with self.lock():
                    return self._listing()
            except READ_ONLY as e:
                logger.info("cannot compact %s (%s): reading it as it is", self.path, e)
                lines = self._merged()
        got = shown(Table.of(listing(lines, {})), self.path)
        if self._fallback:
            got.update((t, Listed.of(r)) for t, r in self._fallback.items())
        return got

    def _listing(self) -> dict[str, Listed]:
        stamp = self._read_stamp()
        try:
            data = self.loc.read_bytes(LISTING)
        except FileNotFoundError:
            data = None
        made_from, table = load_table(data)
        known = None
        if (table is not None and stamp and made_from == stamp.get("sha256")
                and len(table.tokens) + len(table.refused) == stamp.get("entries")
                and self._view_current()):
            known = valid(table)
            markers = self.loc.listfiles(JOURNAL)
            if known is not None and len(markers) <= LIST_MERGES:
                # the heads changed since are read and merged in; the view is left
                # for a later compaction (rewriting it costs more than the listing)
                got = shown(known, self.path)
                for token in {m.split(".", 1)[0] for m in markers}:
                    head = self._read_head(token) if is_token(token) else None
                    got.pop(token, None)
                    if head is not None:
                        got.update(shown(Table.of(listing({token: head.line}, {})), self.path))
                return got
        lines = self._compact(False, keep_listing=False)
        if known is not None and self._changed is not None:
            # the new view is the old one with the heads the journal named: only
            # their rows are made anew
            rows = known.rows()
            reused = {t: rows[t] for t in lines if t in rows and t not in self._changed}
        else:  # a view folded from hand edits, or rebuilt: rows of unchanged lines are kept
            reused = reusable(table, lines)
        table = Table.of(listing(lines, reused))
        stamp = self._read_stamp()
        if stamp and isinstance(stamp.get("sha256"), str):
            try:
                self.loc.replace(table_text(table, stamp["sha256"]), LISTING)
            except (OSError, ValueError) as e:  # a cache: the next listing decodes again
                logger.info("could not keep the listing of %s: %s", self.path, e)
        return shown(table, self.path)

    def _unchanged_lines(self, lines: Mapping[str, str]) -> tuple[dict[str, str], set[str]] | None:
        """Of a hand-edited view in the store's layout: (its lines that are as the
        store last wrote them, the tokens of that view it no longer has), told by
        the listing kept for that view; None when there is none. So a hand edit
        of one line of a big view reads one head, not all of them."""
        stamp = self._read_stamp()
        try:
            made_from, table = load_table(self.loc.read_bytes(LISTING))
        except FileNotFoundError:
            return None
        if table is None or not stamp or made_from != stamp.get("sha256") or valid(table) is None:
            return None
        rows = table.rows()
        if len(rows) != stamp.get("entries"):
            return None
        same = {t: line for t, line in lines.items()
                if (row := rows.get(t)) is not None and row[:2] == _check(line)}
        return same, set(rows) - set(lines)

    def _keep_listing(self, lines: Mapping[str, str]) -> None:
        """After a compaction wrote ``lines``: bring the listing file, if there is
        one, up to date with them (rows of unchanged lines kept, the others
        decoded), so that it goes on matching the view the store wrote."""
        try:
            _, table = load_table(self.loc.read_bytes(LISTING))
        except FileNotFoundError:
            return
        stamp = self._stamp[1]
        try:
            self.loc.replace(table_text(Table.of(listing(lines, reusable(table, lines))), stamp["sha256"]),
                             LISTING)
        except (OSError, ValueError, TypeError, KeyError) as e:  # a cache: rebuilt by the next listing
            logger.info("could not keep the listing of %s: %s", self.path, e)

