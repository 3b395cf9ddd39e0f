"""Original sources: their store key, how they were made, and making them again.

A persisted copy records how its original was made (class, positional and
keyword arguments, name, description, metadata, without credentials), so
that refreshes and :meth:`PersistStore.backtrack` can make the same original
again, with the same token. Only classes that intake's driver registry (or an
already imported module) vouches for are ever built from a record.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any

from .record import plain
from .secrets import scrub


def tokenize(obj: Any) -> str:
    """The store key of a source: ``dask.base.tokenize`` of the source *as made*
    (:func:`as_made`), so that what reading it changes on the object does not
    change its key."""
    from dask.base import tokenize as _tok

    state = getattr(obj, "__dict__", None)
    if not isinstance(state, dict):
        return _tok(obj)
    token = state.get("_pp_token")
    if isinstance(token, str):
        return token
    made = as_made(obj)
    key = _yaml_key(made)
    token = _TOKENS.get(key) if key is not None else None
    if token is None:
        token = _tok(made)
        if key is not None:
            if len(_TOKENS) >= _TOKENS_MAX:
                _TOKENS.clear()
            _TOKENS[key] = token
    if "_pp_made" in state and "metadata" in (state.get("_captured_init_kwargs") or {}):
        # a catalog entry's source: nothing its token is made from can change any more
        # (the arguments are the plugin's copy), so it is kept (a yaml dump: ~2 ms)
        state["_pp_token"] = token
    return token


#: tokens already made in this process, by :func:`_yaml_key`: a catalog opened
#: again makes new source objects, whose YAML dump (the token) is the same
_TOKENS: dict[tuple, str] = {}
_TOKENS_MAX = 4096
_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made of builtin scalars, lists, tuples and dicts only
    (then its ``repr`` says all its YAML dump says)."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if depth > 32:
        return False
    if kind is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return (kind is list or kind is tuple) and all(_plain(v, depth + 1) for v in value)


def _yaml_key(source: Any) -> tuple | None:
    """What an intake v1 source's token is made from, cheaply: its token is
    ``dask.base.tokenize`` of its ``repr``, a YAML dump (~1 ms, the pure-Python
    emitter) of ``_yaml()``, which is made from its class, name, description,
    metadata and the arguments it was made with; when those are plain data,
    their ``repr`` differs wherever the dump would. None for any other source,
    or one whose ``repr``, ``yaml()``, ``_yaml()`` or token is its own."""
    from intake.source.base import DataSourceBase
    from intake.utils import DictSerialiseMixin

    cls = type(source)
    if not (isinstance(source, DataSourceBase) and cls.__repr__ is DataSourceBase.__repr__
            and cls.yaml is DataSourceBase.yaml and cls._yaml is DataSourceBase._yaml
            and cls.classname is DictSerialiseMixin.classname
            and cls.__dask_tokenize__ is DictSerialiseMixin.__dask_tokenize__):
        return None
    state = source.__dict__
    kwargs = state.get("_captured_init_kwargs")
    if type(kwargs) is not dict:
        return None
    own = ("name", "description") if "metadata" in kwargs else ("name", "description", "metadata")
    made = (state.get("_captured_init_args"), kwargs, *((k in state, state.get(k)) for k in own))
    return (cls, repr(made)) if _plain(made) else None


#: where intake caches a source's token on first use (``DictSerialiseMixin.__tok_cache``)
_INTAKE_TOKEN_CACHE = "_DictSerialiseMixin__tok_cache"


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and isinstance(a, (str, bytes, int, float, bool)) and a == b
    except Exception:  # pragma: no cover - defensive
        return False


@functools.lru_cache(maxsize=256)
def _metadata_position(cls: type) -> int | None:
    """The position of ``metadata`` among the positional parameters of ``cls.__init__``."""
    try:
        names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    except (TypeError, ValueError):
        return None
    return names.index("metadata") if "metadata" in names else None


def made_metadata(source: Any) -> Any:
    """The metadata ``source`` was made with, whatever reading it added since.

    The ``metadata`` argument it was given (a catalog entry always gives one;
    the plugin keeps a copy of the arguments as they were, see
    :mod:`.patches`); else its ``metadata`` without what intake merges into it
    on first data access: the keys of its schema's ``extra_metadata``
    (``discover()``, ``read()`` of intake-parquet and others) and a derived
    source's ``target``, where they still hold those values.
    """
    kwargs = getattr(source, "_captured_init_kwargs", None)
    if isinstance(kwargs, dict) and "metadata" in kwargs:
        return kwargs["metadata"]
    args = getattr(source, "_captured_init_args", None) or ()
    pos = _metadata_position(type(source))
    if pos is not None and pos < len(args):
        return args[pos]
    md = getattr(source, "metadata", None)
    if not isinstance(md, dict):
        return md
    state = getattr(source, "__dict__", {})
    out = dict(md)
    schema = state.get("_schema")
    extra = schema.get("extra_metadata") if isinstance(schema, dict) else None
    for k, v in extra.items() if isinstance(extra, dict) else ():
        if k in out and _same(out[k], v):
            del out[k]
    picked = state.get("_source")
    if "target" in out and picked is not None and out["target"] is getattr(picked, "metadata", None):
        del out["target"]
    return out


def made_as(source: Any) -> tuple[Any, Any]:
    """(name, description) of ``source`` as its maker (a catalog entry) gave
    them: an alias takes its target's description when first read."""
    made = getattr(source, "__dict__", {}).get("_pp_made")
    if isinstance(made, tuple) and len(made) == 2:
        return made
    return getattr(source, "name", None), getattr(source, "description", None)


