"""Arrays, xarray datasets and python objects persist faithfully through catalogs."""

from __future__ import annotations

import json

import intake
import numpy as np
import pytest

from intake_persistplus import store

from .conftest import fixed_width_text, intake_textfiles_works, needs_textfiles, write_catalog

xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")
pytest.importorskip("intake_xarray")


@pytest.fixture
def array_catalog(tmp_path):
    np.save(tmp_path / "single.npy", np.arange(24, dtype="int16").reshape(4, 6) - 7)
    big = np.linspace(0, 1, 5000, dtype="float32").reshape(100, 50)
    np.save(tmp_path / "big.npy", big)
    return write_catalog(
        tmp_path,
        {
            "single": {"driver": "numpy", "args": {"path": "{{ CATALOG_DIR }}single.npy"}},
            "big": {"driver": "numpy", "args": {"path": "{{ CATALOG_DIR }}big.npy"}},
        },
    )


def test_array_from_read_when_to_dask_is_broken(array_catalog, persist_dir):
    cat = intake.open_catalog(str(array_catalog))
    original = cat.single(persist_mode="never")
    with pytest.raises(OSError):
        original.to_dask()  # intake 2's NPySource on a single .npy file
    persisted = original.persist()
    assert type(persisted).__name__ == "ZarrArraySource" and persisted.is_persisted
    again = cat.single
    assert type(again).__name__ == "ZarrArraySource"
    arr = again.read()
    np.testing.assert_array_equal(arr, original.read())
    assert arr.dtype == np.dtype("int16") and arr.shape == (4, 6)
    np.testing.assert_array_equal(again.to_dask().compute(), original.read())


def test_array_chunks_follow_the_writer_argument(array_catalog, persist_dir):
    cat = intake.open_catalog(str(array_catalog))
    persisted = cat.big.persist(chunks=(25, 50))
    dask_arr = persisted.to_dask()
    assert dask_arr.chunks == ((25, 25, 25, 25), (50,))
    np.testing.assert_array_equal(dask_arr.compute(), cat.big(persist_mode="never").read())
    assert persisted.read().dtype == np.dtype("float32")


def test_dask_array_chunking_is_kept(tmp_path, persist_dir):
    path = write_catalog(tmp_path, {"z": {"driver": "ndzarr", "args": {"urlpath": "{{ CATALOG_DIR }}src.zarr"}}})
    import dask.array as da

    da.to_zarr(da.arange(1000, chunks=128).reshape(10, 100).rechunk((5, 20)), str(tmp_path / "src.zarr"))
    original = intake.open_catalog(str(path)).z(persist_mode="never")
    persisted = original.persist()
    assert persisted.to_dask().chunks == original.to_dask().chunks
    np.testing.assert_array_equal(persisted.read(), original.read())


@pytest.fixture
def netcdf_catalog(tmp_path):
    ds = xr.Dataset(
        {
            "temp": (("site", "time"), (np.arange(12, dtype="int16") - 3).reshape(3, 4), {"units": "K"}),
            "rain": (("time",), np.array([0.1, np.nan, 2.5, 3.0])),
        },
        coords={
            "site": ["north", "south", "east"],
            "time": np.array(["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"], dtype="datetime64[ns]"),
            "label": ("site", ["a", "bb", "ccc"]),
        },
        attrs={"title": "weather", "version": 3},
    )
    ds.to_netcdf(tmp_path / "weather.nc", engine="scipy")
    return write_catalog(
        tmp_path,
        {"weather": {"driver": "netcdf", "args": {"urlpath": "{{ CATALOG_DIR }}weather.nc"}}},
    )


def test_xarray_round_trip_is_identical(netcdf_catalog, persist_dir):
    cat = intake.open_catalog(str(netcdf_catalog))
    original = cat.weather(persist_mode="never")
    assert not original.has_been_persisted and not original.is_persisted
    persisted = original.persist(ttl=100)
    assert persisted.is_persisted and original.has_been_persisted
    source = cat.weather
    # small: read() reads its files directly (text coordinates: where zarr stores them fixed-width)
    assert type(source).__name__ == ("PersistedZarrSource" if fixed_width_text() else "ZarrSource")
    got = source.read()
    xr.testing.assert_identical(got, original.read())
    assert got["temp"].dtype == np.dtype("int16") and got.attrs["version"] == 3
    xr.testing.assert_identical(source.to_dask().compute(), original.to_dask().compute())
    assert isinstance(cat.weather(persist_mode="never"), type(original))


