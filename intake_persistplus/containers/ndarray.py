"""Arrays (containers ``ndarray`` and ``numpy``) persist to zarr and come back as
intake's ``ndzarr`` source (``intake.source.zarr.ZarrArraySource``).

Persisted from ``to_dask()`` where that works, keeping the dask chunking as
zarr chunks; otherwise from ``read()`` (one chunk, or ``chunks=`` given to
``persist``). dtype, shape and values round-trip exactly. The zarr v2 format is
written by default (stable for every numpy dtype); pass ``zarr_format=3`` to
change it.
"""

from __future__ import annotations

from typing import Any

from ._common import check_kwargs, compute, lazy_or_eager

DRIVER = "ndzarr"
WRITER_KWARGS = {"chunks", "zarr_format", "compressors", "filters"}


class ArrayPersister:
    """Persist ``ndarray`` sources to a zarr array."""

    container = "ndarray"

    def check_kwargs(self, kwargs: dict) -> dict:
        return check_kwargs(
            kwargs, WRITER_KWARGS, "array", ", ".join(sorted(WRITER_KWARGS))
        )

    def write(self, source: Any, path: str, storage_options: dict | None = None, **kwargs: Any):
        import dask.array as da
        import numpy as np

        self.check_kwargs(kwargs)
        data, lazy = lazy_or_eager(source)
        chunks = kwargs.pop("chunks", None)
        kwargs.setdefault("zarr_format", 2)
        if lazy:
            arr = data if chunks is None else data.rechunk(chunks)
        else:
            data = np.asarray(data)
            arr = da.from_array(data, chunks=chunks if chunks is not None else data.shape or ())
        compute(
            da.to_zarr(
                arr, path, storage_options=storage_options or None, overwrite=False,
                compute=False, **kwargs,
            )
        )
        return DRIVER, {"urlpath": path}
