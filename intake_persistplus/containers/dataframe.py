"""Dataframes persist to parquet (written with pyarrow) and come back as
``intake_parquet.ParquetSource`` (its subclass
:class:`~intake_persistplus.containers.parquet.PersistedParquetSource`,
registered with intake as the driver ``persisted_parquet``).

Exactness, path by path:

* ``to_dask()`` of the copy has one file per partition of the original's
  ``to_dask()``, so the same number of partitions; files are written in
  parallel through dask, one partition at a time per worker, so memory follows
  the partition size.
* a default index (unnamed, a fresh range in every partition, unknown
  divisions, as ``read_csv`` makes) is not written; any other index is.
* the pandas metadata stored in the files describes the dtypes that the
  original's ``read()`` gives (:mod:`.asread`), while the data is written as ``to_dask()`` made it.
  ``pd.read_parquet`` follows that metadata, and dask applies its own string
  conversion on read exactly as it did on the original, so ``read()`` and
  ``to_dask()`` of the copy match the same path of the original without a
  second pass over the data.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from . import asread, csvfast, restore
from ._common import OURS, compute, content_hash, label, lazy_or_eager, write_table
from .csvbools import NotBooleans, as_booleans, bool_gap_columns, bool_text_columns, raw_parts

logger = logging.getLogger(__name__)

DRIVER = "persisted_parquet"  # see containers/parquet.py


def _writer_kwargs() -> set[str]:
    import pyarrow.parquet as pq

    names = set(inspect.signature(pq.write_table).parameters)
    names |= set(inspect.signature(pq.ParquetWriter.__init__).parameters)
    return names - {"self", "table", "where", "kwargs", "schema", "filesystem"}


def _default_index(ddf: Any) -> bool:
    """True when the index is a per-partition fresh range that need not be written."""
    import pandas as pd

    idx = ddf._meta.index
    return isinstance(idx, pd.RangeIndex) and idx.name is None and not ddf.known_divisions


def _pandas_metadata(meta: Any, preserve_index: bool) -> bytes:
    import pyarrow as pa

    schema = pa.Schema.from_pandas(meta, preserve_index=preserve_index)
    return schema.metadata[b"pandas"]


def _fresh_range(index: Any) -> bool:
    import pandas as pd

    return (
        isinstance(index, pd.RangeIndex)
        and index.name is None
        and index.start == 0
        and index.step == 1
    )


def _unwritable_columns(df: Any) -> list[str]:
    import pyarrow as pa

    bad = []
    for col in df.columns:
        try:
            pa.Table.from_pandas(df[[col]], preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            bad.append(f"{col!r} ({df[col].dtype})")
    return bad


#: what :func:`_write_part` returns when a column dask guessed is boolean holds other words
NOT_BOOLEANS = "not booleans"


def _write_part(
    df: Any, fs: Any, path: str, preserve_index: bool, pandas_md: bytes | None, kw: dict,
    ours: bytes | None = None, gaps: list[str] | None = None,
) -> tuple[bool, int, str] | str | None:
    """Write one partition; return (whether its index was a fresh 0..n-1 range,
    bytes written, their SHA-256), or None when it was not written because its
    index must be (the caller then writes every partition again, with it), or
    :data:`NOT_BOOLEANS`.
    ``gaps``: text columns written as booleans with gaps (:func:`bool_gap_columns`)."""
    import pyarrow as pa

    if gaps:
        try:
            df = as_booleans(df, gaps)
        except NotBooleans:
            return NOT_BOOLEANS  # nothing written: the caller writes dask's cast instead
    fresh = _fresh_range(df.index)
    if not preserve_index and not fresh:
        return None
    try:
        table = pa.Table.from_pandas(df, preserve_index=preserve_index)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
        bad = _unwritable_columns(df) or ["(the index)"]
        raise TypeError(
            f"column(s) {', '.join(bad)} cannot be written to parquet ({e}); convert them "
            "(e.g. .astype(str)) in the source, or register a persister for this container"
        ) from e
    if pandas_md is not None or ours is not None:
        md = dict(table.schema.metadata or {})
        if pandas_md is not None:
            md[b"pandas"] = pandas_md
        if ours is not None:
            md[OURS] = ours
        table = table.replace_schema_metadata(md)
    return (fresh, *write_table(table, fs, path, kw))


#: what the writer arguments users get wrong most accept
_ACCEPTED = {
    "compression": "'none', 'snappy', 'gzip', 'brotli', 'lz4' or 'zstd' (or a dict of them by column)",
    "row_group_size": "a whole number of rows >= 1",
    "compression_level": "a level the codec takes (gzip 1-9, brotli 0-11, zstd 1-22), or a dict of them by column",
    "version": "'1.0', '2.4' or '2.6'",
    "use_dictionary": "True, False or a list of column names",
}


def _try_writer_values(kwargs: dict) -> None:
    """Write a one-row table with each argument in turn; name the first one refused."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..errors import PersistSettingError

    if not kwargs:
        return
    size = kwargs.get("row_group_size")
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool) and size >= 1):
        raise PersistSettingError(
            f"writer argument row_group_size={size!r} is refused: give {_ACCEPTED['row_group_size']}"
        )
    table = pa.table({"x": [1]})
    try:
        pq.write_table(table, io.BytesIO(), **kwargs)
        return
    except Exception as whole:  # find the argument at fault, to name it
        error: Exception = whole
    for key, value in kwargs.items():
        extra = {"compression": kwargs.get("compression", "zstd")} if key == "compression_level" else {}
        try:
            pq.write_table(table, io.BytesIO(), **{key: value, **extra})
        except Exception as e:
            accepted = _ACCEPTED.get(key, "what pyarrow.parquet.write_table accepts")
            raise PersistSettingError(
                f"writer argument {key}={value!r} is refused by pyarrow's parquet writer "
                f"({type(e).__name__}: {e}); give {accepted}"
            ) from None
    raise PersistSettingError(
        f"the writer arguments {kwargs!r} are refused together by pyarrow's parquet writer "
        f"({type(error).__name__}: {error})"
    ) from None


