"""Persisters: one per container type, found by name and imported lazily.

A persister writes the data of a source into a folder of the store (or of an
export) and says which intake driver reads it back. The contract:

.. code-block:: python

    class MyPersister:
        container = "mycontainer"    # the DataSource.container it handles
        drivers = ("mydriver",)      # the intake drivers write() may return

        def write(self, source, path, storage_options=None, **kwargs):
            '''Write source's data under ``path`` (a folder URL that does not exist
            yet). Return ``(driver, args)``: an intake driver name registered with
            intake and the keyword arguments that open the data again; use
            ``path`` verbatim inside ``args`` where the data location goes.
            Do not put storage_options in ``args``: the store supplies its own
            when it opens the data.
            It may return ``(driver, args, content)`` instead: ``content``
            is ``_common.content_hash`` of the files written (each one's path
            in ``path``, size and SHA-256, computed while writing it with
            ``_common.Hashing``). A refresh whose content equals the version
            it replaces then shares that version's files instead of keeping
            a second copy.'''

        def check_kwargs(self, kwargs):     # optional
            '''Raise TypeError for writer arguments ``write`` would refuse; called
            before anything is written.'''

Built-in persisters are listed in :data:`BUILTIN`. Third parties add theirs with
an entry point in the group ``intake_persistplus.containers`` (name: the
container; value: ``module:attribute`` of a persister class or instance), or at
run time with :func:`register_container` (also reachable as
``intake.container.register_container``).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from ..errors import NoPersisterError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "intake_persistplus.containers"

#: container name -> where its built-in persister lives and what to install when
#: importing it fails (as fsspec's ``known_implementations`` does)
BUILTIN: dict[str, dict[str, str]] = {
    "dataframe": {
        "class": "intake_persistplus.containers.dataframe:DataFramePersister",
        "install": "pip install intake-persistplus",
    },
    "ndarray": {
        "class": "intake_persistplus.containers.ndarray:ArrayPersister",
        "install": "pip install intake-persistplus[array]",
    },
    "numpy": {
        "class": "intake_persistplus.containers.ndarray:ArrayPersister",
        "install": "pip install intake-persistplus[array]",
    },
    "xarray": {
        "class": "intake_persistplus.containers.xarray:XarrayPersister",
        "install": "pip install intake-persistplus[xarray]",
    },
    "python": {
        "class": "intake_persistplus.containers.python:PythonPersister",
        "install": "pip install intake-persistplus",
    },
}

#: the imports a built-in persister needs to write (checked when it is first used)
_NEEDS = {
    "dataframe": ("dask.dataframe", "pyarrow.parquet"),
    "ndarray": ("zarr",),
    "numpy": ("zarr",),
    "xarray": ("xarray", "zarr"),
    "python": (),
}


#: the intake drivers the built-in persisters write, as named in an index
BUILTIN_DRIVERS = frozenset({"persisted_parquet", "persisted_python", "persisted_zarr", "ndzarr", "zarr"})
#: the class paths intake 0.7 wrote into its own stores
INTAKE07_DRIVERS = frozenset({
    "intake_parquet.source.ParquetSource",
    "intake.source.zarr.ZarrArraySource",
    "intake_xarray.xzarr.ZarrSource",
    "intake.source.textfiles.TextFilesSource",
})


def written(out: Any, container: str) -> tuple[str, dict, str | None]:
    """``(driver, args, content hash or None)`` of what a persister's ``write``
    returned: ``(driver, args)`` or ``(driver, args, content)``."""
    from ..layout import is_token  # here: this module is imported by ``import intake``
    if isinstance(out, (tuple, list)) and len(out) in (2, 3):
        driver, args, *rest = out
        content = rest[0] if rest else None
        if isinstance(driver, str) and isinstance(args, dict):
            if not (is_token(content) and len(content) == 64):
                content = None  # not a SHA-256 in hex: this version is simply not shared
            return driver, args, content
    raise TypeError(f"the persister of {container!r} sources returned {type(out).__name__} "
                    "from write(); it must return (driver name, args dict)")


class _Registry:
    """Container names to persisters: registered at run time, by entry point, built in."""

    def __init__(self) -> None:
        self.registered: dict[str, Any] = {}
        self.loaded: dict[str, Any] = {}  # persister instances, by container
        self._entry_points: dict | None = None
        self._entry_point_drivers: dict | None = None

    def entry_points(self) -> dict:
        if self._entry_points is None:  # read once per process
            from importlib.metadata import entry_points

            self._entry_points = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return self._entry_points

    def entry_point_drivers(self) -> dict[str, frozenset[str]]:
        """The drivers each entry-point persister declares, by container (each
        loaded once per process, as the entry points are read once)."""
        if self._entry_point_drivers is None:
            found = {}
            for name, ep in self.entry_points().items():
                try:
                    found[name] = _drivers(ep.load())
                except Exception as e:  # a broken plugin: its drivers are not readable
                    logger.warning("persister entry point %r cannot be loaded: %s", name, e)
            self._entry_point_drivers = found
        return self._entry_point_drivers


_registry = _Registry()


def _instance(obj: Any) -> Any:
    return obj() if isinstance(obj, type) else obj


def _load_builtin(container: str) -> Any:
    spec = BUILTIN[container]
    try:
        for module in _NEEDS.get(container, ()):
            importlib.import_module(module)
        mod, _, attr = spec["class"].partition(":")
        return getattr(importlib.import_module(mod), attr)
    except ImportError as e:
        raise NoPersisterError(
            f"persisting {container!r} sources needs {e.name or e}, which cannot be "
            f"imported ({e}); install it with: {spec['install']}"
        ) from e


def register_container(name: str, persister: Any, *_: Any, clobber: bool = False, **__: Any) -> None:
    """Make ``persister`` (a class or instance with ``write``) handle container ``name``.

    Parameters
    ----------
    name
        the ``container`` of the sources it persists.
    persister
        a class (instantiated on first use) or an instance with a
        ``write(source, path, storage_options=None, **kwargs)`` method.
    clobber
        replace a persister registered earlier for ``name``; without it, a
        second registration of a different persister is refused. Built-in
        and entry-point persisters may always be replaced.

    Raises
    ------
    ValueError
        for an empty name, or a name registered already (without ``clobber``).
    TypeError
        when ``persister`` has no ``write`` method.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"container name must be a non-empty string, got {name!r}")
    if not callable(getattr(persister, "write", None)):
        raise TypeError(
            f"persister for container {name!r} must have a write(source, path, **kwargs) "
            f"method; got {persister!r}"
        )
    earlier = _registry.registered.get(name)
    if earlier is not None and earlier is not persister and not clobber:
        raise ValueError(
            f"container {name!r} already has the persister {earlier!r}; pass clobber=True "
            "to replace it, or unregister_container() it first"
        )
    _registry.registered[name] = persister
    _registry.loaded.pop(name, None)


