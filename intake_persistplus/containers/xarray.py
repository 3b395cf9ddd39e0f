"""xarray datasets persist to zarr and come back as intake-xarray's ``zarr`` source.

Persisted from ``to_dask()`` (keeping its dask chunks) where that works, else
from ``read()``. Coordinates, attributes, dtypes, encodings (so packed ``int16``
with ``scale_factor`` stays packed) and string coordinates round-trip:
``xr.testing.assert_identical`` holds for ``read()`` and ``to_dask()``, and every
variable keeps its dtype. The zarr v2 format is written by default, whose data
types (fixed-width strings and bytes among them) have a stable specification;
pass ``zarr_format=3`` to change it.

Encodings are what the original's files said (netCDF, GeoTIFF); some cannot be
written to zarr, or would be read back differently, so before writing:

- ``missing_value`` is folded into ``_FillValue`` (both were masked when read);
- ``coordinates`` is left to xarray to work out from the actual coordinates;
- storage encodings of other formats (``zlib``, ``chunksizes``, ``contiguous``,
  ``source``...) are dropped by xarray; a dask variable's zarr ``chunks`` come
  from its dask chunks;
- a variable whose ``grid_mapping`` or ``bounds`` (CF) is in its encoding is
  read back with ``decode_coords="all"``, so the grid mapping stays a coordinate;
- a variable that zarr would read back with another dtype (packing whose
  ``scale_factor`` was a ``float32``, which zarr's JSON attributes cannot
  keep, or rasterio's ``scale_factor=1.0`` on ``float32``) or with other values
  (``NaN`` in floats stored as integers with no ``_FillValue``) is stored as it
  is in memory.

A small slice of the dataset is written to memory and read back first; what
still differs (an attribute that the zarr reader would decode, say, kept
undecoded because the source was opened with ``mask_and_scale=False``) raises
:class:`~intake_persistplus.errors.UnstorableDataError` naming the variable.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..errors import UnstorableDataError
from ._common import check_kwargs, compute, lazy_or_eager

DRIVER = "zarr"
WRITER_KWARGS = {"encoding", "zarr_format", "consolidated", "safe_chunks", "align_chunks"}

#: CF attributes naming other variables, which xarray keeps as coordinates with
#: ``decode_coords="all"`` (xarray's ``CF_RELATED_DATA``)
CF_RELATED = (
    "bounds", "grid_mapping", "climatology", "geometry", "node_coordinates", "node_count",
    "part_node_count", "interior_ring", "cell_measures", "formula_terms",
)
#: encodings that say how values are stored: dropped to store a variable as it is in memory
PACKING = ("dtype", "scale_factor", "add_offset", "_FillValue", "missing_value", "_Unsigned")
#: attributes the zarr reader decodes (moves into the encoding, applying them to the values)
DECODED = frozenset({"_FillValue", "missing_value", "scale_factor", "add_offset", "_Unsigned",
                     "units", "calendar", "coordinates", *CF_RELATED})


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
        kwargs.setdefault("zarr_format", 2)
        kwargs.setdefault("consolidated", kwargs["zarr_format"] == 2)
        data, read_args = storable(regular_chunks(data), kwargs)
        delayed = data.to_zarr(
            path, mode="w-", storage_options=storage_options or None, compute=False, **kwargs
        )
        compute(delayed)
        if not storage_options:
            from . import zarrcopy

            if zarrcopy.readable(path, read_args):  # small, and the same when read directly
                return zarrcopy.DRIVER, {"urlpath": path, **read_args, "direct": True}
        return DRIVER, {"urlpath": path, **read_args}


def regular_chunks(data: Any) -> Any:
    """``data`` with chunks zarr can store: equal along each dimension in each
    variable (the last may be smaller). Variables may differ from each other
    (netCDF4 files chunk each variable its own way)."""
    irregular: dict = {}
    for var in data.variables.values():
        if var.chunks is None:
            continue
        for dim, sizes in zip(var.dims, var.chunks, strict=True):
            if len(set(sizes[:-1])) > 1 or (len(sizes) > 1 and sizes[-1] > sizes[0]):
                irregular[dim] = max(irregular.get(dim, 0), *sizes)
    return data.chunk(irregular) if irregular else data


def storable(data: Any, kwargs: dict) -> tuple[Any, dict]:
    """``(data with encodings zarr can write, the copy's reader arguments)``,
    checked on a slice written to memory and read back.

    Raises
    ------
    UnstorableDataError
        naming each variable that would come back different, and what to do.
    """
    data = data.copy(deep=False)  # new variables: the source's own keep their encodings
    for var in data.variables.values():
        # object (string) variables must be in memory to pick a storable dtype;
        # loading them here says so instead of warning about it
        if var.dtype == object and var.chunks is not None:
            var.load()
        var.encoding = cleaned(var)
    read_args = {}
    related = [name for name, var in data.variables.items() if any(k in var.attrs for k in CF_RELATED)]
    for var in data.variables.values():
        if any(k in var.encoding for k in CF_RELATED):
            if related:  # decode_coords="all" would decode those: let xarray list coordinates
                for k in CF_RELATED:
                    var.encoding.pop(k, None)
            else:
                read_args["decode_coords"] = "all"
    problems = differences(data, kwargs, read_args)
    repack = [name for name, what in problems if what != "attrs" and unpack(data.variables[name])]
    if repack:
        problems = differences(data, kwargs, read_args)
    if problems:
        raise UnstorableDataError(explain(problems, data))
    explicit = kwargs.get("encoding") or {}
    for name, var in data.variables.items():
        guard_nan(name, var, explicit.get(name, var.encoding))
    return data, read_args


def cleaned(var: Any) -> dict:
    """The encoding of ``var`` without what zarr cannot write or would read back differently."""
    import numpy as np

    enc = dict(var.encoding)
    enc.pop("coordinates", None)  # xarray writes the actual coordinates
    missing = enc.pop("missing_value", None)
    if missing is not None and enc.get("_FillValue") is None:
        # several missing values were all masked when read: one marks them all now
        values = [v for v in np.ravel(missing) if not _isnull(v)]
        if values or np.ndim(missing) == 0:
            enc["_FillValue"] = values[0] if values else missing
    if var.chunks is not None:  # dask's chunks make the zarr chunks
        for key in ("chunks", "shards", "preferred_chunks"):
            enc.pop(key, None)
    return enc


def guard_nan(name: Any, var: Any, enc: dict) -> None:
    """Make writing ``var`` fail, naming it, on a NaN that its encoding ``enc``
    would cast to an integer: floats stored as integers with no ``_FillValue``
    (packed data from files without missing values, combined with data that has some)."""
    if var.dtype.kind != "f" or _dtype(enc.get("dtype", var.dtype)).kind not in "iu" or (
        enc.get("_FillValue") is not None
    ):
        return
    if var.chunks is None:
        var.load()
        has_nan(var.values, name, str(_dtype(enc["dtype"])))
    else:
        var.data = var.data.map_blocks(has_nan, name, str(_dtype(enc["dtype"])), dtype=var.dtype)


def has_nan(block: Any, name: Any, stored: str) -> Any:
    """``block``, if it has no NaN.

    Raises
    ------
    UnstorableDataError
        naming the variable, and what to do.
    """
    import numpy as np

    if np.isnan(block).any():
        raise UnstorableDataError(
            f"variable {name!r} has NaN, but its encoding stores it as {stored} "
            "with no _FillValue to mark them: "
            f"pass the writer argument encoding={{{name!r}: {{'_FillValue': <an unused integer>}}}}, "
            "or persist a source whose variable has no NaN or no integer 'dtype' encoding"
        )
    return block


def unpack(var: Any) -> bool:
    """Store ``var`` as it is in memory; whether its encoding said otherwise."""
    found = [k for k in PACKING if k in var.encoding]
    for key in found:
        del var.encoding[key]
    return bool(found)


def _isnull(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isnull(value))
    except (TypeError, ValueError):
        return False


def _dtype(value: Any) -> Any:
    import numpy as np

    try:
        return np.dtype(value)
    except TypeError:
        return np.dtype(object)


def sample(data: Any) -> Any:
    """The first two items along each dimension of ``data``, in memory: dask
    variables as zeros of their dtype (their values are not read)."""
    import numpy as np

    small = data.isel({dim: slice(0, 2) for dim in data.dims}).copy(deep=False)
    for name, var in small.variables.items():
        var.encoding = dict(data.variables[name].encoding)
        if var.chunks is not None:
            var.data = np.zeros(var.shape, var.dtype)
    return small.load()


def differences(data: Any, kwargs: dict, read_args: dict) -> list[tuple[str, str]]:
    """``(variable, what)`` for each way the copy of a slice of ``data`` reads
    back differently: ``what`` is ``dtype``, ``values``, ``role``, ``missing``,
    ``extra`` or ``attrs`` (``variable`` is ``""`` for the dataset's attributes)."""
    import xarray as xr
    import zarr

    before = sample(data)
    store = zarr.storage.MemoryStore()
    writer = {k: v for k, v in kwargs.items() if k in ("encoding", "zarr_format")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before.to_zarr(store, mode="w-", consolidated=False, **writer)
        after = xr.open_dataset(store, engine="zarr", chunks=None, consolidated=False, **read_args).load()
    found = []
    for name, var in before.variables.items():
        if name not in after.variables:
            found.append((name, "missing"))
            continue
        back = after.variables[name]
        if (name in before.coords) != (name in after.coords):
            found.append((name, "role"))
        if back.dtype != var.dtype:
            found.append((name, "dtype"))
        elif not back.to_base_variable().equals(var.to_base_variable()):
            found.append((name, "values"))
        if not _same_attrs(var.attrs, back.attrs):
            found.append((name, "attrs"))
    found += [(name, "extra") for name in after.variables if name not in before.variables]
    if not _same_attrs(before.attrs, after.attrs):
        found.append(("", "attrs"))
    return found


def _same_attrs(a: dict, b: dict) -> bool:
    import xarray as xr
    from xarray.testing import assert_identical

    try:
        assert_identical(xr.Dataset(attrs=a), xr.Dataset(attrs=b))
    except AssertionError:
        return False
    return True


def explain(problems: list[tuple[str, str]], data: Any) -> str:
    """The message of :class:`UnstorableDataError` for ``problems``."""
    lines = []
    for name, what in problems:
        label = f"variable {name!r}" if name else "the dataset's attributes"
        attrs = data.variables[name].attrs if name in data.variables else data.attrs
        if what == "attrs":
            decoded = sorted(k for k in attrs if k in DECODED)
            if decoded:
                lines.append(
                    f"{label} has the attribute(s) {', '.join(map(repr, decoded))} undecoded, which the "
                    "zarr reader would decode (apply to the values, or make coordinates) when the copy "
                    "is read: open the source with CF decoding (xarray's default, not mask_and_scale="
                    "False, decode_times=False or decode_coords=False), or drop or rename the "
                    "attribute(s) in the source"
                )
            else:
                lines.append(f"{label}: its attributes would read back differently from zarr")
        elif what == "role":
            role = "a coordinate" if name in data.coords else "a data variable"
            lines.append(f"{label} is {role} but would read back as the other")
        elif what == "dtype":
            lines.append(f"{label} ({data.variables[name].dtype}) would read back with another dtype")
        elif what == "values":
            lines.append(f"{label} would read back with other values")
        elif what == "missing":
            lines.append(f"{label} would be missing from the copy")
        else:
            lines.append(f"the copy would have an extra variable {name!r}")
    return (
        "this xarray dataset cannot be stored in zarr so that the copy reads back the same: "
        + "; ".join(dict.fromkeys(lines))
        + ". Set the encoding of a variable with the writer argument encoding={name: {...}}, "
        "or persist a source that drops or decodes it."
    )
