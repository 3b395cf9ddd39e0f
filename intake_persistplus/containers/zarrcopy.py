"""Small xarray copies, read straight from their files.

Opening a zarr store through xarray costs a fixed ~20 ms on a small dataset
here, whatever its size: zarr-python 3 runs every metadata read and every
chunk read through its event-loop thread (about 2 ms each, several per
variable). A netCDF file of a few KB opens in a quarter of that, so its copy
would read slower than the original.

A copy on a local disk whose every array is one chunk, compressed with blosc
(zarr's default) or not at all, with no filters, a plain dtype and no more
than :data:`DIRECT_MAX` bytes in all is written with the driver
``persisted_zarr`` and ``direct: true``, but only after reading it back both
ways gave the same dataset (values, dtypes, attributes, coordinates,
encodings). Its ``read()`` then takes the consolidated metadata (one JSON
file) and one file per variable, decodes them, and hands the variables to
xarray's own CF decoding (``engine="store"``), which is what
``xr.open_dataset(..., engine="zarr")`` does after reading them.

Every file is treated as written by someone hostile: it is opened below the
copy's folder one name at a time, never through a link; a folder, named
pipe or device where a file should be raises :class:`PersistPathError`
naming it (a named pipe would block any reader); sizes are checked against
the metadata before anything is decoded (a blosc frame's header says what it
decodes to), so no chunk decodes to more than its array holds. A store the
reader does not otherwise take as it is (edited metadata, a compressor or
dtype it does not know) is read by xarray and zarr as any other copy.
``to_dask()`` and everything else is intake-xarray's ``zarr`` source: the copy
is a zarr v2 store that any zarr reader opens.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import math
import os
import re
import stat
from typing import Any

from intake_xarray.xzarr import ZarrSource

from ..errors import PersistPathError
from ._common import guard_gone

logger = logging.getLogger(__name__)

DRIVER = "persisted_zarr"
#: the most bytes (decoded, all variables) a ``direct`` copy holds: it is read
#: whole, where the zarr reader leaves values on disk until they are used
DIRECT_MAX = 16 << 20
#: numpy dtype kinds read here: booleans, integers, floats, fixed-width bytes
#: and text (complex numbers and the rest are read by zarr)
KINDS = frozenset("biufSU")
#: the most dimensions, and the largest length of one, taken from metadata
MAX_DIMS, MAX_LENGTH = 32, 1 << 40
#: the reader arguments the direct read honours (the others go to xarray and zarr)
HONOURED = frozenset({"decode_coords"})


class NotDirect(Exception):
    """This store is not one the direct reader takes as it is."""


class PersistedZarrSource(ZarrSource):
    """A small xarray dataset persisted by intake-persistplus: a zarr v2 store.

    intake-xarray's ``zarr`` source (same arguments, ``to_dask()`` and YAML
    form) whose ``read()``, with ``direct=True``, reads the store's files itself
    (see :mod:`intake_persistplus.containers.zarrcopy`).
    """

    name = DRIVER

    def __init__(self, urlpath, storage_options=None, metadata=None, direct=False, **kwargs):
        super().__init__(urlpath, storage_options=storage_options, metadata=metadata, **kwargs)
        self._direct = direct is True and not storage_options and local_folder(urlpath)
        self._urlpath = urlpath
        self._read_kwargs = kwargs

    @guard_gone
    def read(self):
        if self._direct:
            ds = direct_read(self._urlpath, self._read_kwargs)
            if ds is not None:
                return ds
        return super().read()

    @guard_gone
    def to_dask(self):
        return super().to_dask()


def local_folder(urlpath: Any) -> bool:
    """Whether ``urlpath`` names a folder on this disk without a protocol."""
    return isinstance(urlpath, str) and "://" not in urlpath and "::" not in urlpath and "*" not in urlpath


def direct_read(path: str, kwargs: dict) -> Any:
    """The dataset ``xr.open_dataset(path, engine="zarr", chunks=None, **kwargs)``
    gives, with its values in memory; None for a store not taken as it is."""
    import xarray as xr

    if set(kwargs) - HONOURED:
        return None
    try:
        store = loaded(path)
    except NotDirect:
        return None
    return xr.open_dataset(store, engine="store", chunks=None, **kwargs)


def readable(path: str, kwargs: dict) -> bool:
    """Whether the copy at ``path`` reads back the same directly as through
    zarr (checked when it is written: ``direct: true`` is recorded only then)."""
    import warnings

    import xarray as xr

    if not local_folder(path):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = direct_read(path, kwargs)
            if fast is None:
                return False
            slow = xr.open_dataset(path, engine="zarr", chunks=None, **kwargs).load()
        return same(fast, slow)
    except Exception as e:  # noqa: BLE001 - then zarr reads the copy, as any other
        logger.debug("the copy at %s is not read directly: %s", path, e)
        return False


def same(a: Any, b: Any) -> bool:
    """Whether two datasets are identical, dtypes and encodings included (the
    order of their variables aside, which zarr's listing decides)."""
    from xarray.testing import assert_identical

    try:
        assert_identical(a, b)
    except AssertionError:
        return False
    if not _same_dicts(a.encoding, b.encoding):
        return False
    return all(a[k].dtype == b[k].dtype and _same_dicts(a[k].encoding, b[k].encoding) for k in a.variables)


def _same_dicts(a: dict, b: dict) -> bool:
    import numpy as np

    def same_value(x: Any, y: Any) -> bool:
        if isinstance(x, np.dtype) or isinstance(y, np.dtype):
            return x == y  # dtype('<f4') is dtype('float32'), whichever zarr says
        return repr(x) == repr(y)  # codecs, tuples, NaN fill values

    return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)


