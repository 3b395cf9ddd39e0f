"""Real netCDF and GeoTIFF files carry encodings that zarr cannot write as they
are, or would read back differently; their copies still read back the same.

Each test writes small files with the libraries real data comes from (scipy's
netCDF3 writer, netCDF4, rasterio), opens them through a YAML catalog with
intake-xarray's drivers and persists them as a user does. A copy must be
identical to the original (``xr.testing.assert_identical``) and keep every
variable's dtype, for ``read()`` and ``to_dask()``.
"""

from __future__ import annotations

import intake
import numpy as np
import pytest

from intake_persistplus import UnstorableDataError

from .conftest import write_catalog

xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")
pytest.importorskip("intake_xarray")
from intake_xarray.xzarr import ZarrSource  # noqa: E402

CATALOG_DIR = "{{ CATALOG_DIR }}"


def assert_same(copy, original):
    """What a user sees is the same: values, attributes, coordinates, dtypes."""
    xr.testing.assert_identical(copy, original)
    assert set(copy.coords) == set(original.coords)
    assert set(copy.data_vars) == set(original.data_vars)
    for name, var in original.variables.items():
        assert copy[name].dtype == var.dtype, f"{name}: {var.dtype} came back as {copy[name].dtype}"


def persisted_same(catalog, name):
    """Persist entry ``name`` and check its copy; return (original read(), copy source)."""
    cat = intake.open_catalog(str(catalog))
    original = cat[name](persist_mode="never")
    want = original.read()
    copy = original.persist()
    assert copy.is_persisted and isinstance(cat[name], ZarrSource)
    got = cat[name].read()
    assert_same(got, want)
    assert_same(cat[name].to_dask().compute(), original.to_dask().compute())
    return want, got


# -- netCDF3, as scipy (intake-xarray's default engine for `netcdf`) reads it ------------------

@pytest.fixture
def netcdf3(tmp_path):
    from scipy.io import netcdf_file

    with netcdf_file(tmp_path / "obs.nc", "w", version=2) as f:
        f.createDimension("time", 4)
        f.createDimension("y", 2)
        f.createDimension("x", 3)
        f.createDimension("nv", 2)
        t = f.createVariable("time", "i", ("time",))
        t[:] = [0, 6, 12, 18]
        t.units, t.calendar, t.bounds = "hours since 2026-01-01 00:00:00", "proleptic_gregorian", "time_bnds"
        tb = f.createVariable("time_bnds", "i", ("time", "nv"))
        tb[:] = [[0, 6], [6, 12], [12, 18], [18, 24]]
        day = f.createVariable("day", "i", ("time",))  # a calendar numpy cannot hold: cftime
        day[:] = [0, 1, 2, 58]
        day.units, day.calendar = "days since 2001-01-01", "noleap"
        for name, values in (("lat", [[50.0, 50.0, 50.0], [51.0, 51.0, 51.0]]),
                             ("lon", [[4.0, 5.0, 6.0], [4.0, 5.0, 6.0]])):
            v = f.createVariable(name, "f", ("y", "x"))
            v[:] = values
        crs = f.createVariable("crs", "i", ())
        crs.grid_mapping_name = "latitude_longitude"
        temp = f.createVariable("temp", "f", ("time", "y", "x"))
        raw = np.arange(24, dtype="float32").reshape(4, 2, 3) + 270
        raw[0, 0, 0], raw[1, 1, 2] = -999, -9999  # each of two different missing values
        temp[:] = raw
        temp._FillValue, temp.missing_value = np.float32(-999), np.float32(-9999)
        temp.units, temp.coordinates, temp.grid_mapping = "K", "lat lon", "crs"
        # packed with float32 scale_factor/add_offset: read back as float32
        p32 = f.createVariable("wind", "h", ("time", "y", "x"))
        packed = np.arange(24, dtype="int16").reshape(4, 2, 3) * 100
        packed[0, 1, 2] = -32767
        p32[:] = packed
        p32.scale_factor, p32.add_offset, p32._FillValue = np.float32(0.01), np.float32(5), np.int16(-32767)
        # packed with float64 scale_factor/add_offset: read back as float64
        p64 = f.createVariable("pressure", "h", ("time",))
        p64[:] = [-100, 0, 100, 200]
        p64.scale_factor, p64.add_offset = np.float64(0.5), np.float64(1000.0)
        count = f.createVariable("count", "i", ("time",))  # _FillValue on an integer: float64
        count[:] = [3, -1, 5, 7]
        count._FillValue = np.int32(-1)
        flag = f.createVariable("flag", "b", ("x",))  # unsigned bytes, the netCDF3 way
        flag[:] = np.array([1, 200, 255], "uint8").view("int8")
        flag._Unsigned = "true"
        name = f.createVariable("station", "c", ("x", "nv"))  # a char array: fixed-width bytes
        name[:] = np.array([[b"a", b"b"], [b"c", b"d"], [b"e", b""]])
        f.title, f.Conventions = "observations", "CF-1.8"
    return write_catalog(tmp_path, {
        "obs": {"driver": "netcdf", "args": {"urlpath": f"{CATALOG_DIR}obs.nc"}},
        "raw": {"driver": "netcdf", "args": {"urlpath": f"{CATALOG_DIR}obs.nc",
                                             "xarray_kwargs": {"mask_and_scale": False}}},
    })


