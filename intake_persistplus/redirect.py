"""Which source a catalog access hands out: the original, the persisted copy, a
pinned version, or a copy whose refresh (or first persist) waits until data is
asked for. All the policy of a catalog access lives here, including "warn
and serve the original" when the store cannot help.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

from . import config
from .errors import CorruptIndexError, PersistSettingError, PersistWarning
from .persist_store import store
from .pipeline import refs
from .secrets import scrub_text

logger = logging.getLogger(__name__)

#: the methods of a source that need its data; only these run deferred work
DATA_METHODS = (
    "read",
    "read_chunked",
    "read_partition",
    "to_dask",
    "to_spark",
    "discover",
    "_load_metadata",
    "_get_schema",
    "_get_partition",
    "export",
)
#: attributes that tie a source to the catalog entry it came from
ENTRY_LINKS = ("_entry", "_passed_kwargs", "_pp_call", "cat")

_NO_LOCK = contextlib.nullcontext()


def _rebuild(cls: type, state: Any) -> Any:
    obj = object.__new__(cls)
    if hasattr(obj, "__setstate__"):
        obj.__setstate__(state)
    else:  # classes without __setstate__ (Python 3.10)
        obj.__dict__.update(state)
    return obj


def _forward(name: str) -> Callable:
    def method(self, *args, **kwargs):
        self._pp_resolve()
        return getattr(self, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


class Deferred:
    """Mixin for a source whose data methods first do some pending work.

    A catalog access must be cheap: intake builds a source once in the
    catalog's mode and again with the call's arguments, and listing or
    ``describe()`` never reads data. So the expensive part of a redirect (a
    refresh, a first persist, reporting a bad setting) waits in
    ``_pp_action`` until a data method (:data:`DATA_METHODS`) is called.

    The deferred source is an instance of a thin subclass of the source's own
    class (made by :func:`deferred`), so ``isinstance`` and ``repr`` are those
    of the source. When the work is done the object *changes its class*: to
    the plain class of the source it stood for, or, when the work produced
    another source (a fresh copy, say), to that source's class with that
    source's state (:func:`become`). Every reference a user holds then sees
    the result, and no later call pays for the indirection.
    """

    _pp_base: type

    def _pp_resolve(self) -> None:
        # The action works on the original source object, never on this one, and
        # this object keeps its deferred class until the action is done, so every
        # other thread's data call waits here and then finds the object resolved.
        with self.__dict__.get("_pp_lock") or _NO_LOCK:
            action: Callable[[], Any] | None = self.__dict__.get("_pp_action")
            if action is None:
                return
            result = action()  # if it raises, the work stays pending: tried again next time
            self.__dict__.pop("_pp_action", None)
            if result is not None and result is not self:
                become(self, result)
            else:
                self.__class__ = self._pp_base

    def persist(self, *args: Any, **kwargs: Any) -> Any:
        # an explicit persist() replaces whatever work was pending
        with self.__dict__.get("_pp_lock") or _NO_LOCK:
            self.__dict__.pop("_pp_action", None)
            if isinstance(self, Deferred):
                self.__class__ = self._pp_base
        return self.persist(*args, **kwargs)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickle as the plain source (the pending work stays with this process)."""
        base = self._pp_base
        clone = object.__new__(base)
        clone.__dict__.update(
            {k: v for k, v in self.__dict__.items() if k not in ("_pp_action", "_pp_lock")}
        )
        getstate = getattr(clone, "__getstate__", None)
        return _rebuild, (base, getstate() if getstate is not None else dict(clone.__dict__))

    read = _forward("read")
    read_chunked = _forward("read_chunked")
    read_partition = _forward("read_partition")
    to_dask = _forward("to_dask")
    to_spark = _forward("to_spark")
    discover = _forward("discover")
    _load_metadata = _forward("_load_metadata")
    _get_schema = _forward("_get_schema")
    _get_partition = _forward("_get_partition")
    export = _forward("export")


