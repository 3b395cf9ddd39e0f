"""The store's index: a head per persisted source, and ``cat.yaml``, an intake
catalog of all of them. :mod:`.text` is their layout, :mod:`.core` the
:class:`Index` that reads and updates them."""

from __future__ import annotations

from .core import Index
from .text import FORMAT, HEADER, dump_block

__all__ = ["FORMAT", "HEADER", "Index", "dump_block"]
