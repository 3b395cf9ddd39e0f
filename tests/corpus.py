"""A corpus of small, real-looking sources, generated into a folder with one
YAML catalog that names them all: what packages ship as data, with the quirks
such files have (gaps, quoted text, booleans, dates, no header, packed
integers, time units, several files to combine).

Used by ``tests/test_corpus.py`` (every source round-trips exactly) and by
``benchmarks/bench_corpus.py`` (a copy reads at least as fast as its original).
Nothing here imports the package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CATALOG_DIR = "{{ CATALOG_DIR }}"
#: the corpus entries whose container is a dataframe (the others are xarray datasets)
FRAMES = ("csv_tiny", "csv_medium", "csv_headerless", "csv_dates", "parquet_file")
DATASETS = ("netcdf_scipy", "netcdf4_file", "netcdf_multi", "zarr_store")
NAMES = FRAMES + DATASETS

_WORDS = ["alpha", "Bravo", "charlie, the third", 'say "hi"', "déjà vu", "", "NA", "x" * 30]


def _table(rows: int, seed: int) -> pd.DataFrame:
    """Text (quoted, accented, empty, 'NA'), ints, floats with gaps, booleans
    with and without gaps, dates and timestamps as a CSV writes them."""
    rng = np.random.default_rng(seed)
    words = np.array(_WORDS, dtype=object)
    score = rng.normal(50, 20, rows).round(3)
    score[rng.random(rows) < 0.05] = np.nan
    gappy = rng.choice(np.array([True, False, None], dtype=object), rows)
    start = pd.Timestamp("2024-01-01")
    return pd.DataFrame({
        "id": np.arange(1, rows + 1),
        "station": words[rng.integers(0, len(words), rows)],
        "count": rng.integers(-5, 10_000, rows),
        "score": score,
        "valid": rng.random(rows) < 0.7,
        "checked": gappy,
        "day": (start + pd.to_timedelta(rng.integers(0, 900, rows), "D")).strftime("%Y-%m-%d"),
        "at": (start + pd.to_timedelta(rng.integers(0, 10**8, rows), "s")).strftime("%Y-%m-%d %H:%M:%S"),
    })


def _frames(folder: Path, medium_rows: int) -> dict:
    _table(80, 1).to_csv(folder / "tiny.csv", index=False)  # about 5 KB
    _table(medium_rows, 2).to_csv(folder / "medium.csv", index=False)
    _table(300, 3).drop(columns=["checked"]).to_csv(folder / "noheader.csv", index=False, header=False)
    _table(500, 4).to_csv(folder / "dates.csv", index=False)
    pq = _table(2_000, 5)
    pq["day"] = pd.to_datetime(pq["day"])
    pq["checked"] = pq["checked"].astype("boolean")
    pq["station"] = pq["station"].astype("category")
    # (a named index, as in set_index("id"), fails in dask's read_parquet with pandas 3:
    # the original's to_dask() cannot be computed)
    pq.to_parquet(folder / "table.parquet", index=False)
    csv = {"driver": "csv", "metadata": {"corpus": True}}
    return {
        "csv_tiny": {**csv, "description": "a 5 KB CSV", "args": {"urlpath": f"{CATALOG_DIR}/tiny.csv"}},
        "csv_medium": {**csv, "args": {"urlpath": f"{CATALOG_DIR}/medium.csv"}},
        "csv_headerless": {**csv, "args": {"urlpath": f"{CATALOG_DIR}/noheader.csv", "header": None}},
        "csv_dates": {**csv, "args": {"urlpath": f"{CATALOG_DIR}/dates.csv", "parse_dates": ["day", "at"]}},
        "parquet_file": {"driver": "parquet", "args": {"urlpath": f"{CATALOG_DIR}/table.parquet"}},
    }


def _grid(times: pd.DatetimeIndex, seed: int):
    """A small CF dataset: time units, a packed int16 variable, float32 with
    gaps, a text coordinate, attributes."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    shape = (len(times), 6, 8)
    temp = (rng.normal(280, 8, shape)).astype("float32")
    temp[0, 0, :3] = np.nan
    ds = xr.Dataset(
        {
            "temp": (("time", "lat", "lon"), temp, {"units": "K", "long_name": "air temperature"}),
            "rain": (("time", "lat", "lon"), rng.gamma(1.0, 2.0, shape).round(2),
                     {"units": "mm", "standard_name": "precipitation_amount"}),
        },
        coords={
            "time": times,
            "lat": ("lat", np.linspace(50, 55, 6), {"units": "degrees_north"}),
            "lon": ("lon", np.linspace(3, 10, 8).astype("float32"), {"units": "degrees_east"}),
        },
        attrs={"title": "corpus grid", "Conventions": "CF-1.8", "history": "made by tests/corpus.py"},
    )
    ds["rain"].encoding = {"dtype": "int16", "scale_factor": 0.01, "_FillValue": -32767}
    ds["time"].encoding = {"units": "hours since 2024-01-01", "calendar": "proleptic_gregorian"}
    return ds


def _datasets(folder: Path) -> dict:
    times = pd.date_range("2024-01-01", periods=12, freq="6h")
    _grid(times, 10).to_netcdf(folder / "grid3.nc", engine="scipy")
    four = _grid(times, 11)
    four = four.assign_coords(site=("lat", [f"site-{i}" for i in range(6)]))
    four.to_netcdf(folder / "grid4.nc", engine="netcdf4")
    multi = folder / "multi"
    multi.mkdir()
    for i in range(3):
        _grid(times[i * 4:(i + 1) * 4], 20 + i).to_netcdf(multi / f"part{i}.nc", engine="scipy")
    _grid(times, 12).to_zarr(folder / "grid.zarr", zarr_format=2, consolidated=True)
    return {
        "netcdf_scipy": {"driver": "netcdf", "args": {"urlpath": f"{CATALOG_DIR}/grid3.nc"}},
        "netcdf4_file": {"driver": "netcdf", "args": {"urlpath": f"{CATALOG_DIR}/grid4.nc",
                                                      "xarray_kwargs": {"engine": "netcdf4"}}},
        "netcdf_multi": {"driver": "netcdf", "args": {
            "urlpath": f"{CATALOG_DIR}/multi/part*.nc",
            "xarray_kwargs": {"combine": "by_coords", "engine": "scipy"}}},
        "zarr_store": {"driver": "zarr", "args": {"urlpath": f"{CATALOG_DIR}/grid.zarr"}},
    }


def build(folder: Path, medium_rows: int = 20_000, xarray: bool = True) -> Path:
    """Write every corpus file into ``folder`` and return its ``catalog.yaml``
    (``xarray=False`` leaves out the netCDF and zarr sources)."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    sources = _frames(folder, medium_rows)
    if xarray:
        sources.update(_datasets(folder))
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump({"metadata": {"version": 1}, "sources": sources}, sort_keys=False))
    return path
