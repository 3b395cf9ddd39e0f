"""Catalog access hands out the persisted copy where the mode says so."""

from __future__ import annotations

import time
import warnings

import intake
import pandas as pd
import pytest
from intake.source.csv import CSVSource
from intake_parquet.source import ParquetSource

from intake_persistplus import PersistWarning, store
from intake_persistplus.containers.parquet import PersistedParquetSource
from intake_persistplus.redirect import Deferred

from .conftest import (
    make_frame,
    on_stores,
    run_python,
    write_catalog,
)


def version_of(source):
    return store.record(source).version


# -- the seed's example -------------------------------------------------------------
def test_seed_example_verbatim(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog))  # load a remote cat
    source = cat.csvsource()  # source pointing to remote data
    source.persist()

    source = cat.csvsource()  # future use now gives local intake_parquet.ParquetSource
    assert isinstance(source, ParquetSource)

    cat = intake.open_catalog(str(csv_catalog), persist_mode="never")
    assert isinstance(cat.csvsource(), CSVSource)
    cat = intake.open_catalog(str(csv_catalog))
    source = cat.csvsource(persist_mode="never")
    assert isinstance(source, CSVSource)


@pytest.mark.parametrize(
    "access",
    [
        lambda cat: cat.csvsource,
        lambda cat: cat.csvsource(),
        lambda cat: cat["csvsource"],
        lambda cat: cat["csvsource"](),
        lambda cat: cat.csvsource()(),
    ],
    ids=["attr", "call", "getitem", "getitem-call", "call-call"],
)
def test_every_access_form_is_redirected(csv_catalog, store_location, access):
    cat = intake.open_catalog(str(csv_catalog))
    expected = cat.csvsource.read()
    cat.csvsource.persist()
    source = access(cat)
    assert isinstance(source, ParquetSource) and source.is_persisted
    pd.testing.assert_frame_equal(source.read(), expected)


def test_user_parameters_select_their_own_persisted_copy(tmp_path, store_location):
    make_frame(10, seed=1).to_csv(tmp_path / "small.csv", index=False)
    make_frame(30, seed=2).to_csv(tmp_path / "large.csv", index=False)
    path = write_catalog(
        tmp_path,
        {
            "table": {
                "driver": "csv",
                "parameters": {
                    "size": {"description": "which", "type": "str", "default": "small"}
                },
                "args": {"urlpath": "{{ CATALOG_DIR }}/{{ size }}.csv"},
            }
        },
    )
    cat = intake.open_catalog(str(path))
    cat.table(size="large").persist()

    large = cat.table(size="large")
    assert isinstance(large, ParquetSource) and large.read().shape == (30, 4)
    assert isinstance(cat.table(), CSVSource) and isinstance(cat.table, CSVSource)
    # calling a redirected source again keeps its parameters
    assert isinstance(large(), ParquetSource)
    assert isinstance(large(persist_mode="never"), CSVSource)
    assert large(persist_mode="never").read().shape == (30, 4)
    assert isinstance(large(size="small"), CSVSource)


# -- modes ---------------------------------------------------------------------------
def test_never_always_default_on_a_fresh_copy(csv_catalog, store_location):
    intake.open_catalog(str(csv_catalog)).csvsource.persist(ttl=3600)
    for mode, cls in [("never", CSVSource), ("always", PersistedParquetSource), ("default", PersistedParquetSource)]:
        cat = intake.open_catalog(str(csv_catalog), persist_mode=mode)
        assert type(cat.csvsource) is cls, mode
        assert type(cat.csvsource()) is cls, mode


def test_always_serves_an_expired_copy_without_refreshing(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog), persist_mode="always")
    cat.csvsource.persist(ttl=0)
    version = version_of(cat.csvsource)
    source = cat.csvsource
    assert type(source) is PersistedParquetSource
    assert source.read().shape == (200, 4)
    assert version_of(cat.csvsource) == version