def test_netcdf3_encodings_round_trip(netcdf3, persist_dir):
    original, copy = persisted_same(netcdf3, "obs")
    temp = copy["temp"]
    assert temp.dtype == np.float32 and temp.attrs == {"units": "K", "grid_mapping": "crs"}
    assert np.isnan(temp.values[0, 0, 0]) and np.isnan(temp.values[1, 1, 2])  # both missing values
    assert int(np.isnan(temp.values).sum()) == 2
    assert copy["wind"].dtype == np.float32 and np.isnan(copy["wind"].values[0, 1, 2])
    np.testing.assert_array_equal(copy["wind"].values, original["wind"].values)
    assert copy["pressure"].dtype == np.float64
    np.testing.assert_array_equal(copy["pressure"].values, [950.0, 1000.0, 1050.0, 1100.0])
    assert copy["count"].dtype == np.float64 and np.isnan(copy["count"].values[1])
    assert copy["flag"].dtype == np.uint8 and copy["flag"].values.tolist() == [1, 200, 255]
    assert copy["station"].dtype.kind == "S"
    assert copy["time"].dtype == np.dtype("datetime64[ns]")
    assert str(copy["time"].values[1]) == "2026-01-01T06:00:00.000000000"
    assert copy["day"].dtype == object and copy["day"].values[3].calendar == "noleap"
    assert {"lat", "lon"} <= set(copy.coords)  # from the `coordinates` attribute
    assert "crs" in copy.data_vars and "time_bnds" in copy.data_vars  # as the netcdf driver gives them
    assert copy.attrs == {"title": "observations", "Conventions": "CF-1.8"}


def test_netcdf3_packing_that_zarr_keeps_stays_packed(netcdf3, persist_dir):
    cat = intake.open_catalog(str(netcdf3))
    cat.obs(persist_mode="never").persist()
    import zarr

    group = zarr.open_group(cat.obs.reader.data.url, mode="r")
    assert group["pressure"].dtype == np.int16  # float64 scale_factor: zarr reads it back as float64
    assert group["wind"].dtype == np.float32  # float32 scale_factor: zarr's JSON would widen it


def test_undecoded_attributes_are_refused_by_name(netcdf3, persist_dir):
    cat = intake.open_catalog(str(netcdf3))
    original = cat.raw(persist_mode="never")
    assert "_FillValue" in original.read()["temp"].attrs  # opened with mask_and_scale=False
    with pytest.raises(UnstorableDataError) as info:
        original.persist()
    message = str(info.value)
    assert "'temp'" in message and "'_FillValue'" in message and "mask_and_scale" in message
    assert isinstance(info.value, ValueError)
    assert not original.has_been_persisted


