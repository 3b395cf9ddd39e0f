"""The versions of a persisted source: listing them, finding the one current at
a time, and choosing which ones retention removes.

Every persist or refresh writes a new version in its own folder,
``<root>/<token>/<version>/``, with its record in ``record.yaml``; the index
names the current one. The functions here read the folders; the store
(:class:`~intake_persistplus.persist_store.PersistStore`) decides and deletes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from . import config, gc
from .errors import NotPersistedError
from .index.text import load_bounded
from .layout import CATALOG_DIR, RECORD, Location, is_token
from .record import Record

logger = logging.getLogger(__name__)


@dataclass
class VersionInfo:
    """One stored version of a persisted source."""

    token: str
    version: str
    timestamp: float
    size: int
    current: bool
    record: Record

    def to_dict(self) -> dict:
        return {
            "token": self.token,
            "version": self.version,
            "timestamp": self.timestamp,
            "time": _dt.datetime.fromtimestamp(self.timestamp, _dt.timezone.utc).isoformat(),
            "size": self.size,
            "current": self.current,
            "ttl": self.record.ttl,
            "content": self.record.content,  # versions with the same one hold the same data
        }


def read_version(loc: Location, token: str, version: str) -> Record | None:
    """The record of one version folder, or None (missing, or damaged: logged)."""
    try:
        doc = load_bounded(loc.read_text(token, version, RECORD), f"{token}/{version}/{RECORD}")
        return Record.from_entry(token, doc.get(token) if isinstance(doc, dict) else None)
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged record: that version is skipped
        logger.warning("skipping version %s/%s: %s", token, version, e)
        return None


def list_versions(loc: Location, token: str, current: Record | None) -> list[VersionInfo]:
    """Every complete version of ``token``, oldest first; ``current`` is the index's."""
    found: dict[str, Record] = {}
    for name in loc.listdir(token):
        if name.startswith("."):
            continue
        rec = read_version(loc, token, name)
        if rec is not None and rec.version == name:
            found[name] = rec
    if current is not None:
        found.setdefault(current.version, current)
    out = []
    for name, rec in sorted(found.items(), key=lambda kv: (kv[1].timestamp, kv[0])):
        size = loc.du(token, name) if loc.exists(token, name) else 0
        # the version the entry serves: by its id, and by the folder its path names
        # (a hand edit may make them differ; neither is ever pruned)
        is_current = current is not None and (
            current.version == name or (current.folder or (None, None))[1] == name
        )
        out.append(VersionInfo(token, name, rec.timestamp, size, is_current, rec))
    return out


def data_path(record: Record) -> tuple[str, ...] | None:
    """The parts, inside the store, of the data ``record``'s ``urlpath`` names
    (None for data elsewhere or several paths)."""
    path = record.args.get("urlpath")
    prefix = CATALOG_DIR + "/"
    if not (isinstance(path, str) and path.startswith(prefix)):
        return None
    parts = tuple(path[len(prefix):].split("/"))
    return parts if all(p not in ("", ".", "..") for p in parts) else None


def has_data(loc: Location, record: Record) -> bool:
    """Whether the data of a version written by ``record`` is there. Checked on a
    local disk only (a ``stat``); on an object store a folder is a listing, a
    request every catalog access would pay, so a folder deleted there by hand
    is found by ``read()``."""
    parts = data_path(record)
    return not loc.local or parts is None or loc.exists(*parts)


def newest_record(loc: Location, token: str) -> Record | None:
    """The newest complete version of one source, from its ``record.yaml`` files
    (what a damaged or dangling index entry is rebuilt from)."""
    if not is_token(token):
        return None
    found = [
        r for name in loc.listdir(token) if not name.startswith(".")
        and (r := read_version(loc, token, name)) is not None and r.version == name
        and has_data(loc, r)
    ]
    if not found:
        return None
    newest = max(found, key=lambda r: (r.timestamp, r.version))
    return dataclasses.replace(newest, size=loc.du(token, newest.version))


def _utc(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).isoformat().replace("+00:00", "Z")


def version_at(versions: list[VersionInfo], when: float, token: str) -> VersionInfo:
    """The version that was current at ``when`` (epoch seconds)."""
    older = [v for v in versions if v.timestamp <= when]
    if not older:
        first = f"; the first was written at {_utc(versions[0].timestamp)}" if versions else ""
        raise NotPersistedError(f"no version of {token} existed at {_utc(when)}{first}")
    return older[-1]