_deferred_classes: dict[type, type] = {}


def deferred(source: Any, action: Callable[[], Any]) -> Any:
    """A copy of ``source`` whose first data access runs ``action``.

    ``action`` returns the source to serve from then on (or ``None`` to keep
    serving ``source`` itself).
    """
    base = type(source)
    cls = _deferred_classes.get(base)
    if cls is None:
        cls = type(base.__name__, (Deferred, base), {"__module__": base.__module__, "_pp_base": base})
        cls.__qualname__ = base.__qualname__
        _deferred_classes[base] = cls
    out = object.__new__(cls)
    out.__dict__.update(source.__dict__)
    out._pp_action = action
    out._pp_lock = threading.Lock()
    return out


def become(obj: Any, other: Any) -> None:
    """Make ``obj`` the same source as ``other`` (state and class)."""
    state = dict(other.__dict__)
    for key in (*ENTRY_LINKS, "catalog_object"):
        if key in obj.__dict__ and key not in state:
            state[key] = obj.__dict__[key]
    obj.__dict__.clear()
    obj.__dict__.update(state)
    obj.__class__ = type(other)


def tag(served: Any, original: Any) -> Any:
    """Give a served source the entry links of the original, so that calling it
    with new arguments goes back through the catalog entry."""
    for key in ENTRY_LINKS:
        if key in original.__dict__:
            served.__dict__[key] = original.__dict__[key]
    return served


# -- warnings ------------------------------------------------------------------------
def describe_error(e: BaseException) -> str:
    text = scrub_text(" ".join(str(e).split()))
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _label(original: Any, token: str) -> str:
    return f"{getattr(original, 'name', None) or 'source'!r} ({token})"


_warned_paths: set = set()


def _warn_unusable_store(e: BaseException) -> None:
    """One PersistWarning per persist location that cannot be read."""
    path = store.path
    if path in _warned_paths:
        return
    _warned_paths.add(path)
    warnings.warn(
        f"the persist store at {path!r} cannot be used ({describe_error(e)}); serving "
        "original sources. Check INTAKE_PERSIST_PATH / intake.conf['persist_path'] "
        "and the storage options",
        PersistWarning,
        stacklevel=5,
    )


def forget_warnings() -> None:
    """Warn again about unusable persist locations (each is reported once)."""
    _warned_paths.clear()


# -- deferred work -----------------------------------------------------------------------
def _refresh_action(original: Any, token: str, seen: str) -> Callable[[], Any]:
    def action():
        try:
            return store.refresh_expired(token, original=original, seen=seen)
        except Exception as e:
            warnings.warn(
                f"refreshing the expired persisted copy of {_label(original, token)} failed "
                f"({describe_error(e)}); serving the expired copy",
                PersistWarning,
                stacklevel=4,
            )
            return None

    return action


def _train_action(original: Any, token: str, seen: str) -> Callable[[], Any]:
    """Bring the train leading to a downstream copy up to date, then serve it."""

    def action():
        import time

        try:
            outcomes = store.refresh_train(original, policy="stale", original=original,
                                           not_before=time.time())
        except Exception as e:
            warnings.warn(f"the train leading to {_label(original, token)} cannot be refreshed "
                          f"({describe_error(e)}); serving its copy as it is", PersistWarning, stacklevel=4)
            return None
        failed = [o for o in outcomes if o.outcome in ("failed", "skipped")]
        if failed:
            warnings.warn(f"refreshing the train leading to {_label(original, token)} failed at "
                          + "; ".join(f"{o.step} ({o.error})" for o in failed)
                          + "; serving the copies as they are", PersistWarning, stacklevel=4)
        current = store.lookup(token)
        return None if current is None or current.version == seen else store.open(current)

    return action


def _raise_on_use(error: BaseException) -> Callable[[], Any]:
    def action():
        raise error

    return action