# -- netCDF4 (HDF5), with its storage encodings ------------------------------------------------

@pytest.fixture
def netcdf4(tmp_path):
    netCDF4 = pytest.importorskip("netCDF4")

    with netCDF4.Dataset(tmp_path / "model.nc", "w", format="NETCDF4") as f:
        f.createDimension("time", 6)
        f.createDimension("x", 4)
        t = f.createVariable("time", "f8", ("time",))
        t[:] = np.arange(6) * 0.25
        t.units, t.calendar = "days since 2026-03-01", "standard"
        x = f.createVariable("x", "f4", ("x",))
        x[:] = [0.5, 1.5, 2.5, 3.5]
        # compressed and chunked its own way: dask chunks differ between variables
        temp = f.createVariable("temp", "f4", ("time", "x"), zlib=True, complevel=4, shuffle=True,
                                chunksizes=(2, 4), fill_value=np.float32(-1e30))
        values = np.linspace(250, 300, 24, dtype="float32").reshape(6, 4)
        values[2, 1] = -1e30
        temp[:] = values
        temp.missing_value = np.float32(-9e9)
        temp.coordinates = "height"
        packed = f.createVariable("rh", "i2", ("time", "x"), contiguous=True, fill_value=np.int16(-1))
        packed.set_auto_maskandscale(False)
        packed[:] = np.arange(24, dtype="int16").reshape(6, 4) * 4
        packed.scale_factor, packed.add_offset = np.float32(0.25), np.float32(0)
        height = f.createVariable("height", "f4", ())
        height[:] = 2.0
        levels = f.createVariable("level", "i1", ("x",), zlib=True, fill_value=np.int8(-128))
        levels[:] = np.array([1, 2, -128, 4], "int8")
        names = f.createVariable("name", str, ("x",))
        for i, s in enumerate(["north", "s", "east-northeast", ""]):
            names[i] = s
        f.source = "a model"
    return write_catalog(tmp_path, {
        "model": {"driver": "netcdf", "args": {"urlpath": f"{CATALOG_DIR}model.nc",
                                               "xarray_kwargs": {"engine": "netcdf4"}}},
    })


def test_netcdf4_encodings_round_trip(netcdf4, persist_dir):
    cat = intake.open_catalog(str(netcdf4))
    lazy = cat.model(persist_mode="never").to_dask()
    assert lazy["temp"].chunks != lazy["rh"].chunks  # each variable chunked its own way
    assert lazy["temp"].encoding["zlib"] and lazy["rh"].encoding["contiguous"]
    original, copy = persisted_same(netcdf4, "model")
    assert copy["temp"].dtype == np.float32 and int(np.isnan(copy["temp"].values).sum()) == 1
    assert copy["rh"].dtype == np.float32 and copy["rh"].values[0, 1] == 1.0
    assert copy["level"].dtype == np.float32 and np.isnan(copy["level"].values[2])
    assert copy["name"].values.tolist() == ["north", "s", "east-northeast", ""]
    assert "height" in copy.coords and copy["time"].dtype == np.dtype("datetime64[ns]")
    assert str(copy["time"].values[1]) == "2026-03-01T06:00:00.000000000"
    assert copy.attrs == {"source": "a model"}


# -- GeoTIFF, through intake-xarray's `rasterio` driver ----------------------------------------

@pytest.fixture
def geotiffs(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    pytest.importorskip("rioxarray")
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "height": 4, "width": 5, "count": 2,
               "crs": "EPSG:32633", "transform": from_origin(500000, 4000000, 30, 30)}
    data = (np.arange(40, dtype="float32").reshape(2, 4, 5) / 3).astype("float32")
    data[0, 0, 0] = data[1, 3, 4] = -9999
    with rasterio.open(tmp_path / "float.tif", "w", dtype="float32", nodata=-9999, **profile) as dst:
        dst.write(data)
    counts = np.arange(40, dtype="uint16").reshape(2, 4, 5) * 7
    counts[0, 1, 1] = 0
    with rasterio.open(tmp_path / "scaled.tif", "w", dtype="uint16", nodata=0, **profile) as dst:
        dst.write(counts)
        dst.scales, dst.offsets = (0.01, 0.01), (0.0, 0.0)
    return write_catalog(tmp_path, {
        "float": {"driver": "rasterio", "args": {"urlpath": f"{CATALOG_DIR}float.tif"}},
        "scaled": {"driver": "rasterio", "args": {"urlpath": f"{CATALOG_DIR}scaled.tif"}},
    })


