"""What an original's files looked like, without reading them: a *fingerprint*.

When a copy's ttl runs out, the store compares the original's fingerprint now
with the one recorded when the copy was written, as an HTTP cache revalidates
with an ETag: unchanged, the copy is fresh again without reading any data.

A fingerprint covers every file the source's ``urlpath`` names (globs
expanded, lists included), from what the file system says about each file
that changes when its content does:

* a local file: its size, modification and status-change times (in
  nanoseconds: ``ctime`` cannot be set back by hand) and inode; a folder (a
  zarr store, a partitioned parquet dataset): every file below it;
* an object store or other fsspec file system: size, and the first of ETag,
  generation, modification time or creation time it reports (one listing for a
  glob, one request per file otherwise).

Sources that are not files (a database, an API), or that name no file, have
no fingerprint: their copies are written again when they expire, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import Any

from .layout import CHANGE_TAGS

#: beyond this many files a source is not fingerprinted (its copy is re-read)
MAX_FILES = 100_000


def _urlpath(source: Any) -> tuple[Any, dict]:
    kwargs = dict(getattr(source, "_captured_init_kwargs", None) or {})
    args = list(getattr(source, "_captured_init_args", None) or ())
    urlpath = kwargs.get("urlpath", args[0] if args and isinstance(args[0], (str, list)) else None)
    options = kwargs.get("storage_options") or {}
    return urlpath, options if isinstance(options, dict) else {}


class _TooMany(Exception):
    """More files than :data:`MAX_FILES`: not fingerprinted."""


def _local_facts(path: str) -> list:
    """Facts of a local file, or of every file below a local folder (a zarr
    store, a partitioned parquet dataset); links are not followed."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        return [[path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]]
    out = []
    for folder, dirs, files in os.walk(path, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            st = os.lstat(os.path.join(folder, name))
            out.append([os.path.join(folder, name), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino])
        if len(out) > MAX_FILES:
            raise _TooMany
    return out


def _tag(path: str, info: dict) -> list:
    tag = next((info[k] for k in CHANGE_TAGS if info.get(k) is not None), None)
    if tag is None:
        raise ValueError(f"{path}: the file system reports nothing that changes with the content")
    return [path, info.get("size"), str(tag)]


def _facts(fs: Any, path: str) -> list:
    """Facts of a file, or of every file below a folder (one listing)."""
    info = fs.info(path)
    if info.get("type") != "directory":
        return [_tag(path, info)]
    found = fs.find(path, detail=True)
    if len(found) > MAX_FILES:
        raise _TooMany
    return [_tag(p, i) for p, i in sorted(found.items())]


def fingerprint(source: Any) -> str | None:
    """The fingerprint of ``source``'s files now; None for a source with no files.

    Raises
    ------
    OSError, ValueError
        when a file cannot be looked at (gone, the network down): the caller
        then treats the original as changed.
    """
    urlpath, options = _urlpath(source)
    paths = urlpath if isinstance(urlpath, list) else [urlpath]
    if not paths or not all(isinstance(p, str) and p for p in paths):
        return None
    import fsspec

    facts: list = []
    for url in paths:
        fs, _, found = fsspec.core.get_fs_token_paths(url, mode="rb", storage_options=options)
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        if not found:
            raise FileNotFoundError(f"{url} names no file")
        if len(found) > MAX_FILES:
            return None
        try:
            for p in sorted(found):
                # a glob was expanded with one listing, whose facts info() finds in
                # the file system's cache; a plain path costs one request
                facts += _local_facts(p) if "file" in protocols else _facts(fs, p)
        except _TooMany:
            return None
    text = json.dumps(facts, default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
