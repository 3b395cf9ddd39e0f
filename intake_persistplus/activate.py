"""The one place where intake is patched. Imported by intake itself at
``import intake`` (entry point group ``intake.imports``), so it must stay cheap:
nothing here imports pandas, dask, pyarrow, zarr or s3fs.

What it changes, all idempotently:

* ``CatalogEntry.__call__`` understands ``persist_mode=`` (and intake 0.7's
  ``persist=``) and hands out the persisted copy where the mode says so;
* ``DataSourceBase`` (and intake-xarray's adapter sources, when that package is
  imported) gain ``persist``, ``get_persisted``, ``is_persisted``,
  ``has_been_persisted``; calling a source with new arguments goes back
  through its catalog entry with the arguments it was made with;
* ``intake.container.register_container`` registers persisters, and
  ``intake.container.persist`` is the module holding ``store`` and
  ``PersistStore``.
"""

from __future__ import annotations

import importlib.abc
import sys
import types
from typing import Any

_state: dict[str, Any] = {"active": False, "originals": {}}


# -- the source API -------------------------------------------------------------
def persist(self, ttl: float | None = None, keep: int | None = None, **kwargs: Any) -> Any:
    """Persist this source's data to the persist store; return the persisted source.

    Parameters
    ----------
    ttl : float or None
        Seconds the persisted copy stays fresh; ``None`` never expires, ``0``
        is always expired. Catalog accesses in ``default`` mode re-persist an
        expired copy on first data access.
    keep : int or None
        How many versions of this source to keep (newest first). ``None``
        keeps what an earlier ``persist(keep=...)`` of this source chose, else
        follows ``intake.conf["persist_keep"]``, else keeps every version.
    **kwargs
        Passed to the container's writer (for dataframes:
        ``pyarrow.parquet.write_table`` arguments such as ``compression``).

    Raises
    ------
    ValueError
        for an invalid ``ttl`` or ``keep``, when this source is itself a
        persisted copy, or when its container has no persister
        (``NoPersisterError``).
    TypeError
        for writer arguments the container's writer does not take.
    OSError
        (``PersistPathError``) when the persist location cannot be written.
    """
    from .persist_store import store

    return store.add(self, ttl=ttl, keep=keep, **kwargs)


def get_persisted(self, at: Any = None) -> Any:
    """The persisted copy of this source: the newest, or the one current ``at`` a time.

    Parameters
    ----------
    at : datetime, date or float, optional
        A point in time (epoch seconds, or a datetime; naive means local
        time): the version that was the newest then is returned.

    Raises
    ------
    KeyError
        (``NotPersistedError``) when nothing is persisted for it (at that time).
    """
    from .persist_store import NotPersistedError, is_persisted_source, store, tokenize

    if is_persisted_source(self):
        if at is None:
            return self
        return store.open(store.version_at(self.metadata["original_tok"], at).record)
    token = tokenize(self)
    if at is not None:
        return store.open(store.version_at(token, at).record)
    record = store.lookup(token)
    if record is None:
        raise NotPersistedError(
            f"{getattr(self, 'name', None) or 'this source'!r} has not been persisted "
            f"(token {token}); call .persist() first"
        )
    return store.open(record)


def export(self, path: str, overwrite: bool = False, **kwargs: Any) -> str:
    """Write this source's data to ``path`` in its container's format.

    The persist store is not touched. Returns YAML text: a ``sources:`` block
    with one entry that opens the copy; its metadata names the original
    (``original_tok``, ``original_name``, ``original_metadata``,
    ``original_source``). See :func:`intake_persistplus.export.export`.
    """
    from .export import export as _export

    return _export(self, path, overwrite=overwrite, **kwargs)


def _is_persisted(self) -> bool:
    """True for a persisted copy, i.e. a source read from the persist store."""
    from .persist_store import is_persisted_source

    return is_persisted_source(self)


def _has_been_persisted(self) -> bool:
    """True for an original source that has a copy in the persist store."""
    from .persist_store import is_persisted_source, store

    if is_persisted_source(self):
        return False
    try:
        return store.find(self)[1] is not None
    except Exception:  # an unusable store has nothing (catalog access warns about it)
        return False


# -- catalog access ---------------------------------------------------------------
def _call_mode(kwargs: dict, persist: Any = None) -> str | None:
    from .config import validate_mode

    mode = kwargs.pop("persist_mode", None)
    legacy = kwargs.pop("persist", None) if persist is None else persist
    if mode is not None:
        validate_mode(mode, "the call's persist_mode")
    if legacy is not None:
        validate_mode(legacy, "the call's persist")
        if mode is not None and legacy != mode:
            raise ValueError(
                f"persist={legacy!r} and persist_mode={mode!r} disagree; give only persist_mode"
            )
        mode = legacy
    return mode


def _entry_call(self, persist: Any = None, **kwargs: Any) -> Any:
    from .config import PersistSettingError, resolve_mode
    from .redirect import redirect

    call_mode = _call_mode(kwargs, persist)
    version = kwargs.pop("persist_version", None)
    source = self.get(**kwargs)
    source._entry = self
    source._passed_kwargs = list(kwargs)
    if not hasattr(source, "__dict__"):
        return source
    source._pp_call = dict(kwargs)
    if version is not None and call_mode != "never":  # never wins over a pinned version
        from .persist_store import store
        from .redirect import _tag

        pinned = _tag(store.open_version(source, str(version)), source)
        pinned._pp_call = dict(kwargs, persist_version=version)
        return pinned
    try:
        return redirect(source, self, resolve_mode(call_mode, self))
    except PersistSettingError as e:
        if call_mode is not None:
            raise  # the caller's own value: say so at once
        # a bad value in the catalog or configuration: raised when data is asked for,
        # so that a call's persist_mode= (which intake applies on a second build) can
        # still get past it
        from .redirect import deferred, raise_on_use

        return deferred(source, raise_on_use(e))


