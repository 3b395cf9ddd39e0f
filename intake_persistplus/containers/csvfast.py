"""CSV sources straight to parquet: each of dask's byte blocks parsed by
pyarrow's CSV reader and written without going through pandas.

The copy must be exactly what the original's ``to_dask()`` gives, partition by
partition. ``dd.read_csv`` cuts the files into byte blocks, reads each with
``pd.read_csv`` (which infers a type for every column in chunks of rows) and
casts the result to the dtypes it guessed from the first rows. Here the same
blocks (from ``dask.bytes.read_bytes`` with the same block size: one file per
partition, as before) are parsed by pyarrow with the column types of that
guess, pandas' missing-value strings and pandas' booleans. A block is written
this way only when the result is certainly what pandas would have made of it:

* a whole number or boolean column without gaps (pandas would have made
  floats or objects of a gap, which dask's cast turns into an error or True);
* a text column whose every chunk of rows, as pandas reads them, holds a value
  that pandas cannot take for a number or a boolean (else pandas would have
  turned ``007`` into ``7``), or only the words True/False, or only gaps;
* a float column without whole numbers past 2**63, a text column without
  integers of 20 digits or more (pandas reads a column holding an integer past
  ``int64``/``uint64`` as text, gaps as '' or as the words written, depending
  on the order of its values);
* anything pyarrow refuses (a field too many, a value out of range, bytes
  that are not UTF-8...).

Any other block is written the usual way, from its ``to_dask()`` partition,
so the rules of the original (its errors included) apply to it unchanged.
Reader arguments outside a short list, compressed files, columns of other
types (dates, categories...), and floats before pandas 3 (whose parser does
not round every 17-digit decimal correctly, pyarrow's does) keep the whole
source on the usual path.
"""

from __future__ import annotations

import logging
from typing import Any

from ._common import is_local, label

logger = logging.getLogger(__name__)

#: pandas' default missing-value strings (``pandas._libs.parsers.STR_NA_VALUES``)
NA_STRINGS = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
TRUE, FALSE = ["True", "TRUE", "true"], ["False", "FALSE", "false"]

#: reader arguments whose effect on parsing is reproduced here (any other: usual path)
_READER_ARGS = {"blocksize", "sep", "delimiter", "dtype", "assume_missing", "sample",
                "sample_rows", "encoding"}  # fmt: skip
#: a value pandas may read as a number: digits, signs, points, exponents, blanks...
_NUMBERISH = r"^[\s0-9+\-.eE_]*$"
#: ... or one of these words, in any case and with a sign
_WORDS = r"^\s*[+-]?(inf|infinity|nan|true|false)\s*$"


def _pandas_chunk_rows(width: int) -> int:
    """How many rows pandas' C reader infers a column type from at a time
    (``low_memory``): the largest power of two under 2**20 / columns."""
    heuristic = 2**20 // max(width, 1)
    rows = 1
    while rows * 2 < heuristic:
        rows *= 2
    return rows


def _kinds(meta: Any, told: set) -> dict | None:
    """How each column is checked, by its dtype in dask's guess; None when a
    column has a type this path does not reproduce."""
    import numpy as np
    import pandas as pd

    floats_exact = int(pd.__version__.split(".")[0]) >= 3
    kinds = {}
    for col, dt in meta.dtypes.items():
        if not isinstance(col, str):
            return None
        if dt == np.dtype("int64"):
            kinds[col] = "int"
        elif dt == np.dtype("bool"):
            kinds[col] = "bool"
        elif dt == np.dtype("float64") and floats_exact:
            kinds[col] = "float"
        elif isinstance(dt, pd.StringDtype) or dt == np.dtype("O"):
            kinds[col] = "told" if col in told else "text"
        else:
            return None
    return kinds


class Plan:
    """What every block of one CSV source is parsed with (small: sent to each task)."""

    def __init__(self, header: bytes, kinds: dict, schema: Any, sep: str):
        self.header, self.kinds, self.schema, self.sep = header, kinds, schema, sep
        self.chunk = _pandas_chunk_rows(len(kinds))
        #: boolean columns whose gaps are kept (the writer notes them: see restore.py)
        self.gaps: frozenset = frozenset()


