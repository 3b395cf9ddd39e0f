"""The store's index: one *head* per source as the truth, ``cat.yaml`` as a
compacted view of all of them.

The commit protocol (see ``docs/guarantees.rst``):

* **One head per source**, ``<root>/.heads/<token>``: the source's index entry,
  a generation number and a SHA-256 of the entry. A writer changes a head only
  while holding that source's lock (``<root>/.locks/<token>``: a ``flock``
  locally, a lease on object stores), and replaces it whole (rename locally, one
  PUT on object stores). Writers of different sources share no file, so no
  writer can drop another's entry, and the cost of a commit does not depend on
  the number of entries.
* **A journal** of what changed since the view was written: before a head is
  changed, an empty marker ``<root>/.journal/<token>.<generation>.<put|del>``
  is created. The compaction folds the marked heads into ``cat.yaml`` and then
  removes the markers it has folded in; a marker whose head is not written yet
  stays for the next one.
* **The view**, ``cat.yaml``: an intake catalog of every head, one entry a
  line, rewritten whole (and atomically) by a compaction, which runs under the
  view's lock when something reads the whole store (``gc``, ``records()``,
  ``intake.open_catalog`` of it; a listing once more than :data:`.listing.LIST_MERGES`
  commits are pending) or on demand. A *stamp* (``.cat.yaml.stamp``)
  holds what the file looked like when the store wrote it; a view that no longer
  matches was edited by hand, and its edits are folded into the heads by the
  next process that looks (entries whose source changed since are left to the
  head, with a warning).
* **Names**: ``<root>/.names/<hash of the entry name>/<token>`` lists the
  tokens persisted under a name, so a lookup by name reads only those heads.

A local store of up to :data:`SMALL_VIEW` entries compacts after every
commit, so its ``cat.yaml`` is always current (rewriting it costs a
millisecond or two); a bigger one, or one on an object store, leaves that to
the operations above.

A catalog access reads one head (and stats the view and its stamp): its cost
does not depend on the size of the store.
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import hashlib
import json
import logging
import threading
from collections.abc import Callable

from ..errors import CorruptIndexError, IndexFormatError
from ..layout import (
    HEADS,
    INDEX,
    INDEX_LOCK,
    JOURNAL,
    NAMES,
    STAMP,
    Location,
    is_token,
)
from ..record import Record
from .edits import READ_ONLY, ViewEdits
from .heads import Head, Heads, name_key
from .listing import Listings
from .text import FORMAT, check_format, decode_entry, read_view, view_text

logger = logging.getLogger(__name__)

#: entries up to which every commit also rewrites the view (a few hundred KiB)
SMALL_VIEW = 1000



class Index(Heads, ViewEdits, Listings):
    """Read and update one store's heads and its view; see the module docstring.

    ``rebuild(token)``: see :class:`~.heads.Heads`.
    """

    def __init__(self, loc: Location, rebuild: Callable[[str], Record | None] | None = None):
        super().__init__(loc, rebuild)
        self._stamp: tuple = (None, None)  # (signature of the stamp file, its content)
        self._view_ok: tuple | None = None  # signature of the view last found unedited
        self._fallback: dict[str, Record] | None = None  # an edited view we could not fold in
        self._changed: set[str] | None = None  # tokens the last compaction changed (None: any)
        self._lock = threading.RLock()

    @property
    def path(self) -> str:
        """The view's location, as a user names it (with its protocol)."""
        return self.loc.url_of(INDEX)

    @property
    def seen(self) -> bool:
        """Whether this process's last look found the view as the store wrote it
        (so in this package's format)."""
        return self._view_ok is not None

    def lock(self):
        """The view's lock: one compaction at a time, across processes."""
        return self.loc.lock("the persist index", INDEX_LOCK)

    # -- reading ---------------------------------------------------------------
    def get(self, token: str, refresh: bool = True) -> Record | None:
        """The record for ``token``, or None. ``refresh=False`` skips the check for
        hand edits of the view (done once per lookup already)."""
        with self._lock:
            if refresh:
                self.sync()
            if self._fallback is not None and token in self._fallback:
                return self._fallback[token]
            head = self._read_head(token)
            return None if head is None else head.record

    def __contains__(self, token: str) -> bool:
        return self.get(token) is not None

    def named(self, name: str, refresh: bool = True) -> list[Record]:
        """The records whose original is named ``name`` (or whose label, name and
        user parameters, is ``name``); reads only the heads filed under that name.
        ``refresh=False`` skips the check for hand edits of the view."""
        if refresh:
            self.sync()
        base = name.split("(", 1)[0]
        found, seen = [], set()
        for key in dict.fromkeys([name_key(name), name_key(base)]):
            for token in self.loc.listfiles(NAMES, key):
                if token in seen or not is_token(token):
                    continue
                seen.add(token)
                rec = self.get(token, refresh=False)
                if rec is not None and name in (rec.original_name, rec.label):
                    found.append(rec)
        if self._fallback:
            found += [r for t, r in self._fallback.items() if t not in seen and name in (r.original_name, r.label)]
        return found

    def records(self) -> dict[str, Record]:
        """Every entry, in the order of the view (brought up to date first)."""
        lines = self.compact()
        out = {}
        collecting = gc.isenabled()
        gc.disable()  # 100,000 entries make millions of objects, none of them cyclic
        try:
            for token, line in lines.items():
                try:
                    out[token] = Record.from_entry(token, decode_entry(line))
                except Exception as e:
                    logger.warning("ignoring index entry %s in %s: %s", token, self.path, e)
        finally:
            if collecting:
                gc.enable()
        if self._fallback:
            out.update(self._fallback)
        return out

    def tokens(self) -> list[str]:
        return list(self.listing())

    def __len__(self) -> int:
        return len(self.tokens())

    # -- hand edits of the view -------------------------------------------------------
    def _read_stamp(self) -> dict | None:
        sig = self.loc.signature(STAMP)
        if sig is None:
            return None
        if sig != self._stamp[0]:
            try:
                stamp = json.loads(self.loc.read_bytes(STAMP))
            except (FileNotFoundError, ValueError):
                stamp = None
            self._stamp = (sig, stamp if isinstance(stamp, dict) else None)
        return self._stamp[1]

    def _view_current(self) -> bool | None:
        """True when the view is as the store wrote it; None when there is none."""
        sig = self.loc.signature(INDEX)
        if sig is None:
            return None if self._read_stamp() is None else False
        if sig == self._view_ok:
            return True
        self._view_ok = None  # changed since: not known to be this package's format now
        stamp = self._read_stamp()
        if stamp is not None:  # a store a newer intake-persistplus wrote is never written over
            check_format(stamp.get("format"), f"the persist index {self.path}")
        if stamp is not None and stamp.get("format") and stamp.get("sig") == list(sig):
            self._view_ok = sig
            return True
        return False

    def sync(self) -> None:
        """Fold hand edits of the view into the heads (cheap when there are none).

        Raises
        ------
        IndexFormatError
            for a view written by a newer intake-persistplus.
        """
        if self._view_current() is False and self._fallback is None:
            with self._lock:
                try:
                    lock = self.lock()
                    lock.__enter__()
                except OSError as e:  # a store we may only read: the edits apply in memory
                    if not (isinstance(e, PermissionError) or e.errno == errno.EROFS):
                        raise
                    self._fold_view()
                    return
                try:
                    if self._view_current() is False:
                        self._fold_view()
                finally:
                    lock.__exit__(None, None, None)

    # -- compaction ------------------------------------------------------------------
    def compact(self, full: bool = False) -> dict[str, str]:
        """Bring the view up to date with the heads; return its entries (token ->
        encoded entry). ``full`` reads every head instead of the journal's.

        A store that cannot be written gets its view read, and the heads the
        journal names merged in, in memory.
        """
        with self._lock:
            self.sync()
            try:
                with self.lock():
                    return self._compact(full)
            except READ_ONLY as e:
                logger.info("cannot compact %s (%s): reading it as it is", self.path, e)
                return self._merged()

    def _view_lines(self) -> dict[str, str] | None:
        try:
            return read_view(self.loc.read_bytes(INDEX).decode("utf-8"))
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def _merged(self) -> dict[str, str]:
        lines = self._view_lines() or {}
        for token in {m.split(".", 1)[0] for m in self.loc.listfiles(JOURNAL)}:
            head = self._read_head(token) if is_token(token) else None
            if head is None:
                lines.pop(token, None)
            else:
                lines[token] = head.line
        return lines

    def settle(self) -> None:
        """After a commit: compact a small local store's view (see :data:`SMALL_VIEW`;
        on object stores each compaction costs requests a commit should not pay)."""
        if not self.loc.local:
            return
        stamp = self._read_stamp()
        if stamp is None or not isinstance(stamp.get("entries"), int) or stamp["entries"] >= SMALL_VIEW:
            return
        try:
            with self._lock, self.lock():
                self._compact(False, lines_wanted=False)
        except OSError as e:  # the commit is done; the next compaction folds it in
            logger.info("could not compact %s: %s", self.path, e)

    def _compact(self, full: bool, lines_wanted: bool = True, base: dict[str, str] | None = None,
                 extra: set[str] = frozenset(), keep_listing: bool = True) -> dict[str, str]:
        """Rewrite the view (see :meth:`compact`). ``base``: the lines known to be
        their heads' (a folded hand edit's unchanged lines), with ``extra`` the
        other tokens to read the heads of; the view is then written from them
        instead of from every head."""
        markers = self.loc.listfiles(JOURNAL)
        current = self._view_current()
        if base is None and not (full or markers or lines_wanted) and current:
            return {}
        if base is not None:
            lines = dict(base)
        else:
            lines = None if full or not current else self._view_lines()
            if lines is not None and not markers:
                self._changed = set()  # which entries the new view changes
                return lines
        self._changed = None if lines is None or base is not None else set()
        by_token: dict[str, list[tuple[int, str, str]]] = {}
        for m in markers:
            token, _, rest = m.partition(".")
            gen, _, kind = rest.partition(".")
            if gen.isdigit() and kind in ("put", "del"):
                by_token.setdefault(token, []).append((int(gen), kind, m))
        if lines is None:  # everything from the heads
            lines, read = {}, {}
            for token in sorted(self.loc.listfiles(HEADS)):
                if is_token(token) and (head := self._read_head(token)) is not None:
                    lines[token] = head.line
                    read[token] = head
            heads = {t: read.get(t) for t in by_token}
        else:
            heads = {t: self._read_head(t) for t in {*by_token, *extra} if is_token(t)}
            if base is None:
                self._changed = set(heads)
            for token, head in heads.items():
                if head is None:
                    lines.pop(token, None)
                else:
                    lines[token] = head.line
        data = view_text(lines).encode("utf-8")
        self.loc.replace(data, INDEX)
        sig = self.loc.signature(INDEX)
        stamp = {"format": FORMAT, "sig": list(sig) if sig else None,
                 "sha256": hashlib.sha256(data).hexdigest(), "entries": len(lines)}
        self.loc.replace(json.dumps(stamp).encode(), STAMP)
        self._stamp = (self.loc.signature(STAMP), stamp)
        self._view_ok = sig
        self._fallback = None
        # markers folded in are removed; one whose head is not written yet stays
        done = []
        for token, marks in by_token.items():
            head = heads.get(token)
            top = max(marks)
            for gen, kind, name in marks:
                if (head is not None and gen <= head.generation) or (
                    head is None and (gen < top[0] or kind == "del")
                ):
                    done.append(name)
        for name in done:
            self.loc.rm_file(JOURNAL, name)
        if keep_listing:
            self._keep_listing(lines)
        return lines

    # -- writing ---------------------------------------------------------------
    def put(self, record: Record, check: Callable[[Record, Record | None], Record] | None = None,
            inherit_keep: bool = False) -> Record:
        """Commit ``record`` as its source's entry, and return it. ``check`` runs
        first, under the source's lock, with the record and the entry it replaces
        (or None), and gives the record to commit (it raises when the version it
        names is gone, say). ``inherit_keep`` takes ``keep`` from the entry it
        replaces."""
        with self._lock, self.token_lock(record.token):
            try:
                old = self._read_head(record.token, repair=False)
            except IndexFormatError:
                raise  # a newer intake-persistplus wrote it: never written over
            except CorruptIndexError:
                old = None
            if check is not None:
                record = check(record, old.record if old is not None else None)
            if inherit_keep and old is not None and old.record.keep != record.keep:
                record = dataclasses.replace(record, keep=old.record.keep)
            known = old is not None and old.record.original_name == record.original_name
            self._write_head(record.token, record.to_entry(), old.generation if old else 0,
                             name=None if known else record.original_name)
            if self._fallback:
                self._fallback.pop(record.token, None)
        self.settle()
        return record

    def delete(self, token: str, then: Callable[[], None] | None = None) -> bool:
        """Remove ``token``'s entry, then run ``then`` (delete its files, say) under
        the same lock; False if it had no entry."""
        with self._lock, self.token_lock(token):
            try:
                old = self._read_head(token, repair=False)
            except IndexFormatError:
                raise
            except CorruptIndexError:
                old = Head(b"", 0, "", None)  # type: ignore[arg-type]
            existed = old is not None or bool(self._fallback and token in self._fallback)
            if old is not None:
                self._drop_head(token, old)
            if self._fallback:
                self._fallback.pop(token, None)
            if then is not None:
                then()
        self.settle()
        return existed

    def ensure(self) -> None:
        """Create an empty view if there is none (a new store)."""
        if self._view_ok is not None:  # seen this process: it exists
            return
        if self.loc.signature(INDEX) is None and self.loc.signature(STAMP) is None:
            with self._lock, self.lock():
                if self.loc.signature(INDEX) is None and self.loc.signature(STAMP) is None:
                    self._compact(full=True)
