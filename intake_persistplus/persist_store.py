"""PersistStore: a catalog-like view of the persisted sources, and the one
place that writes them.

Data of one persisted version lives in ``<root>/<token>/<version>/data``; next
to it, ``record.yaml`` repeats its index entry so that a store can be
inspected or rebuilt from its folders. ``<root>/cat.yaml`` is the index.
A persist writes into a staging folder, renames it into place, then publishes
the index entry, so a reader never sees a half-written version.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

from . import config
from .index import INDEX_NAME, CorruptIndexError, Index, LocalBackend, dump_block
from .record import CATALOG_DIR, Record, is_token, new_version_id, plain

logger = logging.getLogger(__name__)


class PersistWarning(UserWarning):
    """Something about persistence went wrong, and the data was served anyway."""


class NotPersistedError(KeyError):
    """The store holds nothing for this source or token."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


class PersistPathError(OSError):
    """The persist location cannot be created or written."""


class AlreadyPersistedError(ValueError):
    """A persisted source cannot itself be persisted."""


def tokenize(obj: Any) -> str:
    from dask.base import tokenize as _tok

    return _tok(obj)


def is_persisted_source(source: Any) -> bool:
    md = getattr(source, "metadata", None)
    return isinstance(md, dict) and "original_tok" in md and "persist_version" in md