def plan(source: Any, ddf: Any) -> tuple[Plan, list, list] | None:
    """How to write ``source`` (intake's ``csv`` driver) block by block: the
    plan, dask's byte blocks (:class:`Block`, one per partition of ``ddf``) and which
    of them start a file; None when it must take the usual path (the reason
    is logged)."""
    found = _planned(source, ddf)
    if isinstance(found, str):
        logger.debug("CSV fast path not taken for %s: %s", label(source), found)
        return None
    return found


def _planned(source: Any, ddf: Any) -> tuple[Plan, list, list] | str:
    import pyarrow as pa
    from dask.bytes import read_bytes
    from dask.dataframe.io.csv import AUTO_BLOCKSIZE
    from fsspec.utils import infer_compression

    if type(source).__name__ != "CSVSource" or not type(source).__module__.startswith("intake."):
        return "not intake's csv driver"
    data = getattr(source, "data", None)
    kwargs = dict(getattr(source, "kwargs", None) or {})
    if data is None or not hasattr(data, "url"):
        return "an intake version whose csv source this path does not know"
    if set(kwargs) - _READER_ARGS:
        return f"reader arguments {sorted(set(kwargs) - _READER_ARGS)}"
    sep = kwargs.get("sep", kwargs.get("delimiter", ","))
    if not (isinstance(sep, str) and len(sep) == 1 and sep not in "\"\n\r"):
        return f"separator {sep!r}"
    if str(kwargs.get("encoding", "utf-8")).lower().replace("_", "-") not in ("utf-8", "utf8"):
        return f"encoding {kwargs['encoding']!r}"
    told = kwargs.get("dtype") or {}
    if not isinstance(told, dict):
        return "one dtype for every column"
    kinds = _kinds(ddf._meta, set(told))
    if kinds is None:
        return f"column types {dict(ddf._meta.dtypes.astype(str))}"
    storage_options = getattr(data, "storage_options", None) or {}
    fs, paths = _paths(data.url, storage_options)
    if any(infer_compression(p) for p in paths):
        return "compressed files"
    blocksize = kwargs.get("blocksize", "default")
    if blocksize == "default":
        blocksize = AUTO_BLOCKSIZE
    sample, values = read_bytes(data.url, delimiter=b"\n", blocksize=blocksize,
                                sample=int(kwargs.get("sample", 256000)), compression=None,
                                **storage_options)
    values = values if isinstance(values[0], (list, tuple)) else [values]
    if len(values) != len(paths):
        return f"{len(values)} lists of blocks for {len(paths)} files"
    local = is_local(fs)
    blocks = [
        block for path, per_file in zip(paths, values, strict=True)
        for block in _blocks(path, per_file, fs if local else None)
    ]
    if len(blocks) != ddf.npartitions:
        return f"{len(blocks)} blocks for {ddf.npartitions} partitions"
    first = [i == 0 for per_file in values for i in range(len(per_file))]
    if b"\n" not in sample:
        return "no complete header line in the sample"
    header = sample.split(b"\n", 1)[0] + b"\n"  # as dask finds it
    if header.startswith(b"\xef\xbb\xbf"):
        return "a byte order mark"
    schema = pa.Schema.from_pandas(ddf._meta, preserve_index=False)
    types = [
        (f.name, f.type if not pa.types.is_null(f.type) else pa.string()) for f in schema
    ]
    schema = pa.schema(types, metadata=schema.metadata)
    return Plan(header, kinds, schema, sep), blocks, first


def _paths(url: Any, storage_options: dict) -> tuple[Any, list[str]]:
    """The file system and the files of ``url``, as ``dask.bytes.read_bytes`` expands them."""
    import fsspec

    fs, _, paths = fsspec.core.get_fs_token_paths(url, mode="rb", storage_options=storage_options)
    return fs, list(paths)


class NotExact(Exception):
    """This block may not come out of pyarrow as it does out of pandas."""