def loaded(path: str) -> Any:
    """An xarray data store holding the variables of the zarr v2 store at
    ``path``, read whole (:func:`read_store`).

    Raises
    ------
    NotDirect
        for a store this reader does not take as it is.
    """
    return _store_class()(path)


@functools.cache
def _store_class() -> type:
    """The class of :func:`loaded`'s stores (made when first used: xarray is
    imported only then)."""
    from xarray.backends.common import AbstractDataStore

    class Loaded(AbstractDataStore):
        def __init__(self, path: str) -> None:
            self.path = path  # xarray takes the dataset's encoding["source"] from it
            self._variables, self._attrs = read_store(path)

        def get_variables(self):
            return self._variables

        def get_attrs(self):
            return self._attrs

        def close(self) -> None:
            pass

    return Loaded


def read_store(path: str) -> tuple[dict, dict]:
    """(variables by name, the group's attributes) of the zarr v2 store at
    ``path``, as xarray's zarr backend makes them before CF decoding.

    Raises
    ------
    NotDirect
        for anything this reader does not take as it is.
    PersistPathError
        for a link, folder, named pipe or device where a file should be.
    """
    import xarray as xr

    try:
        folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError:
        raise NotDirect from None
    try:
        try:
            meta = json.loads(_read(folder, path, [".zmetadata"], 1 << 22))
        except PersistPathError:
            raise
        except (OSError, ValueError, RecursionError):
            raise NotDirect from None
        if not isinstance(meta, dict) or not isinstance(meta.get("metadata"), dict):
            raise NotDirect
        meta = meta["metadata"]
        group = meta.get(".zattrs", {})
        if not isinstance(group, dict):
            raise NotDirect
        arrays = {}
        for key in meta:
            if not isinstance(key, str) or key in (".zgroup", ".zattrs"):
                continue
            name, _, leaf = key.rpartition("/")
            if leaf not in (".zarray", ".zattrs") or not _plain(name):
                raise NotDirect  # a group inside, or a name that is not a file's
            if leaf == ".zarray":
                try:
                    arrays[name] = _array(meta[key], meta.get(f"{name}/.zattrs"))
                except (TypeError, ValueError, OverflowError, UnicodeError):
                    raise NotDirect from None  # what numpy or numcodecs refuse
        if sum(a[1].itemsize * math.prod(a[2]) for a in arrays.values()) > DIRECT_MAX:
            raise NotDirect
        variables = {}
        for name in sorted(arrays):
            dims, dtype, shape, codec, fill, key, attrs, encoding = arrays[name]
            data = _chunk(folder, path, [name, *key], dtype, shape, codec, fill)
            if fill is not None:
                attrs["_FillValue"] = fill
            variables[name] = xr.Variable(dims, data, attrs, encoding)
    finally:
        os.close(folder)
    attrs = {k: v for k, v in group.items() if not k.lower().startswith("_nc")}
    return variables, attrs


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _plain(name: str) -> bool:
    """Whether ``name`` is one file name, as zarr writes them."""
    if not name or name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\\x00"):
        return False
    try:
        os.fsencode(name)
    except UnicodeError:  # a lone surrogate, say
        return False
    return True


