"""persist(), has_been_persisted, is_persisted, get_persisted() and bad input."""

from __future__ import annotations

import math

import intake
import pandas as pd
import pyarrow.parquet as pq
import pytest
from intake_parquet.source import ParquetSource

from intake_persistplus import AlreadyPersistedError, NotPersistedError, store


def test_persist_returns_the_persisted_source(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    source = cat.csvsource()
    assert not source.has_been_persisted and not source.is_persisted

    persisted = source.persist(ttl=60)

    assert isinstance(persisted, ParquetSource)
    assert persisted.is_persisted and not persisted.has_been_persisted
    assert source.has_been_persisted and not source.is_persisted
    pd.testing.assert_frame_equal(persisted.read(), source.read())
    got = source.get_persisted()
    assert isinstance(got, ParquetSource) and got.metadata == persisted.metadata
    assert persisted.get_persisted() is persisted


def test_persisted_metadata_describes_the_original(csv_catalog, persist_dir):
    import dask.base

    cat = intake.open_catalog(str(csv_catalog))
    source = cat.csvsource()
    md = source.persist(ttl=30, compression="gzip").metadata
    assert md["original_tok"] == dask.base.tokenize(source)
    assert md["original_name"] == "csvsource"
    assert md["original_metadata"]["origin"] == "tests"
    assert md["original_source"]["cls"] == "intake.source.csv.CSVSource"
    assert md["original_source"]["kwargs"]["urlpath"].endswith("table.csv")
    assert md["ttl"] == 30 and md["persist_kwargs"] == {"compression": "gzip"}
    assert abs(md["timestamp"] - __import__("time").time()) < 60


def test_writer_kwargs_reach_the_parquet_writer(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    persisted = cat.csvsource.persist(compression="gzip")
    files = sorted(p for p in persist_dir.rglob("*.parquet"))
    assert files, "no parquet file written"
    codec = pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression
    assert codec.lower() == "gzip"
    assert persisted.read().shape == (200, 4)


def test_persisting_a_persisted_source_is_refused(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    persisted = cat.csvsource.persist()
    with pytest.raises(ValueError, match=r"already the persisted copy of .csvsource.*cat.csvsource\(persist_mode=.never.\).persist\(\)"):
        persisted.persist()
    assert isinstance(persisted, ParquetSource)
    assert isinstance(AlreadyPersistedError("x"), ValueError)


def test_get_persisted_of_a_source_never_persisted(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    with pytest.raises(KeyError, match="has not been persisted") as info:
        cat.csvsource.get_persisted()
    assert isinstance(info.value, NotPersistedError)


@pytest.mark.parametrize(
    "ttl", ["soon", "-5m", "inf", -1, -0.5, math.nan, math.inf, -math.inf, True, False, [10], {"s": 1}]
)
def test_bad_ttl_is_refused_before_anything_is_written(csv_catalog, persist_dir, ttl):
    cat = intake.open_catalog(str(csv_catalog))
    source = cat.csvsource()
    with pytest.raises(ValueError) as info:
        source.persist(ttl=ttl)
    message = str(info.value)
    assert "ttl" in message and repr(ttl) in message
    assert not persist_dir.exists() or not any(persist_dir.rglob("*.parquet"))
    assert not source.has_been_persisted
    assert source.read().shape == (200, 4)  # the original stays usable


@pytest.mark.parametrize("ttl, seconds", [("90", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1.5s", 1.5)])
def test_ttl_takes_durations(csv_catalog, persist_dir, ttl, seconds):
    """The same durations as the command line's: in persist(), YAML and --ttl."""
    source = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    assert source.persist(ttl=ttl).metadata["ttl"] == seconds
    assert store.record(source).ttl == seconds


@pytest.mark.parametrize("ttl", [None, 0, 5, 2.5])
def test_good_ttls(csv_catalog, persist_dir, ttl):
    cat = intake.open_catalog(str(csv_catalog))
    persisted = cat.csvsource.persist(ttl=ttl)
    assert persisted.metadata["ttl"] == ttl
    assert store.needs_refresh(cat.csvsource(persist_mode="never")) is (ttl == 0)


def test_unknown_writer_kwarg_is_refused_and_nothing_is_written(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    cat.csvsource.persist()  # another entry exists and must stay intact
    before = sorted(p.relative_to(persist_dir) for p in persist_dir.rglob("*"))
    other = intake.open_catalog(str(csv_catalog)).csvsource(persist_mode="never")
    with pytest.raises(TypeError, match="'bogus_option'"):
        other.persist(bogus_option=3)
    after = sorted(p.relative_to(persist_dir) for p in persist_dir.rglob("*"))
    assert after == before
    assert len(store) == 1 and cat.csvsource.is_persisted


def test_unwritable_persist_path_names_the_path(csv_catalog, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bad = blocker / "store"
    monkeypatch.setitem(intake.conf, "persist_path", str(bad))
    cat = intake.open_catalog(str(csv_catalog))
    source = cat.csvsource()
    with pytest.raises(OSError, match="a-file/store"):
        source.persist()
    assert source.read().shape == (200, 4)
    assert not source.has_been_persisted


def test_writer_arguments_that_cannot_be_recorded_are_refused(csv_catalog, persist_dir):
    cat = intake.open_catalog(str(csv_catalog))
    with pytest.raises(TypeError, match="compression=<object"):
        cat.csvsource.persist(compression=object())
    assert not persist_dir.exists() or len(store) == 0


def test_a_bad_persist_keep_setting_is_reported_before_writing(csv_catalog, persist_dir, monkeypatch):
    monkeypatch.setitem(intake.conf, "persist_keep", "three")
    cat = intake.open_catalog(str(csv_catalog))
    with pytest.raises(ValueError, match="persist_keep"):
        cat.csvsource.persist()
    assert not persist_dir.exists() or len(store) == 0
