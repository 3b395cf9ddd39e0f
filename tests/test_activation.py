"""The plugin switches itself on inside ``import intake``, cheaply and idempotently."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import intake
from intake.source.base import DataSource

from .conftest import run_python


def test_entry_point_is_declared():
    eps = {ep.name: ep.value for ep in entry_points(group="intake.imports")}
    assert eps.get("intake_persistplus") == "intake_persistplus.activate"


def test_import_intake_activates_without_heavy_imports():
    out = run_python(
        """
        import json, sys
        import intake
        from intake.source.base import DataSource
        heavy = [m for m in ("pandas", "dask", "pyarrow", "zarr", "s3fs", "xarray") if m in sys.modules]
        ours = sorted(m for m in sys.modules if m.startswith("intake_persistplus"))
        print(json.dumps({
            "ours": ours,
            "heavy": heavy,
            "persist": hasattr(DataSource, "persist"),
            "active": "intake_persistplus.activate" in sys.modules,
        }))
        """
    )
    info = json.loads(out.stdout)
    # activation is the patch table and thin methods: the store loads on first use
    assert "intake_persistplus.persist_store" not in info.pop("ours")
    assert info == {"heavy": [], "persist": True, "active": True}


def test_block_list_switches_the_plugin_off():
    out = run_python(
        """
        import sys, intake
        from intake.source.base import DataSource
        print(hasattr(DataSource, "persist"), "intake_persistplus.activate" in sys.modules)
        """,
        env={"INTAKE_IMPORT_BLOCK_LIST": "['intake_persistplus']"},
    )
    assert out.stdout.split() == ["False", "False"]


def test_activation_is_idempotent(csv_catalog, persist_dir):
    from intake.catalog.entry import CatalogEntry

    from intake_persistplus.activate import activate

    call, persist = CatalogEntry.__call__, DataSource.persist
    activate()
    activate()
    assert CatalogEntry.__call__ is call and DataSource.persist is persist
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    assert cat.csvsource.is_persisted


def test_store_importable_from_intake_container():
    from intake.container.persist import PersistStore, store

    import intake_persistplus

    assert isinstance(store, PersistStore)
    assert store is intake_persistplus.store


SNAPSHOT = """
import json, sys
import intake, intake.container
from intake.catalog.entry import CatalogEntry
from intake.source.base import DataSourceBase

def describe(obj):
    return {k: getattr(v, "__qualname__", type(v).__name__) for k, v in vars(obj).items()
            if not k.startswith("__") or k in ("__call__", "__new__")}

def snapshot():
    return {
        "CatalogEntry": describe(CatalogEntry),
        "DataSourceBase": describe(DataSourceBase),
        "intake.container": sorted(k for k in vars(intake.container) if not k.startswith("__")),
        "register_container": intake.container.register_container.__module__,
        "persist_module": "intake.container.persist" in sys.modules,
    }
"""


def test_deactivate_restores_intake_exactly(csv_catalog, persist_dir):
    """After deactivate(), intake is what it is with the plugin blocked; activate() again works."""
    blocked = run_python(
        SNAPSHOT + "print(json.dumps(snapshot()))",
        env={"INTAKE_IMPORT_BLOCK_LIST": "['intake_persistplus']"},
    )
    out = run_python(
        SNAPSHOT
        + f"""
from intake_persistplus import deactivate
from intake_persistplus.activate import activate
cat = intake.open_catalog({str(csv_catalog)!r})
cat.csvsource.persist()
assert cat.csvsource.is_persisted
active = snapshot()
deactivate()
deactivate()  # twice is harmless
after = snapshot()
plain = intake.open_catalog({str(csv_catalog)!r}).csvsource
served = [type(plain).__name__, plain.is_persisted, hasattr(plain, "persist")]
activate()
again = intake.open_catalog({str(csv_catalog)!r}).csvsource
print(json.dumps({{"active": active, "after": after, "served": served,
                  "again": [type(again).__name__, again.is_persisted]}}))
""",
        env={"INTAKE_PERSIST_PATH": str(persist_dir)},
    )
    result = json.loads(out.stdout)
    assert result["after"] == json.loads(blocked.stdout)
    assert result["active"] != result["after"]  # activation did change intake
    assert result["served"] == ["CSVSource", False, False]
    assert result["again"] == ["PersistedParquetSource", True]


def test_activation_changes_nothing_when_a_target_is_missing():
    """The patch table is checked whole: one missing target, and nothing is patched."""
    out = run_python(
        SNAPSHOT
        + """
from intake_persistplus import deactivate, patches
from intake_persistplus.activate import activate
deactivate()
before = snapshot()
real = patches.intake_patches
patches.intake_patches = lambda module: real(module) + [patches.Patch("intake.nosuchmodule", "x", 1)]
try:
    activate()
except ImportError as e:
    error = type(e).__name__
print(json.dumps({"same": snapshot() == before, "error": error}))
"""
    )
    assert json.loads(out.stdout) == {"same": True, "error": "ModuleNotFoundError"}