def _adopted(original: Any, spec: dict | None) -> Any:
    """The entry of a source with ``original``'s data, moved to its token (see
    :meth:`.PersistStore.adopt`); None when there is none, or it cannot be moved."""
    try:
        return store.adopt(original, spec)
    except CorruptIndexError:
        raise
    except Exception as e:  # a store we may only read, say: the original is read
        logger.info("could not move a copy to %s: %s", getattr(original, "name", None), describe_error(e))
        return None


def _first_persist_action(original: Any, spec: dict) -> Callable[[], Any]:
    def action():
        kwargs = dict(spec)
        ttl = kwargs.pop("ttl", None)
        try:
            if refs(original):  # a step of a pipeline: its upstreams first, as a train
                bad = [o for o in store.refresh_train(original, policy="stale", original=original)
                       if o.outcome in ("failed", "skipped")]
                if bad:
                    raise RuntimeError("; ".join(f"step {o.step} {o.outcome}: {o.error}" for o in bad))
                return store[store.get_tok(original)]
            return store.add(original, ttl=ttl, **kwargs)
        except Exception as e:
            warnings.warn(
                f"persisting {getattr(original, 'name', None)!r} as its catalog entry "
                f"declares failed ({describe_error(e)}); serving the original",
                PersistWarning,
                stacklevel=4,
            )
            return original

    return action


# -- the policy -------------------------------------------------------------------------
def serve(source: Any, entry: Any, call_mode: str | None, version: Any = None) -> Any:
    """The source a catalog access hands out, for the original ``source`` that
    ``entry`` just made.

    ``call_mode`` is the call's own ``persist_mode`` (or None); ``version``
    a pinned ``persist_version``, which only ``persist_mode="never"`` beats.
    A bad mode or ``persist:`` block in the catalog or configuration is
    reported when data is asked for, so that a call's ``persist_mode=``
    (which intake applies on a second build) can still get past it.
    """
    if version is not None and call_mode != "never":
        pinned = tag(store.open_version(source, str(version)), source)
        pinned._pp_call = dict(source.__dict__.get("_pp_call") or {}, persist_version=version)
        return pinned
    try:
        return redirect(source, entry, config.resolve_mode(call_mode, entry))
    except PersistSettingError as e:
        if call_mode is not None:
            raise  # the caller's own value: say so at once
        return deferred(source, _raise_on_use(e))


def redirect(original: Any, entry: Any, mode: str) -> Any:
    """The source a catalog access in ``mode`` should hand out for ``original``."""
    if mode == "never" or getattr(original, "container", None) == "catalog":
        return original
    spec = config.declared_persist(entry)
    try:
        record = store.lookup(original)
        if record is None:
            record = _adopted(original, spec)
        if record is not None:
            record = store.servable(record)  # None: its data is gone, or it was tampered with
            if record is None:
                return original
    except CorruptIndexError as e:
        warnings.warn(f"{e}; serving original sources", PersistWarning, stacklevel=4)
        return original
    except Exception as e:  # an unusable persist location must not break catalogs
        _warn_unusable_store(e)
        return original
    if record is None:
        if spec is not None and mode == "default":
            return tag(deferred(original, _first_persist_action(original, spec)), original)
        return original
    try:
        persisted = store.open(record, checked=True)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # SystemExit from a module an entry made import, too
        warnings.warn(
            f"cannot open the persisted copy of {_label(original, record.token)} "
            f"({describe_error(e)}); serving the original",
            PersistWarning,
            stacklevel=4,
        )
        return original
    persisted = tag(persisted, original)
    if mode == "always":
        return persisted
    if record.built_from:  # a step of a pipeline: its upstreams first (heads only, unless stale)
        try:
            stale = store.train_stale(record)
        except Exception as e:
            logger.info("cannot look at the train of %s: %s", record.token, describe_error(e))
            stale = False
        return deferred(persisted, _train_action(original, record.token, record.version)) if stale \
            else persisted
    if not record.expired():
        return persisted
    return deferred(persisted, _refresh_action(original, record.token, record.version))
