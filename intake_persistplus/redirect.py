"""Which source does a catalog access hand out: the original, the persisted
copy, or a copy whose refresh (or first persist) waits until data is asked for.

Deferred work is carried by a thin subclass of the source's own class (so
``isinstance`` and ``repr`` are unchanged). Its data methods (``read``,
``to_dask``, ``read_partition``, ``discover`` ...) first do the pending work,
then turn the object into the source that resulted and carry on. Nothing else
(attributes, ``yaml()``, ``describe()``, calling it with new arguments) does
any work.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

from . import config
from .persist_store import PersistWarning, store

logger = logging.getLogger(__name__)

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


class Deferred:
    """Mixin for a source whose data methods first run ``self._pp_action()``."""

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


def _rebuild(cls: type, state: Any) -> Any:
    obj = object.__new__(cls)
    if hasattr(obj, "__setstate__"):
        obj.__setstate__(state)
    else:  # classes without __setstate__ (Python 3.10)
        obj.__dict__.update(state)
    return obj


def _reduce_ex(self, protocol):
    """Pickle as the plain source (the pending work stays with this process)."""
    base = self._pp_base
    clone = object.__new__(base)
    clone.__dict__.update(
        {k: v for k, v in self.__dict__.items() if k not in ("_pp_action", "_pp_lock")}
    )
    getstate = getattr(clone, "__getstate__", None)
    return _rebuild, (base, getstate() if getstate is not None else dict(clone.__dict__))


Deferred.__reduce_ex__ = _reduce_ex


def _forward(name: str):
    def method(self, *args, **kwargs):
        self._pp_resolve()
        return getattr(self, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name in DATA_METHODS:
    setattr(Deferred, _name, _forward(_name))

_deferred_classes: dict[type, type] = {}
_NO_LOCK = contextlib.nullcontext()


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
    for key in ("_entry", "_passed_kwargs", "_pp_call", "cat", "catalog_object"):
        if key in obj.__dict__ and key not in state:
            state[key] = obj.__dict__[key]
    obj.__dict__.clear()
    obj.__dict__.update(state)
    obj.__class__ = type(other)


def _describe_error(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _label(original: Any, token: str) -> str:
    return f"{getattr(original, 'name', None) or 'source'!r} ({token})"


def _refresh_action(original: Any, token: str) -> Callable[[], Any]:
    def action():
        try:
            return store.refresh_expired(token, original=original)
        except Exception as e:
            warnings.warn(
                f"refreshing the expired persisted copy of {_label(original, token)} failed "
                f"({_describe_error(e)}); serving the expired copy",
                PersistWarning,
                stacklevel=4,
            )
            return None

    return action


def raise_on_use(error: BaseException) -> Callable[[], Any]:
    """An action that reports a setting error each time data is asked for."""

    def action():
        raise error

    return action


def _first_persist_action(original: Any, spec: dict) -> Callable[[], Any]:
    def action():
        kwargs = dict(spec)
        ttl = kwargs.pop("ttl", None)
        try:
            return store.add(original, ttl=ttl, **kwargs)
        except Exception as e:
            warnings.warn(
                f"persisting {getattr(original, 'name', None)!r} as its catalog entry "
                f"declares failed ({_describe_error(e)}); serving the original",
                PersistWarning,
                stacklevel=4,
            )
            return original

    return action


_warned_paths: set = set()


def _warn_unusable_store(e: BaseException) -> None:
    """One PersistWarning per persist location that cannot be read."""
    path = store.path
    if path in _warned_paths:
        return
    _warned_paths.add(path)
    warnings.warn(
        f"the persist store at {path!r} cannot be used ({_describe_error(e)}); serving "
        "original sources. Check INTAKE_PERSIST_PATH / intake.conf['persist_path'] "
        "and the storage options",
        PersistWarning,
        stacklevel=4,
    )


def _tag(served: Any, original: Any) -> Any:
    """Give a served source the entry links of the original, so that calling it
    with new arguments goes back through the catalog entry."""
    for key in ("_entry", "_passed_kwargs", "_pp_call", "cat"):
        if key in original.__dict__:
            served.__dict__[key] = original.__dict__[key]
    return served


def redirect(original: Any, entry: Any, mode: str) -> Any:
    """The source a catalog access in ``mode`` should hand out for ``original``."""
    if mode == "never" or getattr(original, "container", None) == "catalog":
        return original
    spec = config.declared_persist(entry)
    try:
        token, record = store.find(original)  # an empty store needs no token
    except Exception as e:  # an unusable persist location must not break catalogs
        _warn_unusable_store(e)
        return original
    if record is None:
        if spec is not None and mode == "default":
            return _tag(deferred(original, _first_persist_action(original, spec)), original)
        return original
    try:
        persisted = store.open(record)
    except Exception as e:
        warnings.warn(
            f"cannot open the persisted copy of {_label(original, token)} "
            f"({_describe_error(e)}); serving the original",
            PersistWarning,
            stacklevel=3,
        )
        return original
    persisted = _tag(persisted, original)
    if mode == "always" or not record.expired():
        return persisted
    return deferred(persisted, _refresh_action(original, token))


def _deferred_persist(self, *args, **kwargs):
    # an explicit persist() replaces whatever work was pending
    with self.__dict__.get("_pp_lock") or _NO_LOCK:
        if self.__dict__.pop("_pp_action", None) is not None:
            self.__class__ = self._pp_base
    return self.persist(*args, **kwargs)


Deferred.persist = _deferred_persist
