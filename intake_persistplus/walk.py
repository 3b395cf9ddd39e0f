"""The one walk over nested data (mappings and sequences) that the package uses.

Records, scrubbing of credentials, the rewriting of paths in an index entry
and the check that writer arguments are plain data are all one
:func:`walk` with a different function at the leaves or at the mapping items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: returned by an ``item`` function to leave that mapping item out
DROP = object()

SEQUENCES: tuple[type, ...] = (list, tuple, set, frozenset)


def _same(value: Any) -> Any:
    return value


def walk(
    value: Any,
    leaf: Callable[[Any], Any] = _same,
    *,
    key: Callable[[Any], Any] | None = None,
    item: Callable[[Any, Any], Any] | None = None,
    sequences: tuple[type, ...] = SEQUENCES,
) -> Any:
    """A rebuilt copy of ``value``: mappings become dicts, sequences lists.

    Parameters
    ----------
    leaf
        applied to every value that is neither a mapping nor a sequence.
    key
        applied to every mapping key.
    item
        called as ``item(key, value)`` for every mapping item before it is
        walked; returns the value to walk in its place, or :data:`DROP`.
    sequences
        the types walked as sequences (others are leaves).
    """
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if item is not None:
                v = item(k, v)
                if v is DROP:
                    continue
            out[key(k) if key is not None else k] = walk(
                v, leaf, key=key, item=item, sequences=sequences
            )
        return out
    if isinstance(value, sequences):
        return [walk(v, leaf, key=key, item=item, sequences=sequences) for v in value]
    return leaf(value)


def map_strings(value: Any, func: Callable[[str], str]) -> Any:
    """``value`` with ``func`` applied to every string in it (keys excepted)."""
    return walk(value, lambda v: func(v) if isinstance(v, str) else v)


def reroot(value: Any, old: str, new: str) -> Any:
    """``value`` with every string that starts with ``old`` starting with ``new`` instead."""
    return map_strings(value, lambda s: new + s[len(old):] if s.startswith(old) else s)
