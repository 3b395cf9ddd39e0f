"""intake-persistplus: persistence for intake 2 catalogs.

Installed next to intake, it activates itself (entry point ``intake.imports``);
importing this package is only needed for its API:

>>> from intake_persistplus import store        # doctest: +SKIP
>>> source.persist(ttl=3600)                   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .errors import __all__ as _error_names

__version__ = "0.1.0"

_lazy = {
    "PersistStore": "intake_persistplus.persist_store",
    "store": "intake_persistplus.persist_store",
    "VersionInfo": "intake_persistplus.versions",
    "Record": "intake_persistplus.record",
    "register_container": "intake_persistplus.containers",
    "unregister_container": "intake_persistplus.containers",
    "persist_path": "intake_persistplus.config",
    "deactivate": "intake_persistplus.activate",
}
_lazy.update(dict.fromkeys(_error_names, "intake_persistplus.errors"))

__all__ = sorted(_lazy) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _lazy:
        import importlib

        value = getattr(importlib.import_module(_lazy[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'intake_persistplus' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