class _Chunks:
    """The text columns of a block, checked chunk of rows by chunk of rows (as
    pandas infers their types) while the rows stream in. A chunk keeps its
    text as written when one of its values is neither a number nor a boolean
    to pandas; or when all its values present are 'True'/'False' (pandas'
    booleans, which dask turns back into the same words); or when none is."""

    def __init__(self, columns: list[str], size: int):
        self.columns, self.size, self.row = columns, size, 0
        self._reset()

    def _reset(self) -> None:
        # per column: [a value pandas keeps as text, a value present, all present True/False]
        self.state = {c: [False, False, True] for c in self.columns}

    def feed(self, batch: Any) -> None:
        start = 0
        while start < batch.num_rows:
            part = batch.slice(start, self.size - self.row % self.size)
            for col in self.columns:
                _update(self.state[col], part.column(col))
            start += part.num_rows
            self.row += part.num_rows
            if self.row % self.size == 0:
                self.close()

    def close(self) -> None:
        for col, (text, present, words) in self.state.items():
            if present and not text and not words:
                first = (self.row - 1) // self.size * self.size
                raise NotExact(f"pandas reads rows {first}.. of column {col!r} as numbers or booleans")
        self._reset()


def _update(state: list, values: Any) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if state[0]:
        return
    present = values.drop_null()
    if len(present) == 0:
        return
    state[1] = True
    for part in (present.slice(0, 64), present):
        numberish = pc.match_substring_regex(part, _NUMBERISH)
        word = pc.match_substring_regex(part, _WORDS, ignore_case=True)
        if pc.any(pc.invert(pc.or_(numberish, word))).as_py():
            state[0] = True
            return
    state[2] = state[2] and pc.all(pc.is_in(present, value_set=pa.array(["True", "False"]))).as_py()


def parse(block: Any, first: bool, plan: Plan) -> Any:
    """The block as an arrow table, parsed by pyarrow (all its threads) as
    pandas would see it. Raises :class:`NotExact` where pyarrow cannot
    promise pandas' result."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = plan.schema.names
    if isinstance(block, str):  # a whole local file
        if not first:
            raise NotExact("a file that is not its first block")
        start = b""
    else:
        start = block.head(len(plan.header)) if isinstance(block, _Range) else block[:len(plan.header)]
    if first:
        skip = 0  # the file's own header line: its names must be the guessed ones
    elif start.startswith(plan.header):
        skip = 1  # dask takes such a line for the header (and pandas drops it)
    elif start.startswith(plan.header.rstrip()):
        raise NotExact("a line that starts like the header")
    else:
        skip = 0
    try:
        table = pacsv.read_csv(
            block if isinstance(block, (str, _Range)) else pa.py_buffer(block),
            read_options=pacsv.ReadOptions(
                column_names=None if first else names, skip_rows=skip, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(delimiter=plan.sep, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict(zip(names, plan.schema.types, strict=True)),
                null_values=NA_STRINGS, true_values=TRUE, false_values=FALSE,
                strings_can_be_null=True, quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise NotExact(f"pyarrow: {e}") from None
    if table.schema.names != names:
        raise NotExact(f"column names {table.schema.names}, not {names}")
    for col, kind in plan.kinds.items():
        if kind in ("int", "bool") and table.column(col).null_count and col not in plan.gaps:
            raise NotExact(f"gaps in column {col!r}, which pandas reads as another type")
        if kind == "float" and _huge_whole_numbers(table.column(col)):
            # pandas reads a column holding an integer past int64/uint64 as text
            # (gaps as '', no floats), depending on the order of its values
            raise NotExact(f"whole numbers past 2**63 in column {col!r}")
    texts = [c for c, kind in plan.kinds.items() if kind == "text"]
    for col in texts:
        if _huge_integers(table.column(col)):
            # a chunk whose first values are whole numbers, one past uint64, is
            # text to pandas with its missing-value words kept as written
            raise NotExact(f"whole numbers past uint64 in column {col!r}")
    chunks = _Chunks(texts, plan.chunk)
    chunks.feed(table)
    chunks.close()
    return table.cast(plan.schema)


def _huge_integers(values: Any) -> bool:
    import pyarrow.compute as pc

    if len(values) == 0 or (pc.max(pc.utf8_length(values)).as_py() or 0) < 20:
        return False  # 2**64 has 20 digits
    return bool(pc.any(pc.match_substring_regex(values, r"^\s*[+-]?[0-9]{20,}\s*$")).as_py())


def _huge_whole_numbers(values: Any) -> bool:
    import pyarrow.compute as pc

    bounds = pc.min_max(values)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is None or (abs(low) < 2.0**63 and abs(high) < 2.0**63):
        return False  # (NaN and inf: not whole numbers pandas could have read as integers)
    big = pc.greater_equal(pc.abs(values), 2.0**63)
    whole = pc.and_(pc.is_finite(values), pc.equal(pc.floor(values), values))
    return bool(pc.any(pc.and_(big, whole)).as_py())


class Block:
    """One of dask's byte blocks, read inside the task that parses it (so a
    block is in memory only while it is parsed and written). On a local disk
    pyarrow reads it from the file itself, a piece at a time while parsing
    (``path`` and dask's ``offset`` and ``length``; no ``length``: the whole
    file); elsewhere it is dask's own read (``lazy``)."""

    def __init__(self, lazy: Any = None, path: str | None = None, offset: int = 0,
                 length: int | None = None):
        self.lazy, self.path, self.offset, self.length = lazy, path, offset, length

    def get(self) -> Any:
        if self.path is None:
            return self.lazy.compute(scheduler="sync")
        if self.length is None:
            return self.path
        return _Range(self.path, self.offset, self.length)


