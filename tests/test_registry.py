"""Third-party containers: entry points and intake.container.register_container."""

from __future__ import annotations

import intake
import pytest

from intake_persistplus import NoPersisterError, store
from intake_persistplus.containers import known_containers

from .conftest import run_python, write_catalog


@pytest.fixture
def counter_catalog(tmp_path):
    return write_catalog(
        tmp_path,
        {"numbers": {"driver": "tests.plugin_counter.CounterSource", "args": {"n": 7}}},
    )


def test_unknown_container_is_refused_with_advice(counter_catalog, persist_dir):
    source = intake.open_catalog(str(counter_catalog)).numbers
    with pytest.raises(NoPersisterError) as info:
        source.persist()
    message = str(info.value)
    assert "'counter'" in message and "register_container" in message
    assert "intake_persistplus.containers" in message
    assert isinstance(info.value, ValueError)
    assert not persist_dir.exists() or len(store) == 0
    assert not any(persist_dir.rglob("numbers.txt")) if persist_dir.exists() else True
    assert source.read() == list(range(7))


def test_register_container_at_run_time(counter_catalog, persist_dir):
    from intake.source import register_driver, unregister_driver

    from intake_persistplus import unregister_container
    from tests.plugin_counter import CounterFileSource, CounterPersister

    register_driver("counter_file", CounterFileSource, clobber=True)
    intake.container.register_container("counter", CounterPersister)
    try:
        assert "counter" in known_containers()
        cat = intake.open_catalog(str(counter_catalog))
        persisted = cat.numbers.persist(ttl=10)
        assert type(persisted) is CounterFileSource and persisted.is_persisted
        assert cat.numbers.read() == list(range(7))
        assert type(cat.numbers) is CounterFileSource
        assert cat.numbers.export(str(persist_dir.parent / "exported")).startswith("sources:")
    finally:
        unregister_container("counter")
        unregister_driver("counter_file")


def test_register_container_checks_its_arguments():
    with pytest.raises(TypeError, match="write"):
        intake.container.register_container("thing", object())
    with pytest.raises(ValueError, match="non-empty string"):
        intake.container.register_container("", object())


def test_entry_point_registration_is_lazy(counter_catalog, tmp_path):
    """A package declaring the entry point: found by name, imported only when used."""
    site = tmp_path / "site"
    pkg = site / "counter_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import sys\nsys.modules.setdefault('counter_plugin_imported', sys.modules[__name__])\n"
        "from tests.plugin_counter import CounterPersister, CounterFileSource\n"
    )
    dist = site / "counter_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: counter-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[intake_persistplus.containers]\ncounter = counter_plugin:CounterPersister\n\n"
        "[intake.drivers]\ncounter_file = counter_plugin:CounterFileSource\n"
    )
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = run_python(
        f"""
        import sys, intake
        from intake_persistplus.containers import known_containers
        assert "counter" in known_containers()
        assert "counter_plugin_imported" not in sys.modules
        cat = intake.open_catalog({str(counter_catalog)!r})
        cat.numbers.persist()
        print("counter_plugin_imported" in sys.modules, type(cat.numbers).__name__, cat.numbers.read())
        """,
        env={
            "PYTHONPATH": os.pathsep.join([str(site), root]),
            "INTAKE_PERSIST_PATH": str(tmp_path / "store"),
        },
    )
    assert out.stdout.split() == ["True", "CounterFileSource", "[0,", "1,", "2,", "3,", "4,", "5,", "6]"]


def test_registering_twice_needs_clobber(persist_dir):
    from intake_persistplus import register_container, unregister_container
    from tests.plugin_counter import CounterPersister

    class Other(CounterPersister):
        pass

    register_container("counter", CounterPersister)
    try:
        register_container("counter", CounterPersister)  # the same persister again: fine
        with pytest.raises(ValueError, match="clobber=True"):
            register_container("counter", Other)
        register_container("counter", Other, clobber=True)
        from intake_persistplus.containers import get_persister

        assert type(get_persister("counter")) is Other
    finally:
        unregister_container("counter")
    assert "counter" not in known_containers()
    with pytest.raises(KeyError, match="counter"):
        unregister_container("counter")


def test_a_missing_library_names_what_to_install(tmp_path, persist_dir):
    """A built-in persister whose library cannot be imported says what to pip install."""
    import numpy as np

    np.save(tmp_path / "a.npy", np.arange(6))
    cat = write_catalog(tmp_path, {"arr": {"driver": "numpy", "args": {"path": "{{ CATALOG_DIR }}a.npy"}}})
    out = run_python(
        f"""
        import sys
        sys.modules["zarr"] = None  # as if zarr were not installed
        import intake
        source = intake.open_catalog({str(cat)!r}).arr
        try:
            source.persist()
        except ValueError as e:
            print(type(e).__name__, "|", e)
        print("read", source.read().tolist())
        """,
        env={"INTAKE_PERSIST_PATH": str(persist_dir)},
    )
    first, second = out.stdout.strip().splitlines()
    assert first.startswith("NoPersisterError |")
    assert "'ndarray'" in first and "zarr" in first and "pip install intake-persistplus[array]" in first
    assert second == "read [0, 1, 2, 3, 4, 5]"
