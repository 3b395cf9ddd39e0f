"""Persisters: one per container type, found by name and imported lazily.

A persister writes the data of a source into a folder of the store (or of an
export) and says which intake driver reads it back. The contract:

.. code-block:: python

    class MyPersister:
        container = "mycontainer"    # the DataSource.container it handles

        def write(self, source, path, storage_options=None, **kwargs):
            '''Write source's data under ``path`` (a folder URL that does not exist
            yet). Return ``(driver, args)``: an intake driver name registered with
            intake and the keyword arguments that open the data again; use
            ``path`` verbatim inside ``args`` where the data location goes.
            Do not put storage_options in ``args``: the store supplies its own
            when it opens the data.'''

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
from typing import Any, Protocol

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "intake_persistplus.containers"

#: container name -> "module:attribute" of the built-in persisters
BUILTIN: dict[str, str] = {
    "dataframe": "intake_persistplus.containers.dataframe:DataFramePersister",
    "ndarray": "intake_persistplus.containers.ndarray:ArrayPersister",
    "numpy": "intake_persistplus.containers.ndarray:ArrayPersister",
    "xarray": "intake_persistplus.containers.xarray:XarrayPersister",
    "python": "intake_persistplus.containers.python:PythonPersister",
}

_registered: dict[str, Any] = {}  # filled by register_container
_loaded: dict[str, Any] = {}  # persister instances, by container


class Persister(Protocol):
    container: str

    def write(self, source: Any, path: str, storage_options: dict | None = None, **kwargs: Any):
        ...


class NoPersisterError(ValueError):
    """No persister is known for a source's container."""


def _instance(obj: Any) -> Any:
    return obj() if isinstance(obj, type) else obj


def _load(value: str) -> Any:
    mod, _, attr = value.partition(":")
    obj = importlib.import_module(mod)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def _entry_points() -> dict:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def register_container(name: str, persister: Any, *_: Any, **__: Any) -> None:
    """Make ``persister`` (a class or instance with ``write``) handle container ``name``.

    Replaces a persister registered earlier for the same name, built-in ones
    included.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"container name must be a non-empty string, got {name!r}")
    if not callable(getattr(persister, "write", None)):
        raise TypeError(
            f"persister for container {name!r} must have a write(source, path, **kwargs) "
            f"method; got {persister!r}"
        )
    _registered[name] = persister
    _loaded.pop(name, None)


def known_containers() -> list[str]:
    """Names of containers that can be persisted (nothing is imported to list them)."""
    return sorted(set(BUILTIN) | set(_registered) | set(_entry_points()))


def get_persister(container: str) -> Any:
    """The persister for ``container``, importing it on first use.

    Raises
    ------
    NoPersisterError
        naming the container and how to register a persister for it.
    """
    if container in _loaded:
        return _loaded[container]
    if container in _registered:
        obj = _registered[container]
    else:
        eps = _entry_points()
        if container in eps:
            obj = eps[container].load()
        elif container in BUILTIN:
            obj = _load(BUILTIN[container])
        else:
            raise NoPersisterError(
                f"no persister for container {container!r}; known containers: "
                f"{', '.join(known_containers()) or 'none'}. Register one with "
                f"intake.container.register_container({container!r}, MyPersister) or an "
                f"entry point in the group {ENTRY_POINT_GROUP!r}"
            )
    persister = _instance(obj)
    _loaded[container] = persister
    return persister