def as_made(source: Any) -> Any:
    """A shallow clone of ``source`` as it was made: the arguments it was made
    with, :func:`made_metadata`, :func:`made_as`, and no token cached by intake
    (a token intake cached after a ``discover()`` is that of the changed object).

    Objects that are not intake sources are returned as they are.
    """
    state = getattr(source, "__dict__", None)
    if not isinstance(state, dict) or "_captured_init_kwargs" not in state:
        return source
    clone = object.__new__(type(source))
    clone.__dict__.update(state)
    for key in (_INTAKE_TOKEN_CACHE, "_pp_lock", "_pp_token"):
        clone.__dict__.pop(key, None)
    clone.name, clone.description = made_as(source)
    clone.metadata = made_metadata(source)
    return clone


def data_identity(source: Any) -> str:
    """A hash of what decides ``source``'s data: its class and the arguments it
    was made with (user parameters are in them, filled in), without its
    ``metadata`` (where ``persist:`` settings live), name or description, and
    without credentials (which decide who may read, not what is read).

    Two sources with the same identity read the same data, so a copy of one
    serves the other: editing an entry's description or ``persist:`` block
    changes its token but not its identity.
    """
    import hashlib
    import json

    state = source_state(source)
    kwargs = {k: v for k, v in state["kwargs"].items() if k != "metadata"}
    what = {"cls": state["cls"], "args": state["args"], "kwargs": kwargs}
    try:
        text = json.dumps(what, sort_keys=True, default=repr, ensure_ascii=True)
    except (TypeError, ValueError):  # keys of mixed types (dtype={"a": ..., 1: ...}), say
        return tokenize(what)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def is_persisted_source(source: Any) -> bool:
    """True for a source read from a persist store (or an export)."""
    md = getattr(source, "metadata", None)
    return isinstance(md, dict) and "original_tok" in md and "persist_version" in md


def source_state(source: Any) -> dict:
    """``{cls, args, kwargs}`` of how ``source`` was made, YAML-safe, credentials removed.

    Positional arguments keep their positions; each is scrubbed under its
    parameter name, so a positional ``storage_options`` loses its secrets too.
    """
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


def registered_class(clsname: str) -> Any:
    """The class named ``clsname`` if intake's driver registry (or an imported module)
    vouches for it; nothing is imported on a record's word alone.

    Raises
    ------
    ValueError
        when no registered driver or imported source class has that name.
    """
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


def recreate(info: dict, what: Any = None) -> Any:
    """The original source described by a copy's metadata (``original_source``,
    ``original_name``, ``original_description``, ``original_metadata``).

    Name, description and metadata are restored, so the result has the same
    token as the original (unless the original had credentials in its
    ``storage_options``, which are never stored).
    """
    state = info.get("original_source") or {}
    if not isinstance(state, dict) or not isinstance(state.get("cls"), str):
        raise ValueError(f"no original source is recorded for {what!r}")
    cls = registered_class(state["cls"])
    src = cls(*(state.get("args") or []), **(state.get("kwargs") or {}))
    src.name = info.get("original_name")
    src.description = info.get("original_description")
    if "metadata" not in (state.get("kwargs") or {}) and info.get("original_metadata"):
        src.metadata = dict(info["original_metadata"])
    parameters = info.get("original_parameters")
    if isinstance(parameters, dict) and parameters:
        src._pp_call = dict(parameters)  # recorded again by the next persist of it
    return src


def original_from_entry(entry: Any, **kwargs: Any) -> Any:
    """The original source of a catalog entry, never redirected."""
    return entry(persist_mode="never", **kwargs)
