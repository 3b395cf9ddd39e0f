"""The persisted copy that a record describes, and what may be built from an index.

An index entry is data written by anyone who can write the store. Only
drivers registered with intake are built from it, only with paths inside the
entry's own folder, and always with the store's own storage options, never
the entry's. An entry in the store's layout chooses a version (the folder its
``urlpath`` names) and the settings (ttl, keep, ...); its driver and arguments
must be those the version was written with, in its own ``record.yaml``
(:func:`as_written`), and for the built-in persisters exactly the ones they
write.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import threading
from typing import Any

import yaml

from .errors import CorruptIndexError, VersionGoneError
from .index.text import load_bounded
from .layout import CATALOG_DIR, DATA, RECORD, Location
from .originals import registered_class
from .record import Record
from .versions import has_data
from .walk import DROP, map_strings, walk

#: the arguments the built-in persisters write besides ``urlpath: <version>/data``:
#: (the ones always written, the ones sometimes written with their possible values);
#: see each container module's ``write``
BUILTIN_ARGS: dict[str, tuple[dict, dict]] = {
    "persisted_parquet": ({"engine": "pyarrow"}, {"calculate_divisions": (True,), "restore": (True,)}),
    "persisted_python": ({}, {}),
    "ndzarr": ({}, {}),
    "zarr": ({}, {"decode_coords": ("all",)}),
    "persisted_zarr": ({"direct": True}, {"decode_coords": ("all",)}),
}

#: the records of versions read in this process, by (store, token, version):
#: a version is never changed once written, so each is parsed once
_WRITTEN: dict[tuple[str, str, str], Record] = {}
_WRITTEN_MAX = 4096
_written_lock = threading.Lock()


#: driver name -> (intake's registry entry, the class it loaded): intake builds
#: its whole list of enabled drivers at every lookup
_CLASSES: dict[str, tuple[Any, Any]] = {}


def _registered(name: str) -> Any:
    """The class intake's driver registry has under ``name`` (None if none)."""
    from intake.source import registry

    drivers = registry.drivers
    entry = drivers.registered().get(name)
    if entry is None or name in drivers.disabled():
        return None
    known = _CLASSES.get(name)
    if known is not None and known[0] is entry:
        return known[1]
    cls = registry[name]
    _CLASSES[name] = (entry, cls)
    return cls


def driver_class(record: Record) -> Any:
    """The intake driver class that reads ``record``'s data.

    Raises
    ------
    ValueError
        when the driver is not one that a persister writes (an index entry
        naming ``yaml_file_cat`` or ``csv``, say), or not registered with intake.
    """
    from .containers import readable_drivers

    if record.driver not in readable_drivers():
        raise ValueError(
            f"persisted entry {record.token} names driver {record.driver!r}, which no "
            "persister writes; only the drivers of the installed persisters are opened "
            "from a persist store"
        )
    cls = _registered(record.driver)
    if cls is None and "." in record.driver:  # intake 0.7 wrote class paths; only registered ones do
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


def _no_link_below(base: str, rest: str) -> bool:
    """Whether no part of the path ``rest`` (no ``..`` in it) below the folder
    ``base`` is a symbolic link: then it resolves inside ``base``, whatever
    ``base`` itself resolves to. One ``lstat`` a part, where resolving both
    paths whole would take one for every part of each, from the root."""
    path = base
    for part in rest.split("/"):
        if part in ("", "."):
            continue
        path = f"{path}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return False
        except OSError:  # missing (or below a file): nothing further can lead out
            return True
    return True


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
        if inside and loc.local and not _no_link_below(loc.path_of(token), rest):
            real_folder = os.path.realpath(loc.path_of(token))
            real = os.path.realpath(loc.path_of(token) + rest)
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


def _located_args(record: Record, loc: Location) -> dict:
    """``record``'s arguments with the store's location in them, checked to
    name nothing outside its folder (:func:`check_inside`)."""
    root = loc.url.rstrip("/")
    args = map_strings(dict(record.args), lambda s: s.replace(CATALOG_DIR, root))
    args.pop("storage_options", None)  # never the index's word: the store's own
    check_inside(args, loc, record.token)
    return args


