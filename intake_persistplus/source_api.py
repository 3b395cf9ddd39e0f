"""What every intake source gains: ``persist``, ``get_persisted``, ``export``,
``is_persisted`` and ``has_been_persisted``, and calling a source with new
arguments going back through its catalog entry.

These functions become methods of ``intake.source.base.DataSourceBase`` (and
of intake-xarray's adapter sources) through the patch table in
:mod:`intake_persistplus.patches`; they are documented as
``DataSource.persist`` and so on.
"""

from __future__ import annotations

import warnings
from typing import Any

from .errors import CorruptIndexError, NotPersistedError, PersistWarning

# Everything else is imported inside the functions: this module is imported by
# activation, on every ``import intake``, and must not pull in the store.


def persist(self, ttl: float | None = None, keep: int | None = None, **kwargs: Any) -> Any:
    """Persist this source's data to the persist store; return the persisted source.

    Parameters
    ----------
    ttl : float or None
        Seconds the persisted copy stays fresh; ``None`` never expires, ``0``
        is always expired. Catalog accesses in ``default`` mode re-persist an
        expired copy on first data access.
    keep : int or None
        How many versions of this source to keep (newest first). ``None``
        keeps what an earlier ``persist(keep=...)`` of this source chose, else
        follows ``intake.conf["persist_keep"]``, else keeps every version.
    **kwargs
        Passed to the container's writer (for dataframes:
        ``pyarrow.parquet.write_table`` arguments such as ``compression``).

    Raises
    ------
    ValueError
        for an invalid ``ttl`` or ``keep``, when this source is itself a
        persisted copy (``AlreadyPersistedError``), or when its container has
        no persister (``NoPersisterError``).
    TypeError
        for writer arguments the container's writer does not take.
    OSError
        (``PersistPathError``) when the persist location cannot be written.
    """
    from .persist_store import store

    return store.add(self, ttl=ttl, keep=keep, **kwargs)


def get_persisted(self, at: Any = None) -> Any:
    """The persisted copy of this source: the newest, or the one current ``at`` a time.

    Parameters
    ----------
    at : datetime, date, str or float, optional
        A point in time (epoch seconds, an ISO 8601 string, or a datetime;
        naive means local time): the version that was the newest then is
        returned.

    Raises
    ------
    KeyError
        (``NotPersistedError``) when nothing is persisted for it (at that time).
    """
    from .originals import is_persisted_source, tokenize
    from .persist_store import store

    if is_persisted_source(self):
        if at is None:
            return self
        return store.open(store.version_at(self.metadata["original_tok"], at).record)
    token = tokenize(self)
    if at is not None:
        return store.open(store.version_at(token, at).record)
    record = store.lookup(token)
    if record is None:
        raise NotPersistedError(
            f"{getattr(self, 'name', None) or 'this source'!r} has not been persisted "
            f"(token {token}); call .persist() first"
        )
    return store.open(record)


def export(self, path: str, overwrite: bool = False, **kwargs: Any) -> str:
    """Write this source's data to ``path`` in its container's format.

    The persist store is not touched. Returns YAML text: a ``sources:`` block
    with one entry that opens the copy; its metadata names the original
    (``original_tok``, ``original_name``, ``original_metadata``,
    ``original_source``). See :func:`intake_persistplus.export.export`.
    """
    from .export import export as _export

    return _export(self, path, overwrite=overwrite, **kwargs)


def is_persisted(self) -> bool:
    """True for a persisted copy, i.e. a source read from the persist store."""
    from .originals import is_persisted_source

    return is_persisted_source(self)


def has_been_persisted(self) -> bool:
    """True for an original source that has a copy in the persist store."""
    from .originals import is_persisted_source
    from .persist_store import store

    if is_persisted_source(self):
        return False
    try:
        return store.lookup(self) is not None
    except CorruptIndexError as e:
        warnings.warn(f"{e}; nothing counts as persisted", PersistWarning, stacklevel=2)
        return False
    except Exception:  # an unusable store has nothing (catalog access warns about it)
        return False


# -- catalog access ---------------------------------------------------------------
def call_mode(kwargs: dict, persist: Any = None) -> str | None:
    """Take ``persist_mode=`` (or intake 0.7's ``persist=``) out of a call's kwargs."""
    from .config import validate_mode

    mode = kwargs.pop("persist_mode", None)
    legacy = kwargs.pop("persist", None) if persist is None else persist
    if mode is not None:
        validate_mode(mode, "the call's persist_mode")
    if legacy is not None:
        validate_mode(legacy, "the call's persist")
        if mode is not None and legacy != mode:
            raise ValueError(
                f"persist={legacy!r} and persist_mode={mode!r} disagree; give only persist_mode"
            )
        mode = legacy
    return mode


def entry_call(self, persist: Any = None, **kwargs: Any) -> Any:
    """``CatalogEntry.__call__``: make the source, then hand out what the persist
    mode says (see :func:`intake_persistplus.redirect.serve`)."""
    from .redirect import serve

    mode = call_mode(kwargs, persist)
    version = kwargs.pop("persist_version", None)
    source = self.get(**kwargs)
    source._entry = self
    source._passed_kwargs = list(kwargs)
    if not hasattr(source, "__dict__"):
        return source
    # the name and description the entry gave it, part of its token: an alias
    # takes its target's description when first read (intake keeps an entry's
    # default source, so this is the first access that made it)
    source.__dict__.setdefault("_pp_made", (getattr(source, "name", None), getattr(source, "description", None)))
    source._pp_call = dict(kwargs)
    return serve(source, self, mode, version)


def make_configure_new(original: Any) -> Any:
    """A ``configure_new`` (also ``__call__`` and ``get``) that goes back through
    the catalog entry a source came from."""

    def configure_new(self, **kwargs: Any) -> Any:
        """Create a new instance of this source with altered arguments.

        A source that came from a catalog entry is made again by that entry,
        with the arguments it was first made with updated by ``kwargs``;
        ``persist_mode=`` chooses which copy comes back.
        """
        mode = call_mode(kwargs)
        entry = self.__dict__.get("_entry")
        if entry is not None and "_pp_call" in self.__dict__:
            kw = dict(self.__dict__["_pp_call"])
            kw.update(kwargs)
            if mode is not None:
                kw["persist_mode"] = mode
            return entry(**kw)
        return original(self, **kwargs)

    configure_new.__wrapped__ = original
    return configure_new


def make_catalog_load(original: Any) -> Any:
    """``YAMLFileCatalog._load`` that first brings a persist store's ``cat.yaml`` up to
    date (entries committed since its last compaction), so that opening it with
    ``intake.open_catalog`` shows every persisted source."""

    def _load(self, reload: bool = False) -> Any:
        path = getattr(self, "path", None)
        if (
            isinstance(path, str)
            and (path == "cat.yaml" or path.endswith("/cat.yaml"))
            and self.access is not False
            and (self.autoreload or reload)
        ):
            from .persist_store import PersistStore

            try:
                PersistStore(path[: -len("cat.yaml")].rstrip("/") or ".",
                             self.storage_options or None).compact(only_store=True)
            except Exception as e:  # the catalog is read as it is
                import logging

                logging.getLogger(__name__).info("could not bring %s up to date: %s", path, e)
        return original(self, reload=reload)

    _load.__wrapped__ = original
    return _load