def _ints(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= MAX_DIMS and all(
        type(v) is int and 0 <= v < MAX_LENGTH for v in value)


def _array(zarray: Any, zattrs: Any) -> tuple:
    """(dims, dtype, shape, codec, fill value, chunk file's path parts,
    attributes, encoding) of one array's metadata."""
    import numpy as np

    if not isinstance(zarray, dict) or not isinstance(zattrs, dict) or zarray.get("zarr_format") != 2:
        raise NotDirect
    shape, chunks = zarray.get("shape"), zarray.get("chunks")
    if not _ints(shape) or not _ints(chunks) or len(chunks) != len(shape):
        raise NotDirect
    separator = zarray.get("dimension_separator", ".")
    if any(c < s for c, s in zip(chunks, shape, strict=True)) or zarray.get("filters") is not None \
            or zarray.get("order") != "C" or separator not in (".", "/"):
        raise NotDirect  # several chunks, filters, Fortran order
    text = zarray.get("dtype")
    if not isinstance(text, str) or not re.fullmatch(r"[<|][biufSU][1-9][0-9]{0,8}", text):
        raise NotDirect  # (numpy takes more: "<a5" for "|S5", "<U" for "<U0", ">f4")
    dtype = np.dtype(text)
    if dtype.str != text and not (dtype.str[0] == "|" and dtype.str[1:] == text[1:]):
        raise NotDirect
    if text[0] == "<" and dtype.itemsize > 1:
        dtype = dtype.newbyteorder("<")  # said as zarr says it: dtype('<f4'), not dtype('float32')
    codec = zarray.get("compressor")
    if codec is not None:
        from numcodecs import get_codec

        if not isinstance(codec, dict) or codec.get("id") != "blosc":
            raise NotDirect  # other compressors do not say what a chunk decodes to: zarr reads those
        try:
            codec = get_codec(dict(codec))
        except KeyError:
            raise NotDirect from None
    attrs = dict(zattrs)
    dims = attrs.pop("_ARRAY_DIMENSIONS", None)
    if not isinstance(dims, list) or len(dims) != len(shape) or not all(isinstance(d, str) for d in dims):
        raise NotDirect
    key = separator.join("0" * len(shape)).split("/") if shape else ["0"]
    fill = _fill(zarray.get("fill_value"), dtype)
    chunks = tuple(chunks)
    encoding = {
        "chunks": chunks,
        "preferred_chunks": dict(zip(dims, chunks, strict=True)),
        "compressors": (codec,) if codec is not None else (),
        "filters": (),
        "shards": None,
    }
    return tuple(dims), dtype, tuple(shape), codec, fill, key, attrs, encoding


def _fill(value: Any, dtype: Any) -> Any:
    """A zarr v2 ``fill_value`` as zarr reads it: a scalar of the array's dtype."""
    import numpy as np

    if value is None:
        return None
    if dtype.kind == "f" and value in ("NaN", "Infinity", "-Infinity"):
        return dtype.type({"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}[value])
    if dtype.kind in "iu" and type(value) is int:
        info = np.iinfo(dtype)
        if info.min <= value <= info.max:
            return dtype.type(value)
    elif dtype.kind == "f" and type(value) in (int, float) and math.isfinite(value) \
            and abs(value) <= float(np.finfo(dtype).max):
        return dtype.type(value)
    elif dtype.kind == "b" and type(value) is bool:
        return dtype.type(value)
    raise NotDirect  # text fill values, and values the dtype cannot hold


def _read(folder: int, path: str, parts: list[str], limit: int) -> bytes:
    """At most ``limit`` bytes of the file ``parts`` names below ``folder`` (an
    open folder, at ``path``), opened one name at a time, following no link.

    Raises
    ------
    FileNotFoundError
        when there is none.
    PersistPathError
        for a link, folder, named pipe or device on the way or at the end (a
        named pipe would block any reader, this one and zarr's alike): the copy
        was edited.
    """
    where = os.path.join(path, *parts)
    opened, fd = [], folder
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                fd = os.open(part, flags, dir_fd=fd)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):
                    raise
                raise _edited(where) from None
            opened.append(fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _edited(where)
        with open(os.dup(fd), "rb") as f:
            return f.read(limit)
    finally:
        for fd in opened:
            os.close(fd)


def _edited(where: str) -> PersistPathError:
    return PersistPathError(
        f"{where} in a persisted copy is a link, a folder, a named pipe or a device where "
        "zarr writes a file: the copy was edited; remove it, or persist the source again"
    )


def _chunk(folder: int, path: str, parts: list[str], dtype: Any, shape: tuple, codec: Any, fill: Any) -> Any:
    """The values of a one-chunk array, checked to be exactly its size."""
    import numpy as np

    size = dtype.itemsize * math.prod(shape)
    try:
        # blosc adds a 16-byte header and at most 16 bytes a block to what it cannot compress
        raw = _read(folder, path, parts, size + 1 if codec is None else size + 16 + 16 * (size // 256 + 1))
    except FileNotFoundError:
        # zarr writes no chunk that is all fill value (zeros where there is none)
        return np.zeros(shape, dtype) if fill is None else np.full(shape, fill, dtype)
    except PersistPathError:
        raise
    except OSError:
        raise NotDirect from None
    if codec is None:
        if len(raw) != size:
            raise NotDirect
        buf = bytearray(raw)
    else:
        # a blosc frame's header says its sizes (bytes 4-8 decoded, 12-16 the
        # frame's own): what it decodes to is known, and bounded, before decoding
        if len(raw) < 16 or int.from_bytes(raw[4:8], "little") != size \
                or int.from_bytes(raw[12:16], "little") != len(raw):
            raise NotDirect
        buf = bytearray(size)
        try:
            codec.decode(raw, out=buf)
        except Exception:  # noqa: BLE001 - a damaged chunk: zarr's reader says what is wrong
            raise NotDirect from None
    return np.frombuffer(buf, dtype).reshape(shape)
