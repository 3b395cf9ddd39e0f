"""The store's index, ``cat.yaml``: lookups and updates (see :mod:`.text` for its layout).

Costs do not grow with the number of entries where it matters:

* The parsed state is kept per process and refreshed only when the file
  changed (its signature: inode, size, mtime locally; ETag on object stores);
  a file that only grew is read from where the last read stopped.
* Locally, a new token is *appended* (one ``write`` of a few hundred bytes
  under an exclusive ``flock``). Replacing or removing an entry rewrites the
  file from the cached text slices to a temporary file that is renamed over
  ``cat.yaml``, so readers see either the old or the new file, never a mix.
* On object stores (no append, no rename, no lock) every update replaces the
  whole object, under a lease taken with an exclusive create
  (``If-None-Match: *`` on S3).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable

import yaml

from ..errors import CorruptIndexError, IndexFormatError, InvalidRecordError, PersistWarning
from ..layout import INDEX, INDEX_LOCK, Location, is_token
from ..record import Record
from .text import (
    HEADER,
    TAIL,
    Slot,
    Snapshot,
    check_header,
    dump_block,
    load,
    parse_whole,
    split,
)

logger = logging.getLogger(__name__)


class Index:
    """Read and update one store's ``cat.yaml``; see the module docstring."""

    def __init__(self, loc: Location, rebuild: Callable[[], list[Record]] | None = None):
        self.loc = loc
        self.rebuild = rebuild
        self._snap = Snapshot()
        self._lock = threading.RLock()

    @property
    def path(self) -> str:
        """The index's location, as a user names it (with its protocol)."""
        return self.loc.url_of(INDEX)

    def lock(self):
        """The index's write lock: one writer at a time, across processes."""
        return self.loc.lock("the persist index", INDEX_LOCK)

    # -- reading ---------------------------------------------------------------
    def _refresh(self) -> Snapshot:
        """Bring the cached snapshot up to date with the file (cheap when unchanged)."""
        sig = self.loc.signature(INDEX)
        snap = self._snap
        if sig == snap.sig:
            return snap
        if sig is None:
            self._snap = Snapshot(sig=None)
            return self._snap
        old = snap.sig
        if (
            old is not None
            and snap.appendable
            and sig[0] == old[0]
            and sig[1] > old[1]
            and old[1] >= len(snap.tail)
            and self.loc.read_bytes(INDEX, start=old[1] - len(snap.tail), end=old[1]) == snap.tail
        ):
            added = self.loc.read_bytes(INDEX, start=old[1])
            text = added.decode("utf-8", errors="replace")
            extra = Snapshot()
            if split("sources:\n" + text, extra) and extra.indent == snap.indent:
                snap.slots.update(extra.slots)
                snap.sig = (sig[0], old[1] + len(added), sig[2])
                snap.tail = (snap.tail + added)[-TAIL:]
                snap.appendable = text.endswith("\n")
                return snap
        data = self.loc.read_bytes(INDEX)
        if not data.strip():
            raise CorruptIndexError(f"the persist index {self.path} is empty (a write was cut short?)")
        new = Snapshot(sig=(sig[0], len(data), sig[2]), tail=data[-TAIL:])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CorruptIndexError(f"{self.path} is not UTF-8 text: {e}") from None
        check_header(text, f"the persist index {self.path}")
        if not split(text, new):
            new.slots.clear()
            parse_whole(text, new, f"the persist index {self.path}")
        self._snap = new
        return new

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._refresh()

    def tokens(self) -> list[str]:
        """Keys of the index that are store tokens (hand-added others are ignored)."""
        return [t for t in self.snapshot().slots if is_token(t)]

    def named(self, name: str) -> list[Record]:
        """The records whose original is named ``name`` (or whose label, name and
        user parameters, is ``name``). Reads every entry: for names, not tokens."""
        found = []
        for token in self.tokens():
            rec = self.get(token)
            if rec is not None and name in (rec.original_name, rec.label):
                found.append(rec)
        return found

    def __contains__(self, token: str) -> bool:
        return token in self.snapshot().slots

    def __len__(self) -> int:
        return len(self.tokens())

    def get(self, token: str, refresh: bool = True) -> Record | None:
        """The record for ``token``, or None. An unreadable entry is logged and skipped.

        ``refresh=False`` answers from the snapshot last read (no file system call).
        """
        with self._lock:
            snap = self._refresh() if refresh else self._snap
            slot = snap.slots.get(token)
            if slot is None:
                return None
            if not slot.parsed and not self._parse_slot(token, slot):
                # the fast split cut this entry wrongly (a hand-written multi-line
                # string, say): read the whole file the slow, sure way
                try:
                    snap = self._parse_whole()
                except CorruptIndexError as e:  # this entry itself is broken: skip it
                    logger.warning("index entry %s in %s cannot be read: %s", token, self.path, e)
                    return None
                slot = snap.slots.get(token)
                if slot is None:
                    return None
            if slot.record is None and slot.data is not None:
                try:
                    slot.record = Record.from_entry(token, slot.data)
                except InvalidRecordError as e:
                    logger.warning("ignoring index entry in %s: %s", self.path, e)
                    slot.data = None
            return slot.record

    @staticmethod
    def _parse_slot(token: str, slot: Slot) -> bool:
        """Parse a slice; False when it is not exactly one mapping entry for ``token``."""
        slot.parsed = True
        try:
            parsed = load(slot.text)
        except yaml.YAMLError:
            return False
        if not (isinstance(parsed, dict) and list(parsed) == [token]):
            return False
        slot.data = parsed[token]
        return True

    def _parse_whole(self) -> Snapshot:
        """Parse the whole file with ``yaml.safe_load`` and make that the snapshot."""
        data = self.loc.read_bytes(INDEX)
        sig = self.loc.signature(INDEX)
        snap = Snapshot(sig=sig if sig is not None and sig[1] == len(data) else None, tail=data[-TAIL:])
        parse_whole(data.decode("utf-8", errors="replace"), snap, f"the persist index {self.path}")
        self._snap = snap
        return snap

    def _verified(self, snap: Snapshot, tokens: list[str]) -> Snapshot:
        """``snap``, or the whole-file parse if the slices about to be rewritten are
        not sound (a slice that is not one entry, or a key that is not a token)."""
        if snap.indent == 2 and all(is_token(t) for t in snap.slots):
            if all(
                self._parse_slot(t, snap.slots[t]) or False
                for t in tokens
                if t in snap.slots and not snap.slots[t].parsed
            ) and all(snap.slots[t].data is not None for t in tokens if t in snap.slots):
                return snap
        if any(s.text is not None for s in snap.slots.values()):
            try:
                return self._parse_whole()
            except CorruptIndexError as e:
                return self._rebuild_now(e)
        return snap

    # -- writing ---------------------------------------------------------------
    def _compose(self, snap: Snapshot, replace: dict[str, str | None]) -> dict[str, Slot]:
        """The slots of the next file: ``snap``'s, with ``replace`` applied
        (``None`` removes). Canonical slots are carried over as text, unparsed."""
        slots: dict[str, Slot] = {}
        for token, slot in snap.slots.items():
            if token in replace:
                continue
            if slot.text is not None and snap.indent == 2:
                text = slot.text if slot.text.endswith("\n") else slot.text + "\n"
                slots[token] = Slot(text=text, data=slot.data, record=slot.record, parsed=slot.parsed)
                continue
            data = slot.data
            if not slot.parsed:
                try:
                    parsed = load(slot.text)
                    data = parsed.get(token) if isinstance(parsed, dict) else None
                except yaml.YAMLError:
                    data = None
            if data is None:
                warnings.warn(
                    f"index entry {token!r} in {self.path} could not be read and is left out "
                    "of the rewritten index",
                    PersistWarning,
                    stacklevel=4,
                )
                continue
            slots[token] = Slot(text=dump_block(token, data), data=data, record=slot.record, parsed=True)
        for token, block in replace.items():
            if block is not None:
                slots[token] = Slot(text=block)
        return slots

    def _publish(self, slots: dict[str, Slot]) -> None:
        """Replace the file with ``slots`` (atomically) and make them the snapshot."""
        if slots:
            text = "".join([HEADER, "sources:\n", *(slot.text for slot in slots.values())])
        else:
            text = HEADER + "sources: {}\n"
        data = text.encode("utf-8")
        self.loc.replace(data, INDEX)
        snap = Snapshot(slots=slots, indent=2, appendable=bool(slots))
        sig = self.loc.signature(INDEX)
        if sig is not None and sig[1] == len(data):
            snap.sig = sig
            snap.tail = data[-TAIL:]
        self._snap = snap

    def _refresh_for_write(self) -> Snapshot:
        """The current snapshot; a corrupt index is rebuilt first (under the lock).

        Without a way to rebuild, a corrupt index makes writes fail rather than
        silently dropping the entries it held.
        """
        try:
            return self._refresh()
        except CorruptIndexError as e:
            return self._rebuild_now(e)

    def _rebuild_now(self, e: CorruptIndexError) -> Snapshot:
        """Replace a damaged index with one rebuilt from the store's version records.

        An index in a newer format is not damaged: it is never written over.
        """
        if isinstance(e, IndexFormatError):
            raise e
        if self.rebuild is None:
            raise CorruptIndexError(
                f"{e}; refusing to write over it (fix or remove {self.path})"
            ) from None
        records = self.rebuild()
        aside = self.loc.keep_aside(INDEX)
        self._publish({r.token: Slot(text=dump_block(r.token, r.to_entry())) for r in records})
        warnings.warn(
            f"{e}; rebuilt it from {len(records)} version record(s) in the store "
            f"(the damaged file was kept as {aside})",
            PersistWarning,
            stacklevel=4,
        )
        return self._snap

    def put(self, record: Record) -> None:
        """Add or replace the entry for ``record.token``."""
        block = dump_block(record.token, record.to_entry())
        with self._lock, self.lock():
            snap = self._refresh_for_write()
            if (
                record.token not in snap.slots
                and snap.appendable
                and snap.sig is not None
                and self.loc.local
            ):
                data = block.encode("utf-8")
                self.loc.append(data, INDEX)
                sig = self.loc.signature(INDEX)
                snap.slots[record.token] = Slot(text=block, record=record, parsed=True)
                snap.slots[record.token].data = record.to_entry()
                if sig is not None and sig[1] == snap.sig[1] + len(data):
                    snap.sig = sig
                    snap.tail = (snap.tail + data)[-TAIL:]
                else:  # someone else wrote too: re-read next time
                    snap.sig = None
                return
            snap = self._verified(snap, [record.token])
            self._publish(self._compose(snap, {record.token: block}))

    def delete(self, token: str) -> bool:
        """Remove ``token``'s entry; False if it was not there."""
        with self._lock, self.lock():
            snap = self._refresh_for_write()
            if token not in snap.slots:
                return False
            snap = self._verified(snap, [token])
            self._publish(self._compose(snap, {token: None}))
            return True

    def clear(self) -> None:
        """Write an empty index."""
        with self._lock, self.lock():
            self._publish({})

    def ensure(self) -> None:
        """Create an empty index if there is none."""
        if self.loc.signature(INDEX) is None:
            with self._lock, self.lock():
                if self.loc.signature(INDEX) is None:
                    self._publish({})