class DataFramePersister:
    """Persist ``dataframe`` sources to a folder of parquet files."""

    container = "dataframe"

    def check_kwargs(self, kwargs: dict) -> dict:
        """Refuse writer keyword arguments that pyarrow's parquet writer does not take,
        or whose values it refuses (tried on a one-row table, before anything is written)."""
        unknown = sorted(set(kwargs) - _writer_kwargs())
        if unknown:
            raise TypeError(
                f"unknown parquet writer argument(s) {', '.join(map(repr, unknown))} for a "
                "dataframe; accepted are pyarrow.parquet.write_table's, e.g. "
                "compression, row_group_size, use_dictionary"
            )
        _try_writer_values(kwargs)
        return kwargs

    def write(self, source: Any, path: str, storage_options: dict | None = None, **kwargs: Any):
        import fsspec

        self.check_kwargs(kwargs)
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
        fs.makedirs(root, exist_ok=True)
        data, lazy = lazy_or_eager(source)
        args = {"urlpath": path, "engine": "pyarrow"}
        if lazy and hasattr(data, "to_delayed"):
            try:
                divisions, files, noted = self._write_dask(source, data, fs, root, kwargs)
            except ValueError as e:
                if not _guessed_wrong(e):
                    raise
                _guessed_wrong_warning(source, e)
                for p in fs.ls(root, detail=False):
                    fs.rm(p, recursive=True)
                files, noted = self._write_frame(source.read(), fs, root, kwargs)
                divisions = False
            if divisions:
                args["calculate_divisions"] = True
        else:
            files, noted = self._write_frame(data if not lazy else source.read(), fs, root, kwargs)
        if noted:  # the copy reads what parquet does not hold from the files (restore.py)
            args["restore"] = True
        return DRIVER, args, content_hash(files)

    @staticmethod
    def _write_frame(df: Any, fs: Any, root: str, kwargs: dict) -> tuple[list[tuple], bool]:
        """Write ``df`` as one file; return its (name, size, SHA-256), and
        whether anything parquet does not hold was noted."""
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(
                f"a dataframe source's read() returned {type(df).__name__}, not a pandas DataFrame"
            )
        name = "part.00000.parquet"
        ours = restore.encoded(restore.noted(df, df.index))
        _, size, digest = _write_part(df, fs, f"{root}/{name}", not _fresh_range(df.index), None,
                                      kwargs, ours)
        return [(name, size, digest)], ours is not None

    @staticmethod
    def _write_dask(source: Any, ddf: Any, fs: Any, root: str, kwargs: dict) -> tuple[bool, list, bool]:
        """Write every partition; return (whether the index and known divisions
        were kept, each file's (name, size, SHA-256), whether anything parquet
        does not hold was noted)."""
        preserve = not _default_index(ddf)
        meta = ddf._meta
        as_read = asread.read_dtypes(source, meta)
        if as_read:
            logger.debug("string columns %s are recorded as %s", list(as_read), as_read)
        shown = meta.astype(as_read) if as_read else meta  # the dtypes read() gives
        gaps = bool_gap_columns(source, meta)
        return _write_parts(source, ddf, fs, root, kwargs, preserve, shown, gaps)


