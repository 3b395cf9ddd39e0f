"""Exceptions and warnings. Each subclasses the built-in a user would catch."""

from __future__ import annotations


class PersistWarning(UserWarning):
    """Something about persistence went wrong, and the data was served anyway."""


class NotPersistedError(KeyError):
    """The store holds nothing for this source, token or version."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


class PersistPathError(OSError):
    """The persist location cannot be created or written."""


class AlreadyPersistedError(ValueError):
    """A persisted source cannot itself be persisted."""


class PersistIndexError(OSError):
    """Base for index problems (an ``OSError``: the file on disk is at fault)."""


class CorruptIndexError(PersistIndexError):
    """``cat.yaml`` exists but cannot be read as a persist index."""


class IndexLockTimeout(PersistIndexError, TimeoutError):
    """The index lock could not be taken in time."""
