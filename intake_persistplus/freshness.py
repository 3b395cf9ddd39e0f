"""Revalidation: an expired copy whose original's files are unchanged becomes
fresh again without a read (see :mod:`.fingerprint`); the part of
:class:`~intake_persistplus.persist_store.PersistStore` that decides it (it
uses the store's ``_index`` and ``backtrack``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from .fingerprint import fingerprint
from .record import Record

logger = logging.getLogger(__name__)


class StoreFreshness:
    """See the module docstring."""

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
            index = self._index()
            with index.locked(current.token):
                head = index.get(current.token, refresh=False)
                if head is not None and head.version == current.version:
                    current = index.put(dataclasses.replace(head, checked=time.time()))
        logger.info("the original of %s is unchanged: its copy is fresh again", current.token)
        return current
