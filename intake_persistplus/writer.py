"""Writing one version of a persisted source into the store.

The order is what makes a version safe to read: the folder gets an
``.incomplete`` marker, the container's persister writes the data, then the
record is written and the marker removed. Only then is the version complete;
the store publishes it in the index afterwards. A failure before that leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from typing import Any

from .containers import written
from .errors import AlreadyPersistedError, PersistWarning, UnrecordableArgumentError
from .fingerprint import fingerprint
from .gc import writer_marker
from .index import dump_block
from .layout import CATALOG_DIR, DATA, INCOMPLETE, RECORD, Location, new_version_id
from .originals import data_identity, is_persisted_source, made_as, made_metadata, source_state
from .provenance import made_from
from .record import ON_ACCESS, Record, plain
from .secrets import scrub
from .walk import reroot, walk

logger = logging.getLogger(__name__)


def _is_plain(value: Any) -> bool:
    def leaf(v: Any) -> Any:
        if not (v is None or isinstance(v, (bool, int, float, str))):
            raise TypeError
        return v

    def key(k: Any) -> Any:
        if not isinstance(k, str):
            raise TypeError
        return k

    try:
        walk(value, leaf, key=key, sequences=(list, tuple))
    except TypeError:
        return False
    return True


def check_recordable(kwargs: dict) -> None:
    """Writer arguments are recorded for refreshes, so they must be plain data.

    Raises
    ------
    UnrecordableArgumentError
        (a ``TypeError``) naming the first argument that is not.
    """
    for key, value in kwargs.items():
        if not _is_plain(value):
            raise UnrecordableArgumentError(
                f"writer argument {key}={value!r} cannot be recorded for later refreshes: "
                "give plain values (numbers, strings, lists, dicts), e.g. a codec's "
                "configuration as a dict"
            )


def check_not_a_copy(source: Any) -> None:
    """Refuse to persist a persisted copy, naming the call that persists its original.

    Raises
    ------
    AlreadyPersistedError
        (a ``ValueError``) for a source read from a persist store.
    """
    if not is_persisted_source(source):
        return
    md = source.metadata
    name = md.get("original_name") or "<entry>"
    params = md.get("original_parameters") or {}
    call = ", ".join([*(f"{k}={v!r}" for k, v in params.items()), "persist_mode='never'"])
    entry = f"cat.{name}" if name.isidentifier() else f"cat[{name!r}]"
    raise AlreadyPersistedError(
        f"this is already the persisted copy of {name!r} (token {md['original_tok']}); "
        f"to write a new version, call store.refresh(source), or persist the original: "
        f"{entry}({call}).persist()"
    )


def _identity(source: Any) -> str | None:
    try:
        return data_identity(source)
    except Exception as e:  # never a reason not to persist: the copy just cannot move
        logger.info("no data identity of %s: %s", getattr(source, "name", None), type(e).__name__)
        return None


def _fingerprint(source: Any) -> str | None:
    try:
        return fingerprint(source)
    except Exception as e:  # not files we can look at: re-read when it expires
        logger.info("no fingerprint of %s: %s", getattr(source, "name", None), type(e).__name__)
        return None


def write_version(
    loc: Location,
    source: Any,
    token: str,
    persister: Any,
    ttl: Any,
    keep: int | None,
    kwargs: dict,
    revalidate: bool | str = True,
    came_from: tuple[str | None, str | None] = (None, None),
    built_from: dict | None = None,
    lookup: Any = None,
) -> Record:
    """Write a new, complete version of ``source`` under ``token``; return its record.

    The version is not yet in the index: the caller publishes it.
    ``came_from`` is the (catalog file, entry) of a source remade from its
    record, which does not know them (a refresh); ``built_from`` the copies
    of its upstreams it is made from (see :mod:`.pipeline`), taken before its
    data is read; an upstream that had no copy then, and has one now, was
    persisted by this read (its entry declares it): ``lookup`` finds it.
    """
    catalog, entry = made_from(source)
    if catalog is None:
        catalog, entry = came_from
    version = new_version_id()
    # the original's files before its data is read: a change while reading is
    # seen as a change at the next check
    fp = _fingerprint(source) if revalidate else None
    # its metadata, name and description as made: reading adds to them (the
    # schema's extra_metadata, a derived source's "target", an alias's
    # description), and the record must make a source with the same token again
    metadata = scrub(plain(dict(made_metadata(source) or {})))
    made_name, made_description = made_as(source)
    if revalidate == ON_ACCESS and fp is None:  # nothing to check at each access
        warnings.warn(
            f"{getattr(source, 'name', None) or token!r} cannot be checked on access (it is not "
            "files this package can look at); its copy expires after its ttl instead",
            PersistWarning, stacklevel=4)
        revalidate = True
    loc.makedirs(token, version)
    try:
        if loc.local:  # who writes it, for gc (elsewhere gc goes by the version's age)
            loc.write_text(writer_marker(), token, version, INCOMPLETE)
        driver, args, content = written(persister.write(
            source, loc.url_of(token, version, DATA),
            storage_options=loc.storage_options or None, **kwargs,
        ), getattr(source, "container", None))
        if built_from and lookup is not None:
            built_from = {t: b if b.get("version") or (now := lookup(t)) is None
                          else {"version": now.version, "content": now.content, "ref": b.get("ref")}
                          for t, b in built_from.items()}
        args = scrub(plain(args))
        args.pop("storage_options", None)  # supplied by the store when it opens the data
        args = reroot(args, loc.url_of(token, version), f"{CATALOG_DIR}/{token}/{version}")
        record = Record(
            token=token,
            driver=driver,
            args=args,
            container=str(getattr(source, "container", "")),
            original_name=made_name,
            original_description=made_description,
            original_metadata=metadata,
            original_source=source_state(source),
            timestamp=time.time(),
            ttl=None if revalidate == ON_ACCESS else ttl,
            persist_kwargs=scrub(plain(dict(kwargs))),
            version=version,
            keep=keep,
            parameters=scrub(plain(dict(source.__dict__.get("_pp_call") or {}))),
            description=f"persisted copy of {getattr(source, 'name', None) or token}",
            identity=_identity(source),
            fingerprint=fp,
            revalidate=revalidate,
            catalog=catalog,
            entry=entry,
            content=content,
            dependencies=list(built_from or {}),
            built_from=dict(built_from or {}),
        )
        loc.write_text(dump_block(token, record.to_entry()), token, version, RECORD)
        if loc.local:
            loc.rm_file(token, version, INCOMPLETE)
    except BaseException:
        loc.rm(token, version)  # an unfinished version is never left to be served
        with contextlib.suppress(Exception):
            if not loc.fs.ls(loc.path_of(token), detail=False):
                loc.rm(token)  # nor an empty folder for a source never persisted
        raise
    return record
