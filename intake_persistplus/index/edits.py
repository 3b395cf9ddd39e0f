"""Hand edits of the view: folding an edited (or 0.1.0, or damaged) ``cat.yaml``
into the heads. The part of :class:`~.core.Index` that runs when the view no
longer matches its stamp; see :mod:`.core` for the protocol.
"""

from __future__ import annotations

import logging
import warnings

from ..errors import CorruptIndexError, IndexFormatError, InvalidRecordError, PersistWarning
from ..layout import CATALOG_DIR, INDEX, JOURNAL, is_token
from ..record import Record
from .text import FORMAT, HEADER, check_header, decode_entry, parse_whole, read_view

logger = logging.getLogger(__name__)

#: errors that say the store cannot be written (a read-only team store, say)
READ_ONLY = (PermissionError, OSError)


def _elsewhere_in_store(record: Record) -> bool:
    """Whether ``record``'s data path is in another token's folder of the store."""
    path = record.args.get("urlpath")
    path = path[0] if isinstance(path, list) and path else path
    prefix = CATALOG_DIR + "/"
    return isinstance(path, str) and path.startswith(prefix) and (
        path[len(prefix):].split("/", 1)[0] != record.token)


#: a view in another layout than the store's is parsed whole only up to this size
#: (PyYAML parses about 1 MiB a second here): beyond, it is kept aside as damaged
MAX_WHOLE_PARSE = 2 << 20
#: how intake-persistplus 0.1.0 began its view (upgraded whatever its size)
HEADER_V1 = HEADER.replace(f"persistplus_index: {FORMAT}", "persistplus_index: 1")


class ViewEdits:
    """See the module docstring; uses the heads and the compaction of the index."""

    def _fold_view(self) -> None:
        """Apply a hand-edited (or 0.1.0, or damaged) view to the heads, then rewrite it."""
        entries: dict = {}
        damaged = False
        try:
            text = self.loc.read_bytes(INDEX).decode("utf-8")
        except FileNotFoundError:
            text = None  # removed: rebuilt from the heads
        except UnicodeDecodeError as e:
            text, damaged = None, True
            self._keep_damaged(CorruptIndexError(f"the persist index {self.path} is not UTF-8 text: {e}"))
        if text is not None:
            where = f"the persist index {self.path}"
            try:
                check_header(text, where)  # a newer format is never written over
            except IndexFormatError:
                raise
            except CorruptIndexError as e:  # a format number no one can read: damaged
                damaged, text = True, None
                self._keep_damaged(e)
        if text is not None:
            if not text.strip():
                damaged = True
                self._keep_damaged(CorruptIndexError(f"{where} is empty (a write was cut short?)"))
                text = None
        known = None  # (lines as the store wrote them, tokens the edit removed)
        if text is not None:
            try:
                lines = read_view(text)
                if lines is None and len(text) > MAX_WHOLE_PARSE and not text.startswith(HEADER_V1):
                    raise CorruptIndexError(
                        f"{where} was rewritten in another YAML layout than the store's, one entry "
                        f"a line, and is {len(text) >> 20} MiB: too big to parse inside a catalog "
                        "access (edit its lines in place instead)")
                entries = parse_whole(text, where) if lines is None else {}
                if lines is not None:  # the store's layout: only the lines edited are looked at
                    known = self._unchanged_lines(lines)
                    if known is not None:
                        lines = {t: line for t, line in lines.items() if t not in known[0]}
                for token, line in (lines or {}).items():
                    try:
                        entries[token] = decode_entry(line)
                    except CorruptIndexError as e:  # that line only: its head stays
                        logger.warning("ignoring the entry %s in %s: %s", token, self.path, e)
            except IndexFormatError:
                raise
            except CorruptIndexError as e:
                damaged = True
                self._keep_damaged(e)
        pending = {m.split(".", 1)[0] for m in self.loc.listfiles(JOURNAL)}
        fallback: dict[str, Record] = {}
        strays: list[str] = []
        for token, entry in entries.items():
            if not is_token(token):
                continue  # keys the store never wrote: not persisted sources
            try:
                record = Record.from_entry(token, entry)
            except InvalidRecordError as e:
                logger.warning("ignoring index entry in %s: %s", self.path, e)
                continue
            head = self._read_head(token)
            if head is not None and record == head.record:
                continue
            if head is None and _elsewhere_in_store(record):
                strays.append(token)  # a new entry naming another's data: never served
                continue
            md = entry.get("metadata") if isinstance(entry, dict) else None
            seen = md.get("persist_generation") if isinstance(md, dict) else None
            if head is not None and (token in pending or (seen is not None and seen != head.generation)):
                warnings.warn(
                    f"the hand edit of {token} in {self.path} is ignored: that source was "
                    "persisted again since", PersistWarning, stacklevel=5)
                continue
            try:
                with self.token_lock(token):
                    now = self._read_head(token)
                    if now is None or now.generation == (head.generation if head else None):
                        self._write_head(token, record.to_entry(), now.generation if now else 0,
                                         name=record.original_name)
                logger.info("applied the hand edit of %s in %s", token, self.path)
            except READ_ONLY as e:
                logger.info("cannot apply the hand edit of %s (%s): using it in this process", token, e)
                fallback[token] = record
        if strays:
            logger.warning("ignoring %d entries written by hand in %s whose data is in another "
                           "token's folder (%s...)", len(strays), self.path, strays[0])
        if fallback:
            self._fallback = fallback
            return
        if damaged and self.rebuild is not None:  # sources known only to the damaged view
            for token in self.loc.listdir():
                if is_token(token) and self._read_head(token) is None:
                    with self.token_lock(token):
                        record = self.rebuild(token)
                        if record is not None and self._read_head(token) is None:
                            self._write_head(token, record.to_entry(), 0, name=record.original_name)
        try:
            if known is not None and not damaged:  # the view again from its unchanged lines
                self._compact(False, base=known[0], extra={*entries, *known[1]})
            else:
                self._compact(full=True)
        except READ_ONLY as e:
            logger.info("cannot rewrite %s (%s)", self.path, e)
            self._fallback = {}

    def _keep_damaged(self, error: CorruptIndexError) -> None:
        try:
            aside = self.loc.keep_aside(INDEX)
        except OSError:
            aside = None
        warnings.warn(
            f"{error}; rebuilt it from the store's entries"
            + (f" (the damaged file was kept as {aside})" if aside else ""),
            PersistWarning,
            stacklevel=6,
        )

