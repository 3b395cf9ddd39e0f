"""PersistStore: a catalog-like view of the persisted sources, and the one
place that writes them.

Layout of a store (local folder or any fsspec URL)::

    <root>/cat.yaml                       the index: newest version of every source
    <root>/<token>/<version>/data         the data of one version
    <root>/<token>/<version>/record.yaml  that version's index entry, written last
    <root>/<token>/<version>/.incomplete  present only while the version is written

A persist writes the data, then ``record.yaml``, then publishes the index
entry; readers only follow the index, so they never see a half-written
version. Every version is kept unless retention (``keep``) says otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from . import config
from .errors import (  # noqa: F401 (re-exported)
    AlreadyPersistedError,
    CorruptIndexError,
    NotPersistedError,
    PersistPathError,
    PersistWarning,
)
from .index import FsspecBackend, Index, LocalBackend, dump_block, lease, local_lock
from .record import (
    CATALOG_DIR,
    Record,
    is_token,
    is_version_id,
    new_version_id,
    plain,
    version_time,
)
from .secrets import scrub

logger = logging.getLogger(__name__)


def tokenize(obj: Any) -> str:
    from dask.base import tokenize as _tok

    return _tok(obj)


def is_persisted_source(source: Any) -> bool:
    md = getattr(source, "metadata", None)
    return isinstance(md, dict) and "original_tok" in md and "persist_version" in md


def _source_state(source: Any) -> dict:
    """``{cls, args, kwargs}`` of how ``source`` was made, YAML-safe, credentials removed.

    Positional arguments keep their positions; each is scrubbed under its
    parameter name, so a positional ``storage_options`` loses its secrets too.
    """
    import inspect

    from intake.utils import classname

    args = plain(list(getattr(source, "_captured_init_args", ())))
    try:
        names = [p for p in inspect.signature(type(source).__init__).parameters if p != "self"]
    except (TypeError, ValueError):
        names = []
    for i, value in enumerate(args):
        name = names[i] if i < len(names) else None
        args[i] = scrub({name: value})[name] if name else scrub(value)
    return {
        "cls": classname(source),
        "args": args,
        "kwargs": scrub(plain(dict(getattr(source, "_captured_init_kwargs", {})))),
    }


def _registered_class(clsname: str) -> Any:
    """The class named ``clsname`` if intake's driver registry (or an imported module)
    vouches for it; nothing is imported on the index's word alone."""
    import sys

    from intake.source import registry
    from intake.source.base import DataSourceBase

    for name, item in registry.drivers.enabled_plugins().items():
        value = getattr(item, "value", item)
        if isinstance(value, str):
            if value.replace(":", ".") == clsname:
                return registry[name]
        elif isinstance(value, type) and f"{value.__module__}.{value.__name__}" == clsname:
            return value
    mod, _, attr = clsname.rpartition(".")
    cls = getattr(sys.modules.get(mod), attr, None)
    if isinstance(cls, type) and (
        issubclass(cls, DataSourceBase) or hasattr(cls, "read") and hasattr(cls, "container")
    ):
        return cls
    raise ValueError(
        f"cannot recreate the original source: class {clsname!r} is not a driver registered "
        "with intake (install or register its plugin)"
    )


@dataclass
class VersionInfo:
    """One stored version of a persisted source."""

    token: str
    version: str
    timestamp: float
    size: int
    current: bool
    record: Record

    def to_dict(self) -> dict:
        return {
            "token": self.token,
            "version": self.version,
            "timestamp": self.timestamp,
            "time": _dt.datetime.fromtimestamp(self.timestamp, _dt.timezone.utc).isoformat(),
            "size": self.size,
            "current": self.current,
            "ttl": self.record.ttl,
        }


def _epoch(at: Any) -> float:
    """Seconds since the epoch for a datetime (naive means local time), date or number."""
    if isinstance(at, _dt.datetime):
        return at.timestamp()
    if isinstance(at, _dt.date):
        return _dt.datetime(at.year, at.month, at.day).timestamp()
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        return float(at)
    if isinstance(at, str):
        try:
            return _epoch(_dt.datetime.fromisoformat(at))
        except ValueError:
            pass
    raise TypeError(
        f"at={at!r}: give a datetime, a date, an ISO 8601 string or epoch seconds"
    )