def test_geotiff_float32_round_trip(geotiffs, persist_dir):
    original, copy = persisted_same(geotiffs, "float")
    band = copy["band_data"]
    assert band.dtype == np.float32 and band.shape == (2, 4, 5)
    assert np.isnan(band.values[0, 0, 0]) and np.isnan(band.values[1, 3, 4])
    assert int(np.isnan(band.values).sum()) == 2
    assert "spatial_ref" in copy.coords and "spatial_ref" not in copy.data_vars
    assert band.rio.crs.to_epsg() == 32633  # rioxarray finds the CRS of the copy
    assert band.rio.transform() == original["band_data"].rio.transform()
    assert copy["x"].dtype == np.float64 and copy["band"].values.tolist() == [1, 2]


def test_geotiff_scaled_integers_round_trip(geotiffs, persist_dir):
    original, copy = persisted_same(geotiffs, "scaled")
    band = copy["band_data"]
    assert band.dtype == original["band_data"].dtype
    assert np.isnan(band.values[0, 1, 1]) and band.values[0, 0, 1] == pytest.approx(0.07)
    assert band.rio.crs.to_epsg() == 32633


# -- zarr, chunked differently by the catalog than on disk -------------------------------------

def test_zarr_chunks_encoding_follows_dask_chunks(tmp_path, persist_dir):
    ds = xr.Dataset({"v": (("x",), np.arange(30, dtype="int32"))}).chunk({"x": 7})
    ds.to_zarr(tmp_path / "src.zarr", zarr_format=2, consolidated=True)
    path = write_catalog(tmp_path, {"z": {"driver": "zarr", "args": {
        "urlpath": f"{CATALOG_DIR}src.zarr", "chunks": {"x": 10}}}})
    persisted_same(path, "z")
    assert intake.open_catalog(str(path)).z.to_dask()["v"].chunks == ((10, 10, 10),)


def test_nan_in_floats_stored_as_integers_is_refused_by_name(tmp_path, persist_dir):
    """Packed files without a _FillValue, combined with an outer join: NaN where a
    file has no data, which their int16 encoding cannot hold."""
    from scipy.io import netcdf_file

    for i, xs in enumerate(([0.0, 1.0], [2.0, 3.0])):
        with netcdf_file(tmp_path / f"part{i}.nc", "w") as f:
            f.createDimension("time", 1)
            f.createDimension("x", 2)
            f.createVariable("time", "d", ("time",))[:] = [i]
            f.createVariable("x", "d", ("x",))[:] = xs
            v = f.createVariable("v", "h", ("time", "x"))
            v[:] = [[10 * i, 10 * i + 1]]
            v.scale_factor, v.add_offset = np.float64(0.5), np.float64(0.0)
    path = write_catalog(tmp_path, {"parts": {"driver": "netcdf", "args": {
        "urlpath": f"{CATALOG_DIR}part*.nc", "combine": "by_coords"}}})
    cat = intake.open_catalog(str(path))
    original = cat.parts(persist_mode="never")
    assert int(np.isnan(original.read()["v"].values).sum()) == 4
    with pytest.raises(UnstorableDataError, match=r"variable 'v' has NaN.*int16.*_FillValue"):
        original.persist()
    assert not original.has_been_persisted
    copy = original.persist(encoding={"v": {"dtype": "int16", "scale_factor": 0.5, "_FillValue": -32768}})
    assert_same(copy.read(), original.read())
    assert_same(copy.to_dask().compute(), original.to_dask().compute())