def test_xarray_backtrack_and_refresh(netcdf_catalog, persist_dir):
    import dask.base

    cat = intake.open_catalog(str(netcdf_catalog))
    original = cat.weather(persist_mode="never")
    persisted = original.persist(ttl=0, revalidate=False)
    again = store.backtrack(persisted)
    assert dask.base.tokenize(again) == dask.base.tokenize(original)
    xr.testing.assert_identical(again.read(), original.read())
    before = store.record(original).version
    cat.weather.read()  # expired in default mode: refreshed
    assert store.record(original).version != before


@pytest.fixture
def python_catalog(tmp_path):
    (tmp_path / "a.txt").write_text("first line\nsecond, with ünïcode\n")
    (tmp_path / "b.txt").write_text("third\n")
    (tmp_path / "doc.json").write_text(
        json.dumps({"a": [1, 2.5, None, True], "nested": {"k": "v"}, "__pp__": "not a tag"})
    )
    sources = {"doc": {"driver": "jsonfiles", "args": {"urlpath": "{{ CATALOG_DIR }}doc.json"}}}
    if intake_textfiles_works():  # on intake 2.1.0a1/a2 a catalog naming it cannot be opened
        sources["text"] = {"driver": "textfiles", "args": {"urlpath": "{{ CATALOG_DIR }}*.txt"}}
    return write_catalog(tmp_path, sources)


@pytest.mark.parametrize("name", [pytest.param("text", marks=needs_textfiles), "doc"])
def test_python_sources_read_back_equal(python_catalog, persist_dir, name):
    cat = intake.open_catalog(str(python_catalog))
    original = cat[name](persist_mode="never")
    assert original.persist().is_persisted
    source = cat[name]
    assert type(source).__name__ == "PersistedPythonSource" and source.is_persisted
    assert source.read() == original.read()
    assert type(source.read()) is type(original.read())


def test_python_codec_keeps_what_json_loses():
    from intake_persistplus.containers.python import decode, encode

    value = {
        "t": (1, (2, 3)),
        "s": {1, 2},
        "f": frozenset({"x"}),
        "b": b"\x00\xff",
        1: "int key",
        (1, 2): "tuple key",
        "nan": float("nan"),
        "inf": [float("inf"), -float("inf")],
        "__pp__": "a key that looks like the tag",
    }
    back = decode(json.loads(json.dumps(encode(value))))
    assert back.keys() == value.keys()
    for k in value:
        if k != "nan":
            assert back[k] == value[k] and type(back[k]) is type(value[k])
    assert np.isnan(back["nan"])


def test_python_unsupported_object_is_refused(tmp_path, persist_dir):
    from intake_persistplus.containers.python import UnsupportedObjectError, encode

    with pytest.raises(UnsupportedObjectError, match="numpy.ndarray"):
        encode({"a": np.arange(3)})
    assert isinstance(UnsupportedObjectError("x"), TypeError)


def test_xarray_with_irregular_chunks_from_several_files(tmp_path, persist_dir):
    import pandas as pd

    for month, days in [(1, 31), (2, 28), (3, 31)]:
        time_ = pd.date_range(f"2026-{month:02d}-01", periods=days, freq="D")
        xr.Dataset({"v": (("time",), np.arange(days, dtype="int16"))}, coords={"time": time_}).to_netcdf(
            tmp_path / f"m{month}.nc", engine="scipy"
        )
    path = write_catalog(
        tmp_path,
        {"months": {"driver": "netcdf", "args": {"urlpath": "{{ CATALOG_DIR }}m*.nc", "combine": "by_coords"}}},
    )
    original = intake.open_catalog(str(path)).months(persist_mode="never")
    assert original.to_dask().chunks["time"] == (31, 28, 31)
    persisted = original.persist()
    xr.testing.assert_identical(persisted.read(), original.read())
    xr.testing.assert_identical(persisted.to_dask().compute(), original.to_dask().compute())
