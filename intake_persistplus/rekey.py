"""Moving a copy to its source's new token after a catalog edit.

The store key is ``tokenize(source)``, which changes when an entry's
description, metadata or ``persist:`` block is edited (and, with earlier versions,
when it was first taken after a ``discover()`` or ``read()``, see
:func:`~.originals.as_made`). The data does not: a
source whose token has no entry, but whose *data identity*
(:func:`~.originals.data_identity`) is that of an entry persisted under the
same name from the same catalog file, is that entry's source, edited. :meth:`StoreRekey.adopt` moves the entry
to the new token instead of reading the original again: the part of
:class:`~intake_persistplus.persist_store.PersistStore` that does this (it
uses the store's ``_loc``, ``_index``, ``_writable`` and ``_writing``).

A move never loses a copy, whatever is interrupted:

1. under both sources' locks (taken in token order, so two moves cannot
   deadlock), every complete version folder of the old token is copied to the
   new token's folder (hard links on a local disk: no data is copied; a
   server-side copy on object stores), its ``record.yaml`` written again for
   the new token;
2. the new token's head is written (the copy is served from here on);
3. the old token's entry is removed, then its folder.

Killed before 2, the old entry still serves and the copied folders are
unfinished leftovers; killed before 3, both entries serve the same data.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from typing import Any

from . import config
from .copies import as_written, written
from .errors import CorruptIndexError
from .index.text import dump_block
from .layout import CATALOG_DIR, RECORD, Location
from .originals import data_identity, made_as, made_metadata, source_state, tokenize
from .provenance import made_from
from .record import Record, plain
from .secrets import scrub
from .walk import reroot

logger = logging.getLogger(__name__)


def _copy_folder(loc: Location, old: tuple[str, str], new: tuple[str, str]) -> None:
    """Copy the version folder ``old`` (token, version) to ``new``: hard links on
    a local disk, else a copy in place. Whatever stands at ``new`` is removed
    first (a leftover of a move cut short, or something planted); a link there
    is refused, and every folder and file is created anew, never through a link."""
    loc.rm(*new)  # refuses a link on the way (PersistPathError)
    if not loc.local:
        loc.fs.copy(loc.path_of(*old), loc.path_of(*new), recursive=True)
        return
    src, dst = loc.checked(*old), loc.checked(*new)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    loc.checked(new[0])  # the token folder is not a link
    for folder, dirs, files in os.walk(src, followlinks=False):
        rel = os.path.relpath(folder, src)
        target = dst if rel == "." else os.path.join(dst, rel)
        os.mkdir(target)  # new: FileExistsError if someone planted it meanwhile
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            try:
                os.link(path, os.path.join(target, name), follow_symlinks=False)
            except OSError as e:  # another device, or no hard links here: a copy
                if isinstance(e, FileExistsError):
                    raise
                fd = os.open(os.path.join(target, name),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
                with open(path, "rb") as f, open(fd, "wb") as out:
                    shutil.copyfileobj(f, out)


def _rm_quietly(loc: Location, token: str) -> None:
    """Remove the moved-from folder; one that cannot go now is left to gc."""
    try:
        loc.rm(token)
    except OSError as e:
        logger.info("left the folder of %s (moved) for gc: %s", token, e)


def _writer_ok(rec: Record, writer: dict) -> bool:
    """Whether the writer arguments an edited ``persist:`` block gives are ones
    the container's persister takes (checked now, not at the next refresh)."""
    from .containers import get_persister

    try:
        persister = get_persister(rec.container)
        if hasattr(persister, "check_kwargs"):
            persister.check_kwargs(dict(writer))
        return True
    except Exception as e:
        logger.warning("the persist: block of %s gives writer arguments its persister refuses "
                       "(%s); the ones it was written with are kept", rec.original_name, e)
        return False