def _seconds(delta: Any, name: str) -> float:
    if isinstance(delta, _dt.timedelta):
        return delta.total_seconds()
    if isinstance(delta, (int, float)) and not isinstance(delta, bool) and delta >= 0:
        return float(delta)
    raise ValueError(f"{name}={delta!r}: give seconds >= 0 or a datetime.timedelta")


def validate_keep(keep: Any) -> int | None:
    """``None`` (keep every version) or a whole number >= 1."""
    if keep is None:
        return None
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep={keep!r}: give None (keep all versions) or a whole number >= 1")
    return keep


INCOMPLETE = ".incomplete"
REFRESH_LOCK = ".refresh.lock"
#: seconds a remote refresh lease lasts (and others wait for it) at most
REFRESH_LEASE = 1800.0
#: retention after a persist may leave versions replaced less than this many seconds
#: ago, for readers who were just handed them (``intake.conf["persist_prune_grace"]``;
#: by default ``keep`` means exactly that)
PRUNE_GRACE = 0.0
RECORD = "record.yaml"
#: an unfinished version whose writer cannot be checked is removed after this long
STALE_WRITE_SECONDS = 6 * 3600


class Location:
    """A store root on a file system: local folder or fsspec URL."""

    def __init__(self, url: str, storage_options: dict | None = None):
        import fsspec

        self.url = url
        self.storage_options = dict(storage_options or {})
        self.fs, self.root = fsspec.core.url_to_fs(url, **self.storage_options)
        self.root = self.root.rstrip("/") or "/"
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def url_of(self, *parts: str) -> str:
        return "/".join([self.url.rstrip("/"), *parts])

    def path_of(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def read_text(self, *parts: str) -> str:
        return self.fs.cat_file(self.path_of(*parts)).decode("utf-8")

    def write_text(self, text: str, *parts: str) -> None:
        self.fs.pipe_file(self.path_of(*parts), text.encode("utf-8"))

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path_of(*parts))

    def listdir(self, *parts: str) -> list[str]:
        path = self.path_of(*parts)
        try:
            entries = self.fs.ls(path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "directory"]

    def rm(self, *parts: str) -> None:
        path = self.path_of(*parts)
        try:
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
        if self.local:
            self.fs.invalidate_cache()

    def du(self, *parts: str) -> int:
        try:
            return int(self.fs.du(self.path_of(*parts), total=True))
        except FileNotFoundError:
            return 0


