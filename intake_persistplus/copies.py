"""The persisted copy that a record describes, and what may be built from an index.

An index entry is data written by anyone who can write the store. Only
drivers registered with intake are built from it, only with paths inside the
entry's own folder, and always with the store's own storage options, never
the entry's.
"""

from __future__ import annotations

from typing import Any

from .layout import CATALOG_DIR, Location
from .originals import registered_class
from .record import Record
from .walk import map_strings


def driver_class(record: Record) -> Any:
    """The intake driver class that reads ``record``'s data.

    Raises
    ------
    ValueError
        when the driver is not registered with intake.
    """
    from intake.source import registry

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
    folder = loc.url_of(record.token)
    for key, value in args.items():
        if key in ("urlpath", "path") and isinstance(value, str):
            inside = value.rstrip("/") == folder or (
                value.startswith(folder + "/") and ".." not in value[len(folder) :].split("/")
            )
            if not inside:
                raise ValueError(
                    f"persisted entry {record.token} points outside its folder "
                    f"{folder!r}: {value!r}"
                )
    args.pop("storage_options", None)  # never the index's word: the store's own
    if loc.storage_options:
        args["storage_options"] = loc.storage_options
    args["metadata"] = record.metadata()
    source = cls(**args)
    source.name = record.token
    source.description = record.description
    return source