@on_stores(slow=("s3",))  # its S3 case takes over 1.5 s
def test_default_refreshes_an_expired_copy_on_first_data_access(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist(ttl=1, compression="gzip")
    first = store.record(cat.csvsource)
    # the original changes; the copy still has the old data
    make_frame(50, seed=9).to_csv(csv_catalog.parent / "table.csv", index=False)
    assert cat.csvsource.read().shape == (200, 4)
    time.sleep(1.1)

    source = cat.csvsource
    assert isinstance(source, Deferred) and isinstance(source, ParquetSource)
    assert store.record(first.token).version == first.version  # nothing done yet

    df = source.read()

    assert df.shape == (50, 4)
    assert type(source) is PersistedParquetSource and source.is_persisted
    second = store.record(first.token)
    assert second.version != first.version and second.timestamp > first.timestamp
    assert second.ttl == 1 and second.persist_kwargs == {"compression": "gzip"}
    # the old version is kept (every version is, unless retention says otherwise)
    assert [v.version for v in store.versions(first.token)] == [first.version, second.version]
    assert type(cat.csvsource) is PersistedParquetSource  # fresh again


@pytest.mark.parametrize("method", ["read", "to_dask", "discover", "read_partition"])
def test_each_data_method_sets_off_the_refresh(csv_catalog, store_location, method):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist(ttl=0, revalidate=False)
    before = version_of(cat.csvsource)
    source = cat.csvsource
    args = (0,) if method == "read_partition" else ()
    getattr(source, method)(*args)
    assert version_of(cat.csvsource) != before


def test_looking_around_never_refreshes(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist(ttl=0)
    token = store.get_tok(cat.csvsource)
    before = version_of(token)
    folders = store_location.listdir(token)
    assert folders  # the version folder(s) of the expired copy

    list(cat)
    cat.walk()
    assert "csvsource" in cat
    dict(cat.items())
    source = cat.csvsource
    source.describe(), source.yaml(), repr(source), source.metadata, source.name
    cat.csvsource(persist_mode="never")
    cat.csvsource(persist="never")
    source(persist_mode="never")
    intake.open_catalog(str(csv_catalog), persist_mode="never").csvsource.read()

    assert version_of(token) == before
    assert store_location.listdir(token) == folders


# local only: how the mode argument is spelled, not where the store is
def test_legacy_persist_spelling(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    assert isinstance(cat.csvsource(persist="never"), CSVSource)
    assert isinstance(cat.csvsource(persist="always"), ParquetSource)
    with pytest.raises(ValueError, match="disagree"):
        cat.csvsource(persist="never", persist_mode="always")


# -- where the mode comes from -----------------------------------------------------------
def _two_level_catalog(tmp_path, cat_mode=None, entry_mode=None):
    make_frame().to_csv(tmp_path / "table.csv", index=False)
    entry = {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}/table.csv"}}
    if entry_mode:
        entry["metadata"] = {"persist_mode": entry_mode}
    return write_catalog(
        tmp_path, {"t": entry}, {"persist_mode": cat_mode} if cat_mode else None
    )


def _mode_seen(cat) -> str:
    """'never', 'always' or 'default', told apart on an expired copy."""
    source = cat.t
    if type(source) is CSVSource:
        return "never"
    return "default" if isinstance(source, Deferred) else "always"


# local only: where the mode comes from does not depend on where the store is (the
# per-store redirect in each mode: test_never_always_default_on_a_fresh_copy and
# test_always_serves_an_expired_copy_without_refreshing)
@pytest.mark.parametrize(
    "conf_mode, cat_mode, entry_mode, open_mode, call_mode, expected",
    [
        (None, None, None, None, None, "default"),
        ("never", None, None, None, None, "never"),
        ("always", "never", None, None, None, "never"),
        ("never", "always", None, None, None, "always"),
        (None, "never", "always", None, None, "always"),
        (None, "always", "never", None, None, "never"),
        (None, None, "never", "default", None, "default"),
        (None, None, "always", "never", None, "never"),
        ("never", "never", "never", "never", "always", "always"),
        ("always", "always", "always", "always", "never", "never"),
    ],
)
def test_mode_precedence(tmp_path, persist_dir, monkeypatch, conf_mode, cat_mode, entry_mode, open_mode, call_mode, expected):
    path = _two_level_catalog(tmp_path, cat_mode, entry_mode)
    intake.open_catalog(str(path)).t(persist_mode="never").persist(ttl=0)
    if conf_mode:
        monkeypatch.setitem(intake.conf, "persist_mode", conf_mode)
    kw = {"persist_mode": open_mode} if open_mode else {}
    cat = intake.open_catalog(str(path), **kw)
    if call_mode:
        source = cat.t(persist_mode=call_mode)
        seen = "never" if type(source) is CSVSource else (
            "default" if isinstance(source, Deferred) else "always")
    else:
        seen = _mode_seen(cat)
    assert seen == expected


# local only: nothing is persisted, the store location plays no part
@pytest.mark.parametrize("where", ["call", "open", "entry", "catalog", "conf", "legacy"])
def test_invalid_mode_is_a_value_error_wherever_given(tmp_path, persist_dir, monkeypatch, where):
    bad = "sometimes"
    path = _two_level_catalog(
        tmp_path, cat_mode=bad if where == "catalog" else None,
        entry_mode=bad if where == "entry" else None,
    )
    if where == "conf":
        monkeypatch.setitem(intake.conf, "persist_mode", bad)
    with pytest.raises(ValueError, match="sometimes"):
        cat = intake.open_catalog(str(path), **({"persist_mode": bad} if where == "open" else {}))
        if where == "call":
            cat.t(persist_mode=bad)
        elif where == "legacy":
            cat.t(persist=bad)
        else:
            source = cat.t  # a bad value in the catalog or conf: reported on use
            source.read()
    if where in ("entry", "catalog", "conf"):  # and a call's own mode still gets past it
        assert type(intake.open_catalog(str(path)).t(persist_mode="never")) is CSVSource


# -- declarative persistence -------------------------------------------------------------
def _declared(tmp_path, spec, mode=None):
    make_frame().to_csv(tmp_path / "table.csv", index=False)
    md = {"persist": spec}
    if mode:
        md["persist_mode"] = mode
    return write_catalog(
        tmp_path, {"t": {"driver": "csv", "args": {"urlpath": "{{ CATALOG_DIR }}/table.csv"}, "metadata": md}}
    )


def test_declared_persist_happens_on_first_data_access(tmp_path, store_location):
    path = _declared(tmp_path, {"ttl": 3600, "compression": "gzip"})
    cat = intake.open_catalog(str(path))
    source = cat.t
    assert isinstance(source, CSVSource) and isinstance(source, Deferred)
    assert not store_location.exists() or len(store) == 0  # nothing written yet

    df = source.read()

    assert df.shape == (200, 4)
    assert type(source) is PersistedParquetSource
    record = store.record(source)
    assert record.ttl == 3600 and record.persist_kwargs == {"compression": "gzip"}
    assert type(cat.t) is PersistedParquetSource
    pd.testing.assert_frame_equal(cat.t.read(), cat.t(persist_mode="never").read())


def test_declared_persist_refreshes_when_expired(tmp_path, store_location):
    path = _declared(tmp_path, {"ttl": 0, "revalidate": False})
    cat = intake.open_catalog(str(path))
    cat.t.read()
    first = store.record(cat.t(persist_mode="never"))
    source = cat.t
    assert isinstance(source, Deferred) and isinstance(source, ParquetSource)
    source.to_dask()
    assert store.record(first.token).version != first.version


@pytest.mark.parametrize("mode", ["never", "always"])
def test_declared_persist_is_not_done_outside_default_mode(tmp_path, store_location, mode):
    path = _declared(tmp_path, {"ttl": 10}, mode=mode)
    cat = intake.open_catalog(str(path))
    source = cat.t
    assert type(source) is CSVSource
    source.read()
    assert len(store) == 0


def test_declared_persist_with_bad_writer_kwargs_serves_the_original(tmp_path, store_location):
    path = _declared(tmp_path, {"ttl": 10, "no_such_writer_option": 1})
    cat = intake.open_catalog(str(path))
    with pytest.warns(PersistWarning, match="no_such_writer_option"):
        df = cat.t.read()
    assert df.shape == (200, 4)
    assert len(store) == 0


def test_declared_persist_with_bad_ttl_is_a_value_error(tmp_path, store_location):
    path = _declared(tmp_path, {"ttl": "soon"})
    cat = intake.open_catalog(str(path))
    source = cat.t
    with pytest.raises(ValueError, match="entry 't'.*ttl='soon'"):
        source.read()
    with pytest.raises(ValueError, match="ttl='soon'"):
        source.to_dask()  # still reported: nothing was persisted or hidden
    assert type(cat.t(persist_mode="never")) is CSVSource
    assert cat.t(persist_mode="never").read().shape == (200, 4)


# -- across processes and failures -----------------------------------------------------------
# memory:// lives in one process: no second process sees it
@on_stores("local", "s3", slow=("s3",))
def test_a_second_process_sees_what_the_first_persisted(csv_catalog, store_location):
    env = store_location.env
    run_python(
        f"""
        import intake
        intake.open_catalog({str(csv_catalog)!r}).csvsource.persist(ttl=600)
        """,
        env=env,
    )
    out = run_python(
        f"""
        import intake
        from intake_parquet.source import ParquetSource
        s = intake.open_catalog({str(csv_catalog)!r}).csvsource
        print(isinstance(s, ParquetSource), s.is_persisted, s.read().shape)
        """,
        env=env,
    )
    assert out.stdout.split() == ["True", "True", "(200,", "4)"]


def test_failed_refresh_serves_the_expired_copy_with_a_warning(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog))
    expected = cat.csvsource.read()
    cat.csvsource.persist(ttl=0)
    before = version_of(cat.csvsource)
    (csv_catalog.parent / "table.csv").unlink()

    source = cat.csvsource
    with pytest.warns(PersistWarning, match="csvsource.*serving the expired copy"):
        df = source.read()

    pd.testing.assert_frame_equal(df, expected)
    assert version_of(store.get_tok(source)) == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cat.csvsource(persist_mode="always").read().shape == (200, 4)


def test_threads_reading_one_expired_source_refresh_it_once(csv_catalog, store_location):
    from concurrent.futures import ThreadPoolExecutor

    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist(ttl=0, revalidate=False)
    source = cat.csvsource
    assert isinstance(source, Deferred)
    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda _: source.read().shape, range(4)))
    assert shapes == [(200, 4)] * 4
    assert len(store.versions(source)) == 2  # the first persist and one refresh


