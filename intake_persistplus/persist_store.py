"""PersistStore: the persisted sources of one persist location, as a catalog-like
mapping (token -> current persisted source), and the one place that writes them.

A persist writes a complete version (:mod:`.writer`), then publishes it in the
index (:mod:`.index`); readers only follow the index, so they never see a
half-written version. The layout on disk is described in :mod:`.layout`.

Two ways to look a record up, with one policy each: :meth:`PersistStore.record`
raises :class:`NotPersistedError`, :meth:`PersistStore.lookup` returns None.
Both let a damaged index (:class:`CorruptIndexError`) or an unusable location
(``OSError``) through: serving the original instead is the redirect's choice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from . import config, versions
from .copies import as_written, open_copy
from .dedupe import prepare, share
from .errors import (
    AmbiguousNameError,
    CorruptIndexError,
    NotPersistedError,
    PersistConflictError,
    PersistPathError,
    UnknownNameError,
)
from .freshness import StoreFreshness
from .index import Index
from .index.listing import Listed
from .layout import RECORD, Location, is_token, location, version_time
from .originals import is_persisted_source, original_from_entry, recreate, tokenize
from .pipeline import built_from
from .record import Record
from .rekey import StoreRekey
from .train import StoreTrains
from .upkeep import StoreUpkeep
from .versions import StoreVersions, VersionInfo
from .writer import check_not_a_copy, check_recordable, write_version

logger = logging.getLogger(__name__)

__all__ = ["PersistStore", "VersionInfo", "store"]

#: errors of a file system that refuses writes, whichever file they name
_STORE_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


class PersistStore(StoreVersions, StoreUpkeep, StoreRekey, StoreFreshness, StoreTrains):
    """The persisted sources of one persist location, as a catalog-like mapping.

    ``path=None`` follows ``intake.conf["persist_path"]`` (``INTAKE_PERSIST_PATH``)
    at every operation; ``storage_options=None`` follows
    ``intake.conf["persist_storage_options"]`` (fsspec's own configuration
    applies as well).
    """

    def __init__(self, path: str | None = None, storage_options: dict | None = None):
        # a relative path is resolved now: a later os.chdir does not move the store
        self._path = None if path is None else config.normalize_path(path)
        self._storage_options = storage_options
        self._locations: dict[tuple, Location] = {}
        self._indexes: dict[tuple, Index] = {}
        self._lock = threading.RLock()

    # -- location --------------------------------------------------------------
    @property
    def path(self) -> str:
        """The root of the store now in use (a local path or a URL)."""
        return self._path if self._path is not None else config.persist_path()

    @property
    def storage_options(self) -> dict:
        if self._storage_options is not None:
            return dict(self._storage_options)
        return config.persist_storage_options()

    def _key(self) -> tuple:
        options = self.storage_options
        return (self.path, json.dumps(options, sort_keys=True, default=repr) if options else "{}")

    def _loc(self) -> Location:
        key = self._key()
        with self._lock:
            loc = self._locations.get(key)
            if loc is None:
                loc = self._locations[key] = location(key[0], self.storage_options)
            return loc

    def _index(self) -> Index:
        key = self._key()
        with self._lock:
            idx = self._indexes.get(key)
            if idx is None:
                loc = self._loc()
                idx = self._indexes[key] = Index(loc, rebuild=lambda t: versions.newest_record(loc, t))
            return idx

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Report a failure to write inside the store with its full path and what to do."""
        try:
            yield
        except PersistPathError:
            raise
        except OSError as e:
            where = os.fspath(e.filename) if e.filename else ""
            root = self._loc().root
            ours = where.startswith(root) or (
                not os.path.isabs(where) and e.errno in _STORE_ERRNOS  # rmtree names files relatively
            )
            if not ours or isinstance(e, FileNotFoundError):
                raise  # not the store's own files (the original's, say): as it is
            where = where if os.path.isabs(where) else f"{where or 'a file'} (below {root})"
            raise PersistPathError(
                f"cannot {what}: {e.strerror or e} on {where}; make the persist store at "
                f"{self.path!r} writable, or set INTAKE_PERSIST_PATH / "
                "intake.conf['persist_path'] to a location you can write"
            ) from e

    def _writable(self, fold_edits: bool = True) -> Location:
        """The store's location, made if needed, before a write. ``fold_edits=False``
        (a persist) skips the check for hand edits of the view once this process
        has seen it: the view's format is known then, and an edit of the source
        being persisted would be superseded by the new version anyway (on an
        object store that check is a request)."""
        try:
            loc = self._loc()
            loc.makedirs()
            index = self._index()
            index.ensure()
            if fold_edits or not index.seen:
                index.sync()  # an index in a newer format is refused before any write
        except (CorruptIndexError, PersistPathError):  # (an ExclusiveCreateError, say)
            raise
        except Exception as e:  # OSError, or ImportError/ValueError for an unusable URL
            reason = getattr(e, "strerror", None) or f"{type(e).__name__}: {e}"
            raise PersistPathError(
                f"cannot use persist path {self.path!r} ({reason}); set INTAKE_PERSIST_PATH "
                "or intake.conf['persist_path'] to a location you can write"
            ) from e
        return loc

    # -- looking up -------------------------------------------------------------
    def get_tok(self, x: Any) -> str:
        """The store key for a token, an entry's name, an original source, a
        persisted source or a catalog entry.

        A name (``"trips"``, or with its user parameters, ``"trips(year=2024)"``)
        is accepted when it matches exactly one persisted entry.

        Raises
        ------
        UnknownNameError
            (a ``KeyError`` and a ``ValueError``) for a string that is neither.
        AmbiguousNameError
            for a name that several entries share, listing each.
        """
        if isinstance(x, str):
            return x if is_token(x) else self.token_of_name(x)
        if is_persisted_source(x):
            return x.metadata["original_tok"]
        from intake.catalog.entry import CatalogEntry

        if isinstance(x, CatalogEntry):
            x = original_from_entry(x)
        if hasattr(x, "read") or hasattr(x, "_captured_init_kwargs"):
            return tokenize(x)
        raise TypeError(f"cannot find a store token for {x!r}")

    def named(self, x: str) -> list[Record]:
        """The records of a token, or of every entry persisted under a name (each
        set of user parameters), reading only their heads."""
        if is_token(x):
            rec = self.lookup(x)
            return [] if rec is None else [rec]
        return self._index().named(x)

    def token_of_name(self, name: str) -> str:
        """The token of the one persisted entry named ``name`` (see :meth:`get_tok`)."""
        found = self._index().named(name)
        exact = [r for r in found if r.label == name]  # "trips" beats "trips(year=2024)"
        if len(exact) == 1:
            return exact[0].token
        if len(found) == 1:
            return found[0].token
        if not found:
            raise UnknownNameError(
                f"{name!r} is not a store token (lower-case hexadecimal, as made by "
                f"dask.base.tokenize) nor the name of a persisted entry in {self.path}; "
                "`intake-persist list` shows what is there"
            )
        raise AmbiguousNameError(
            f"{name!r} names {len(found)} persisted entries: "
            + "; ".join(f"{r.label} ({r.token}{', from ' + r.catalog if r.catalog else ''})" for r in found)
            + ". Give the name with its parameters, as listed, or a token"
        )

    def lookup(self, x: Any) -> Record | None:
        """The current record of a token, source or entry; None when nothing is persisted.

        One head is read, whatever the size of the store.

        Raises
        ------
        IndexFormatError
            when the store was written by a newer intake-persistplus (the
            redirect serves the original then).
        """
        return self._index().get(self.get_tok(x))

    def record(self, x: Any) -> Record:
        """The current :class:`~intake_persistplus.record.Record` of a token, source or entry.

        Raises
        ------
        NotPersistedError
            (a ``KeyError``) when nothing is persisted under it.
        """
        rec = self.lookup(x)
        if rec is None:
            raise NotPersistedError(f"nothing is persisted under {self.get_tok(x)!r} in {self.path}")
        return rec

    def open(self, record: Record, checked: bool = False) -> Any:
        """Make the persisted source that ``record`` describes, once checked against
        its version (:func:`.copies.as_written`, :func:`.copies.open_copy`);
        ``checked``: ``record`` came from :meth:`servable`."""
        loc = self._loc()
        return open_copy(record if checked else as_written(record, loc), loc)

    # -- the mapping ---------------------------------------------------------------
    def records(self) -> dict[str, Record]:
        """Every entry's current record, by token: one pass over ``cat.yaml``
        (brought up to date first), no version opened."""
        return self._index().records()

    def listing(self) -> dict[str, Listed]:
        """What ``intake-persist list`` shows of every entry, by token (decoded only
        for the entries changed since the last listing: see :mod:`.index.listing`)."""
        return self._index().listing()

    def __iter__(self) -> Iterator[str]:
        return iter(self._index().tokens())

    def keys(self) -> list[str]:
        return self._index().tokens()

    def __len__(self) -> int:
        return len(self._index())

    def __contains__(self, item: Any) -> bool:
        try:
            return self.lookup(item) is not None
        except AmbiguousNameError:
            return True
        except (TypeError, ValueError):
            return False

    def __getitem__(self, token: Any) -> Any:
        return self.open(self.record(token))

    def get(self, token: Any, default: Any = None) -> Any:
        try:
            return self[token]
        except AmbiguousNameError:
            raise
        except NotPersistedError:
            return default

    def items(self) -> Iterator[tuple[str, Any]]:
        for token in self:
            rec = self.lookup(token)
            if rec is not None:
                yield token, self.open(rec)

    def needs_refresh(self, source: Any) -> bool:
        """True when ``source`` has no persisted copy or its copy has expired."""
        rec = self.lookup(self.get_tok(source))
        return rec is None or rec.expired()

    def backtrack(self, x: Any) -> Any:
        """Recreate the original source of a persisted (or exported) source or token.

        Name, description and metadata are restored, so the result has the same
        token as the original (unless the original had credentials in its
        ``storage_options``, which are never stored).
        """
        md = getattr(x, "metadata", None)
        info = md if isinstance(md, dict) and "original_source" in md else self.record(x).metadata()
        return recreate(info, x)

    # -- writing ---------------------------------------------------------------
    def add(self, source: Any, ttl: Any = None, keep: int | None = None,
            revalidate: bool | str = True, **kwargs: Any) -> Any:
        """Persist ``source`` (see ``DataSource.persist``) and return the persisted source."""
        from .containers import get_persister

        ttl = config.validate_ttl(ttl)
        keep = config.validate_keep(keep)
        revalidate = config.validate_revalidate(revalidate)
        config.persist_keep()  # bad settings are reported before anything is written
        config.prune_grace()
        check_recordable(kwargs)
        check_not_a_copy(source)
        persister = get_persister(getattr(source, "container", None))
        if hasattr(persister, "check_kwargs"):
            persister.check_kwargs(dict(kwargs))
        return self._write(source, tokenize(source), persister, ttl, keep, kwargs, revalidate)

    def _write(self, source, token, persister, ttl, keep, kwargs, revalidate=True,
               came_from=(None, None)) -> Any:
        """Write a version, then publish it; ``keep=None`` keeps the entry's ``keep``."""
        loc = self._writable(fold_edits=False)
        try:
            upstreams = built_from(source, self.get_tok, self.lookup, token)  # before any data is read
            with self._writing(f"write a new version of {token}"):
                record = write_version(loc, source, token, persister, ttl, keep, kwargs, revalidate,
                                       came_from, upstreams, self.lookup)
        except FileNotFoundError as e:
            if loc.path_of(token) not in f"{e.filename} {e}":
                raise  # the original's files, not the store's
            raise PersistConflictError(
                f"{token} was removed, or the store at {self.path} cleared, while this persist "
                "was writing; nothing was published: persist again"
            ) from e

        def still_there(rec: Record, old: Record | None) -> Record:
            """Under the source's lock: the version is all there (one listing), and
            its size is known; data identical to ``old``'s is shared with it."""
            files = loc.find(token, rec.version)
            removed = self._index().removed_at(token)
            if not any(path.endswith("/" + RECORD) for path in files) or (
                removed is not None and removed >= version_time(rec.version)
            ):
                raise PersistConflictError(
                    f"{rec.label} ({token}) was removed, or the store at {self.path} "
                    "cleared, while this persist was writing; nothing was published: persist again"
                )
            return share(dataclasses.replace(  # the moves an entry made are its own: kept
                rec, size=sum(int(i.get("size") or 0) for i in files.values() if i.get("type") == "file"),
                rekeys=old.rekeys if old is not None else 0), old, plan)

        plan = prepare(loc, record, self.lookup(token)) if loc.local else None  # before any lock
        try:
            with self._writing(f"publish version {record.version} of {token} in the index"):
                record = self._index().put(record, check=still_there, inherit_keep=keep is None)
        except BaseException:
            with contextlib.suppress(Exception):  # never published: never served, so it goes
                loc.rm(token, record.version)
            raise
        logger.info("persisted %s as %s/%s", record.original_name, token, record.version)
        if record.keep or config.persist_keep():
            self.prune(token, grace=config.prune_grace())
        if loc.local:  # elsewhere a writer cannot be told dead for hours: left to gc
            self._collect(loc, token)
        return self.open(record, checked=True)  # just written, and found complete under its lock

    def refresh(self, x: Any, original: Any = None, upstream: bool = False, downstream: bool = False,
                not_before: float | None = None) -> Any:
        """Re-persist now, with the same ttl, writer arguments and ``keep``; return the new copy.

        ``original`` is the source to read from; by default it is made again
        (:meth:`original_of`). Refreshes of one source never run at the same
        time; with ``not_before``, a copy written since then is left as it is.
        ``upstream=True`` first refreshes the train leading to ``x``,
        ``downstream=True`` then everything made from it (see
        :meth:`refresh_train`, which says what each step did).
        """
        if upstream or downstream:
            return self.refresh_through(x, upstream, downstream, original)
        token = self.get_tok(x)
        self.record(token)  # nothing persisted: say so before taking any lock
        loc = self._writable()
        with self._writing(f"lock {token} for its refresh"), loc.refresh_lock(token):
            current = self.lookup(token) if not_before is not None else None
            if current is not None and self.done_since(current, not_before):
                return self.open(current)  # written or checked since, by someone else
            return self._refresh(token, original)

    def _refresh(self, token: str, original: Any) -> Any:
        from .containers import get_persister

        record = self.record(token)
        if original is None:
            original = self.original_of(record)
        persister = get_persister(record.container or original.container)
        return self._write(
            original, record.token, persister, record.ttl, record.keep, dict(record.persist_kwargs),
            record.revalidate, (record.catalog, record.entry),
        )

    def remove(self, source_or_token: Any, delfiles: bool = True) -> bool:
        """Forget a persisted source; with ``delfiles`` also delete all its versions.

        Returns False when nothing was persisted under it.
        """
        token = self.get_tok(source_or_token)
        loc = self._loc()
        with self._writing(f"remove {token}"):
            # the files go while the entry's lock is held: a persist of the same
            # source publishes either before (and is removed) or after (and finds
            # its version gone, and says so); no entry is left naming deleted files
            return self._index().delete(token, then=(lambda: loc.rm(token)) if delfiles else None)

    def __repr__(self) -> str:
        return f"<PersistStore at {self.path!r}>"


#: The store singleton, also ``intake.container.persist.store``.
store = PersistStore()
