"""Booleans in CSV sources, where pandas and dask part ways.

pandas reads a CSV column of ``True``/``False`` words with gaps as objects
(``True``, ``False``, NaN). Two cases reach the persister:

* dask's guess (from the first rows) saw the gaps: the column is text to dask,
  whose ``to_dask()`` gives the words ``'True'``/``'False'``. The copy stores
  the text and its ``read()`` turns it back (:func:`bool_text_columns`);
* dask's guess saw no gap: the column is boolean to dask, which casts the
  objects of a later block to booleans, a gap becoming True. The copy stores
  booleans with nulls, read as text before that cast, and gives each path its
  values (:func:`bool_gap_columns`).

Both only for intake's ``csv`` driver, and only for columns no reader
argument decides.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


#: CSV reader arguments that decide how every column is parsed (with any, no guess)
_PARSING = {"true_values", "false_values", "dtype_backend"}


def bool_text_columns(source: Any, meta: Any) -> list[str]:
    """Columns of a CSV source that may hold booleans with gaps. pandas reads a
    column of True/False with missing values as objects (``read()``), and dask
    turns those objects into the strings 'True'/'False' (``to_dask()``), which
    is what is written. The copy's ``read()`` turns such a column back into
    booleans when every value it holds is 'True' or 'False' (for a CSV, pandas
    would have read those as booleans); its ``to_dask()`` keeps the strings,
    as the original's does. Only for intake's ``csv`` driver, and only when no
    reader argument decides the types."""
    import pandas as pd

    told = _told(source)
    return [] if told is None else [
        str(c) for c, dt in meta.dtypes.items()
        if isinstance(c, str) and c not in told and isinstance(dt, pd.StringDtype)]


def bool_gap_columns(source: Any, meta: Any) -> list[str]:
    """Columns of a CSV source that dask guessed are booleans (from the first
    rows). pandas reads a block of such a column with gaps as objects (True,
    False, NaN), which ``read()`` gives, and dask casts those to booleans, a
    gap becoming True, which ``to_dask()`` gives. They are written as booleans
    with nulls (read as objects, before that cast), and the copy gives each
    path's values back (:mod:`.restore`). Same rules as :func:`bool_text_columns`."""
    told = _told(source)
    return [] if told is None else [
        str(c) for c, dt in meta.dtypes.items() if isinstance(c, str) and c not in told and dt == "bool"]


def _told(source: Any) -> set | None:
    """The columns whose type or parsing the reader arguments of intake's CSV
    source decide; None for another source, or arguments that decide them all."""
    if type(source).__name__ != "CSVSource" or not type(source).__module__.startswith("intake."):
        return None
    kwargs = dict(getattr(source, "kwargs", None) or {})
    kwargs.update(kwargs.pop("csv_kwargs", None) or {})
    told = set()  # columns whose type or parsing the reader is given
    for key in ("dtype", "converters"):
        value = kwargs.get(key)
        if isinstance(value, dict):
            told |= set(value)
        elif value is not None:
            return None  # one type for every column
    return None if _PARSING & set(kwargs) else told


def raw_parts(source: Any, ddf: Any, cols: list[str]) -> list | None:
    """The partitions of ``source.to_dask()`` with ``cols`` read as text,
    before dask's cast to booleans; None if they would not be the same
    partitions."""
    try:
        from intake.readers.readers import DaskCSV

        kwargs = dict(source.kwargs)
        kwargs["dtype"] = {**(kwargs.get("dtype") or {}), **{c: "object" for c in cols}}
        raw = DaskCSV(source.data).read(**kwargs)
    except Exception as e:  # an intake without it, arguments it refuses...
        logger.debug("booleans with gaps not kept: %s", e)
        return None
    if raw.npartitions != ddf.npartitions or list(raw.columns) != list(ddf.columns):
        return None
    return raw.to_delayed()


class NotBooleans(ValueError):
    """A column dask guessed is boolean holds other words further down."""


def _any_case() -> bool:
    """Whether pandas reads True and False in any case (3 does; before: True,
    TRUE, true and the same of False)."""
    import pandas as pd

    return int(pd.__version__.split(".")[0]) >= 3


def as_booleans(df: Any, cols: list[str]) -> Any:
    """``df`` with the text ``cols`` as booleans with gaps (pandas' words for
    True and False: any case on pandas 3, three spellings before)."""
    import pandas as pd

    df = df.copy(deep=False)
    any_case = _any_case()
    for c in cols:
        text = df[c].astype("string")
        words = text.str.lower() if any_case else text
        true = words.isin(["true"] if any_case else ["True", "TRUE", "true"])
        false = words.isin(["false"] if any_case else ["False", "FALSE", "false"])
        present = text.notna().to_numpy(dtype=bool)
        true, false = true.to_numpy(dtype=bool) & present, false.to_numpy(dtype=bool) & present
        if (present & ~(true | false)).any():
            raise NotBooleans(c)
        out = pd.array(true, dtype="boolean")
        out[~present] = pd.NA
        df[c] = out
    return df


