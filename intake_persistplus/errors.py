"""Every exception and warning of the package, in one place.

Each exception derives from :class:`PersistError` (catch that for "anything
that went wrong with persistence") and from the built-in exception a user
would catch anyway: ``KeyError`` for something not found, ``ValueError`` for a
bad value, ``OSError`` for a location that cannot be used, ``TypeError`` for
something of the wrong kind.
"""

from __future__ import annotations


class PersistWarning(UserWarning):
    """Something about persistence went wrong, and the data was served anyway."""


class PersistError(Exception):
    """Base of every exception raised by intake-persistplus."""


# -- not found ---------------------------------------------------------------------
class NotPersistedError(PersistError, KeyError):
    """The store holds nothing for this source, token, name or version."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


class VersionGoneError(PersistError, FileNotFoundError):
    """The data of a persisted version that was removed (pruned, refreshed away,
    removed) after the source was handed out."""


class UnknownNameError(NotPersistedError, ValueError):
    """A string that is neither a store token nor the name of a persisted entry."""


class AmbiguousNameError(NotPersistedError, ValueError):
    """A name that several persisted entries share (one per set of user parameters)."""


# -- bad values ----------------------------------------------------------------------
class PersistSettingError(PersistError, ValueError):
    """A persistence setting (mode, ttl, keep, a ``persist:`` block) that cannot be used."""


class InvalidPersistModeError(PersistSettingError):
    """A ``persist_mode`` that is not one of ``always``, ``default``, ``never``."""


class InvalidTTLError(PersistSettingError):
    """A ``ttl`` that is not ``None`` or a finite number of seconds >= 0."""


class InvalidTimeError(PersistSettingError, TypeError):
    """A point in time (``at=``) that is not a datetime, date, ISO string or number."""


class AlreadyPersistedError(PersistError, ValueError):
    """A persisted source cannot itself be persisted."""


class NoPersisterError(PersistError, ValueError):
    """No persister is known for a source's container (or it cannot be imported)."""


class InvalidRecordError(PersistError, ValueError):
    """An index entry or version record that cannot be understood."""


class UnrecordableArgumentError(PersistError, TypeError):
    """A writer argument that cannot be recorded for later refreshes (not plain data)."""


class UnsupportedObjectError(PersistError, TypeError):
    """A Python object that the ``python`` container cannot write."""


class UnstorableDataError(PersistError, ValueError):
    """Data that a container's storage format cannot hold so that the copy reads
    back the same (an xarray variable whose attributes the zarr reader would
    decode, say); the message names the variable and what to do."""


class PipelineError(PersistError, ValueError):
    """A pipeline that cannot run: a cycle of upstreams (named in order), or an
    upstream that is not there (named, with the entry that needs it)."""


# -- locations -------------------------------------------------------------------------
class PersistPathError(PersistError, OSError):
    """The persist location cannot be created or written."""


class ExclusiveCreateError(PersistPathError):
    """A remote store whose file system does not create files exclusively (a
    second ``mode="create"`` write overwrites, as s3fs before 2024.12 does), so
    its locks could not keep concurrent writers apart: refused, never raced."""


class ExportLocationError(PersistError, FileExistsError):
    """The export location is not empty and ``overwrite`` was not given."""


class PersistIndexError(PersistError, OSError):
    """Base for index problems (an ``OSError``: the file on disk is at fault)."""


class CorruptIndexError(PersistIndexError):
    """``cat.yaml`` exists but cannot be read as a persist index."""


class IndexFormatError(CorruptIndexError):
    """``cat.yaml`` was written by a newer intake-persistplus, in a format this one cannot read."""


class IndexLockTimeout(PersistIndexError, TimeoutError):
    """A lock of the store (index or refresh) could not be taken in time."""


class PersistConflictError(PersistIndexError):
    """A persist whose source was removed (or whose store was cleared) while it
    was being written: nothing was published; persist again."""


class CLIError(PersistError):
    """A problem with a command line, reported in one line."""


__all__ = [
    "PersistConflictError",
    "AmbiguousNameError",
    "CLIError",
    "AlreadyPersistedError",
    "CorruptIndexError",
    "ExclusiveCreateError",
    "ExportLocationError",
    "IndexFormatError",
    "IndexLockTimeout",
    "InvalidPersistModeError",
    "InvalidRecordError",
    "InvalidTimeError",
    "InvalidTTLError",
    "NoPersisterError",
    "NotPersistedError",
    "PersistError",
    "PersistIndexError",
    "PersistPathError",
    "PersistSettingError",
    "PersistWarning",
    "PipelineError",
    "UnknownNameError",
    "UnrecordableArgumentError",
    "UnsupportedObjectError",
    "UnstorableDataError",
    "VersionGoneError",
]
