"""What is patched in intake, as a table: (target, attribute, replacement).

:func:`intake_persistplus.activate.activate` checks the whole table before it
changes anything, keeps every original value, and
:func:`~intake_persistplus.activate.deactivate` puts them back. Nothing here
imports pandas, dask, pyarrow, zarr or s3fs: this runs at ``import intake``.

==========================================  =============================  ==========================
target                                      attribute                      replacement
==========================================  =============================  ==========================
``intake.source.base:DataSourceBase``       ``__new__``, ``__setstate__``  keep a copy of the
                                                                           arguments, as made
``intake.catalog.entry:CatalogEntry``       ``__call__``                   understands ``persist_mode=``
``intake.source.base:DataSourceBase``       ``persist``, ``export``,       the source API
                                            ``get_persisted``,
                                            ``is_persisted``,
                                            ``has_been_persisted``
``intake.source.base:DataSourceBase``       ``configure_new``,             back through the entry
                                            ``__call__``, ``get``
``intake.catalog.local:YAMLFileCatalog``    ``_load``                      a store's ``cat.yaml`` is
                                                                           brought up to date first
``intake.container``                        ``register_container``         registers persisters
``intake.container``                        ``persist``                    module with ``store``
``intake_xarray.base:IntakeXarray...``      the same source API, plus      applied when
                                            ``__new__``, ``__dask_tokenize__``,
                                            ``metadata``                   intake_xarray is imported
==========================================  =============================  ==========================
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import json
import types
from dataclasses import dataclass
from typing import Any

from . import source_api

#: a target's attribute that did not exist before it was patched
MISSING = object()


@dataclass(frozen=True)
class Patch:
    """Set ``attribute`` of ``target`` (``"module"`` or ``"module:Class"``) to ``value``."""

    target: str
    attribute: str
    value: Any

    def resolve(self) -> Any:
        """The object to patch (raises ImportError/AttributeError if it is gone)."""
        module, _, qualname = self.target.partition(":")
        obj = importlib.import_module(module)
        for part in qualname.split(".") if qualname else ():
            obj = getattr(obj, part)
        return obj


def _source_api(target: str, call_name: str | None) -> list[Patch]:
    patches = [
        Patch(target, "persist", source_api.persist),
        Patch(target, "get_persisted", source_api.get_persisted),
        Patch(target, "export", source_api.export),
        Patch(target, "is_persisted",
              property(source_api.is_persisted, doc=source_api.is_persisted.__doc__)),
        Patch(target, "has_been_persisted",
              property(source_api.has_been_persisted, doc=source_api.has_been_persisted.__doc__)),
    ]
    if call_name is not None:
        original = getattr(Patch(target, call_name, None).resolve(), call_name)
        new = source_api.make_configure_new(original)
        patches += [Patch(target, "__call__", new), Patch(target, "get", new)]
        if call_name == "configure_new":
            patches.append(Patch(target, "configure_new", new))
    return patches


# -- the arguments a source was made with, kept as they were -----------------------------
def copied(value: Any, depth: int = 0) -> Any:
    """A copy of the dicts, lists and tuples in ``value`` (same types, same
    order); anything else is shared."""
    if depth > 64:
        return value
    kind = type(value)
    if kind is dict or kind is collections.OrderedDict:
        return kind((k, copied(v, depth + 1)) for k, v in value.items())
    if kind is list or kind is tuple:
        return kind(copied(v, depth + 1) for v in value)
    return value


def _mixin() -> type:
    from intake.utils import DictSerialiseMixin

    return DictSerialiseMixin


def _source_new(cls, *args: Any, **kwargs: Any) -> Any:
    """intake's ``DictSerialiseMixin.__new__``, keeping a copy of the arguments.

    intake keeps the very objects a source's ``__init__`` is given: the
    ``metadata`` dict a catalog entry passes becomes ``source.metadata``, which
    ``discover()`` updates with the schema's ``extra_metadata`` and a derived
    source's first read gives a ``target``. Its token, ``repr`` and pickle
    (which are made from those arguments) changed with them; a copy keeps them
    as the source was made.
    """
    obj = _mixin().__new__(cls, *args, **kwargs)
    obj._captured_init_args = copied(args)
    obj._captured_init_kwargs = copied(kwargs)
    return obj


def _source_setstate(self, state: Any) -> None:
    """intake's ``__setstate__`` (it remakes the source from its arguments),
    then a copy of those arguments, as :func:`_source_new` keeps."""
    _mixin().__setstate__(self, state)
    self._captured_init_args = copied(self._captured_init_args)
    self._captured_init_kwargs = copied(self._captured_init_kwargs)


def intake_patches(persist_module: types.ModuleType) -> list[Patch]:
    """The patches made at activation (intake itself)."""
    from .containers import register_container

    base = "intake.source.base:DataSourceBase"
    yaml_cat = "intake.catalog.local:YAMLFileCatalog"
    load = Patch(yaml_cat, "_load", None).resolve()._load
    return [
        Patch(base, "__new__", _source_new),
        Patch(base, "__setstate__", _source_setstate),
        Patch("intake.catalog.entry:CatalogEntry", "__call__", source_api.entry_call),
        Patch(yaml_cat, "_load", source_api.make_catalog_load(load)),
        *_source_api(base, "configure_new"),
        Patch("intake.container", "register_container", register_container),
        Patch("intake.container", "persist", persist_module),
    ]


# -- intake-xarray's adapter sources (not DataSource subclasses) ------------------------------
XARRAY_ADAPTER = "intake_xarray.base:IntakeXarraySourceAdapter"


def _adapter_new(cls, *args: Any, **kwargs: Any) -> Any:
    obj = object.__new__(cls)
    obj._captured_init_args = copied(args)
    obj._captured_init_kwargs = copied(kwargs)
    return obj


def _adapter_tokenize(self) -> str:
    """A deterministic token: class, init arguments and name (like intake's sources)."""
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


def xarray_patches() -> list[Patch]:
    """The patches made when intake_xarray is imported (its adapter sources)."""
    cls = Patch(XARRAY_ADAPTER, "", None).resolve()
    patches = [
        Patch(XARRAY_ADAPTER, "__new__", _adapter_new),
        Patch(XARRAY_ADAPTER, "__dask_tokenize__", _adapter_tokenize),
    ]
    if "metadata" not in cls.__dict__:
        patches.append(
            Patch(XARRAY_ADAPTER, "metadata", property(_adapter_get_metadata, _adapter_set_metadata))
        )
    return patches + _source_api(XARRAY_ADAPTER, "__call__")


#: modules whose import triggers more patches, and the function that lists them
LAZY = {"intake_xarray": xarray_patches}
