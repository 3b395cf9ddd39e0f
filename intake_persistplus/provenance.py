"""Where a copy came from: the catalog file and entry its original was read
from, and whether they are still there.

A copy whose catalog file is gone, or no longer has its entry, is *orphaned*:
nothing will ask for it again under that token. ``intake-persist list`` flags
such entries, and ``intake-persist prune --orphans`` removes them.

Only local catalog files are looked at, as the machine running the check sees
them: a copy made from a catalog at a URL is never called orphaned, and a store
shared between machines may list a copy as orphaned on one where the catalog
file is not mounted; check with ``--dry-run`` first.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .secrets import scrub_url

logger = logging.getLogger(__name__)

#: a catalog file bigger than this is not parsed to look for an entry
MAX_CATALOG_BYTES = 64 << 20


def made_from(source: Any) -> tuple[str | None, str | None]:
    """(catalog file, entry name) of a source read from a catalog file; Nones
    for a source made in code."""
    path = getattr(getattr(source, "cat", None), "path", None)
    name = getattr(source, "name", None)
    if not isinstance(path, str) or not path:
        return None, None
    if "://" not in path and "::" not in path:  # a local file named relatively: its full path
        path = os.path.abspath(path)
    return scrub_url(path), name if isinstance(name, str) and name else None


def trusted_catalog(catalog: str | None, store_root: str | None) -> str | None:
    """``catalog`` (a path a record names) when it is safe to open with intake,
    else None. Opening a catalog builds its entries' drivers and runs their
    transforms, and a record is written by anyone who can write the store: so
    only a local regular file that the user running this owns, outside the
    store, is opened (never a URL, a link, or another user's file)."""
    import stat

    if not isinstance(catalog, str) or "://" in catalog or "::" in catalog or not os.path.isabs(catalog):
        return None
    try:
        st = os.lstat(catalog)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        return None
    real = os.path.realpath(catalog)
    if store_root and "://" not in store_root:
        root = os.path.realpath(store_root)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return None
    return catalog


def _entries(catalog: str) -> set[str] | None:
    """The entry names of a local catalog file; an empty set when it is gone,
    None when it cannot be told (a URL, unreadable, not a regular file).

    The path comes from the store, which anyone may have written: only local
    regular files are looked at (no URL is fetched, no pipe opened), and what
    is found is only ever shown as a yes or no."""
    import stat

    import yaml

    from .index.text import load_bounded

    path = catalog[len("file://"):] if catalog.startswith("file://") else catalog
    if "://" in path or "::" in path or not os.path.isabs(path):
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return set()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CATALOG_BYTES:
        return None
    try:
        with open(path, "rb") as f:
            doc = load_bounded(f.read(MAX_CATALOG_BYTES).decode("utf-8"), catalog)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError, yaml.YAMLError) as e:
        logger.info("cannot look into catalog %s: %s", catalog, type(e).__name__)
        return None
    sources = doc.get("sources") if isinstance(doc, dict) else None
    return {str(k) for k in sources} if isinstance(sources, dict) else set()


def orphaned(catalog: str | None, entry: str | None, seen: dict[str, set[str] | None]) -> bool | None:
    """Whether the catalog file ``catalog`` is gone or no longer has ``entry``;
    None when it cannot be told (no catalog recorded, or it cannot be read).
    ``seen`` caches each catalog's entries for one pass over a store."""
    if catalog is None or entry is None:
        return None
    if catalog not in seen:
        seen[catalog] = _entries(catalog)
    names = seen[catalog]
    return None if names is None else entry not in names
