"""The heads of a store: one file per persisted source that holds its index
entry, the truth about it (see :mod:`.core` for the whole protocol).

``<root>/.heads/<token>`` is replaced whole under the source's lock, after a
journal marker says it is about to change; a head that is cut short, altered
or unreadable is rebuilt from the newest complete version of its source.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterator

from ..errors import CorruptIndexError, IndexFormatError, PersistWarning
from ..layout import HEADS, JOURNAL, LOCKS, NAMES, Location
from ..record import Record
from .text import decode_entry, encode_entry, head_text, read_head


def name_key(name: str) -> str:
    """The folder below ``.names`` for an entry name."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:24]


#: the one key of a tombstone head: when its source was removed (epoch seconds)
REMOVED = "persist_removed"


class Head:
    """One head as read: its generation, its entry line and its record."""

    __slots__ = ("data", "generation", "line", "record")

    def __init__(self, data: bytes, generation: int, line: str, record: Record):
        self.data, self.generation, self.line, self.record = data, generation, line, record


class Heads:
    """Reading and writing heads; the base of :class:`~.core.Index`.

    ``rebuild(token)`` gives the record of a source's newest complete version
    (from its ``record.yaml`` files): what a damaged head is rebuilt from.
    """

    def __init__(self, loc: Location, rebuild: Callable[[str], Record | None] | None = None):
        self.loc = loc
        self.rebuild = rebuild
        self._heads: dict[str, Head] = {}
        self._tombs: dict[str, float] = {}
        self._held = threading.local()

    @contextlib.contextmanager
    def token_lock(self, token: str) -> Iterator[None]:
        """The lock of one source's head (and of removing its folder); a thread
        that holds it already takes it again at no cost."""
        held = self._held.__dict__.setdefault("tokens", set())
        if token in held:
            yield
            return
        if self.loc.local:
            self.loc.makedirs(LOCKS)
        with self.loc.lock(f"the index entry {token}", LOCKS, token):
            held.add(token)
            try:
                yield
            finally:
                held.discard(token)

    def locked(self, token: str) -> Iterator[None]:
        """Hold ``token``'s lock (to change its versions without racing a commit)."""
        return self.token_lock(token)

    # -- heads -----------------------------------------------------------------
    def _read_head(self, token: str, repair: bool = True) -> Head | None:
        """The head of ``token`` (None when it has none); a damaged one is rebuilt."""
        self._tombs.pop(token, None)
        try:
            data = self.loc.read_bytes(HEADS, token)
        except (FileNotFoundError, NotADirectoryError):
            self._heads.pop(token, None)
            return None
        cached = self._heads.get(token)
        if cached is not None and cached.data == data:
            return cached
        where = f"the index entry {self.loc.url_of(HEADS, token)}"
        try:
            generation, line = read_head(data, where)
            entry = decode_entry(line)
            if isinstance(entry, dict) and set(entry) == {REMOVED}:
                self._heads.pop(token, None)
                self._tombs[token] = float(entry[REMOVED])
                return None  # a tombstone: the source was removed
            record = Record.from_entry(token, entry)
        except IndexFormatError:
            raise  # written by a newer intake-persistplus: never written over
        except Exception as e:  # CorruptIndexError, InvalidRecordError, YAML errors
            if not repair:
                raise CorruptIndexError(f"{where}: {e}") from None
            return self._repair(token, e)
        head = self._heads[token] = Head(data, generation, line, record)
        return head

    def removed_at(self, token: str) -> float | None:
        """When ``token`` was removed, as its head said when last read (a tombstone),
        else None. A commit's ``check`` sees the head its commit just read."""
        return self._tombs.get(token)

    def _repair(self, token: str, error: BaseException) -> Head | None:
        """Rebuild a damaged head from the newest complete version of its source."""
        with self.token_lock(token):
            try:
                return self._read_head(token, repair=False)  # repaired meanwhile
            except CorruptIndexError:
                pass
            aside = self.loc.keep_aside(HEADS, token)
            record = self.rebuild(token) if self.rebuild is not None else None
            if record is not None:
                self._write_head(token, record.to_entry(), 0)
            else:  # the view drops it at its next compaction
                if self.loc.local:
                    self.loc.makedirs(JOURNAL)
                self.loc.write_bytes(b"", JOURNAL, f"{token}.{time.time_ns()}.del")
                self._heads.pop(token, None)
            warnings.warn(
                f"{error}; "
                + (f"rebuilt it from version {record.version}" if record else "no complete version "
                   "of that source is left, so it is dropped")
                + f" (the damaged file was kept as {aside})",
                PersistWarning,
                stacklevel=5,
            )
        return self._read_head(token, repair=False) if record is not None else None

    def _write_head(self, token: str, entry: dict, old: int, *, name: str | None = None) -> int:
        """Write ``token``'s head (under its lock): journal marker first, then the head."""
        generation = max(old + 1, time.time_ns())
        # the view's line carries it too, so a stale copy of the view is told from an edit
        entry = dict(entry, metadata=dict(entry.get("metadata") or {}, persist_generation=generation))
        line = encode_entry(entry)
        if self.loc.local:
            self.loc.makedirs(JOURNAL)
        self.loc.write_bytes(b"", JOURNAL, f"{token}.{generation}.put")
        if name is not None:  # before the head: whatever fails, fails before it is published
            with contextlib.suppress(FileExistsError):
                self.loc.create(b"", NAMES, name_key(name), token)
        if self.loc.local:
            self.loc.makedirs(HEADS)
        self.loc.replace(head_text(generation, line), HEADS, token)
        return generation


    def _drop_head(self, token: str, old: Head) -> None:
        """Make ``token``'s head a tombstone (under its lock): journal marker first."""
        generation = max(old.generation + 1, time.time_ns())
        if self.loc.local:
            self.loc.makedirs(JOURNAL)
        self.loc.write_bytes(b"", JOURNAL, f"{token}.{generation}.del")
        # a tombstone, not nothing: a persist of this source that started before
        # the removal sees it at its commit, even where a deleted folder's files
        # can be written again (object stores have no folders)
        tomb = json.dumps({REMOVED: time.time()})
        self.loc.replace(head_text(generation, tomb), HEADS, token)
        if old.record is not None and old.record.original_name is not None:
            self.loc.rm_file(NAMES, name_key(old.record.original_name), token)
        self._heads.pop(token, None)

    def forget_removed(self, before: float) -> list[str]:
        """Delete the tombstones of sources removed before ``before`` (epoch
        seconds); return their tokens. Any persist of them has ended by then."""
        gone = []
        for token in self.loc.listfiles(HEADS):
            if len(token) < 16 or "." in token or self._read_head(token) is not None:
                continue
            if self._tombs.get(token, before) < before:
                with self.token_lock(token):
                    if self._read_head(token) is None and self._tombs.get(token, before) < before:
                        self.loc.rm_file(HEADS, token)
                        self._tombs.pop(token, None)
                        gone.append(token)
        return gone
