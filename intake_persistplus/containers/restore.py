"""What parquet cannot hold about a dataframe, noted by the writer in the
files' schema metadata (key :data:`~._common.OURS`, JSON) and put back by the
copy's ``read()`` and ``to_dask()``:

* ``labels``: column labels that are not all strings (a header-less CSV's
  ``0, 1, 2``), which parquet stores as text;
* ``categories``: a categorical column whose categories are numbers (a
  hive-partitioned dataset's ``year=2024``), which comes back as plain numbers;
* ``freq``: the frequency of a ``DatetimeIndex``, which parquet does not store;
* ``bool_text``: CSV columns that may hold booleans with gaps (see
  :func:`.csvbools.bool_text_columns`);
* ``bool_gaps``: CSV columns that dask guessed are booleans, written with their
  gaps as nulls (see :func:`.csvbools.bool_gap_columns`): ``read()`` gives
  objects with NaN for a gap, as pandas does, ``to_dask()`` True, as dask's cast;
* ``strings``: the storage (``python`` or ``pyarrow``) of a ``string`` column
  whose storage is not the writer's pandas default: pandas records only
  ``string``, and reads it back with its own default (``python`` before
  pandas 3), while dask's ``to_dask()`` gives ``string[pyarrow]``;
* ``dask_strings``: the text dtype of a column of the original's
  ``to_dask()`` that is not dask's own ``string[pyarrow]`` (a reader that
  builds its frame from pandas' partitions, as intake-excel does, gives
  pandas' ``str``), which dask's reading of the copy would give.

A text dtype is noted as ``python`` or ``pyarrow`` (``string`` with ``<NA>``)
or ``str-python`` or ``str-pyarrow`` (``str``, with NaN: pandas 3's default).

The files may come from anyone: every value is checked for its type and is
only ever used as a label, a category or a frequency string (never
evaluated); anything unexpected is ignored, leaving the data as read.
"""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

_SCALARS = (int, float, str)  # JSON's (bool is an int)
#: the text of booleans that pandas reads from a CSV column with gaps as objects
BOOL_TEXT = frozenset({"True", "False"})
_STORAGES = ("python", "pyarrow")  # of pandas' "string" dtype


def text_spec(dtype: Any) -> str | None:
    """How a text dtype is noted (see above); None for any other dtype."""
    import pandas as pd

    if not isinstance(dtype, pd.StringDtype):
        return None
    if dtype.storage == "pyarrow_numpy":  # pandas 2.2's name of str
        return "str-pyarrow"
    if dtype.storage not in _STORAGES:
        return None
    return dtype.storage if dtype.na_value is pd.NA else f"str-{dtype.storage}"


def text_dtype(spec: Any) -> Any:
    """The dtype noted as ``spec``; None for anything else (or a ``str`` this
    pandas does not have)."""
    import numpy as np
    import pandas as pd

    if not isinstance(spec, str):
        return None
    nan, _, storage = spec.rpartition("-")
    if storage not in _STORAGES or nan not in ("", "str"):
        return None
    if not nan:
        return pd.StringDtype(storage)
    try:
        return pd.StringDtype(storage, na_value=np.nan)
    except TypeError:  # pandas 2.2
        return pd.StringDtype("pyarrow_numpy") if storage == "pyarrow" else None


