"""Keeping a store sound: entries whose data is gone, leftovers of interrupted
writes, and the view ``cat.yaml`` brought up to date. The part of
:class:`~intake_persistplus.persist_store.PersistStore` that repairs; it uses
the store's ``_loc``, ``_index``, ``lookup`` and ``_writing``.
"""

from __future__ import annotations

import logging
import time
import warnings

from . import gc, versions
from .copies import as_written
from .errors import CorruptIndexError, PersistWarning, VersionGoneError
from .layout import JOURNAL, STAMP, Location
from .provenance import orphaned
from .record import Record

logger = logging.getLogger(__name__)


class StoreUpkeep:
    """See the module docstring."""

    def usable(self, record: Record) -> bool:
        """True if the data ``record`` names is there (see :meth:`servable`)."""
        return self.servable(record) is not None

    def servable(self, record: Record) -> Record | None:
        """``record`` checked against the version it names (:func:`.copies.as_written`),
        ready for :meth:`open`; None when it must not be served. A version whose
        data is missing has its entry repaired (it names the newest complete
        version, or it goes); either way a :class:`PersistWarning` says why."""
        loc = self._loc()
        try:
            return as_written(record, loc)
        except VersionGoneError:
            pass
        except ValueError as e:
            warnings.warn(
                f"cannot open the persisted copy of {record.label} ({record.token}): {e}; "
                "serving the original (`intake-persist refresh` writes a new version)",
                PersistWarning,
                stacklevel=4,
            )
            return None
        folder = record.folder
        index = self._index()
        try:
            with index.locked(record.token):
                now = index.get(record.token)
                if now is not None and now.folder == folder:
                    newest = versions.newest_record(loc, record.token)
                    if newest is not None and newest.folder != folder:
                        index.put(newest.with_settings(now))
                    else:
                        index.delete(record.token)
        except OSError as e:  # a store we cannot write: it stays as it is
            logger.info("cannot repair the entry of %s: %s", record.token, e)
        warnings.warn(
            f"the data of the persisted copy {record.label} ({record.token}) is missing from "
            f"{loc.url_of(*folder)}; serving the original. Its index entry was repaired "
            "(`intake-persist gc` checks the rest of the store)",
            PersistWarning,
            stacklevel=4,
        )
        return None

    def clear(self) -> None:
        """Remove every persisted source and the data folders of the store."""
        loc = self._loc()
        if not loc.exists():
            return
        index = self._index()
        with self._writing("clear the store"):
            for name in sorted(set(gc.token_folders(loc)) | set(index.tokens())):
                index.delete(name, then=lambda name=name: loc.rm(name))
            index.compact()

    def compact(self, only_store: bool = False) -> None:
        """Bring ``cat.yaml`` up to date with every entry now.

        ``gc`` and ``intake.open_catalog`` of the file do this themselves (and
        ``list`` and iteration once many commits are pending); a persist or
        remove only records what changed.
        ``only_store`` does nothing where there is no store (a plain catalog
        that happens to be called ``cat.yaml``).
        """
        loc = self._loc()
        if only_store and not (loc.exists(STAMP) or loc.exists(JOURNAL)):
            return
        with self._writing("rewrite the index"):
            self._index().compact()

    # -- leftovers of interrupted writes ---------------------------------------------
    def _collect(self, loc: Location, token: str) -> list[str]:
        try:
            current = self.lookup(token)
        except CorruptIndexError as e:
            warnings.warn(f"{e}; unfinished versions of {token} are left alone",
                          PersistWarning, stacklevel=3)
            return []  # unsure which version is served: nothing is removed
        with self._index().locked(token):
            return gc.collect_token(loc, token, current)

    def orphans(self) -> list:
        """The entries whose catalog file is gone or no longer has their entry
        (see :mod:`.provenance`), as listed (:meth:`listing`)."""
        seen: dict = {}
        return [rec for rec in self.listing().values() if orphaned(rec.catalog, rec.entry, seen)]

    def gc(self) -> list[str]:
        """Delete what interrupted persists left behind; return what was removed.

        A version folder without ``record.yaml`` whose writer is gone (its
        process died on this machine, or it started over six hours ago) is
        never served and is removed here. Persists also do this for their own
        source.
        """
        loc = self._loc()
        gone = []
        for token in gc.token_folders(loc):
            gone += self._collect(loc, token)
        with self._writing("rewrite the index"):
            index = self._index()
            # a removed source's tombstone outlives any persist that began before it
            index.forget_removed(time.time() - gc.STALE_WRITE_SECONDS)
            index.compact(full=True)  # and the view is rebuilt from every head
        return gone