class PersistStore:
    """The persisted sources of one persist location, as a catalog-like mapping.

    Keys are tokens (``dask.base.tokenize(original)``), values are the
    persisted sources (newest version). ``path=None`` follows
    ``intake.conf["persist_path"]`` (``INTAKE_PERSIST_PATH``) at every operation;
    ``storage_options=None`` follows ``intake.conf["persist_storage_options"]``
    (fsspec's own configuration applies as well).
    """

    def __init__(self, path: str | None = None, storage_options: dict | None = None):
        self._path = path
        self._storage_options = storage_options
        self._locations: dict[tuple, Location] = {}
        self._indexes: dict[tuple, Index] = {}
        self._lock = threading.RLock()

    # -- location --------------------------------------------------------------
    @property
    def path(self) -> str:
        """The root of the store now in use (a local path or a URL)."""
        if self._path is not None:
            p = os.fspath(self._path)
            return p.rstrip("/") if "://" in p else os.path.abspath(os.path.expanduser(p))
        return config.persist_path()

    @property
    def storage_options(self) -> dict:
        if self._storage_options is not None:
            return dict(self._storage_options)
        return config.persist_storage_options()

    def _key(self) -> tuple:
        return (self.path, json.dumps(self.storage_options, sort_keys=True, default=repr))

    def _loc(self) -> Location:
        key = self._key()
        with self._lock:
            loc = self._locations.get(key)
            if loc is None:
                loc = self._locations[key] = Location(key[0], self.storage_options)
            return loc

    def _index(self) -> Index:
        key = self._key()
        with self._lock:
            idx = self._indexes.get(key)
            if idx is None:
                loc = self._loc()
                backend = LocalBackend(loc.root) if loc.local else FsspecBackend(loc.fs, loc.root)
                idx = self._indexes[key] = Index(backend, rebuild=lambda: self._rebuild(loc))
            return idx

    def _writable(self) -> Location:
        try:
            loc = self._loc()
            loc.fs.makedirs(loc.root, exist_ok=True)
            self._index().ensure()
        except CorruptIndexError:
            raise
        except Exception as e:  # OSError, or ImportError/ValueError for an unusable URL
            reason = getattr(e, "strerror", None) or f"{type(e).__name__}: {e}"
            raise PersistPathError(
                f"cannot use persist path {self.path!r} ({reason}); set INTAKE_PERSIST_PATH "
                "or intake.conf['persist_path'] to a location you can write"
            ) from e
        return loc

    def _expand(self, value: Any, root: str) -> Any:
        if isinstance(value, str):
            return value.replace(CATALOG_DIR, root)
        if isinstance(value, dict):
            return {k: self._expand(v, root) for k, v in value.items()}
        if isinstance(value, list):
            return [self._expand(v, root) for v in value]
        return value

    # -- reading ---------------------------------------------------------------
    def _record(self, token: str, quiet: bool = False) -> Record | None:
        try:
            return self._index().get(token)
        except CorruptIndexError as e:
            if not quiet:
                raise
            warnings.warn(f"{e}; serving original sources", PersistWarning, stacklevel=4)
            return None

    def lookup(self, token: str) -> Record | None:
        """The newest record of ``token``, or None; a corrupt index warns and gives None."""
        return self._record(token, quiet=True)

    def find(self, source: Any) -> tuple[str | None, Record | None]:
        """``(token, record)`` for an original source, with one look at the index.

        When the store is empty the token is not even computed (``(None, None)``).
        A corrupt index warns and finds nothing.
        """
        index = self._index()
        try:
            if not index.snapshot().slots:
                return None, None
        except CorruptIndexError as e:
            warnings.warn(f"{e}; serving original sources", PersistWarning, stacklevel=4)
            return None, None
        except OSError:
            return None, None
        token = tokenize(source)
        return token, index.get(token, refresh=False)

    def is_empty(self) -> bool:
        """True when there is no index or it has no entries (cheap: no token needed)."""
        try:
            return len(self._index()) == 0
        except CorruptIndexError:
            return False
        except OSError:
            return True

    def open(self, record: Record) -> Any:
        """Make the persisted source that ``record`` describes.

        Only drivers registered with intake are built, and only with paths
        inside this store.
        """
        from intake.source import registry

        if record.driver in registry:
            cls = registry[record.driver]
        elif "." in record.driver:  # intake 0.7 wrote class paths; only registered ones do
            try:
                cls = _registered_class(record.driver)
            except ValueError:
                cls = None
        else:
            cls = None
        if cls is None:
            raise ValueError(
                f"persisted entry {record.token} needs intake driver {record.driver!r}, "
                "which is not installed or not registered with intake"
            )
        loc = self._loc()
        args = self._expand(dict(record.args), loc.url.rstrip("/"))
        for key, value in args.items():
            if key in ("urlpath", "path") and isinstance(value, str):
                folder = loc.url_of(record.token)
                inside = value.rstrip("/") == folder or (
                    value.startswith(folder + "/") and ".." not in value[len(folder) :].split("/")
                )
                if not inside:
                    raise ValueError(
                        f"persisted entry {record.token} points outside its folder "
                        f"{folder!r}: {value!r}"
                    )
        args.pop("storage_options", None)  # never the index's word: the store's own
        if loc.storage_options:
            args["storage_options"] = loc.storage_options
        args["metadata"] = record.metadata()
        source = cls(**args)
        source.name = record.token
        source.description = record.description
        return source

    def __iter__(self) -> Iterator[str]:
        return iter(self._index().tokens())

    def keys(self) -> list[str]:
        return self._index().tokens()

    def __len__(self) -> int:
        return len(self._index())

    def __contains__(self, item: Any) -> bool:
        try:
            token = self.get_tok(item)
        except (TypeError, ValueError):
            return False
        return self._index().get(token) is not None

    def __getitem__(self, token: Any) -> Any:
        return self.open(self.record(token))

    def get(self, token: Any, default: Any = None) -> Any:
        try:
            return self[token]
        except NotPersistedError:
            return default

    def items(self) -> Iterator[tuple[str, Any]]:
        for token in self:
            rec = self._record(token)
            if rec is not None:
                yield token, self.open(rec)

    def record(self, x: Any) -> Record:
        """The newest :class:`~intake_persistplus.record.Record` of a token or source."""
        tok = self.get_tok(x)
        rec = self._record(tok)
        if rec is None:
            raise NotPersistedError(f"nothing is persisted under {tok!r} in {self.path}")
        return rec

    def get_tok(self, x: Any) -> str:
        """The store key for a token, an original source, a persisted source or an entry."""
        if isinstance(x, str):
            if not is_token(x):
                raise ValueError(
                    f"{x!r} is not a store token (lower-case hexadecimal, as made by "
                    "dask.base.tokenize)"
                )
            return x
        if is_persisted_source(x):
            return x.metadata["original_tok"]
        from intake.catalog.entry import CatalogEntry

        if isinstance(x, CatalogEntry):
            from .activate import original_from_entry

            x = original_from_entry(x)
        if hasattr(x, "read") or hasattr(x, "_captured_init_kwargs"):
            return tokenize(x)
        raise TypeError(f"cannot find a store token for {x!r}")

    def needs_refresh(self, source: Any) -> bool:
        """True when ``source`` has no persisted copy or its copy has expired."""
        rec = self._record(self.get_tok(source))
        return rec is None or rec.expired()

    def backtrack(self, x: Any) -> Any:
        """Recreate the original source of a persisted (or exported) source or token.

        Name, description and metadata are restored, so the result has the same
        token as the original (unless the original had credentials in its
        ``storage_options``, which are never stored).
        """
        md = getattr(x, "metadata", None)
        if isinstance(md, dict) and "original_source" in md:
            info = md
        else:
            info = self.record(x).metadata()
        state = info.get("original_source") or {}
        if not isinstance(state, dict) or not isinstance(state.get("cls"), str):
            raise ValueError(f"no original source is recorded for {x!r}")
        cls = _registered_class(state["cls"])
        src = cls(*(state.get("args") or []), **(state.get("kwargs") or {}))
        src.name = info.get("original_name")
        src.description = info.get("original_description")
        if "metadata" not in (state.get("kwargs") or {}) and info.get("original_metadata"):
            src.metadata = dict(info["original_metadata"])
        return src

    def _rebuild(self, loc: Location) -> list[Record]:
        """The newest complete version of every source, from the ``record.yaml`` files."""
        records = []
        for token in loc.listdir():
            if not is_token(token):
                continue
            found = [
                r for name in loc.listdir(token) if not name.startswith(".")
                and (r := self._read_version(loc, token, name)) is not None and r.version == name
            ]
            if found:
                records.append(max(found, key=lambda r: (r.timestamp, r.version)))
        return records

    # -- versions ----------------------------------------------------------------
    def _read_version(self, loc: Location, token: str, version: str) -> Record | None:
        try:
            doc = yaml.safe_load(loc.read_text(token, version, RECORD))
            return Record.from_entry(token, doc.get(token) if isinstance(doc, dict) else None)
        except FileNotFoundError:
            return None
        except Exception as e:  # a damaged record: that version is skipped
            logger.warning("skipping version %s/%s: %s", token, version, e)
            return None

    def versions(self, source_or_token: Any) -> list[VersionInfo]:
        """Every stored version of a source, oldest first (newest last)."""
        token = self.get_tok(source_or_token)
        loc = self._loc()
        current = self._record(token)
        found: dict[str, Record] = {}
        for name in loc.listdir(token):
            if name.startswith("."):
                continue
            rec = self._read_version(loc, token, name)
            if rec is not None and rec.version == name:
                found[name] = rec
        if current is not None:
            found.setdefault(current.version, current)
        out = []
        for name, rec in sorted(found.items(), key=lambda kv: (kv[1].timestamp, kv[0])):
            size = loc.du(token, name) if loc.exists(token, name) else 0
            is_current = current is not None and current.version == name
            out.append(VersionInfo(token, name, rec.timestamp, size, is_current, rec))
        return out

    def version_at(self, source_or_token: Any, at: Any) -> VersionInfo:
        """The version that was current at ``at`` (a datetime or epoch seconds)."""
        when = _epoch(at)
        token = self.get_tok(source_or_token)
        versions = self.versions(token)
        older = [v for v in versions if v.timestamp <= when]
        if not older:
            first = (
                f"; the first was written at {_dt.datetime.fromtimestamp(versions[0].timestamp).isoformat()}"
                if versions else ""
            )
            raise NotPersistedError(
                f"no version of {token} existed at {_dt.datetime.fromtimestamp(when).isoformat()}{first}"
            )
        return older[-1]

    def open_version(self, source_or_token: Any, version: str) -> Any:
        """The persisted source of one version, by its id."""
        token = self.get_tok(source_or_token)
        found = {v.version: v for v in self.versions(token)}
        if version not in found:
            have = ", ".join(found) or "none"
            raise NotPersistedError(
                f"no version {version!r} of {token}; stored versions: {have}"
            )
        return self.open(found[version].record)

    def prune(
        self,
        source_or_token: Any = None,
        keep: int | None = None,
        older_than: Any = None,
        dry_run: bool = False,
        grace: float = 0.0,
    ) -> list[VersionInfo]:
        """Remove old versions and their files; the newest version always stays.

        Parameters
        ----------
        source_or_token
            one source, or ``None`` for every source in the store.
        keep
            keep this many newest versions; by default each source's own
            ``keep`` (from ``persist(keep=...)``) or ``intake.conf["persist_keep"]``.
        older_than
            also remove versions older than this (seconds or ``timedelta``).
        dry_run
            only report what would be removed.
        grace
            leave versions that were replaced less than this many seconds ago.

        Returns
        -------
        list of VersionInfo
            the versions removed (or that would be).
        """
        keep = validate_keep(keep)
        limit = None if older_than is None else time.time() - _seconds(older_than, "older_than")
        tokens = [self.get_tok(source_or_token)] if source_or_token is not None else list(self)
        loc = self._loc()
        removed = []
        for token in tokens:
            versions = self.versions(token)
            current = self._record(token)
            n = keep or (current.keep if current else None) or config.persist_keep()
            drop = versions[:-n] if n else []
            if limit is not None:
                drop += [v for v in versions if v.timestamp < limit and v not in drop]
            replaced_at = {a.version: b.timestamp for a, b in zip(versions, versions[1:], strict=False)}
            for v in drop:
                if v.current or v is versions[-1]:
                    continue
                if grace and time.time() - replaced_at.get(v.version, 0) < grace:
                    continue
                removed.append(v)
                if not dry_run:
                    loc.rm(token, v.version)
        return removed

    def du(self) -> dict:
        """Bytes on disk: ``{"entries": {token: bytes}, "total": bytes}``."""
        loc = self._loc()
        entries = {name: loc.du(name) for name in loc.listdir() if is_token(name)}
        return {"entries": entries, "total": sum(entries.values())}

    # -- writing ---------------------------------------------------------------
    def add(self, source: Any, ttl: Any = None, keep: int | None = None, **kwargs: Any) -> Any:
        """Persist ``source`` (see ``DataSource.persist``) and return the persisted source."""
        from .containers import get_persister

        ttl = config.validate_ttl(ttl)
        keep = validate_keep(keep)
        config.persist_keep()  # bad settings are reported before anything is written
        config.prune_grace(PRUNE_GRACE)
        _check_recordable(kwargs)
        if is_persisted_source(source):
            name = source.metadata.get("original_name") or "<entry>"
            raise AlreadyPersistedError(
                f"this is already the persisted copy of {name!r} (token "
                f"{source.metadata['original_tok']}); to write a new version, call "
                f"store.refresh(source), or persist the original: "
                f"cat.{name}(persist_mode='never').persist()"
            )
        persister = get_persister(getattr(source, "container", None))
        if hasattr(persister, "check_kwargs"):
            persister.check_kwargs(dict(kwargs))
        token = tokenize(source)
        if keep is None:  # retention chosen earlier for this source stays in force
            previous = self._record(token, quiet=True)
            keep = previous.keep if previous is not None else None
        return self._write(source, token, persister, ttl, keep, kwargs)

    def _write(self, source, token, persister, ttl, keep, kwargs) -> Any:
        loc = self._writable()
        version = new_version_id()
        marker = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        loc.fs.makedirs(loc.path_of(token, version), exist_ok=True)
        try:
            loc.write_text(marker, token, version, INCOMPLETE)
            driver, args = persister.write(
                source, loc.url_of(token, version, "data"), storage_options=loc.storage_options or None, **kwargs
            )
            args = scrub(plain(args))
            args.pop("storage_options", None)  # supplied by the store when it opens the data
            args = _reroot(args, loc.url_of(token, version), f"{CATALOG_DIR}/{token}/{version}")
            record = Record(
                token=token,
                driver=driver,
                args=args,
                container=str(getattr(source, "container", "")),
                original_name=getattr(source, "name", None),
                original_description=getattr(source, "description", None),
                original_metadata=scrub(plain(dict(getattr(source, "metadata", None) or {}))),
                original_source=_source_state(source),
                timestamp=time.time(),
                ttl=ttl,
                persist_kwargs=scrub(plain(dict(kwargs))),
                version=version,
                keep=keep,
                parameters=scrub(plain(dict(source.__dict__.get("_pp_call") or {}))),
                description=f"persisted copy of {getattr(source, 'name', None) or token}",
            )
            loc.write_text(dump_block(token, record.to_entry()), token, version, RECORD)
            loc.fs.rm(loc.path_of(token, version, INCOMPLETE))
        except BaseException:
            loc.rm(token, version)  # an unfinished version is never left to be served
            with contextlib.suppress(Exception):
                if not loc.fs.ls(loc.path_of(token), detail=False):
                    loc.rm(token)  # nor an empty folder for a source never persisted
            raise
        # the version is complete from here on: a failure to publish leaves it on disk
        # (listed by versions(), used by an index rebuild), never half-deleted
        self._index().put(record)
        logger.info("persisted %s as %s/%s", record.original_name, token, version)
        if keep or config.persist_keep():
            self.prune(token, grace=config.prune_grace(PRUNE_GRACE))
        self._gc_token(loc, token)
        return self.open(record)

    @contextlib.contextmanager
    def _source_lock(self, loc: Location, token: str) -> Iterator[None]:
        """Held while one process refreshes one source, so that others wait for it."""
        loc.fs.makedirs(loc.path_of(token), exist_ok=True)
        if loc.local:
            with local_lock(os.path.join(loc.root, token, REFRESH_LOCK)):
                yield
        else:
            with lease(loc.fs, loc.path_of(token, REFRESH_LOCK), f"the refresh of {token}",
                       ttl=REFRESH_LEASE, timeout=REFRESH_LEASE):
                yield

    def refresh_expired(self, token: str, original: Any = None) -> Any:
        """Refresh ``token`` unless someone did while we waited; return the fresh copy.

        One refresh per source at a time: concurrent callers (threads or
        processes) wait for the one under way and then get its result.
        """
        loc = self._writable()
        with self._source_lock(loc, token):
            current = self.lookup(token)
            if current is not None and not current.expired():
                return self.open(current)
            return self._refresh(token, original)

    def refresh(self, x: Any, original: Any = None) -> Any:
        """Re-persist now, with the same ttl, writer arguments and ``keep``; return the new copy.

        ``original`` is the source to read from; by default it is recreated with
        :meth:`backtrack`. Refreshes of one source never run at the same time.
        """
        token = self.get_tok(x)
        with self._source_lock(self._writable(), token):
            return self._refresh(token, original)

    def _refresh(self, token: str, original: Any) -> Any:
        from .containers import get_persister

        record = self.record(token)
        if original is None:
            original = self.backtrack(record.token)
        persister = get_persister(record.container or original.container)
        return self._write(
            original, record.token, persister, record.ttl, record.keep, dict(record.persist_kwargs)
        )

    def remove(self, source_or_token: Any, delfiles: bool = True) -> bool:
        """Forget a persisted source; with ``delfiles`` also delete all its versions.

        Returns False when nothing was persisted under it.
        """
        token = self.get_tok(source_or_token)
        removed = self._index().delete(token)
        if delfiles:
            self._loc().rm(token)
        return removed

    def clear(self) -> None:
        """Remove every persisted source and the data folders of the store."""
        loc = self._loc()
        if not loc.exists():
            return
        self._index().clear()
        for name in loc.listdir():
            if is_token(name):
                loc.rm(name)

    # -- leftovers of interrupted writes ---------------------------------------------
    def _abandoned(self, loc: Location, token: str, version: str) -> bool:
        """True only for a version folder whose writer is certainly gone.

        Only folders named like the versions this package writes are considered.
        A writer on this machine is gone when its process is; elsewhere, when
        the version (its id says when it started) is over six hours old.
        Unsure means no.
        """
        if not is_version_id(version) or loc.exists(token, version, RECORD):
            return False
        try:
            info = json.loads(loc.read_text(token, version, INCOMPLETE))
        except FileNotFoundError:
            # the writer may have just finished (record written, then marker removed)
            if loc.exists(token, version, RECORD):
                return False
            info = {}
        except ValueError:
            info = {}
        if info.get("host") == socket.gethostname() and info.get("pid"):
            try:
                os.kill(int(info["pid"]), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, OverflowError, ValueError):
                return False
            return False  # alive: never taken from a running writer
        return time.time() - version_time(version) > STALE_WRITE_SECONDS

    def _gc_token(self, loc: Location, token: str) -> list[str]:
        current = self._record(token, quiet=True)
        # one listing of the source's folder tells which versions lack their record
        complete, seen = set(), set()
        prefix = loc.path_of(token) + "/"
        try:
            found = loc.fs.find(loc.path_of(token), withdirs=True, detail=True)
        except FileNotFoundError:
            found = {}
        for path, info in found.items():
            rel = path[len(prefix):] if path.startswith(prefix) else ""
            name, _, rest = rel.partition("/")
            if not name or (not rest and info.get("type") != "directory"):
                continue  # files straight in the source's folder (intake 0.7's layout)
            seen.add(name)
            if rest == RECORD:
                complete.add(name)
        gone = []
        for name in sorted(seen - complete):
            if current is not None and name == current.version:
                continue
            if self._abandoned(loc, token, name):
                loc.rm(token, name)
                gone.append(f"{token}/{name}")
        return gone

    def gc(self) -> list[str]:
        """Delete what interrupted persists left behind; return what was removed.

        A version folder without ``record.yaml`` whose writer is gone (its
        process died on this machine, or it started over six hours ago) is
        never served and is removed here. Persists also do this for their own
        source.
        """
        loc = self._loc()
        gone = []
        for token in loc.listdir():
            if is_token(token):
                gone += self._gc_token(loc, token)
        return gone

    def __repr__(self) -> str:
        return f"<PersistStore at {self.path!r}>"


def _check_recordable(kwargs: dict) -> None:
    """Writer arguments are recorded for refreshes, so they must be plain data."""

    def is_plain(v: Any) -> bool:
        if v is None or isinstance(v, (bool, int, float, str)):
            return True
        if isinstance(v, (list, tuple)):
            return all(is_plain(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and is_plain(x) for k, x in v.items())
        return False

    for key, value in kwargs.items():
        if not is_plain(value):
            raise TypeError(
                f"writer argument {key}={value!r} cannot be recorded for later refreshes: "
                "give plain values (numbers, strings, lists, dicts), e.g. a codec's "
                "configuration as a dict"
            )


def _reroot(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return new + value[len(old) :] if value.startswith(old) else value
    if isinstance(value, dict):
        return {k: _reroot(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_reroot(v, old, new) for v in value]
    return value


#: The store singleton, also ``intake.container.persist.store``.
store = PersistStore()
