"""The store's index: one YAML file, ``cat.yaml``, in intake catalog format.

Layout written by this module (an expert may edit it by hand)::

    # intake-persistplus index ...
    metadata:
      version: 1
    sources:
      <token>:
        driver: persisted_parquet
        args: {urlpath: '{{ CATALOG_DIR }}/<token>/<version>/data', ...}
        metadata: {original_tok: <token>, ...}

Costs do not grow with the number of entries where it matters:

* Reading never goes through a YAML parse of the whole file. The ``sources:``
  block is cut into one text slice per entry with a regular expression, and an
  entry is parsed (``yaml.safe_load``) only when it is looked up.
* The parsed state is kept per process and refreshed only when the file
  changed (inode, size, mtime); a file that only grew is read from where the
  last read stopped.
* Locally, a new token is *appended* (one ``write`` of a few hundred bytes
  under an exclusive ``flock``). Replacing or removing an entry rewrites the
  file from the cached text slices to a temporary file that is renamed over
  ``cat.yaml``, so readers see either the old or the new file, never a mix.
* On object stores (no append, no rename, no lock) every update replaces the
  whole object, under a lease taken with an exclusive create
  (``If-None-Match: *`` on S3); see :class:`FsspecBackend`.

Anything the fast path does not recognise (flow style, entries that are not
mappings, keys at the top level after ``sources:``) falls back to a full
``yaml.safe_load``; the file is rewritten in the canonical layout on the next
write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import yaml

from .errors import CorruptIndexError, IndexLockTimeout, PersistWarning
from .record import InvalidRecordError, Record, is_token

logger = logging.getLogger(__name__)

INDEX_NAME = "cat.yaml"
LOCK_NAME = ".cat.yaml.lock"
HEADER = (
    "# intake-persistplus persist store index: an intake catalog of persisted sources,\n"
    "# keyed by the token of their original. Open it with intake.open_catalog().\n"
    "# Hand edits (e.g. ttl: null) take effect on the next store operation.\n"
    "metadata:\n"
    "  version: 1\n"
    "  persistplus_index: 1\n"
)
_TAIL = 64
#: seconds a remote index lock is held at most before others may break it
LOCK_LEASE = 60.0
#: seconds a writer waits for a remote index lock
LOCK_TIMEOUT = 120.0

try:  # the C implementations are much faster and always safe
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import SafeDumper as _Dumper
    from yaml import SafeLoader as _Loader


def _load(text: str):
    return yaml.load(text, Loader=_Loader)


def dump_block(token: str, entry: dict) -> str:
    """The text of one index entry, indented under ``sources:``."""
    text = yaml.dump(
        {token: entry},
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 30,
    )
    return "".join("  " + line if line.strip() else line for line in text.splitlines(True))


_SOURCES_RE = re.compile(r"^sources:[ \t]*(?:#[^\n]*)?$", re.M)
_EMPTY_TAIL_RE = re.compile(r"\nsources:[ \t]*(?:\{\s*\}|null|~)?[ \t]*(?:#[^\n]*)?\s*\Z")
_ANCHOR_RE = re.compile(r"[\s\-\[{,:]&[\w\-]")
# The patterns below start with a literal newline (the body is scanned with one
# prepended), which lets the regex engine jump between line starts quickly.
_TOP_LEVEL_RE = re.compile(r"\n[^\s#]")
_FIRST_KEY_RE = re.compile(r"\n( +)[^\s#]")


@dataclass
class _Slot:
    text: str | None  # the entry's text in the file (None after a fallback parse)
    data: object = None  # parsed entry, filled lazily
    record: Record | None = None
    parsed: bool = False


@dataclass
class Snapshot:
    """What one read of the index file found."""

    sig: tuple | None = None  # (inode, size, mtime_ns) of the file that was read
    tail: bytes = b""  # its last bytes, to recognise an append
    slots: dict[str, _Slot] = field(default_factory=dict)
    appendable: bool = False  # the file ends inside a canonical ``sources:`` block
    indent: int = 2


def _split(text: str, snap: Snapshot) -> bool:
    """Cut the ``sources:`` block of ``text`` into per-entry slices.

    Fills ``snap.slots`` and returns True, or returns False when the text is
    not in a shape this fast path can vouch for (then the caller parses it
    whole). Every check is one C-level regex scan; nothing is parsed here.
    """
    if _EMPTY_TAIL_RE.search("\n" + text[-200:]) and text.count("\nsources:") + text.startswith("sources:") == 1:
        snap.appendable = False
        return True
    m = _SOURCES_RE.search(text)
    if m is None:
        return False
    body = "\n" + text[m.end() + 1 :]  # every line, the first included, follows a newline
    if _TOP_LEVEL_RE.search(body):  # a top-level key after sources:
        return False
    if "&" in text and _ANCHOR_RE.search(text):  # anchors may be aliased from another entry
        return False
    first = _FIRST_KEY_RE.search(body)
    if first is None:  # "sources:" with nothing below it is null
        snap.appendable = False
        return True
    k = len(first.group(1))
    key_re = re.compile(
        rf"\n {{{k}}}(?:'([^'\n]+)'|\"([^\"\n]+)\"|([^\s#'\"][^\n:]*)):[ \t]*(?:#[^\n]*)?(?=\n|\Z)"
    )
    keys = list(key_re.finditer(body))
    n_at_k = len(re.findall(rf"\n {{{k}}}[^\s#]", body))
    if len(keys) != n_at_k or (k > 1 and re.search(rf"\n {{1,{k - 1}}}[^\s#]", body)):
        return False
    starts = [km.start() + 1 for km in keys] + [len(body)]
    slots = snap.slots
    for i, km in enumerate(keys):
        token = km.group(1) or km.group(2) or km.group(3).strip()
        slots[token] = _Slot(text=body[starts[i] : starts[i + 1]])
    snap.indent = k
    snap.appendable = k == 2 and text.endswith("\n")
    return True


def _fallback(text: str, snap: Snapshot) -> None:
    try:
        data = _load(text)
    except yaml.YAMLError as e:
        raise CorruptIndexError(f"the persist index is not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("sources") or {}, dict):
        raise CorruptIndexError("the persist index has no 'sources:' mapping")
    for token, entry in (data.get("sources") or {}).items():
        snap.slots[str(token)] = _Slot(text=None, data=entry, parsed=True)
    snap.appendable = False


class LocalBackend:
    """The index file on a local (or mounted) file system."""

    remote = False

    def __init__(self, root: str):
        self.root = root
        self.path = os.path.join(root, INDEX_NAME)
        self._thread_lock = threading.RLock()

    def stat(self):
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def read(self, offset: int = 0) -> bytes:
        with open(self.path, "rb") as f:
            if offset:
                f.seek(offset)
            return f.read()

    def read_range(self, start: int, end: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(start)
            return f.read(end - start)

    def append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            written = os.write(fd, data)
            if written != len(data):  # pragma: no cover - disk full and the like
                raise OSError(errno.EIO, f"short write to {self.path}")
        finally:
            os.close(fd)

    def replace(self, data: bytes) -> None:
        tmp = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # the new file is on disk before it replaces the old
            try:  # keep the mode a team may have given the index (group-writable, say)
                os.chmod(tmp, os.stat(self.path).st_mode & 0o7777)
            except FileNotFoundError:
                pass
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def keep_aside(self) -> str:
        """Move a damaged index out of the way; return where it went."""
        aside = _aside_name(self.path)
        os.replace(self.path, aside)
        return aside

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._thread_lock, local_lock(os.path.join(self.root, LOCK_NAME)):
            yield


class FsspecBackend:
    """The index file on any fsspec file system (object stores included).

    Object stores have no append and no rename: every update replaces the
    whole object. Writers are serialised with :meth:`lock`.
    """

    remote = True

    def __init__(self, fs, root: str):
        self.fs = fs
        self.root = root.rstrip("/")
        self.path = f"{self.root}/{INDEX_NAME}"
        self._thread_lock = threading.RLock()

    def stat(self):
        self.fs.invalidate_cache(self.path)
        try:
            info = self.fs.info(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        tag = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
        return (str(tag), int(info.get("size") or 0), 0)

    def read(self, offset: int = 0) -> bytes:
        data = self.fs.cat_file(self.path)
        return data[offset:]

    def read_range(self, start: int, end: int) -> bytes:
        return self.fs.cat_file(self.path, start=start, end=end)

    def append(self, data: bytes) -> None:  # pragma: no cover - never called: remote=True
        raise NotImplementedError

    def replace(self, data: bytes) -> None:
        self.fs.pipe_file(self.path, data)
        self.fs.invalidate_cache(self.path)

    def keep_aside(self) -> str:
        aside = _aside_name(self.path)
        self.fs.pipe_file(aside, self.fs.cat_file(self.path))
        return aside

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive lease on the index (see :func:`lease`)."""
        with self._thread_lock, lease(self.fs, f"{self.root}/{LOCK_NAME}", "the persist index"):
            yield