def test_persist_on_a_declared_entry_replaces_the_pending_first_persist(tmp_path, store_location):
    path = _declared(tmp_path, {"ttl": 10})
    cat = intake.open_catalog(str(path))
    source = cat.t
    assert isinstance(source, Deferred)
    persisted = source.persist(ttl=99)
    assert store.record(persisted).ttl == 99 and len(store.versions(persisted)) == 1


def test_a_pending_source_pickles_as_the_plain_source(csv_catalog, store_location):
    import pickle

    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist(ttl=0)
    source = cat.csvsource
    assert isinstance(source, Deferred)
    clone = pickle.loads(pickle.dumps(source))
    assert type(clone) is PersistedParquetSource
    assert clone.read().shape == (200, 4)


@pytest.mark.parametrize("path", ["foo://nowhere/store", "gs://bucket/store-needs-gcsfs"])
def test_an_unusable_persist_path_never_breaks_catalog_access(csv_catalog, monkeypatch, path):
    from intake_persistplus.redirect import forget_warnings

    forget_warnings()
    monkeypatch.setitem(intake.conf, "persist_path", path)
    cat = intake.open_catalog(str(csv_catalog))
    with pytest.warns(PersistWarning, match="cannot be used"):
        source = cat.csvsource
    assert type(source) is CSVSource and source.read().shape == (200, 4)


