"""What parquet cannot hold about a dataframe, noted by the writer in the
files' schema metadata (key :data:`~._common.OURS`, JSON) and put back by the
copy's ``read()`` and ``to_dask()``:

* ``labels``: column labels that are not all strings (a header-less CSV's
  ``0, 1, 2``), which parquet stores as text;
* ``categories``: a categorical column whose categories are numbers (a
  hive-partitioned dataset's ``year=2024``), which comes back as plain numbers;
* ``freq``: the frequency of a ``DatetimeIndex``, which parquet does not store;
* ``bool_text``: CSV columns that may hold booleans with gaps (see
  :func:`.dataframe.bool_text_columns`);
* ``strings``: the storage (``python`` or ``pyarrow``) of a ``string`` column
  whose storage is not the writer's pandas default: pandas records only
  ``string``, and reads it back with its own default (``python`` before
  pandas 3), while dask's ``to_dask()`` gives ``string[pyarrow]``.

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
_STORAGES = ("python", "pyarrow")  # of pandas' "string" dtype


def noted(meta: Any, index: Any = None, bool_text: list[str] | None = None) -> dict:
    """What ``meta`` (an empty frame with the data's columns and dtypes) and
    ``index`` (the data's index, for its ``freq``) lose in parquet."""
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
    default = pd.StringDtype().storage
    strings = {str(c): dt.storage for c, dt in meta.dtypes.items() if isinstance(dt, pd.StringDtype)
               and dt.na_value is pd.NA and dt.storage in _STORAGES and dt.storage != default}
    if strings:
        out["strings"] = strings
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


def _string_dtypes(df: Any, info: dict) -> dict:
    import pandas as pd

    out = {}
    strings = info.get("strings")
    for col, storage in (strings.items() if isinstance(strings, dict) else ()):
        dt = df.dtypes.get(col) if storage in _STORAGES else None
        if isinstance(dt, pd.StringDtype) and dt.na_value is pd.NA and dt.storage != storage:
            out[col] = pd.StringDtype(storage)
    return out


def restore_bools(df: Any, columns: Any) -> Any:
    """``df`` with each of ``columns`` whose values are all 'True' or 'False'
    (or missing) as the objects pandas reads from a CSV: True, False, NaN."""
    import numpy as np

    for c in columns if isinstance(columns, list) else ():
        if not isinstance(c, str) or c not in df.columns:
            continue
        s = df[c]
        present = s.dropna()
        if len(present) and set(present.unique()) <= {"True", "False"}:
            out = s.map({"True": True, "False": False}).astype(object)
            out[s.isna()] = np.nan
            df[c] = out
    return df


def restored(df: Any, info: dict) -> Any:
    """``df`` (a pandas frame read from the copy) as the writer saw it."""
    import pandas as pd

    if info.get("bool_text"):
        df = restore_bools(df, info["bool_text"])
    dtypes = {**_string_dtypes(df, info), **_category_dtypes(df, info)}
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
    """``ddf`` (the copy's ``to_dask()``) with categories and labels put back
    (lazily; booleans as text stay text, as in the original's ``to_dask()``)."""
    dtypes = _category_dtypes(ddf._meta, info)
    if dtypes:
        ddf = ddf.astype(dtypes)
    labels = _labels(ddf._meta, info)
    if labels is not None:
        ddf = ddf.rename(columns=dict(zip(ddf.columns, labels, strict=True)))
    return ddf
