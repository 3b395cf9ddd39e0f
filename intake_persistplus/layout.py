"""Where things live in a store, and how they are read and written there.

A store is a folder, local or at any fsspec URL::

    <root>/cat.yaml                        the view: an intake catalog of every entry
    <root>/.cat.yaml.stamp                 what the view looked like when written
    <root>/.cat.yaml.lock                  the view's lock (compaction)
    <root>/.heads/<token>                  the source's entry: the truth, see index/
    <root>/.journal/<token>.<gen>.<kind>   heads changed since the view was written
    <root>/.locks/<token>                  the lock of one source's head
    <root>/.names/<name hash>/<token>      the tokens persisted under one entry name
    <root>/<token>/<version>/data          one version's data
    <root>/<token>/<version>/record.yaml   that version's record, written last
    <root>/<token>/<version>/.incomplete   present only while the version is written
    <root>/.locks/<token>.refresh.lock     held while the source is refreshed

``<token>`` is ``dask.base.tokenize`` of the original source; ``<version>``
is made by :func:`new_version_id`. Inside the index, paths into the store
start with :data:`CATALOG_DIR`, so a store can be moved or mounted elsewhere.

:class:`Location` does the file work on any fsspec file system;
:class:`LocalLocation` on a local disk, with atomic renames and ``flock`` locks.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import os
import re
import secrets
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from . import locks
from .diskuse import disk_use
from .errors import PersistPathError

INDEX = "cat.yaml"
INDEX_LOCK = ".cat.yaml.lock"
STAMP = ".cat.yaml.stamp"
LISTING = ".cat.yaml.list"  # what `list` shows of each entry (index/listing.py)
HEADS = ".heads"
JOURNAL = ".journal"
LOCKS = ".locks"
NAMES = ".names"
RECORD = "record.yaml"
INCOMPLETE = ".incomplete"
REFRESH_LOCK = ".refresh.lock"  # after the token, in LOCKS
DATA = "data"
#: Placeholder that intake expands to the directory of the catalog file.
CATALOG_DIR = "{{ CATALOG_DIR }}"

#: seconds a remote refresh lease lasts (and others wait for it) at most
REFRESH_LEASE = 1800.0

_TOKEN_RE = re.compile(r"[0-9a-f]{16,64}")
_VERSION_RE = re.compile(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}", re.ASCII)
_VERSION_FORMAT = "%Y%m%dT%H%M%S.%fZ"


def is_token(value: Any) -> bool:
    """True for a string that looks like a store key (lower-case hex)."""
    return isinstance(value, str) and bool(_TOKEN_RE.fullmatch(value))  # no "$": it allows a "\n"


def new_version_id(now: float | None = None) -> str:
    """A sortable, unique version id: UTC time to the microsecond plus randomness."""
    now = time.time() if now is None else now
    stamp = _dt.datetime.fromtimestamp(now, _dt.timezone.utc).strftime(_VERSION_FORMAT)
    return f"{stamp}-{secrets.token_hex(3)}"


def version_time(version: str) -> float:
    """When a version id made by :func:`new_version_id` was made (epoch seconds)."""
    stamp = version.split("-", 1)[0]
    when = _dt.datetime.strptime(stamp, _VERSION_FORMAT)
    return when.replace(tzinfo=_dt.timezone.utc).timestamp()


def is_version_id(value: Any) -> bool:
    """True for a name made by :func:`new_version_id`."""
    return isinstance(value, str) and bool(_VERSION_RE.fullmatch(value))


def legacy_version_id(timestamp: float) -> str:
    """The id given to a version written before versions had ids."""
    stamp = _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc)
    return "legacy-" + stamp.strftime(_VERSION_FORMAT)


def aside_name(path: str) -> str:
    """Where a damaged file is kept: beside it, with the time and a random tag."""
    return f"{path}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


#: what fsspec file systems report that changes whenever a file is rewritten
#: (s3fs, gcsfs, adlfs, http: ETag or generation; memory: created; others: mtime)
CHANGE_TAGS = ("ETag", "etag", "generation", "mtime", "LastModified", "last_modified", "created")


class Location:
    """A store root on any fsspec file system (object stores included).

    Paths are given as parts relative to the root: ``loc.read_bytes(INDEX)``,
    ``loc.rm(token, version)``. Object stores have no append and no rename:
    :meth:`replace` writes a whole object, and :meth:`lock` is a lease built
    on exclusive create.
    """

    local = False

    def __init__(self, url: str, storage_options: dict | None, fs: Any, root: str):
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        #: an object store: no folders to make, and small files read in one GET
        self.flat = bool(set(protocols) & {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
        self._cat = locks.one_request(fs) if {"s3", "s3a"} & set(protocols) else {}

    def checked(self, *parts: str) -> str:
        """``path_of(*parts)``; a local store also refuses links on the way."""
        return self.path_of(*parts)

    def url_of(self, *parts: str) -> str:
        return "/".join([self.url.rstrip("/"), *parts])

    def path_of(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    # -- reading --------------------------------------------------------------------
    def read_bytes(self, *parts: str, start: int | None = None, end: int | None = None) -> bytes:
        return self.fs.cat_file(self.path_of(*parts), start=start, end=end, **self._cat)

    def read_text(self, *parts: str) -> str:
        return self.read_bytes(*parts).decode("utf-8")

    def exists(self, *parts: str) -> bool:
        """Whether there is a file or folder at ``parts`` now (no cached listing)."""
        path = self.path_of(*parts)
        self.fs.invalidate_cache(path)
        return self.fs.exists(path)

    def signature(self, *parts: str) -> tuple | None:
        """What changes when the file at ``parts`` changes (None when it is missing)."""
        path = self.path_of(*parts)
        self.fs.invalidate_cache(path)
        try:
            info = self.fs.info(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        tag = next((info[k] for k in CHANGE_TAGS if info.get(k) is not None), None)
        if tag is None:  # a file system that says nothing that changes: the content does
            import hashlib

            tag = hashlib.sha256(self.fs.cat_file(path)).hexdigest()
        return (str(tag), int(info.get("size") or 0))

    def _names(self, parts: tuple, kind: str) -> list[str]:
        path = self.path_of(*parts)
        self.fs.invalidate_cache(path)
        try:
            entries = self.fs.ls(path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == kind]

    def listdir(self, *parts: str) -> list[str]:
        """Names of the folders in ``parts`` (an empty list when it is missing)."""
        return self._names(parts, "directory")

    def listfiles(self, *parts: str) -> list[str]:
        """Names of the files in ``parts`` (an empty list when it is missing)."""
        return self._names(parts, "file")

    def find(self, *parts: str) -> dict:
        """Every file and folder below ``parts``, by path, in one listing."""
        try:
            return self.fs.find(self.checked(*parts), withdirs=True, detail=True)
        except FileNotFoundError:
            return {}

    def du(self, *parts: str) -> int:
        try:
            return int(self.fs.du(self.checked(*parts), total=True))
        except FileNotFoundError:
            return 0

    # -- writing --------------------------------------------------------------------
    def makedirs(self, *parts: str) -> None:
        if not self.flat:
            self.fs.makedirs(self.checked(*parts), exist_ok=True)

    def write_text(self, text: str, *parts: str) -> None:
        self.write_bytes(text.encode("utf-8"), *parts)

    def write_bytes(self, data: bytes, *parts: str) -> None:
        self.fs.pipe_file(self.path_of(*parts), data)

    def create(self, data: bytes, *parts: str) -> None:
        """Write a new file; ``FileExistsError`` when there is one (S3: ``If-None-Match``)."""
        locks.create_exclusive(self.fs, self.path_of(*parts), data)

    def replace(self, data: bytes, *parts: str) -> None:
        """Replace the file at ``parts`` whole: readers see the old or the new one."""
        path = self.path_of(*parts)
        self.fs.pipe_file(path, data)
        self.fs.invalidate_cache(path)

    def keep_aside(self, *parts: str) -> str:
        """Copy a damaged file out of the way; return where it went."""
        path = self.path_of(*parts)
        aside = aside_name(path)
        self.fs.pipe_file(aside, self.fs.cat_file(path))
        return aside

    def rm_file(self, *parts: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path_of(*parts))

    def rm(self, *parts: str) -> None:
        """Remove the file or folder at ``parts`` (nothing when it is missing)."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path_of(*parts), recursive=True)

    @contextlib.contextmanager
    def lock(self, what: str, *parts: str, ttl: float = locks.LEASE_SECONDS,
             timeout: float | None = locks.WAIT_SECONDS) -> Iterator[None]:
        """Exclusive: a lease on the object at ``parts`` (see :func:`locks.lease`)."""
        with locks.lease(self.fs, self.path_of(*parts), what, ttl=ttl, timeout=timeout):
            yield

    @contextlib.contextmanager
    def refresh_lock(self, token: str) -> Iterator[None]:
        """Held while one process refreshes one source, so that others wait for it."""
        self.makedirs(LOCKS) if self.local else None
        with self.lock(f"the refresh of {token}", LOCKS, f"{token}{REFRESH_LOCK}",
                       ttl=REFRESH_LEASE, timeout=REFRESH_LEASE):
            yield


