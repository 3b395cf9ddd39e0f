"""Small xarray copies are read straight from their files (``persisted_zarr``
with ``direct: true``): the same dataset as through zarr, faster, and a store
edited by anyone is read by zarr or refused, never trusted further.

Each test persists a real source through a YAML catalog (a zarr store or a
netCDF file written by xarray), then compares the copy's ``read()`` with the
original's and with xarray's own zarr reader on the copy's folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import intake
import numpy as np
import pytest
import yaml

from .conftest import errors_without_blocking, fixed_width_text, write_catalog

xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")
pytest.importorskip("intake_xarray")

from intake_persistplus.containers import zarrcopy  # noqa: E402

CATALOG_DIR = "{{ CATALOG_DIR }}"


def rich(n: int = 5, text: bool = False) -> xr.Dataset:
    """Numbers of several widths, booleans, times, a 0-d variable, an all-NaN
    variable (zarr writes no chunk for it), list attributes; with ``text``, a
    text coordinate and a bytes variable too."""
    t = np.arange(n)
    ds = xr.Dataset(
        {
            "f4": (("t", "x"), np.linspace(0, 1, n * 3, dtype="float32").reshape(n, 3), {"units": "m"}),
            "i8": ("t", (t * 10**12).astype("int64")),
            "u1": ("t", t.astype("uint8")),
            "flag": ("t", t % 2 == 0),
            "gone": ("t", np.full(n, np.nan)),
            "scalar": ((), np.float64(2.5), {"note": "zero-dimensional"}),
        },
        coords={
            "t": ("t", t.astype("int32")),
            "when": ("t", np.datetime64("2024-01-01", "ns") + t * np.timedelta64(6, "h")),
        },
        attrs={"title": "rich", "levels": [1, 2, 3], "flag": 1},
    )
    if text:
        ds = ds.assign_coords(x=("x", ["déjà", "vu", ""])).assign(raw=("x", np.array([b"ab", b"c", b""], dtype="S2")))
    return ds


def persist(tmp_path: Path, ds: xr.Dataset, **args) -> tuple:
    """Write ``ds`` as a zarr source, persist it; (catalog path, the original's read(), the served copy)."""
    ds.to_zarr(tmp_path / "src.zarr", zarr_format=2, consolidated=True, mode="w")
    path = write_catalog(tmp_path, {"d": {"driver": "zarr", "args": {"urlpath": f"{CATALOG_DIR}/src.zarr", **args}}})
    original = intake.open_catalog(str(path)).d(persist_mode="never")
    want = original.read().load()
    original.persist()
    return path, want, intake.open_catalog(str(path)).d


def record_of(source) -> dict:
    folder = Path(source.reader.data.url).parent  # intake-xarray keeps the path there
    (entry,) = yaml.safe_load((folder / "record.yaml").read_text()).values()
    return entry


def assert_same(got, want):
    xr.testing.assert_identical(got, want)
    for name, var in want.variables.items():
        assert got[name].dtype == var.dtype, name


def test_a_small_copy_is_read_directly_and_identically(tmp_path, persist_dir):
    path, want, copy = persist(tmp_path, rich())
    assert type(copy).__name__ == "PersistedZarrSource"
    rec = record_of(copy)
    assert rec["driver"] == "persisted_zarr" and rec["args"]["direct"] is True
    got = copy.read()
    assert_same(got, want)
    # what xarray's zarr reader makes of the same folder, encodings included
    assert zarrcopy.same(got, xr.open_dataset(copy.reader.data.url, engine="zarr", chunks=None).load())
    assert all(var._in_memory for var in got.variables.values())
    assert got["gone"].isnull().all()  # no chunk file on disk: all fill value
    got["f4"][0, 0] = 7.0  # writable, as the zarr reader's arrays are
    assert_same(intake.open_catalog(str(path)).d.to_dask().compute(), want)


def test_text_is_read_directly_where_zarr_stores_it_fixed_width(tmp_path, persist_dir):
    path, want, copy = persist(tmp_path, rich(text=True))
    direct = fixed_width_text()
    assert type(copy).__name__ == ("PersistedZarrSource" if direct else "ZarrSource")
    got = copy.read()
    assert_same(got, want)
    assert got["x"].values.tolist() == ["déjà", "vu", ""] and got["raw"].values.tolist() == [b"ab", b"c", b""]


def test_a_netcdf_copy_with_packing_and_decode_coords(tmp_path, persist_dir):
    ds = rich(text=True).drop_vars(["raw", "when"])
    ds["packed"] = ("t", np.array([1.5, 2.25, np.nan, 4.0, 5.0]))
    ds["packed"].encoding = {"dtype": "int16", "scale_factor": 0.25, "_FillValue": -1}
    ds["crs"] = ((), 0, {"grid_mapping_name": "latitude_longitude"})
    ds["f4"].attrs["grid_mapping"] = "crs"
    ds = ds.set_coords("crs").drop_vars(["x"]).assign(f4=ds["f4"].drop_vars("x"))
    ds.to_netcdf(tmp_path / "src.nc", engine="netcdf4")
    path = write_catalog(tmp_path, {"n": {"driver": "netcdf", "args": {
        "urlpath": f"{CATALOG_DIR}/src.nc", "xarray_kwargs": {"engine": "netcdf4", "decode_coords": "all"}}}})
    original = intake.open_catalog(str(path)).n(persist_mode="never")
    want = original.read().load()
    original.persist()
    copy = intake.open_catalog(str(path)).n
    rec = record_of(copy)
    assert rec["driver"] == "persisted_zarr" and rec["args"]["decode_coords"] == "all"
    got = copy.read()
    assert_same(got, want)
    assert "crs" in got.coords and got["packed"].encoding["dtype"] == np.dtype("int16")


@pytest.mark.parametrize("why", ["several chunks", "too big"])
def test_other_copies_stay_with_the_zarr_reader(tmp_path, persist_dir, monkeypatch, why):
    ds = rich(40)
    args = {}
    if why == "several chunks":
        args = {"chunks": {"t": 10}}
    else:
        monkeypatch.setattr(zarrcopy, "DIRECT_MAX", 100)
    path, want, copy = persist(tmp_path, ds, **args)
    assert type(copy).__name__ == "ZarrSource" and record_of(copy)["driver"] == "zarr"
    assert_same(copy.read(), want)


def tamper_meta(folder: Path, change) -> None:
    doc = json.loads((folder / ".zmetadata").read_text())
    change(doc["metadata"])
    (folder / ".zmetadata").write_text(json.dumps(doc))


def set_array(name, **fields):
    def change(md):
        md[f"{name}/.zarray"].update(fields)
    return change


def add_array(name, zarray, zattrs):
    def change(md):
        md[f"{name}/.zarray"], md[f"{name}/.zattrs"] = zarray, zattrs
    return change


def chunk_of(folder: Path, name: str) -> Path:
    return next(p for p in (folder / name).iterdir() if not p.name.startswith("."))


def truncate(folder: Path) -> None:
    f = chunk_of(folder, "f4")
    f.write_bytes(f.read_bytes()[:-3])


def lie_in_header(folder: Path) -> None:
    f = chunk_of(folder, "f4")
    raw = bytearray(f.read_bytes())
    raw[4:8] = (10**8).to_bytes(4, "little")  # "decodes to 100 MB"
    f.write_bytes(bytes(raw))


def escape(folder: Path) -> None:
    outside = folder.parent.parent / "secret"
    outside.mkdir()
    (outside / "0").write_bytes(np.arange(4, dtype="<f8").tobytes())
    z = {"shape": [4], "chunks": [4], "dtype": "<f8", "fill_value": None, "order": "C",
         "filters": None, "compressor": None, "zarr_format": 2}
    tamper_meta(folder, add_array("../../secret", z, {"_ARRAY_DIMENSIONS": ["s"]}))


HOSTILE = {
    "not JSON": lambda f: (f / ".zmetadata").write_text("{nope"),
    "a shape larger than its chunk": lambda f: tamper_meta(f, set_array("f4", shape=[5, 4])),
    "a huge shape": lambda f: tamper_meta(f, set_array("f4", shape=[10**12, 3], chunks=[10**12, 3])),
    "a negative shape": lambda f: tamper_meta(f, set_array("f4", shape=[-5, 3], chunks=[-5, 3])),
    "an object dtype": lambda f: tamper_meta(f, set_array("f4", dtype="|O")),
    "a big-endian dtype": lambda f: tamper_meta(f, set_array("f4", dtype=">f4")),
    "a filter": lambda f: tamper_meta(f, set_array("f4", filters=[{"id": "delta", "dtype": "<f4"}])),
    "an unknown compressor": lambda f: tamper_meta(f, set_array("f4", compressor={"id": "evil"})),
    "a compressor that does not say its size": lambda f: tamper_meta(f, set_array("f4", compressor={"id": "zstd"})),
    "a compressor id that is a list": lambda f: tamper_meta(f, set_array("f4", compressor={"id": []})),
    "a fill value past the dtype's floats": lambda f: tamper_meta(f, set_array("f4", fill_value=1e300)),
    "a fill value past any float": lambda f: tamper_meta(f, set_array("f4", fill_value=10**400)),
    "65 dimensions": lambda f: tamper_meta(f, set_array("f4", shape=[1] * 65, chunks=[1] * 65)),
    "a zero-size dimension next to a huge one": lambda f: tamper_meta(f, set_array("f4", shape=[0, 2**63],
                                                                                     chunks=[0, 2**63])),
    "a dtype numpy reads another way": lambda f: tamper_meta(f, set_array("u1", dtype="<a1")),
    "a text dtype of no width": lambda f: tamper_meta(f, set_array("u1", dtype="<U0")),
    "a name that is no file name": lambda f: tamper_meta(f, add_array("\ud800", {"shape": [1], "chunks": [1],
        "dtype": "<f8", "fill_value": None, "order": "C", "filters": None, "compressor": None, "zarr_format": 2},
        {"_ARRAY_DIMENSIONS": ["s"]})),
    "a fill value the dtype cannot hold": lambda f: tamper_meta(f, set_array("u1", fill_value=300)),
    "a truncated chunk": truncate,
    "a blosc header that lies": lie_in_header,
    "a name outside the folder": escape,
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_an_edited_copy_is_not_read_directly(tmp_path, persist_dir, attack):
    """Whatever is edited, the direct reader declines (the zarr reader then
    reads the store, or says what is wrong with it): it never decodes more
    than the metadata promises, nor reads outside the copy's folder."""
    path, want, copy = persist(tmp_path, rich())
    assert type(copy).__name__ == "PersistedZarrSource"  # read directly until edited
    folder = Path(copy.reader.data.url)
    HOSTILE[attack](folder)
    with pytest.raises(zarrcopy.NotDirect):
        zarrcopy.read_store(str(folder))
    assert zarrcopy.direct_read(str(folder), {}) is None
    try:  # the zarr reader's own verdict: its data or its error, not ours
        got = intake.open_catalog(str(path)).d.read()
    except Exception as e:  # noqa: BLE001
        assert "secret" not in str(e)
    else:
        assert "../../secret" not in got.variables


def test_the_copy_of_the_corpus_netcdf_reads_as_fast_as_it_is_identical(tmp_path, persist_dir):
    """The direct read costs less than the zarr reader on the same folder (the
    point of it; the ratio is in benchmarks/bench_corpus.py)."""
    import time

    _, want, copy = persist(tmp_path, rich())

    def best(f):
        times = []
        for _ in range(7):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)

    direct = best(copy.read)
    zarr = best(lambda: xr.open_dataset(copy.reader.data.url, engine="zarr", chunks=None).load())
    assert direct < zarr, (direct, zarr)


@pytest.mark.parametrize("what", ["a named pipe for a chunk", "a folder for a chunk", "a named pipe for the metadata",
                                  "a link for a chunk", "a link for the metadata", "a link for an array's folder"])
def test_a_file_that_is_not_a_file_is_refused_without_blocking(tmp_path, persist_dir, what):
    """A named pipe would block any reader (zarr's too) until someone writes to
    it, a link may lead anywhere: the direct reader opens each file below the
    copy's folder without following links or blocking, and says what it found."""
    import os

    from intake_persistplus import PersistPathError

    path, want, copy = persist(tmp_path, rich())
    folder = Path(copy.reader.data.url)
    target = folder / ".zmetadata" if "metadata" in what else chunk_of(folder, "f4")
    if "array's folder" in what:  # the same files, through a link
        target = folder / "f4"
        target.rename(tmp_path / "moved")
        target.symlink_to(tmp_path / "moved")
    elif "link" in what:  # the same bytes, through a link
        target.rename(tmp_path / "moved")
        target.symlink_to(tmp_path / "moved")
    elif "pipe" in what:
        target.unlink()
        os.mkfifo(target)
    else:
        target.unlink()
        target.mkdir()
    outcome = errors_without_blocking(lambda: intake.open_catalog(str(path)).d.read())
    assert len(outcome) == 1 and isinstance(outcome[0], PersistPathError), outcome
    assert str(target) in str(outcome[0])
    assert_same(intake.open_catalog(str(path)).d(persist_mode="never").read(), want)  # the original still reads
