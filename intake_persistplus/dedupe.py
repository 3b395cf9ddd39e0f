"""Identical data stored once.

A refresh of an original that did not change writes the same bytes again. The
persisters report a *content hash* of what they wrote, computed while writing
(:class:`~.containers._common.Hashing`; no second read), and each version
records it (``persist_content``). Before a new version is published,
:func:`prepare` compares it with the version it replaces, without holding any
lock (reading the old files takes time): the same content hash, driver and
arguments (but for the folder), and old files that hash to that content when
read now (a store's files are trusted no more than anything else in it: a
file changed by hand in place is never shared). Then, under the source's
lock, :func:`share` checks with a ``stat`` that the old files are still the
ones read, and replaces the new version's files by hard links to them.

The new version is a version like any other, in its own folder, with its own
``record.yaml``: retention, ``remove`` and gc delete folders as before, and a
file stays on disk while any version still links to it. ``store.du()``
counts each file once, however many versions link to it
(:func:`~.diskuse.disk_use`).

Hard links are a local disk's: on an object store, which has none, each
version keeps its own files (``keep`` bounds how many). A link that cannot be
made (another device, a link limit) leaves that file as written.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from .containers import BUILTIN_DRIVERS
from .copies import as_written
from .diskuse import regular_files
from .layout import CATALOG_DIR, Location
from .record import Record
from .versions import data_path
from .walk import reroot

logger = logging.getLogger(__name__)


def _content(top: str, files: dict[str, os.stat_result]) -> str:
    """The content hash (``containers._common.content_hash``) of the files below ``top``."""
    import hashlib

    from .containers._common import content_hash

    listed = []
    for rel in files:
        digest = hashlib.sha256()
        fd = os.open(os.path.join(top, rel), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with open(fd, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        listed.append((rel.replace(os.sep, "/"), files[rel].st_size, digest.hexdigest()))
    return content_hash(listed)


def _same_but_folder(new: Record, old: Record, old_data: tuple[str, ...]) -> bool:
    """Whether ``new`` has ``old``'s driver and arguments, but for the folder its
    data is in."""
    here, there = f"{CATALOG_DIR}/{new.token}/{new.version}/", f"{CATALOG_DIR}/{old_data[0]}/{old_data[1]}/"
    return new.driver == old.driver and reroot(new.args, here, there) == old.args


@dataclass(frozen=True)
class Plan:
    """Files of ``old`` found (read and hashed, outside any lock) to hold the
    data of a new version: what :func:`share` links once under the lock."""

    version: str  # the old version
    src: str
    dst: str
    files: dict  # relative path -> (inode, size, mtime_ns) of the old file when hashed


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def prepare(loc: Location, new: Record, old: Record | None) -> Plan | None:
    """Whether ``new`` holds the data of ``old`` (see the module docstring),
    checked without any lock: the old files are read and hashed here, not
    while other writers wait. None when they are not to be shared."""
    if not (loc.local and old is not None and new.content is not None and new.content == old.content):
        return None
    new_data, old_data = data_path(new), data_path(old)
    if (new_data is None or old_data is None or new_data[:2] != (new.token, new.version)
            or old_data[0] != new.token or old_data[1] == new.version
            or not _same_but_folder(new, old, old_data)):
        return None
    try:
        as_written(old, loc)  # the old entry is its version's own, with its data there
        src, dst = loc.checked(*old_data), loc.checked(*new_data)
        theirs, ours = regular_files(src), regular_files(dst)
        if set(theirs) != set(ours) or any(theirs[k].st_size != ours[k].st_size for k in ours):
            return None  # the same hash from other files: never trusted
        # the old files hold, now, the bytes just written; a persister not of this
        # package has its own files checked too (its hash is its word alone)
        if _content(src, theirs) != new.content or (
                new.driver not in BUILTIN_DRIVERS and _content(dst, ours) != new.content):
            logger.warning("version %s of %s does not hold the data its record says: not shared",
                           old.version, old.token)
            return None
    except Exception as e:  # damaged, gone, tampered with: sharing is only ever a saving
        logger.info("not sharing the data of %s/%s: %s", old.token, old.version, type(e).__name__)
        return None
    return Plan(old.version, src, dst, {k: _stamp(st) for k, st in theirs.items()})


def share(new: Record, old: Record | None, plan: Plan | None) -> Record:
    """Under the source's lock, before ``new`` is published over ``old``: make
    ``new``'s files hard links to the old files of ``plan`` when ``old`` is
    still the entry it was made for and its files are as they were hashed (a
    ``stat`` each). Nothing else changes: the new version's record is the one
    it was written with."""
    if plan is None or old is None or old.version != plan.version:
        return new
    try:
        if {k: _stamp(st) for k, st in regular_files(plan.src).items()} != plan.files:
            return new  # changed since hashed
    except OSError:
        return new
    linked = 0
    # beside the data folder, not in it: one left by a kill is never read as data
    spare = os.path.join(os.path.dirname(plan.dst), f".{os.getpid()}.link")
    if os.path.lexists(spare):  # left by a killed process that had this pid
        os.unlink(spare)
    for rel in plan.files:
        mine = os.path.join(plan.dst, rel)
        try:
            os.link(os.path.join(plan.src, rel), spare, follow_symlinks=False)
            os.replace(spare, mine)  # the written file goes, its twin stays
            linked += 1
        except OSError as e:  # another device, a link limit: this file stays as written
            logger.info("could not link %s to the same data in %s: %s", mine, plan.src, e)
            if os.path.lexists(spare):
                os.unlink(spare)
    logger.info("version %s of %s holds the data of %s: %d file(s) shared", new.version,
                new.token, old.version, linked)
    return new