def find_version(versions: list[VersionInfo], version: str, token: str) -> VersionInfo:
    """The version with id ``version``."""
    for v in versions:
        if v.version == version:
            return v
    have = ", ".join(v.version for v in versions) or "none"
    raise NotPersistedError(f"no version {version!r} of {token}; stored versions: {have}")


def to_prune(
    versions: list[VersionInfo],
    keep: int | None,
    older_than: float | None = None,
    grace: float = 0.0,
) -> list[VersionInfo]:
    """The versions that retention removes: all but the ``keep`` newest, and
    those older than ``older_than`` seconds; never the current or the newest
    version, nor one replaced less than ``grace`` seconds ago."""
    now = time.time()
    drop = versions[:-keep] if keep else []
    if older_than is not None:
        limit = now - older_than
        drop += [v for v in versions if v.timestamp < limit and v not in drop]
    replaced_at = {a.version: b.timestamp for a, b in zip(versions, versions[1:], strict=False)}
    out = []
    for v in drop:
        if v.current or v is versions[-1]:
            continue
        if grace and now - replaced_at.get(v.version, 0) < grace:
            continue
        out.append(v)
    return out


def prune(
    loc: Location,
    token: str,
    current: Record | None,
    keep: int | None,
    older_than: float | None = None,
    grace: float = 0.0,
    dry_run: bool = False,
) -> list[VersionInfo]:
    """Remove what :func:`to_prune` chooses among ``token``'s versions (unless
    ``dry_run``); return those versions."""
    chosen = to_prune(list_versions(loc, token, current), keep, older_than, grace)
    if not dry_run:
        for v in chosen:
            loc.rm(token, v.version)
    return chosen


class StoreVersions:
    """The versions part of :class:`~intake_persistplus.persist_store.PersistStore`:
    listing, finding by time or id, retention and disk use. It uses the store's
    ``get_tok``, ``lookup``, ``open``, ``_loc``, ``_index`` and ``_writing``."""

    def versions(self, source_or_token: Any) -> list[VersionInfo]:
        """Every stored version of a source, oldest first (newest last)."""
        token = self.get_tok(source_or_token)
        return list_versions(self._loc(), token, self.lookup(token))

    def version_at(self, source_or_token: Any, at: Any) -> VersionInfo:
        """The version that was current at ``at`` (a datetime, ISO string or epoch seconds)."""
        when = config.epoch(at)
        token = self.get_tok(source_or_token)
        return version_at(self.versions(token), when, token)

    def open_version(self, source_or_token: Any, version: str) -> Any:
        """The persisted source of one version, by its id."""
        token = self.get_tok(source_or_token)
        return self.open(find_version(self.versions(token), version, token).record)

    def prune(
        self,
        source_or_token: Any = None,
        keep: int | None = None,
        older_than: Any = None,
        dry_run: bool = False,
        grace: float = 0.0,
    ) -> list[VersionInfo]:
        """Remove old versions and their files; the newest version always stays.

        Parameters
        ----------
        source_or_token
            one source, or ``None`` for every source in the store.
        keep
            keep this many newest versions; by default each source's own
            ``keep`` (from ``persist(keep=...)``) or ``intake.conf["persist_keep"]``.
        older_than
            also remove versions older than this (seconds or ``timedelta``).
        dry_run
            only report what would be removed.
        grace
            leave versions that were replaced less than this many seconds ago.

        Returns
        -------
        list of VersionInfo
            the versions removed (or that would be).
        """
        keep = config.validate_keep(keep)
        age = None if older_than is None else config.validate_seconds(older_than, "older_than")
        tokens = [self.get_tok(source_or_token)] if source_or_token is not None else list(self)
        loc, removed = self._loc(), []
        for token in tokens:
            with self._writing(f"prune the versions of {token}"), self._index().locked(token):
                current = self.lookup(token)  # and no commit of that source meanwhile
                n = keep or (current.keep if current else None) or config.persist_keep()
                removed += prune(loc, token, current, n, age, grace, dry_run)
        return removed

    def du(self, source_or_token: Any = None) -> dict:
        """Bytes on disk, of one source or of all: ``{"entries": {token: bytes}, "total": bytes}``.

        A source's bytes are those of its folder: its versions, and anything an
        interrupted persist or intake 0.7 left there.
        """
        loc = self._loc()
        tokens = [self.get_tok(source_or_token)] if source_or_token is not None else gc.token_folders(loc)
        entries = {name: loc.du(name) for name in tokens}
        return {"entries": entries, "total": sum(entries.values())}

