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
        print(json.dumps({
            "heavy": heavy,
            "persist": hasattr(DataSource, "persist"),
            "active": "intake_persistplus.activate" in sys.modules,
        }))
        """
    )
    info = json.loads(out.stdout)
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