class LocalLocation(Location):
    """A store root on a local (or mounted) file system.

    No symbolic link inside the store is ever followed, for reading, writing
    or deleting: no part of a path below the root may be a link (the root
    itself may be one, to a bigger disk say), and files are opened with
    ``O_NOFOLLOW``.
    """

    local = True

    def checked(self, *parts: str) -> str:
        """``path_of(*parts)``, refused when a symbolic link stands anywhere on it
        below the root (one ``lstat`` per part: cheap enough for every access).

        Raises
        ------
        PersistPathError
            naming the path, when it would lead elsewhere.
        """
        path = self.path_of(*parts)
        current = self.root
        for part in parts:
            if part in ("", ".", "..") or "/" in part or os.sep in part:
                raise PersistPathError(f"{path}: {part!r} is not a name inside the persist store")
            current = f"{current.rstrip('/')}/{part}"
            try:
                mode = os.lstat(current).st_mode
            except (FileNotFoundError, NotADirectoryError):
                break  # nothing further down exists either
            if stat.S_ISLNK(mode):
                raise PersistPathError(
                    f"{path} is, or lies below, a symbolic link in the persist store "
                    f"({current}); the store never follows links inside it: remove the link"
                )
        return path

    def read_bytes(self, *parts: str, start: int | None = None, end: int | None = None) -> bytes:
        path = self.checked(*parts)
        # O_NONBLOCK: a named pipe put in the store must not hang the open
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise PersistPathError(f"{path} in the persist store is not a file; remove or rename it")
        with open(fd, "rb") as f:
            if start:
                f.seek(start)
            return f.read() if end is None else f.read(end - (start or 0))

    def exists(self, *parts: str) -> bool:
        return os.path.lexists(self.checked(*parts))

    def check_root(self) -> None:
        """Refuse a root that is a file, or lies below one.

        Raises
        ------
        PersistPathError
            naming the file in the way.
        """
        path = self.root
        while not os.path.isdir(path):
            if os.path.lexists(path):
                raise PersistPathError(
                    f"the persist path {self.root!r} is not a folder ({path!r} is a file); "
                    "set INTAKE_PERSIST_PATH / intake.conf['persist_path'] to a folder"
                )
            parent = os.path.dirname(path)
            if parent == path:
                return
            path = parent

    def signature(self, *parts: str) -> tuple | None:
        try:
            st = os.stat(self.checked(*parts))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            self.check_root()
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def du(self, *parts: str) -> int:
        return disk_use(self.checked(*parts))  # a file linked from several versions counts once

    def listdir(self, *parts: str) -> list[str]:
        if not parts:
            self.check_root()
        try:
            with os.scandir(self.checked(*parts)) as it:
                return [e.name for e in it if e.is_dir(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def write_bytes(self, data: bytes, *parts: str, flags: int = os.O_TRUNC) -> None:
        fd = os.open(self.checked(*parts), os.O_WRONLY | os.O_CREAT | flags | _NOFOLLOW, 0o644)
        with open(fd, "wb") as f:
            f.write(data)

    def create(self, data: bytes, *parts: str) -> None:
        if len(parts) > 1:
            self.makedirs(*parts[:-1])
        self.write_bytes(data, *parts, flags=os.O_EXCL)

    def listfiles(self, *parts: str) -> list[str]:
        try:
            with os.scandir(self.checked(*parts)) as it:
                return [e.name for e in it if e.is_file(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def replace(self, data: bytes, *parts: str) -> None:
        path = self.checked(*parts)
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
            with open(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # the new file is on disk before it replaces the old
            try:  # keep the mode a team may have given the file (group-writable, say)
                os.chmod(tmp, os.lstat(path).st_mode & 0o7777)
            except FileNotFoundError:
                pass
            os.replace(tmp, path)  # replaces a link itself, never what it points to
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def keep_aside(self, *parts: str) -> str:
        path = self.checked(*parts)
        aside = aside_name(path)
        os.replace(path, aside)
        return aside

    def rm_file(self, *parts: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.checked(*parts))

    def rm(self, *parts: str) -> None:
        self.checked(*parts)  # a link is never deleted through, nor deleted itself
        for attempt in range(5):
            try:
                super().rm(*parts)
                break
            except OSError as e:  # a writer adds files meanwhile (a persist racing a remove)
                if e.errno != errno.ENOTEMPTY or attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))
        self.fs.invalidate_cache()

    @contextlib.contextmanager
    def lock(self, what: str, *parts: str, ttl: float = locks.LEASE_SECONDS,
             timeout: float | None = locks.WAIT_SECONDS) -> Iterator[None]:
        """Exclusive: a ``flock`` on the file at ``parts``, released when the holder dies."""
        with locks.local_lock(self.checked(*parts), what, timeout):
            yield


#: ``O_NOFOLLOW`` where the platform has it
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def location(url: str, storage_options: dict | None = None) -> Location:
    """The :class:`Location` (local or not) for a store root URL or path."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    cls = LocalLocation if "file" in protocols else Location
    return cls(url, storage_options, fs, root)
