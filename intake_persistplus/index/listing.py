"""What ``intake-persist list`` shows of every entry, kept beside the view.

Decoding 100,000 view lines of a kilobyte each into records takes seconds; a
listing needs a few fields of each. ``.cat.yaml.list`` holds those fields,
one row per view line, each row keyed by a checksum of its line::

    {"format": 2, "view": "<sha256 of the view it was made from>",
     "rows": {"<token>": [crc32, length, name, parameters, container,
                          timestamp, ttl, size, version, rekeys, checked,
                          revalidate, catalog, entry], ...}}

A row whose line is an entry the store cannot read is ``[crc32, length,
"<why>"]``. The file is a cache: when its ``view`` is the view's stamp, it is
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
import zlib
from collections.abc import Mapping
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


def _all(kinds: tuple, values) -> bool:
    return set(map(type, values)) <= set(kinds)  # type(), at C speed: a bool is not a size


def _within(values, low: float, high: float) -> bool:
    """Every value that is not None is in [low, high)."""
    present = [v for v in values if v is not None]
    return not present or (min(present) >= low and max(present) < high)


def valid(rows: dict) -> dict[str, list] | None:
    """``rows`` when every one has the shape this package writes, else None.
    Checked column by column: this is what makes listing 100,000 entries quick."""
    if not all(map(is_token, rows)):
        return None
    lengths = set(map(len, rows.values())) if _all((list,), rows.values()) else None
    if lengths is None or not lengths <= {3, _ROW}:
        return None
    good = [r for r in rows.values() if len(r) == _ROW] if 3 in lengths else list(rows.values())
    refused = [r for r in rows.values() if len(r) == 3] if 3 in lengths else []
    if not all(type(r[0]) is int and type(r[1]) is int and type(r[2]) is str for r in refused):
        return None
    (crcs, lengths_, names, params, containers, times, ttls, sizes, versions, rekeys, checked, how,
     catalogs, entries) = list(zip(*good, strict=True)) or [()] * _ROW
    if not (
        _all((int,), crcs) and _all((int,), lengths_) and _all(_STR_OR_NONE, names)
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
    return rows


def _check(line: str) -> list:
    """What a row holds of its line: [CRC-32, length]."""
    return [zlib.crc32(line.encode("utf-8", "surrogatepass")), len(line)]


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a listing holds")


def load_rows(data: bytes | None) -> tuple[str | None, dict]:
    """(the SHA-256 of the view it was made from, its rows, unchecked) of a
    listing file; (None, {}) for one that is missing or not of this format."""
    if not data:
        return None, {}
    try:
        doc = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None, {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("rows"), dict):
        return None, {}
    view = doc.get("view")
    return view if isinstance(view, str) else None, doc["rows"]


def reusable(rows: dict, lines: Mapping[str, str]) -> dict[str, list]:
    """The rows of ``rows`` whose line in ``lines`` is the one they were made from."""
    out = {}
    for token, row in rows.items():
        line = lines.get(token)
        if line is not None and type(row) is list and len(row) in (3, _ROW) and row[:2] == _check(line):
            if valid({token: row}) is not None:
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


def shown(rows: dict[str, list], where: str) -> dict[str, Listed]:
    """The entries of ``rows`` (checked by :func:`valid`); the lines refused are
    logged as warnings."""
    if set(map(len, rows.values())) <= {_ROW}:  # none refused: no row looked at one by one
        tokens, good = list(rows), list(rows.values())
    else:
        tokens, good = [], []
        for token, row in rows.items():
            if len(row) == _ROW:
                tokens.append(token)
                good.append(row)
            else:
                logger.warning("ignoring index entry %s in %s: %s", token, where, row[2])
    _, _, *fields = list(zip(*good, strict=True)) or [()] * _ROW
    return dict(zip(tokens, map(Listed, tokens, *fields), strict=True))


def rows_text(rows: dict[str, list], view_sha: str) -> bytes:
    """The listing file for ``rows`` of the view whose SHA-256 is ``view_sha``.

    Raises
    ------
    ValueError
        for a row JSON cannot hold (a ttl of infinity, say): then none is stored.
    """
    return json.dumps({"format": FORMAT, "view": view_sha, "rows": rows},
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
        got = shown(listing(lines, {}), self.path)
        if self._fallback:
            got.update((t, Listed.of(r)) for t, r in self._fallback.items())
        return got

    def _listing(self) -> dict[str, Listed]:
        stamp = self._read_stamp()
        try:
            data = self.loc.read_bytes(LISTING)
        except FileNotFoundError:
            data = None
        made_from, rows = load_rows(data)
        known = None
        if (stamp and made_from == stamp.get("sha256") and len(rows) == stamp.get("entries")
                and self._view_current()):
            known = valid(rows)
            markers = self.loc.listfiles(JOURNAL)
            if known is not None and len(markers) <= LIST_MERGES:
                # the heads changed since are read and merged in; the view is left
                # for a later compaction (rewriting it costs more than the listing)
                for token in {m.split(".", 1)[0] for m in markers}:
                    head = self._read_head(token) if is_token(token) else None
                    if head is None:
                        known.pop(token, None)
                    else:
                        known[token] = listing({token: head.line}, {})[token]
                return shown(known, self.path)
        lines = self._compact(False, keep_listing=False)
        if known is not None and self._changed is not None:
            # the new view is the old one with the heads the journal named: only
            # their rows are made anew
            known = {t: known[t] for t in lines if t in known and t not in self._changed}
        else:  # a view folded from hand edits, or rebuilt: rows of unchanged lines are kept
            known = reusable(rows, lines)
        rows = listing(lines, known)
        stamp = self._read_stamp()
        if stamp and isinstance(stamp.get("sha256"), str):
            try:
                self.loc.replace(rows_text(rows, stamp["sha256"]), LISTING)
            except (OSError, ValueError) as e:  # a cache: the next listing decodes again
                logger.info("could not keep the listing of %s: %s", self.path, e)
        return shown(rows, self.path)

    def _unchanged_lines(self, lines: Mapping[str, str]) -> tuple[dict[str, str], set[str]] | None:
        """Of a hand-edited view in the store's layout: (its lines that are as the
        store last wrote them, the tokens of that view it no longer has), told by
        the listing kept for that view; None when there is none. So a hand edit
        of one line of a big view reads one head, not all of them."""
        stamp = self._read_stamp()
        try:
            made_from, rows = load_rows(self.loc.read_bytes(LISTING))
        except FileNotFoundError:
            return None
        if not stamp or made_from != stamp.get("sha256") or len(rows) != stamp.get("entries"):
            return None
        if valid(rows) is None:
            return None
        same = {t: line for t, line in lines.items()
                if (row := rows.get(t)) is not None and row[:2] == _check(line)}
        return same, set(rows) - set(lines)

    def _keep_listing(self, lines: Mapping[str, str]) -> None:
        """After a compaction wrote ``lines``: bring the listing file, if there is
        one, up to date with them (rows of unchanged lines kept, the others
        decoded), so that it goes on matching the view the store wrote."""
        try:
            _, rows = load_rows(self.loc.read_bytes(LISTING))
        except FileNotFoundError:
            return
        stamp = self._stamp[1]
        try:
            self.loc.replace(rows_text(listing(lines, reusable(rows, lines)), stamp["sha256"]), LISTING)
        except (OSError, ValueError, TypeError, KeyError) as e:  # a cache: rebuilt by the next listing
            logger.info("could not keep the listing of %s: %s", self.path, e)

