"""Persist stores on S3 (a moto server process on 127.0.0.1) and other fsspec URLs."""

from __future__ import annotations

import uuid

import intake
import pandas as pd
import pytest
import yaml
from fsspec.implementations.memory import MemoryFileSystem

from intake_persistplus import store
from intake_persistplus.containers.parquet import PersistedParquetSource

from .conftest import run_python


def test_persist_and_redirect_on_s3(csv_catalog, s3_store, s3_env):
    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    persisted = original.persist(ttl=600)
    assert isinstance(persisted, PersistedParquetSource)
    assert persisted._urlpath.startswith(s3_store + "/")
    pd.testing.assert_frame_equal(cat.csvsource.read(), original.read())
    assert cat.csvsource.to_dask().npartitions == original.to_dask().npartitions
    assert list(store) == [store.get_tok(original)]
    assert store.versions(original)[0].size > 0

    # another process, seeing the same bucket, is redirected too
    out = run_python(
        f"""
        import intake
        s = intake.open_catalog({str(csv_catalog)!r}).csvsource
        print(s.is_persisted, s.read().shape)
        """,
        env={"INTAKE_PERSIST_PATH": s3_store, **s3_env},
    )
    assert out.stdout.split() == ["True", "(200,", "4)"]


def test_s3_index_is_an_intake_catalog(csv_catalog, s3_store):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    index = intake.open_catalog(s3_store + "/cat.yaml")
    (token,) = list(index)
    pd.testing.assert_frame_equal(index[token].read(), cat.csvsource.read())


def test_s3_ttl_refresh_versions_and_remove(csv_catalog, s3_store):
    cat = intake.open_catalog(str(csv_catalog))
    original = cat.csvsource(persist_mode="never")
    original.persist(ttl=0, revalidate=False)
    first = store.record(original).version
    cat.csvsource.read()  # expired: refreshed transparently
    assert store.record(original).version != first
    assert len(store.versions(original)) == 2
    assert store.remove(original) is True
    assert len(store) == 0 and store.versions(original) == []


def test_s3_conditional_create_is_honoured(s3_bucket):
    """The remote lock rests on exclusive create; the endpoint must refuse a second one."""
    import s3fs

    from intake_persistplus.layout import INDEX_LOCK, location
    from intake_persistplus.locks import create_exclusive

    fs = s3fs.S3FileSystem()
    loc = location(f"s3://{s3_bucket}/x")
    create_exclusive(fs, f"{s3_bucket}/x/once", b"1")
    with pytest.raises(FileExistsError):
        create_exclusive(fs, f"{s3_bucket}/x/once", b"2")
    assert fs.cat_file(f"{s3_bucket}/x/once") == b"1"
    with loc.lock("the test", INDEX_LOCK):
        assert fs.exists(f"{s3_bucket}/x/.cat.yaml.lock")
    assert not fs.exists(f"{s3_bucket}/x/.cat.yaml.lock")


def test_memory_filesystem_store(csv_catalog, monkeypatch):
    import uuid

    url = f"memory://store-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(intake.conf, "persist_path", url)
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    assert cat.csvsource.is_persisted and len(store) == 1
    pd.testing.assert_frame_equal(cat.csvsource.read(), cat.csvsource(persist_mode="never").read())


def test_storage_options_from_intake_conf(csv_catalog, s3_bucket, s3_env, monkeypatch):
    """persist_storage_options reach every read and write of the store, and are not stored."""
    import fsspec.config

    monkeypatch.setitem(fsspec.config.conf, "s3", {})  # only intake.conf says where S3 is
    monkeypatch.setitem(intake.conf, "persist_path", f"s3://{s3_bucket}/opts")
    monkeypatch.setitem(
        intake.conf, "persist_storage_options",
        {"endpoint_url": s3_env["FSSPEC_S3_ENDPOINT_URL"], "key": "testing-key-id", "secret": "testing-secret"},
    )
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()
    assert cat.csvsource.read().shape == (200, 4)
    assert cat.csvsource.discover()["shape"] == (200, 4)  # the footers, read with the same options
    import s3fs

    store.compact()  # an object store's view is brought up to date on demand
    fs = s3fs.S3FileSystem(endpoint_url=s3_env["FSSPEC_S3_ENDPOINT_URL"])
    text = fs.cat_file(f"{s3_bucket}/opts/cat.yaml").decode()
    assert yaml.safe_load(text)["sources"]
    for path in fs.find(f"{s3_bucket}/opts"):  # the view, the head, records, data
        blob = fs.cat_file(path)
        assert b"testing-secret" not in blob and b"testing-key-id" not in blob, path


def test_s3_exclusive_create_is_checked_once_and_leaves_nothing(s3_bucket):
    """The check that the store's locks rest on: once per file system and endpoint,
    a probe object is created twice on the real endpoint; the second create fails."""
    import s3fs

    from intake_persistplus.locks import EXCLUSIVE_CHECKED, check_exclusive

    fs = s3fs.S3FileSystem()
    EXCLUSIVE_CHECKED.clear()
    check_exclusive(fs, f"{s3_bucket}/probe")
    assert [k[:2] for k in EXCLUSIVE_CHECKED] == [(s3fs.S3FileSystem, s3fs.__version__)]
    fs.invalidate_cache()
    assert fs.find(s3_bucket) == []  # the probe is gone
    fs.pipe_file(f"{s3_bucket}/probe/.exclusive-probe-x", b"")
    with pytest.raises(FileExistsError):  # what the probe relies on, on this endpoint
        fs.pipe_file(f"{s3_bucket}/probe/.exclusive-probe-x", b"", mode="create")


class CarelessMemoryFileSystem(MemoryFileSystem):
    """A real memory file system whose ``mode="create"`` overwrites, as s3fs before
    2024.12 did on S3 (it dropped the argument) and as a server that ignores
    ``If-None-Match`` does."""

    protocol = ("careless-memory",)

    def pipe_file(self, path, value, mode="overwrite", **kwargs):
        return super().pipe_file(path, value, **kwargs)

    def open(self, path, mode="rb", **kwargs):
        return super().open(path, mode.replace("x", "w"), **kwargs)


def test_a_store_whose_exclusive_create_overwrites_is_refused(csv_catalog, monkeypatch):
    """Never a silent race: persisting to such a store raises, naming the file system
    and what to do, every time, and publishes nothing."""
    import fsspec

    from intake_persistplus import ExclusiveCreateError, PersistPathError
    from intake_persistplus.locks import create_exclusive

    fsspec.register_implementation("careless-memory", CarelessMemoryFileSystem, clobber=True)
    name = f"careless-{uuid.uuid4().hex[:8]}"
    root = f"careless-memory://{name}"
    fs = fsspec.filesystem("careless-memory")
    monkeypatch.setitem(intake.conf, "persist_path", root)
    try:
        cat = intake.open_catalog(str(csv_catalog))
        for _ in range(2):  # a refusal is not remembered as a pass
            with pytest.raises(ExclusiveCreateError, match=r"CarelessMemoryFileSystem \(tests .*\) "
                               r"does not create files exclusively.*honours exclusive create"):
                cat.csvsource.persist()
        assert not cat.csvsource.is_persisted
        with pytest.raises(PersistPathError):  # an OSError of the location, like the others
            create_exclusive(fs, f"/{name}/once", b"1")
        assert not [p for p in fs.find(root) if ".exclusive-probe-" in p]
    finally:
        fs.rm(root, recursive=True) if fs.exists(root) else None
