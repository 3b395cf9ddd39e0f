"""The store's index, ``cat.yaml``: an intake catalog of the newest version of
every persisted source. :mod:`.text` is its layout, :mod:`.core` the
:class:`Index` that reads and updates it."""

from __future__ import annotations

from .core import Index
from .text import FORMAT, HEADER, dump_block, split

__all__ = ["FORMAT", "HEADER", "Index", "dump_block", "split"]
