"""The persisted copy that a record describes, and what may be built from an index.

An index entry is data written by anyone who can write the store. Only
drivers registered with intake are built from it, only with paths inside the
entry's own folder, and always with the store's own storage options, never
the entry's.
"""

from __future__ import annotations

import os
from typing import Any

from .layout import CATALOG_DIR, Location
from .originals import registered_class
from .record import Record
from .walk import DROP, map_strings, walk


def driver_class(record: Record) -> Any:
    """The intake driver class that reads ``record``'s data.

    Raises
    ------
    ValueError
        when the driver is not one that a persister writes (an index entry
        naming ``yaml_file_cat`` or ``csv``, say), or not registered with intake.
    """
    from intake.source import registry

    from .containers import readable_drivers

    if record.driver not in readable_drivers():
        raise ValueError(
            f"persisted entry {record.token} names driver {record.driver!r}, which no "
            "persister writes; only the drivers of the installed persisters are opened "
            "from a persist store"
        )
    cls = None
    if record.driver in registry:
        cls = registry[record.driver]
    elif "." in record.driver:  # intake 0.7 wrote class paths; only registered ones do
        try:
            cls = registered_class(record.driver)
        except ValueError:
            cls = None
    if cls is None:
        raise ValueError(
            f"persisted entry {record.token} needs intake driver {record.driver!r}, "
            "which is not installed or not registered with intake"
        )
    return cls


#: argument names whose every string is a location
PATH_KEYS = frozenset({"urlpath", "path", "paths", "url", "urls", "filename", "files", "file"})


def _looks_like_a_location(text: str) -> bool:
    return (
        text.startswith(("/", "~", ".", "\\"))
        or "://" in text
        or "::" in text
        or (len(text) > 1 and text[1] == ":")  # a Windows drive
    )


def check_inside(args: dict, loc: Location, token: str) -> None:
    """Refuse arguments that name a location outside ``<root>/<token>``.

    Every string under a path-like key (``urlpath``, ``path``, ..., in lists and
    mappings too) and every string elsewhere that looks like a location must lie
    inside the entry's folder: no ``..``, no chained URL (``a::b``), and, on a
    local store, no symlink leading out of it.

    Raises
    ------
    ValueError
        naming the entry, its folder and the value.
    """
    folder = loc.url_of(token)
    real_folder = os.path.realpath(loc.path_of(token)) if loc.local else None

    def check(value: object) -> None:
        if not isinstance(value, str):
            return
        rest = value[len(folder):] if value.startswith(folder) else None
        inside = (
            rest is not None
            and (rest == "" or rest.startswith("/"))
            and ".." not in rest.split("/")
            and "::" not in value
        )
        if inside and real_folder is not None:
            local = loc.path_of(token) + rest
            real = os.path.realpath(local)
            inside = real == real_folder or real.startswith(real_folder + os.sep)
        if not inside:
            raise ValueError(
                f"persisted entry {token} points outside its folder {folder!r}: {value!r}"
            )

    def path_key(key: object, value: object) -> object:
        if key in PATH_KEYS:
            walk(value, check)  # every string below a path-like key
            return DROP
        return value

    def check_location(value: object) -> None:
        if isinstance(value, str) and _looks_like_a_location(value):
            check(value)

    walk(args, check_location, item=path_key)


def open_copy(record: Record, loc: Location) -> Any:
    """Make the persisted source that ``record`` describes, in the store at ``loc``.

    Raises
    ------
    ValueError
        for a driver that is not registered, or a path outside the entry's folder.
    """
    cls = driver_class(record)
    root = loc.url.rstrip("/")
    args = map_strings(dict(record.args), lambda s: s.replace(CATALOG_DIR, root))
    args.pop("storage_options", None)  # never the index's word: the store's own
    check_inside(args, loc, record.token)
    where = [args[k] for k in ("urlpath", "path", "url") if k in args]
    if not where or not all(
        (isinstance(w, str) and w) or (isinstance(w, list) and w and all(isinstance(x, str) and x for x in w))
        for w in where
    ):
        raise ValueError(f"persisted entry {record.token} names no data (its urlpath is {where!r})")
    if loc.storage_options:
        args["storage_options"] = loc.storage_options
    args["metadata"] = record.metadata()
    source = cls(**args)
    source.name = record.token
    source.description = record.description
    return source