def noted(meta: Any, index: Any = None, bool_text: list[str] | None = None,
          dask_meta: Any = None, bool_gaps: list[str] | None = None) -> dict:
    """What ``meta`` (an empty frame with the data's columns and dtypes, as
    ``read()`` gives them) and ``index`` (the data's index, for its ``freq``)
    lose in parquet; and ``dask_meta`` (``to_dask()``'s) in dask's reading."""
    import pandas as pd

    out: dict = {}
    labels = list(meta.columns)
    if not all(isinstance(c, str) for c in labels) and all(
        isinstance(c, _SCALARS) and not isinstance(c, bool) for c in labels
    ) and len({str(c) for c in labels}) == len(labels):
        out["labels"] = labels
    cats = {}
    for col, dt in meta.dtypes.items():
        if isinstance(dt, pd.CategoricalDtype) and dt.categories is not None:
            values = dt.categories.tolist()
            if values and not all(isinstance(v, str) for v in values) and all(
                isinstance(v, _SCALARS) for v in values
            ) and "__UNKNOWN_CATEGORIES__" not in values:
                cats[str(col)] = {"categories": values, "ordered": bool(dt.ordered),
                                  "dtype": str(dt.categories.dtype)}
    if cats:
        out["categories"] = cats
    freq = getattr(index, "freqstr", None) if isinstance(index, pd.DatetimeIndex) else None
    if isinstance(freq, str):
        out["freq"] = freq
    if bool_text:
        out["bool_text"] = list(bool_text)
    if bool_gaps:
        out["bool_gaps"] = list(bool_gaps)
    default = pd.StringDtype().storage
    strings = {str(c): dt.storage for c, dt in meta.dtypes.items() if isinstance(dt, pd.StringDtype)
               and dt.na_value is pd.NA and dt.storage in _STORAGES and dt.storage != default}
    if strings:
        out["strings"] = strings
    texts = {str(c): text_spec(dt) for c, dt in getattr(dask_meta, "dtypes", {}).items()}
    texts = {c: spec for c, spec in texts.items() if spec not in (None, "pyarrow")}
    if texts:
        out["dask_strings"] = texts
    return out


def encoded(info: dict) -> bytes | None:
    return json.dumps(info).encode() if info else None


def decoded(raw: Any) -> dict:
    """The noted dict from a footer's bytes; {} for anything malformed."""
    try:
        info = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _labels(df: Any, info: dict) -> list | None:
    labels = info.get("labels")
    if not isinstance(labels, list) or not all(
        isinstance(c, _SCALARS) and not isinstance(c, bool) for c in labels
    ):
        return None
    if [str(c) for c in labels] != [str(c) for c in df.columns]:
        return None
    return labels


def _category_dtypes(df: Any, info: dict) -> dict:
    import pandas as pd

    out = {}
    cats = info.get("categories")
    for col, spec in (cats.items() if isinstance(cats, dict) else ()):
        if col not in df.columns or not isinstance(spec, dict):
            continue
        values, ordered = spec.get("categories"), spec.get("ordered", False)
        if not isinstance(values, list) or not all(isinstance(v, _SCALARS) for v in values):
            continue
        try:
            kind = pd.api.types.pandas_dtype(spec.get("dtype", "int64"))
            if kind.kind not in "iufb":  # numbers only: text categories round-trip anyway
                continue
            out[col] = pd.CategoricalDtype(pd.Index(values, dtype=kind), ordered=bool(ordered))
        except (TypeError, ValueError, OverflowError):
            continue
    return out


def _string_dtypes(df: Any, specs: Any) -> dict:
    """The text dtypes ``specs`` notes for columns of ``df`` that differ."""
    out = {}
    for col, spec in (specs.items() if isinstance(specs, dict) else ()):
        want = text_dtype(spec)
        dt = df[col].dtype if want is not None and col in df.columns else None
        if text_spec(dt) is not None and dt != want:
            out[col] = want
    return out


def restore_bools(df: Any, columns: Any) -> Any:
    """``df`` with each of ``columns`` whose values are all 'True' or 'False'
    (or missing) as the objects pandas reads from a CSV: True, False, NaN."""
    import pandas as pd
    import pyarrow as pa

    if not df.columns.is_unique:
        return df
    for c in _names(columns):
        if c not in df.columns:
            continue
        s = df[c]
        if not (isinstance(s.dtype, pd.StringDtype) or s.dtype == object):
            continue
        try:
            out = bools_of(pa.array(s, from_pandas=True))
        except (pa.ArrowException, TypeError, ValueError):  # objects that are not all text
            continue
        if out is not None:
            df[c] = out
    return df