def unregister_container(name: str) -> None:
    """Forget a persister registered with :func:`register_container` (built-in and
    entry-point persisters for ``name`` apply again).

    Raises
    ------
    KeyError
        when nothing was registered for ``name``.
    """
    if name not in _registry.registered:
        raise KeyError(f"no persister was registered for container {name!r}")
    del _registry.registered[name]
    _registry.loaded.pop(name, None)


def readable_drivers() -> frozenset[str]:
    """The drivers an index entry may name: those that persisters write.

    Built-in persisters' drivers, intake 0.7's, and those that registered and
    entry-point persisters declare in their ``drivers`` attribute (entry-point
    persisters are imported for this, since their packages were installed to
    provide them). Nothing else is ever built from a persist store's index.
    """
    found = set(BUILTIN_DRIVERS | INTAKE07_DRIVERS)
    for obj in (*_registry.registered.values(), *_registry.loaded.values()):
        found |= _drivers(obj)
    for name, drivers in _registry.entry_point_drivers().items():
        if name not in _registry.registered:
            found |= drivers
    return frozenset(found)


def _drivers(obj: Any) -> frozenset[str]:
    """The drivers a persister declares in its ``drivers`` attribute."""
    drivers = getattr(obj, "drivers", ())
    return frozenset(d for d in ([drivers] if isinstance(drivers, str) else drivers) if isinstance(d, str))


def known_containers() -> list[str]:
    """Names of containers that can be persisted (nothing is imported to list them)."""
    return sorted(set(BUILTIN) | set(_registry.registered) | set(_registry.entry_points()))


def get_persister(container: str) -> Any:
    """The persister for ``container``, importing it on first use.

    Raises
    ------
    NoPersisterError
        naming the container and how to register a persister for it, or what
        to install when a built-in persister's libraries are missing.
    """
    if container in _registry.loaded:
        return _registry.loaded[container]
    if container in _registry.registered:
        obj = _registry.registered[container]
    else:
        eps = _registry.entry_points()
        if container in eps:
            obj = eps[container].load()
        elif container in BUILTIN:
            obj = _load_builtin(container)
        else:
            raise NoPersisterError(
                f"no persister for container {container!r}; known containers: "
                f"{', '.join(known_containers()) or 'none'}. Register one with "
                f"intake.container.register_container({container!r}, MyPersister) or an "
                f"entry point in the group {ENTRY_POINT_GROUP!r}"
            )
    persister = _instance(obj)
    _registry.loaded[container] = persister
    return persister