class StoreRekey:
    """See the module docstring."""

    def adopt(self, original: Any, spec: dict | None = None) -> Record | None:
        """Serve ``original`` from the copy of an entry with its data identity.

        Looked for only when ``original``'s token has no entry, among the
        entries persisted under its name from its catalog file. The entry
        found is moved to ``original``'s token (logged at INFO, counted in its
        ``rekeys``) with ``original``'s name, description and metadata, and the
        settings of ``spec`` (its declared ``persist:`` block) when given.
        Returns the moved entry's record, or None when there is none to move.
        """
        name = getattr(original, "name", None)
        if not isinstance(name, str) or not name:
            return None
        index = self._index()
        found = index.named(name, refresh=False)  # the lookup before checked the view
        if not found:
            return None
        token, identity = tokenize(original), data_identity(original)
        catalog = made_from(original)[0]
        # the same entry of the same catalog file, edited: not another catalog's
        # entry of the same name and data (the copy would go back and forth)
        found = [r for r in found if r.identity == identity and r.token != token and r.catalog == catalog]
        if not found:
            return None
        old = max(found, key=lambda r: (r.timestamp, r.token))
        return self._rekey(old.token, original, token, identity, spec)

    def _rekey(self, old_token: str, original: Any, token: str, identity: str,
               spec: dict | None) -> Record | None:
        loc = self._writable()
        index = self._index()
        first, second = sorted([old_token, token])
        with self._writing(f"move the copy of {old_token} to {token}"), \
                index.locked(first), index.locked(second):
            now = index.get(token, refresh=False)
            if now is not None:
                return now  # moved by someone else meanwhile
            old = index.get(old_token, refresh=False)
            if old is None or old.identity != identity:
                return None
            moved = self._moved(old, original, token, spec)
            versions = [v for v in loc.listdir(old_token) if not v.startswith(".")]
            for version in versions:
                try:
                    rec = written(loc, old_token, version, cached=False)
                except CorruptIndexError:
                    rec = None  # a damaged record: that version is not moved
                if rec is None or rec.version != version:
                    continue  # unfinished, or not a version folder: left to gc
                _copy_folder(loc, (old_token, version), (token, version))
                again = self._moved(rec, original, token, spec, settings=moved)
                loc.replace(dump_block(token, again.to_entry()).encode("utf-8"), token, version, RECORD)
            try:  # the moved copy is served as written, or nothing is published
                as_written(moved, loc)
            except (ValueError, OSError) as e:
                logger.info("did not move %s to %s: %s", old_token, token, e)
                return None
            index.put(moved)
            index.delete(old_token, then=lambda: _rm_quietly(loc, old_token))
        logger.info("moved the copy of %r from %s to %s (same data: its catalog entry was edited, "
                    "or an earlier version keyed it after a read)",
                    moved.original_name, old_token, token)
        return moved

    @staticmethod
    def _moved(rec: Record, original: Any, token: str, spec: dict | None,
               settings: Record | None = None) -> Record:
        """``rec`` under ``token``, described as ``original`` is now; with the
        settings (ttl, keep, writer arguments) of ``settings`` if given, else of
        ``spec``, else its own."""
        old_prefix, new_prefix = f"{CATALOG_DIR}/{rec.token}/", f"{CATALOG_DIR}/{token}/"
        args = reroot(rec.args, old_prefix, new_prefix)
        if settings is not None:
            ttl, keep, kwargs = settings.ttl, settings.keep, settings.persist_kwargs
            revalidate = settings.revalidate
        elif spec is not None:
            writer = {k: v for k, v in spec.items() if k not in ("ttl", "keep", "revalidate")}
            ttl = spec.get("ttl")
            keep = config.validate_keep(spec["keep"]) if "keep" in spec else rec.keep
            kwargs = scrub(plain(writer)) if writer and _writer_ok(rec, writer) else rec.persist_kwargs
            revalidate = spec.get("revalidate", rec.revalidate)
        else:
            ttl, keep, kwargs, revalidate = rec.ttl, rec.keep, rec.persist_kwargs, rec.revalidate
        return dataclasses.replace(
            rec,
            token=token,
            args=args,
            original_name=made_as(original)[0],
            original_description=made_as(original)[1],
            original_metadata=scrub(plain(dict(made_metadata(original) or {}))),
            original_source=source_state(original),
            ttl=None if revalidate == "on-access" else ttl,
            keep=keep,
            persist_kwargs=kwargs,
            revalidate=revalidate,
            description=f"persisted copy of {getattr(original, 'name', None) or token}",
            rekeys=rec.rekeys + 1,
            catalog=made_from(original)[0],
            entry=made_from(original)[1],
        )