def bools_of(values: Any) -> Any:
    """The object array of True, False and NaN that the text ``values`` (a
    pyarrow array) hold; None unless they are all 'True' or 'False' (and at
    least one is there). Compared by pyarrow, not value by value in Python."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)) or (
        values.null_count == len(values)
    ):
        return None
    if not {v for v in values.slice(0, 16).to_pylist() if v is not None} <= BOOL_TEXT:
        return None  # most text columns are told apart by their first values, at no cost
    if len(values) <= 4096:  # a few values: fewer steps in Python than in pyarrow's kernels
        words = values.to_pylist()
        read = {"True": True, "False": False, None: np.nan}  # what pandas reads for each
        if not set(words) <= read.keys() or values.null_count == len(words):
            return None
        return np.array([read[w] for w in words], dtype=object)
    words = pa.array(sorted(BOOL_TEXT), type=values.type)  # typed: no conversion of the values
    if pc.sum(pc.is_in(values, value_set=words)).as_py() != len(values) - values.null_count:
        return None
    out = pc.equal(values, words[1]).to_numpy(zero_copy_only=False)  # with gaps: objects, None in them
    if not values.null_count:
        return out.astype(object)
    out[values.is_null().to_numpy(zero_copy_only=False)] = np.nan  # a gap, as pandas reads it
    return out


def gaps_of(values: Any) -> Any:
    """The object array of True, False and NaN that a boolean column with
    nulls (a pyarrow array of a ``bool_gaps`` column) is in pandas' reading
    of a CSV; None for any other column (pyarrow converts those as they are)."""
    import numpy as np
    import pyarrow as pa

    if not pa.types.is_boolean(values.type) or not values.null_count:
        return None
    out = values.to_numpy(zero_copy_only=False)  # objects: True, False, None
    out[values.is_null().to_numpy(zero_copy_only=False)] = np.nan
    return out


def _names(cols: Any) -> list[str]:
    """The column names a note lists, each once (a footer may repeat them)."""
    return list(dict.fromkeys(c for c in cols if isinstance(c, str))) if isinstance(cols, list) else []


def _gapped(df: Any, info: dict) -> list[str]:
    """The columns of ``df`` noted as booleans with gaps that are objects (a
    boolean column with nulls in the file)."""
    names = set(df.columns)
    return [c for c in _names(info.get("bool_gaps")) if c in names and df[c].dtype == object]


def _gaps_true(s: Any) -> Any:
    """A partition's column of booleans with gaps as dask's cast makes it."""
    import numpy as np
    import pandas as pd

    if s.dtype != "object":
        return s
    values = s.to_numpy()
    return pd.Series(np.where(pd.isna(values), True, values).astype(bool), index=s.index, name=s.name)


def restored(df: Any, info: dict) -> Any:
    """``df`` (a pandas frame read from the copy) as the writer saw it."""
    import numpy as np
    import pandas as pd

    names = list(df.columns)  # (a list: hashing pandas' labels costs more than the work here)
    if len(set(names)) != len(names):  # not a frame this package wrote: nothing to put back
        return df
    for c in _gapped(df, info):  # pandas' booleans with gaps: True, False, NaN (None in the file's)
        values = df[c].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = np.nan
        df.isetitem(names.index(c), values)  # in place: no copy of the other columns

    if info.get("bool_text"):
        df = restore_bools(df, info["bool_text"])
    dtypes = {**_string_dtypes(df, info.get("strings")), **_category_dtypes(df, info)}
    for col, dt in dtypes.items():
        try:
            df[col] = df[col].astype(dt)
        except (TypeError, ValueError) as e:
            logger.debug("categories of %r not restored: %s", col, e)
    freq = info.get("freq")
    if isinstance(freq, str) and isinstance(df.index, pd.DatetimeIndex) and len(df.index) > 1:
        try:
            df.index = pd.DatetimeIndex(df.index, freq=freq)
        except (TypeError, ValueError) as e:  # the data no longer fits it
            logger.debug("freq %r not restored: %s", freq, e)
    labels = _labels(df, info)
    if labels is not None:
        df.columns = labels
    return df


def restored_dask(ddf: Any, info: dict) -> Any:
    """``ddf`` (the copy's ``to_dask()``) with text dtypes, categories and
    labels put back (lazily; booleans as text stay text, as in the original's ``to_dask()``)."""
    if not ddf._meta.columns.is_unique:  # not a frame this package wrote
        return ddf
    for c in _names(info.get("bool_gaps")):
        if ddf._meta.dtypes.get(c) == "bool":  # dask's cast of the original's objects: a gap is True
            ddf[c] = ddf[c].map_partitions(_gaps_true, meta=ddf._meta[c])
    dtypes = {**_string_dtypes(ddf._meta, info.get("dask_strings")), **_category_dtypes(ddf._meta, info)}
    if dtypes:
        ddf = ddf.astype(dtypes)
    labels = _labels(ddf._meta, info)
    if labels is not None:
        ddf = ddf.rename(columns=dict(zip(ddf.columns, labels, strict=True)))
    return ddf