def open_copy(record: Record, loc: Location) -> Any:
    """Make the persisted source that ``record`` describes, in the store at ``loc``.

    Raises
    ------
    ValueError
        for a driver that is not registered, or a path outside the entry's folder.
    """
    cls = driver_class(record)
    args = _located_args(record, loc)
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


def written(loc: Location, token: str, version: str, cached: bool = True) -> Record | None:
    """The record ``<token>/<version>/record.yaml`` holds; None when there is
    none (the version is not complete, or gone).

    Raises
    ------
    CorruptIndexError
        for a record that does not parse or is not this token's.
    """
    key = (loc.url, token, version)
    rec = _WRITTEN.get(key) if cached else None
    if rec is not None:  # parsed before: is it still there? (a stat; one HEAD remotely)
        return rec if loc.exists(token, version, RECORD) else None
    where = f"{loc.url_of(token, version, RECORD)}"
    try:
        doc = load_bounded(loc.read_text(token, version, RECORD), where)
    except FileNotFoundError:
        return None
    except (yaml.YAMLError, ValueError, RecursionError) as e:  # bytes that are not YAML, say
        raise CorruptIndexError(f"the record of version {token}/{version} is damaged: "
                                f"{type(e).__name__}") from None
    try:
        rec = Record.from_entry(token, doc.get(token) if isinstance(doc, dict) else None)
    except ValueError as e:
        raise CorruptIndexError(f"the record of version {token}/{version} is damaged: {e}") from None
    with _written_lock:
        if len(_WRITTEN) >= _WRITTEN_MAX:
            _WRITTEN.clear()
        _WRITTEN[key] = rec
    return rec


def _canonical(rec: Record, token: str, version: str) -> bool:
    """Whether a version's own record has arguments its built-in persister
    writes (other persisters' drivers: whatever they wrote)."""
    known = BUILTIN_ARGS.get(rec.driver)
    if known is None:
        return True
    always, sometimes = known
    args = {k: v for k, v in rec.args.items() if not (k in sometimes and v in sometimes[k])}
    return args == {"urlpath": f"{CATALOG_DIR}/{token}/{version}/{DATA}", **always}


def as_written(record: Record, loc: Location) -> Record:
    """``record``, checked against the version it names; entries in intake 0.7's
    layout (data outside the token's folder) are returned as they are.

    Raises
    ------
    VersionGoneError
        when the version is not complete, or its data is gone.
    ValueError
        when the entry names another driver or other arguments than its version
        was written with (edited by hand, or by someone hostile; arguments it
        leaves out are taken from the version), or for a
        version whose record is damaged, is another version's, or has
        arguments its built-in persister never writes.
    """
    driver_class(record)  # the entry's own driver and paths first: the clearest reasons
    _located_args(record, loc)
    folder = record.folder
    if folder is None:
        return record
    token, version = folder
    try:
        rec = written(loc, token, version)
    except CorruptIndexError as e:
        raise ValueError(str(e)) from None
    if rec is not None and (rec.folder != folder or not _canonical(rec, token, version)):
        raise ValueError(
            f"the record of version {token}/{version} names driver {rec.driver!r:.60} with "
            f"arguments {sorted(str(k)[:40] for k in rec.args)[:10]} that do not read that "
            "version's data"
        )
    try:
        gone = rec is None or not has_data(loc, rec)
    except OSError as e:  # a link where the data should be, say
        raise ValueError(f"the data of version {token}/{version} cannot be used: {e}") from None
    if gone:
        raise VersionGoneError(
            f"version {version} of {record.label} ({token}) is not in the store at {loc.url}"
        )
    # the entry may leave out arguments (the version's are used), not change them;
    # its storage_options are never used (see open_copy)
    differ = sorted(str(k)[:40] for k, v in record.args.items()
                    if k != "storage_options" and (k not in rec.args or rec.args[k] != v))
    if rec.driver != record.driver:
        differ.insert(0, "driver")
    if differ:
        raise ValueError(
            f"its index entry names {', '.join(differ)} other than version {version} was written "
            "with (an entry's driver and arguments are not for editing: persist again to change them)"
        )
    return record if record.args == rec.args else dataclasses.replace(record, args=rec.args)