def original_from_entry(entry: Any, **kwargs: Any) -> Any:
    """The original source of a catalog entry, never redirected."""
    return entry(persist_mode="never", **kwargs)


def _make_configure_new(original):
    def configure_new(self, **kwargs: Any) -> Any:
        """Create a new instance of this source with altered arguments.

        A source that came from a catalog entry is made again by that entry,
        with the arguments it was first made with updated by ``kwargs``;
        ``persist_mode=`` chooses which copy comes back.
        """
        mode = _call_mode(kwargs)
        entry = self.__dict__.get("_entry")
        if entry is not None and "_pp_call" in self.__dict__:
            kw = dict(self.__dict__["_pp_call"])
            kw.update(kwargs)
            if mode is not None:
                kw["persist_mode"] = mode
            return entry(**kw)
        return original(self, **kwargs)

    configure_new.__wrapped__ = original
    return configure_new


def _patch_source_class(cls: type, call_name: str | None = None) -> None:
    """Give ``cls`` the source API; with ``call_name``, route ``__call__``/``get``
    (and ``configure_new``) through the catalog entry the source came from."""
    if cls.__dict__.get("_pp_patched"):
        return
    cls.persist = persist
    cls.get_persisted = get_persisted
    cls.export = export
    cls.is_persisted = property(_is_persisted, doc=_is_persisted.__doc__)
    cls.has_been_persisted = property(_has_been_persisted, doc=_has_been_persisted.__doc__)
    if call_name is not None:
        new = _make_configure_new(cls.__dict__[call_name])
        cls.__call__ = cls.get = new
        if call_name == "configure_new":
            cls.configure_new = new
    cls._pp_patched = True


# -- intake-xarray's adapter sources (not DataSource subclasses) ------------------------------
def _adapter_new(cls, *args: Any, **kwargs: Any) -> Any:
    obj = object.__new__(cls)
    obj._captured_init_args = args
    obj._captured_init_kwargs = kwargs
    return obj


def _adapter_tokenize(self) -> str:
    """A deterministic token: class, init arguments and name (like intake's sources)."""
    import hashlib
    import json

    from intake.utils import classname

    state = [
        classname(self),
        list(getattr(self, "_captured_init_args", ())),
        getattr(self, "_captured_init_kwargs", {}),
        getattr(self, "name", None),
    ]
    text = json.dumps(state, sort_keys=True, default=repr)
    return hashlib.md5(text.encode()).hexdigest()


def _adapter_get_metadata(self) -> dict:
    md = self.__dict__.get("_pp_metadata")
    if md is None:
        reader = self.__dict__.get("reader")
        md = getattr(reader, "metadata", None)
        if md is None:
            md = getattr(getattr(reader, "data", None), "metadata", None)
        if md is None:
            md = {}
        self.__dict__["_pp_metadata"] = md
    return md


def _adapter_set_metadata(self, value: dict) -> None:
    self.__dict__["_pp_metadata"] = value


def _patch_intake_xarray(module: types.ModuleType | None = None) -> None:
    base = sys.modules.get("intake_xarray.base")
    cls = getattr(base, "IntakeXarraySourceAdapter", None)
    if not isinstance(cls, type) or cls.__dict__.get("_pp_patched"):
        return
    cls.__new__ = _adapter_new
    cls.__dask_tokenize__ = _adapter_tokenize
    if "metadata" not in cls.__dict__:
        cls.metadata = property(_adapter_get_metadata, _adapter_set_metadata)
    _patch_source_class(cls, call_name="__call__")


def _lazy_patch_for(name: str):
    if name == "intake_xarray" or name.startswith("intake_xarray."):
        return _patch_intake_xarray
    return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.patch(module)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patch a module right after it is first imported, without importing it earlier."""

    def find_spec(self, name, path, target=None):
        patch = _lazy_patch_for(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


# -- activation ---------------------------------------------------------------------
def _container_persist_module() -> types.ModuleType:
    mod = types.ModuleType(
        "intake.container.persist",
        "Persistence for intake (provided by intake-persistplus): ``store``, ``PersistStore``.",
    )

    def __getattr__(name: str) -> Any:
        from . import persist_store as store_mod

        if name in ("store", "PersistStore", "PersistWarning", "NotPersistedError"):
            return getattr(store_mod, name)
        raise AttributeError(name)

    mod.__getattr__ = __getattr__
    mod.__all__ = ["store", "PersistStore"]
    return mod


def activate() -> None:
    """Install persistence into intake. Safe to call any number of times."""
    if _state["active"]:
        return
    import intake.container
    from intake.catalog.entry import CatalogEntry
    from intake.source.base import DataSourceBase

    from .containers import register_container

    _state["originals"]["CatalogEntry.__call__"] = CatalogEntry.__call__
    CatalogEntry.__call__ = _entry_call
    _patch_source_class(DataSourceBase, call_name="configure_new")
    intake.container.register_container = register_container
    mod = _container_persist_module()
    sys.modules["intake.container.persist"] = mod
    intake.container.persist = mod
    _patch_intake_xarray()  # if it is imported already
    sys.meta_path.insert(0, _PatchOnImport())
    _state["active"] = True


activate()