# on S3 a refresh takes longer than the ttl of 1 s
@on_stores(slow=("s3",))
def test_many_readers_of_an_expired_entry_refresh_it_once(csv_catalog, store_location):
    """Each thread gets its own source from the catalog; one refresh serves them all."""
    from concurrent.futures import ThreadPoolExecutor

    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    original.persist(ttl=1, revalidate=False)
    time.sleep(1.1)

    def read(_):
        return cat.csvsource.to_dask().compute().shape

    with ThreadPoolExecutor(8) as pool:
        shapes = list(pool.map(read, range(8)))
    assert shapes == [(200, 4)] * 8
    assert len(store.versions(original)) == 2  # the expired one and a single refresh


@on_stores(slow=("s3",))
def test_readers_arriving_together_get_the_result_of_one_refresh(tmp_path, store_location):
    """Readers that wait for a refresh under way get its result, however short the ttl
    (docs/guarantees.rst, "Concurrent refreshes"): one refresh, not one per reader."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    path = write_catalog(
        tmp_path,
        {"slow": {"driver": "tests.sources.SlowFrameSource", "args": {"npartitions": 2, "delay": 0.3}}},
    )
    cat = intake.open_catalog(str(path))
    original = cat.slow(persist_mode="never")
    original.persist(ttl=0)
    together = threading.Barrier(3)

    def read(_):
        source = cat.slow  # each reader its own source from the catalog
        together.wait()
        return len(source.read())

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(read, range(3))) == [20] * 3
    assert len(store.versions(original)) == 2  # the first persist and one refresh


# local only: mode resolution through nested catalogs, not the store's location
def test_mode_of_a_nested_catalog_follows_its_parents(csv_catalog, persist_dir, tmp_path):
    parent = tmp_path / "parent.yaml"
    parent.write_text(
        "metadata: {version: 1}\nsources:\n  child:\n    driver: yaml_file_cat\n"
        f"    args: {{path: '{csv_catalog}'}}\n"
    )
    intake.open_catalog(str(csv_catalog)).csvsource.persist()
    assert type(intake.open_catalog(str(parent)).child.csvsource) is PersistedParquetSource
    never = intake.open_catalog(str(parent), persist_mode="never")
    assert type(never.child.csvsource) is CSVSource
    parent.write_text(parent.read_text().replace("metadata: {version: 1}", "metadata: {version: 1, persist_mode: never}"))
    assert type(intake.open_catalog(str(parent)).child.csvsource) is CSVSource


def test_never_wins_over_a_pinned_version(csv_catalog, store_location):
    cat = intake.open_catalog(str(csv_catalog))
    version = cat.csvsource.persist().metadata["persist_version"]
    pinned = cat.csvsource(persist_version=version)
    assert pinned.is_persisted
    assert type(pinned(persist_mode="never")) is CSVSource
    assert type(cat.csvsource(persist_version=version, persist_mode="never")) is CSVSource
