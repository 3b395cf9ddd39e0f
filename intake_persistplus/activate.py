"""Switching persistence on and off. Imported by intake itself at ``import
intake`` (entry point group ``intake.imports``), so it must stay cheap: nothing
here imports pandas, dask, pyarrow, zarr or s3fs.

:func:`activate` applies the patch table of :mod:`intake_persistplus.patches`:
it checks every target first and changes nothing unless all are there, keeps
the original values, and :func:`deactivate` restores them exactly. Patches
for packages that are not imported yet (intake-xarray) are applied right
after their first import, by an import hook, without importing them earlier.
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
import types
from typing import Any

logger = logging.getLogger(__name__)

_state: dict[str, Any] = {"active": False, "saved": [], "finder": None, "lazy_done": set()}


def _persist_module() -> types.ModuleType:
    mod = types.ModuleType(
        "intake.container.persist",
        "Persistence for intake (provided by intake-persistplus): ``store``, ``PersistStore``.",
    )

    def __getattr__(name: str) -> Any:
        from . import errors, persist_store

        if name in ("store", "PersistStore"):
            return getattr(persist_store, name)
        if name in ("PersistWarning", "NotPersistedError"):
            return getattr(errors, name)
        raise AttributeError(name)

    mod.__getattr__ = __getattr__
    mod.__all__ = ["store", "PersistStore"]
    return mod


def _apply(patches: list) -> None:
    """Apply every patch, or none: all targets are resolved before anything changes."""
    from .patches import MISSING

    targets = [p.resolve() for p in patches]  # raises before anything is changed
    for patch, target in zip(patches, targets, strict=True):
        saved = target.__dict__.get(patch.attribute, MISSING)
        _state["saved"].append((target, patch.attribute, saved))
        setattr(target, patch.attribute, patch.value)


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader, name: str):
        self.loader, self.name = loader, name

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _apply_lazy(self.name)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Apply a package's patches right after it is first imported."""

    def find_spec(self, name, path, target=None):
        from .patches import LAZY

        if name not in LAZY or name in _state["lazy_done"]:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, name)
                return spec
        return None


def _apply_lazy(name: str) -> None:
    from .patches import LAZY

    if not _state["active"] or name in _state["lazy_done"]:
        return
    try:
        _apply(LAZY[name]())
    except (ImportError, AttributeError) as e:  # a version of the package we do not know
        logger.warning("intake-persistplus cannot add persistence to %s: %s", name, e)
        return
    _state["lazy_done"].add(name)


def activate() -> None:
    """Install persistence into intake. Safe to call any number of times."""
    if _state["active"]:
        return
    from .patches import LAZY, intake_patches

    module = _persist_module()
    _apply(intake_patches(module))
    sys.modules["intake.container.persist"] = module
    _state["active"] = True
    for name in LAZY:  # packages imported already
        if name in sys.modules:
            _apply_lazy(name)
    _state["finder"] = _PatchOnImport()
    sys.meta_path.insert(0, _state["finder"])


def deactivate() -> None:
    """Undo :func:`activate`: intake behaves as if the plugin were not installed."""
    if not _state["active"]:
        return
    from .patches import MISSING

    for target, attribute, saved in reversed(_state["saved"]):
        if saved is MISSING:
            if attribute in target.__dict__:
                delattr(target, attribute)
        else:
            setattr(target, attribute, saved)
    _state["saved"].clear()
    _state["lazy_done"].clear()
    if _state["finder"] in sys.meta_path:
        sys.meta_path.remove(_state["finder"])
    _state["finder"] = None
    sys.modules.pop("intake.container.persist", None)
    _state["active"] = False


def is_active() -> bool:
    """True while persistence is installed into intake."""
    return _state["active"]


activate()