def _aside_name(path: str) -> str:
    return f"{path}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _create(fs, path: str, data: bytes) -> None:
    """Write ``path`` only if it does not exist (raise FileExistsError otherwise)."""
    try:
        fs.pipe_file(path, data, mode="create")
    except TypeError:  # an older fsspec or a file system without "create"
        with fs.open(path, "xb") as f:
            f.write(data)


@contextlib.contextmanager
def lease(fs, lock_path: str, what: str, ttl: float = LOCK_LEASE, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive lease on any fsspec file system, built on exclusive create
    (S3's ``If-None-Match: *``): the lock object names its owner and when the
    lease ends. A lease past its end was left by a dead holder and is broken."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        body = json.dumps({"owner": owner, "expires": time.time() + ttl})
        try:
            _create(fs, lock_path, body.encode())
            break
        except FileExistsError:
            pass
        try:
            held = json.loads(fs.cat_file(lock_path))
        except FileNotFoundError:
            continue  # released meanwhile
        except ValueError:
            held = {}
        if float(held.get("expires") or 0) < time.time():
            # re-read right before deleting: only this very lease is broken
            with contextlib.suppress(FileNotFoundError, ValueError):
                if json.loads(fs.cat_file(lock_path)) == held:
                    logger.warning("breaking the stale lock %s held by %s", lock_path, held.get("owner"))
                    fs.rm(lock_path)
            continue
        if time.monotonic() > deadline:
            raise IndexLockTimeout(
                f"could not lock {what} within {timeout:.0f} s (held by {held.get('owner')}); "
                f"try again, or remove {lock_path} if nothing is running"
            )
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.5)
    try:
        yield
    finally:
        try:
            held = json.loads(fs.cat_file(lock_path))
            if held.get("owner") == owner:
                fs.rm(lock_path)
        except FileNotFoundError:
            pass
        except Exception as e:  # the work is done; the lease will expire by itself
            logger.warning("could not release the lock %s: %s", lock_path, e)


@contextlib.contextmanager
def local_lock(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if needed); released when the holder dies."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Index:
    """Read and update one store's ``cat.yaml``; see the module docstring."""

    def __init__(self, backend, rebuild: Callable[[], list[Record]] | None = None):
        self.backend = backend
        self.rebuild = rebuild
        self._snap = Snapshot()
        self._lock = threading.RLock()

    @property
    def path(self) -> str:
        return self.backend.path

    # -- reading ---------------------------------------------------------------
    def _refresh(self) -> Snapshot:
        """Bring the cached snapshot up to date with the file (cheap when unchanged)."""
        sig = self.backend.stat()
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
            and self.backend.read_range(old[1] - len(snap.tail), old[1]) == snap.tail
        ):
            added = self.backend.read(old[1])
            text = added.decode("utf-8", errors="replace")
            extra = Snapshot()
            if _split("sources:\n" + text, extra) and extra.indent == snap.indent:
                snap.slots.update(extra.slots)
                snap.sig = (sig[0], old[1] + len(added), sig[2])
                snap.tail = (snap.tail + added)[-_TAIL:]
                snap.appendable = text.endswith("\n")
                return snap
        data = self.backend.read()
        if not data.strip():
            raise CorruptIndexError(f"the persist index {self.path} is empty (a write was cut short?)")
        new = Snapshot(sig=(sig[0], len(data), sig[2]), tail=data[-_TAIL:])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CorruptIndexError(f"{self.path} is not UTF-8 text: {e}") from None
        if not _split(text, new):
            new.slots.clear()
            _fallback(text, new)
        self._snap = new
        return new

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._refresh()

    def tokens(self) -> list[str]:
        """Keys of the index that are store tokens (hand-added others are ignored)."""
        return [t for t in self.snapshot().slots if is_token(t)]

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
    def _parse_slot(token: str, slot: _Slot) -> bool:
        """Parse a slice; False when it is not exactly one mapping entry for ``token``."""
        slot.parsed = True
        try:
            parsed = _load(slot.text)
        except yaml.YAMLError:
            return False
        if not (isinstance(parsed, dict) and list(parsed) == [token]):
            return False
        slot.data = parsed[token]
        return True

    def _parse_whole(self) -> Snapshot:
        """Parse the whole file with ``yaml.safe_load`` and make that the snapshot."""
        data = self.backend.read()
        sig = self.backend.stat()
        snap = Snapshot(sig=sig if sig is not None and sig[1] == len(data) else None, tail=data[-_TAIL:])
        _fallback(data.decode("utf-8", errors="replace"), snap)
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
    def _compose(self, snap: Snapshot, replace: dict[str, str | None]) -> dict[str, _Slot]:
        """The slots of the next file: ``snap``'s, with ``replace`` applied
        (``None`` removes). Canonical slots are carried over as text, unparsed."""
        slots: dict[str, _Slot] = {}
        for token, slot in snap.slots.items():
            if token in replace:
                continue
            if slot.text is not None and snap.indent == 2:
                text = slot.text if slot.text.endswith("\n") else slot.text + "\n"
                slots[token] = _Slot(text=text, data=slot.data, record=slot.record, parsed=slot.parsed)
                continue
            data = slot.data
            if not slot.parsed:
                try:
                    parsed = _load(slot.text)
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
            slots[token] = _Slot(text=dump_block(token, data), data=data, record=slot.record, parsed=True)
        for token, block in replace.items():
            if block is not None:
                slots[token] = _Slot(text=block)
        return slots

    def _publish(self, slots: dict[str, _Slot]) -> None:
        """Replace the file with ``slots`` (atomically) and make them the snapshot."""
        if slots:
            text = "".join([HEADER, "sources:\n", *(slot.text for slot in slots.values())])
        else:
            text = HEADER + "sources: {}\n"
        data = text.encode("utf-8")
        self.backend.replace(data)
        snap = Snapshot(slots=slots, indent=2, appendable=bool(slots))
        sig = self.backend.stat()
        if sig is not None and sig[1] == len(data):
            snap.sig = sig
            snap.tail = data[-_TAIL:]
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
        """Replace a damaged index with one rebuilt from the store's version records."""
        if self.rebuild is None:
            raise CorruptIndexError(
                f"{e}; refusing to write over it (fix or remove {self.path})"
            ) from None
        records = self.rebuild()
        aside = self.backend.keep_aside()
        self._publish({r.token: _Slot(text=dump_block(r.token, r.to_entry())) for r in records})
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
        with self._lock, self.backend.lock():
            snap = self._refresh_for_write()
            if (
                record.token not in snap.slots
                and snap.appendable
                and snap.sig is not None
                and not self.backend.remote
            ):
                data = block.encode("utf-8")
                self.backend.append(data)
                sig = self.backend.stat()
                snap.slots[record.token] = _Slot(text=block, record=record, parsed=True)
                snap.slots[record.token].data = record.to_entry()
                if sig is not None and sig[1] == snap.sig[1] + len(data):
                    snap.sig = sig
                    snap.tail = (snap.tail + data)[-_TAIL:]
                else:  # someone else wrote too: re-read next time
                    snap.sig = None
                return
            snap = self._verified(snap, [record.token])
            self._publish(self._compose(snap, {record.token: block}))

    def delete(self, token: str) -> bool:
        """Remove ``token``'s entry; False if it was not there."""
        with self._lock, self.backend.lock():
            snap = self._refresh_for_write()
            if token not in snap.slots:
                return False
            snap = self._verified(snap, [token])
            self._publish(self._compose(snap, {token: None}))
            return True

    def clear(self) -> None:
        """Write an empty index."""
        with self._lock, self.backend.lock():
            self._publish({})

    def ensure(self) -> None:
        """Create an empty index if there is none."""
        if self.backend.stat() is None:
            with self._lock, self.backend.lock():
                if self.backend.stat() is None:
                    self._publish({})