def _blocks(path: str, lazy: list, fs: Any) -> list[Block]:
    """dask's blocks of one file; for a local file, as ranges of it. The
    offsets are those dask chose (they are in its keys, ``read-block-<offset>-``),
    the lengths follow from them; where its keys say otherwise, dask reads."""
    import re

    if fs is None:
        return [Block(lazy=b) for b in lazy]
    if len(lazy) == 1:
        return [Block(path=path)]
    found = [re.match(r"read-block-(\d+)-", str(getattr(b, "key", ""))) for b in lazy]
    offsets = [int(m.group(1)) for m in found if m]
    size = fs.size(path)
    if len(offsets) != len(lazy) or offsets[0] != 0 or offsets != sorted(set(offsets)) or offsets[-1] >= size:
        return [Block(lazy=b) for b in lazy]
    ends = [*offsets[1:], size]
    return [Block(path=path, offset=o, length=e - o) for o, e in zip(offsets, ends, strict=True)]


class _Range:
    """The bytes of a local file that ``fsspec.utils.read_block`` (dask's read)
    returns for ``offset`` and ``length`` with the delimiter ``\\n``, as a file
    pyarrow reads a piece at a time."""

    def __init__(self, path: str, offset: int, length: int):
        from fsspec.utils import seek_delimiter

        self._f = open(path, "rb")  # noqa: SIM115 (closed by close(), pyarrow's last call)
        self._f.seek(offset)
        seek_delimiter(self._f, b"\n", 2**16)
        start = self._f.tell()
        self._f.seek(start + length - (start - offset))
        seek_delimiter(self._f, b"\n", 2**16)
        self._end = self._f.tell()
        self._f.seek(start)
        self.closed = False

    def head(self, n: int) -> bytes:
        at = self._f.tell()
        data = self._f.read(min(n, self._end - at))
        self._f.seek(at)
        return data

    def read(self, n: int = -1) -> bytes:
        left = self._end - self._f.tell()
        return self._f.read(left if n is None or n < 0 else min(n, left))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._f.close()


def write_block(block: Block | bytes, first: bool, plan: Plan, fs: Any, path: str, kw: dict,
                metadata: dict) -> tuple[int, str] | None:
    """Read, parse and write one block; (bytes written, SHA-256), or None when
    it must be written from its pandas partition instead."""
    from ._common import write_table

    data = block.get() if isinstance(block, Block) else block
    try:
        table = parse(data, first, plan)
    except NotExact as e:
        logger.debug("a block is read by pandas: %s", e)
        return None
    finally:
        if isinstance(data, _Range):
            data.close()
    del data
    md = {**(plan.schema.metadata or {}), **metadata}
    return write_table(table.replace_schema_metadata(md), fs, path, kw)