def _source_state(source: Any) -> dict:
    """``{cls, args, kwargs}`` of how ``source`` was made, YAML-safe."""
    from intake.utils import classname

    return {
        "cls": classname(source),
        "args": plain(list(getattr(source, "_captured_init_args", ()))),
        "kwargs": plain(dict(getattr(source, "_captured_init_kwargs", {}))),
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


class PersistStore:
    """The persisted sources of one persist location, as a catalog-like mapping.

    Keys are tokens (``dask.base.tokenize(original)``), values are the
    persisted sources. ``path=None`` follows ``intake.conf["persist_path"]``
    (``INTAKE_PERSIST_PATH``) at every operation.
    """

    def __init__(self, path: str | None = None):
        self._path = path
        self._indexes: dict[str, Index] = {}
        self._lock = threading.RLock()

    # -- location --------------------------------------------------------------
    @property
    def path(self) -> str:
        """The root folder of the store now in use."""
        if self._path is not None:
            p = os.fspath(self._path)
            return p.rstrip("/") if "://" in p else os.path.abspath(os.path.expanduser(p))
        return config.persist_path()

    def _index(self, root: str | None = None) -> Index:
        root = root or self.path
        with self._lock:
            idx = self._indexes.get(root)
            if idx is None:
                if "://" in root:
                    raise NotImplementedError(
                        f"remote persist path {root!r}: remote stores are not supported yet"
                    )
                idx = self._indexes[root] = Index(LocalBackend(root))
            return idx

    def _writable_root(self) -> str:
        root = self.path
        try:
            os.makedirs(root, exist_ok=True)
            self._index(root).ensure()
        except OSError as e:
            raise PersistPathError(
                f"cannot use persist path {root!r} ({e.strerror or e}); set "
                "INTAKE_PERSIST_PATH or intake.conf['persist_path'] to a folder you can write"
            ) from e
        return root

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
        """The record of ``token``, or None; a corrupt index warns and gives None."""
        if not os.path.exists(os.path.join(self.path, INDEX_NAME)) and "://" not in self.path:
            return None
        return self._record(token, quiet=True)

    def is_empty(self) -> bool:
        """True when there is no index or it has no entries (cheap: no token needed)."""
        try:
            return len(self._index()) == 0
        except (CorruptIndexError, NotImplementedError):
            return False

    def open(self, record: Record) -> Any:
        """Make the persisted source that ``record`` describes.

        Only drivers registered with intake are built; paths must stay inside
        the store.
        """
        from intake.source import registry

        if record.driver not in registry:
            raise ValueError(
                f"persisted entry {record.token} needs intake driver {record.driver!r}, "
                "which is not installed"
            )
        root = self.path
        args = self._expand(dict(record.args), root)
        args["metadata"] = record.metadata()
        cls = registry[record.driver]
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
        tok = self.get_tok(token)
        record = self._record(tok)
        if record is None:
            raise NotPersistedError(f"nothing is persisted under {tok!r} in {self.path}")
        return self.open(record)

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
        """The :class:`~intake_persistplus.record.Record` of a token or source."""
        tok = self.get_tok(x)
        rec = self._record(tok)
        if rec is None:
            raise NotPersistedError(f"nothing is persisted under {tok!r} in {self.path}")
        return rec

    def get_tok(self, x: Any) -> str:
        """The store key for a token, an original source, a persisted source or an entry."""
        if isinstance(x, str):
            if not is_token(x):
                raise ValueError(f"{x!r} is not a store token (32 hexadecimal characters)")
            return x
        md = getattr(x, "metadata", None)
        if is_persisted_source(x):
            return md["original_tok"]
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
        token as the original.
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

    # -- writing ---------------------------------------------------------------
    def add(self, source: Any, ttl: Any = None, **kwargs: Any) -> Any:
        """Persist ``source`` (see ``DataSource.persist``) and return the persisted source."""
        from .containers import get_persister

        ttl = config.validate_ttl(ttl)
        if is_persisted_source(source):
            raise AlreadyPersistedError(
                f"{getattr(source, 'name', source)!r} is already a persisted source; to "
                "re-persist, call store.refresh(source), or persist the original: "
                "cat.<entry>(persist_mode='never').persist()"
            )
        container = getattr(source, "container", None)
        persister = get_persister(container)
        if hasattr(persister, "check_kwargs"):
            persister.check_kwargs(dict(kwargs))
        token = tokenize(source)
        root = self._writable_root()
        return self._write(source, token, root, persister, ttl, kwargs)

    def _write(self, source, token, root, persister, ttl, kwargs) -> Any:
        version = new_version_id()
        tokdir = os.path.join(root, token)
        staging = os.path.join(tokdir, f".staging-{version}")
        final = os.path.join(tokdir, version)
        os.makedirs(staging, exist_ok=True)
        try:
            driver, args = persister.write(source, f"{staging}/data", **kwargs)
            args = plain(args)
            args = _reroot(args, staging, f"{CATALOG_DIR}/{token}/{version}")
            record = Record(
                token=token,
                driver=driver,
                args=args,
                container=str(getattr(source, "container", "")),
                original_name=getattr(source, "name", None),
                original_description=getattr(source, "description", None),
                original_metadata=plain(dict(getattr(source, "metadata", None) or {})),
                original_source=_source_state(source),
                timestamp=time.time(),
                ttl=ttl,
                persist_kwargs=plain(dict(kwargs)),
                version=version,
                description=f"persisted copy of {getattr(source, 'name', None) or token}",
            )
            with open(os.path.join(staging, "record.yaml"), "w") as f:
                f.write(dump_block(token, record.to_entry()))
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            self._index(root).put(record)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        self._drop_old_versions(tokdir, keep=version)
        logger.info("persisted %s as %s/%s", record.original_name, token, version)
        return self.open(record)

    @staticmethod
    def _drop_old_versions(tokdir: str, keep: str) -> None:
        try:
            names = os.listdir(tokdir)
        except OSError:
            return
        for name in names:
            if name != keep and not name.startswith(".staging-"):
                shutil.rmtree(os.path.join(tokdir, name), ignore_errors=True)

    def refresh(self, x: Any, original: Any = None) -> Any:
        """Re-persist now, with the same ttl and writer arguments; return the new copy.

        ``original`` is the source to read from; by default it is recreated with
        :meth:`backtrack`.
        """
        from .containers import get_persister

        record = self.record(x)
        if original is None:
            original = self.backtrack(record.token)
        persister = get_persister(record.container or original.container)
        root = self._writable_root()
        return self._write(
            original, record.token, root, persister, record.ttl, dict(record.persist_kwargs)
        )

    def remove(self, source_or_token: Any, delfiles: bool = True) -> bool:
        """Forget a persisted source; with ``delfiles`` also delete its data.

        Returns False when nothing was persisted under it.
        """
        token = self.get_tok(source_or_token)
        root = self.path
        removed = self._index(root).delete(token)
        if delfiles:
            tokdir = os.path.join(root, token)
            if os.path.dirname(os.path.abspath(tokdir)) == os.path.abspath(root):
                shutil.rmtree(tokdir, ignore_errors=True)
        return removed

    def clear(self) -> None:
        """Remove every persisted source and the data folders of the store."""
        root = self.path
        if not os.path.isdir(root):
            return
        self._index(root).clear()
        for name in os.listdir(root):
            if is_token(name) and os.path.isdir(os.path.join(root, name)):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)

    def __repr__(self) -> str:
        return f"<PersistStore at {self.path!r}>"


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
