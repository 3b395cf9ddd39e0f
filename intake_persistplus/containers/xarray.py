"""xarray datasets persist to zarr and come back as intake-xarray's ``zarr`` source.

Persisted from ``to_dask()`` (keeping its dask chunks) where that works, else
from ``read()``. Coordinates, attributes, encodings (so packed ``int16`` with
``scale_factor`` stays packed) and string coordinates round-trip:
``xr.testing.assert_identical`` holds for ``read()`` and ``to_dask()``. The zarr
v2 format is written by default, whose data types (fixed-width strings and
bytes among them) have a stable specification; pass ``zarr_format=3`` to change it.
"""

from __future__ import annotations

from typing import Any

from ._common import check_kwargs, compute, lazy_or_eager

DRIVER = "zarr"
WRITER_KWARGS = {"encoding", "zarr_format", "consolidated", "safe_chunks", "align_chunks"}


class XarrayPersister:
    """Persist ``xarray`` sources (intake-xarray) to a zarr store."""

    container = "xarray"

    def check_kwargs(self, kwargs: dict) -> dict:
        return check_kwargs(
            kwargs, WRITER_KWARGS, "xarray", ", ".join(sorted(WRITER_KWARGS))
        )

    def write(self, source: Any, path: str, storage_options: dict | None = None, **kwargs: Any):
        import xarray as xr

        self.check_kwargs(kwargs)
        data, _ = lazy_or_eager(source)
        if isinstance(data, xr.DataArray):
            data = data.to_dataset(name=data.name or "data")
        if not isinstance(data, xr.Dataset):
            raise TypeError(
                f"an xarray source gave {type(data).__name__}, not an xarray Dataset"
            )
        irregular = {
            dim: max(sizes)
            for dim, sizes in (data.chunks or {}).items()
            if len(set(sizes[:-1])) > 1 or (len(sizes) > 1 and sizes[-1] > sizes[0])
        }
        if irregular:  # zarr needs equal chunks (the last may be smaller)
            data = data.chunk(irregular)
        for var in data.variables.values():
            # object (string) variables must be in memory to pick a storable dtype;
            # loading them here says so instead of warning about it
            if var.dtype == object and var.chunks is not None:
                var.load()
        kwargs.setdefault("zarr_format", 2)
        kwargs.setdefault("consolidated", kwargs["zarr_format"] == 2)
        delayed = data.to_zarr(
            path, mode="w-", storage_options=storage_options or None, compute=False, **kwargs
        )
        compute(delayed)
        return DRIVER, {"urlpath": path}
