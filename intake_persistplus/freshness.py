"""Revalidation: an expired copy whose original's files are unchanged becomes
fresh again without a read (see :mod:`.fingerprint`); the part of
:class:`~intake_persistplus.persist_store.PersistStore` that decides it and
refreshes expired copies (it uses the store's ``_index``, ``_writable``,
``_writing``, ``lookup``, ``open``, ``backtrack`` and ``_refresh``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from .fingerprint import fingerprint
from .record import ON_ACCESS, Record

logger = logging.getLogger(__name__)


class StoreFreshness:
    """See the module docstring."""

    def refresh_expired(self, token: str, original: Any = None, seen: str | None = None) -> Any:
        """Refresh ``token`` unless someone did while we waited; return the fresh copy.

        ``seen`` is the version the caller found expired. One refresh per source
        at a time: concurrent callers (threads or processes) wait for the one under
        way and then get its result, even if that too has expired already.
        """
        current = self.lookup(token)
        if current is not None and current.revalidate == ON_ACCESS and seen in (None, current.version):
            fresh = self._unchanged(current, original)  # checked at each access: no lock, no write
            if fresh is not None:
                return self.open(fresh)
        loc = self._writable()
        with self._writing(f"lock {token} for its refresh"), loc.refresh_lock(token):
            current = self.lookup(token)
            if current is not None and (
                not current.expired() or (seen is not None and current.version != seen)
            ):
                return self.open(current)
            fresh = None if current is None else self._unchanged(current, original)
            return self._refresh(token, original) if fresh is None else self.open(fresh)

    def _unchanged(self, current: Record, original: Any) -> Record | None:
        """Whether ``current``'s original is as it was when its version was written
        (its fingerprint, :mod:`.fingerprint`); if so, and its ttl runs, its
        ``checked`` time is now. No data is read. Returns the entry to serve, or
        None when the original changed (or cannot be looked at)."""
        if not current.revalidate or current.fingerprint is None:
            return None
        try:
            now = fingerprint(original if original is not None else self.backtrack(current.token))
        except Exception as e:  # gone, or unreachable: as if changed (the re-read says why)
            logger.info("cannot check the original of %s: %s", current.token, type(e).__name__)
            return None
        if now != current.fingerprint:
            return None
        if current.revalidate is True:  # on-access copies have no ttl to renew
            current = self.checked_now(current)
            if current is None:
                return None
        logger.info("the original of %s is unchanged: its copy is fresh again", current.token)
        return current

    def revalidate(self, current: Record, original: Any = None) -> Record | None:
        """``current``'s entry, fresh again, when its original is unchanged (no
        data read); None when it changed or cannot be looked at."""
        return self._unchanged(current, original)

    def checked_now(self, current: Record) -> Record | None:
        """Record that ``current``'s original was found unchanged now (its ttl
        runs again from now); the entry served from then on, or None if it went."""
        index = self._index()
        with index.locked(current.token):
            head = index.get(current.token, refresh=False)
            if head is None or head.version != current.version:
                return head  # removed, or refreshed meanwhile: that version is served
            return index.put(dataclasses.replace(head, checked=time.time()))