def _write_parts(source: Any, ddf: Any, fs: Any, root: str, kwargs: dict, preserve: bool,
                 shown: Any, gaps: list[str]) -> tuple[bool, list, bool]:
    """:meth:`DataFramePersister._write_dask`'s writing: every partition of
    ``ddf``; ``gaps``: boolean columns written with their gaps (:func:`bool_gap_columns`),
    from pyarrow's parse of a block, or from the partitions of the same read
    with those columns as text."""
    import dask

    meta = ddf._meta
    plain = ddf.to_delayed()
    fast = None if preserve else csvfast.plan(source, ddf)
    raw = raw_parts(source, ddf, gaps) if gaps and fast is None else None
    if fast is None and raw is None:
        gaps = []
    keep = shown is not meta or gaps  # the pandas metadata names read()'s dtypes

    def pandas_md(preserve: bool) -> bytes | None:
        return _pandas_metadata(shown, preserve) if keep else None

    bools = bool_text_columns(source, meta)
    info = restore.noted(shown, None, bools, meta, gaps)
    ours = restore.encoded(info)
    noted = any(k != "bool_text" for k in info)  # booleans as text: read() looks at its data first
    write = dask.delayed(_write_part, pure=False)
    width = max(5, len(str(len(plain) - 1)))
    names = [f"part.{i:0{width}d}.parquet" for i in range(len(plain))]
    paths = [f"{root}/{n}" for n in names]

    def run(which: list[int], preserve: bool, parts: list, gaps: list[str]) -> list:
        done = compute(*[write(parts[i], fs, paths[i], preserve, pandas_md(preserve), kwargs, ours, gaps)
                         for i in which])
        redo = [i for i, d in zip(which, done, strict=True) if isinstance(d, str)]
        if redo:  # words past dask's guess: its cast (the original's to_dask()) is all there is
            logger.info("%d parts hold other words than booleans; written as dask casts them", len(redo))
            again = dict(zip(redo, run(redo, preserve, plain, []), strict=True))
            done = [again.get(i, d) for i, d in zip(which, done, strict=True)]
        return list(done)

    everything = list(range(len(plain)))
    if fast is not None:
        fast[0].gaps = frozenset(gaps)

        def fallback(slow: list[int]) -> list:
            raw = raw_parts(source, ddf, gaps) if gaps else None
            return run(slow, False, raw or plain, gaps if raw else [])

        done = _write_blocks(fast, fs, paths, kwargs, pandas_md(False) or _pandas_metadata(meta, False),
                             ours, fallback)
    else:
        done = run(everything, preserve, raw or plain, gaps)
    divisions = preserve and bool(ddf.known_divisions)
    if not preserve and not all(d is not None and d[0] for d in done):
        # a range index that does not restart at 0 in every partition (a filtered
        # read_csv, say) is data: only in that rare case is the source read twice
        logger.info("partition indexes are not fresh ranges; writing them too")
        for path in fs.ls(root, detail=False):
            fs.rm(path)
        raw = raw if raw is not None or not gaps else raw_parts(source, ddf, gaps)
        done = run(everything, True, raw or plain, gaps if raw else [])
        divisions = False
    files = [(name, size, digest) for name, (_, size, digest) in zip(names, done, strict=True)]
    return divisions, files, noted


def _write_blocks(fast: tuple, fs: Any, paths: list[str], kwargs: dict, pandas_md: bytes,
                  ours: bytes | None, fallback: Any) -> list:
    """Write a CSV source block by block through pyarrow (:mod:`.csvfast`);
    the blocks it cannot promise pandas' result for are written by
    ``fallback(their numbers)``, from their partitions. Return what
    :func:`_write_part` returns, per file."""
    import dask

    plan, blocks, first = fast
    metadata = {b"pandas": pandas_md, **({OURS: ours} if ours is not None else {})}
    write = dask.delayed(csvfast.write_block, pure=False)
    done = compute(*[write(block, is_first, plan, fs, path, kwargs, metadata)
                     for block, is_first, path in zip(blocks, first, paths, strict=True)])
    done = [None if d is None else (True, *d) for d in done]
    slow = [i for i, d in enumerate(done) if d is None]
    if slow:
        logger.info("%d of %d blocks read by pandas (pyarrow could not promise the same result)",
                    len(slow), len(done))
        for i, d in zip(slow, fallback(slow), strict=True):
            done[i] = d if d is not None else (False, 0, "")
    return done


def _guessed_wrong(error: Exception) -> bool:
    """Whether ``error`` is dask's refusal of a CSV column whose type changes
    after the rows it guessed types from (its ``to_dask()`` cannot be computed,
    while pandas' ``read()`` of the whole file can)."""
    return "Mismatched dtypes found in `pd.read_csv`" in str(error)


def _guessed_wrong_warning(source: Any, error: Exception) -> None:
    import warnings

    from ..errors import PersistWarning

    first = str(error).split("Usually this is due", 1)[0].strip()
    warnings.warn(
        f"the original's to_dask() fails on {label(source)} (dask guessed a column's type "
        f"from the first rows, and later rows differ):\n{first}\nThe copy is written from "
        "read(), as one partition: its read() and to_dask() give read()'s data. To keep "
        "the original's partitions, give the reader the column's type (dtype=...).",
        PersistWarning, stacklevel=4)
